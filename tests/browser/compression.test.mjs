// End-to-end tests of permessage-deflate (RFC 7692) with the browser's own WebSocket: Chromium
// offers it on every connection, the server accepts it (COMPRESSION, on by default), and both
// then compress messages; the Wire panel shows them compressed. With COMPRESSION=off the
// browser gets no extension and the chat works the same.
// Run with `bash tests/browser/run.sh` (or `node --test compression.test.mjs` in this folder).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launchBrowser,
  withServer,
  consoleProblems,
  openChat,
  openWithWire,
  pageSocket,
  readMessages,
  sendFromPage,
  waitFor,
  waitForMessage,
  waitForState,
  waitForUsers,
} from './lib.mjs';

const TEST_TIMEOUT = 90000;
// What the server answers every browser's offer with (src/ws/deflate/offer.rs).
const ACCEPTED = 'permessage-deflate; server_no_context_takeover; client_no_context_takeover';
// Chromium's offer.
const OFFER = 'permessage-deflate; client_max_window_bits';
const IN_MEMORY = { HISTORY_DIR: 'off' };

// Chat text of about 400 bytes: over COMPRESSION_MIN_BYTES (128), and words that repeat, as
// chat does.
const LONG = 'The deploy went out at nine; the deploy went fine on the first region, then the second ' +
  'region failed its health check, so the deploy was rolled back on the second region while the ' +
  'first region kept the new build. We will try the second region again after lunch, once the ' +
  'health check on the second region is fixed. Nobody needs to do anything for the first region, ' +
  'and the second region is serving the old build until then.';

function assertClean(problems) {
  assert.deepEqual(consoleProblems(problems), [], 'console errors or uncaught exceptions');
  assert.deepEqual(problems.dialogs, [], 'dialogs opened');
}

/** The Wire panel's handshake entry: its extension line and the 101 it shows. */
function readHandshake(page) {
  return page.evaluate(() => {
    const li = document.querySelector('#wire-list .wire-handshake');
    return {
      extensions: li.querySelector('.w-extensions').textContent,
      request: li.querySelector('.w-request').textContent,
      response: li.querySelector('.w-response').textContent,
    };
  });
}

/**
 * Waits for a compressed Wire entry `dir` whose inflated text has `has` (the entry found is
 * marked data-found=dir); resolves with what it shows.
 */
async function waitForCompressed(page, dir, has) {
  await waitFor(page, `a compressed Wire frame ${dir} with ${JSON.stringify(has)} inflated`, ([d, h]) => {
    const li = [...document.querySelectorAll(`#wire-list .wire-frame.compressed[data-dir="${d}"]`)]
      .find((n) => n.querySelector('.w-deflate') && (n.querySelector('.w-text-value')?.textContent || '').includes(h));
    if (li) li.dataset.found = d;
    return li !== undefined;
  }, [dir, has]);
  return page.evaluate((d) => {
    const li = document.querySelector(`#wire-list .wire-frame[data-found="${d}"]`);
    const value = (sel) => li.querySelector(`${sel} .w-value`)?.textContent ?? null;
    return {
      head: li.querySelector('.w-head').textContent,
      rsv: [...li.querySelectorAll('.w-rsv .w-value')].map((n) => n.textContent),
      rsv1Explain: li.querySelector('.w-rsv').dataset.explain,
      wireLen: value('.w-wirelen'),
      inflatedLen: value('.w-inflatedlen'),
      ratio: value('.w-ratio'),
      inflated: li.querySelector('.w-text-value').textContent,
      legend: li.querySelector('.w-legend').textContent,
    };
  }, dir);
}

describe('permessage-deflate with the browser', () => {
  let browser;

  before(async () => {
    browser = await launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
  });

  test('the page\'s connection agrees to permessage-deflate and wschat.v1 (ws.extensions, ws.protocol)', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { env: IN_MEMORY }, {}, async ({ server, context, problems }) => {
      const page = await openWithWire(context, server.url, 'ann');
      const socket = await pageSocket(page);
      assert.equal(socket.protocol, 'wschat.v1', 'ws.protocol');
      assert.ok(socket.extensions.includes('permessage-deflate'), `ws.extensions: ${socket.extensions}`);
      assert.equal(socket.extensions, ACCEPTED, 'the terms the 101 named, as the browser read them');

      // The Wire panel's handshake: the offer as Chromium sent it, the 101's answer, and why.
      const shown = await readHandshake(page);
      assert.ok(shown.request.includes(`Sec-WebSocket-Extensions: ${OFFER}`), shown.request);
      assert.ok(shown.response.includes(`Sec-WebSocket-Extensions: ${ACCEPTED}`), shown.response);
      assert.equal(shown.extensions,
        `Extensions (Sec-WebSocket-Extensions, §9.1, RFC 7692 §5): offered ${OFFER} → accepted ${ACCEPTED} (offered and accepted)`);
      // The Frames panel's open line names both.
      const opened = await page.evaluate(() =>
        [...document.querySelectorAll('#frame-list li.event .f-body')].map((n) => n.textContent));
      assert.ok(opened.some((t) => t.includes(`(subprotocol wschat.v1; extensions ${ACCEPTED})`)), JSON.stringify(opened));
      assertClean(problems);
    });
  });

  test('a long message from one page arrives whole in another, and both Wire panels show it compressed with its ratio', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { env: IN_MEMORY }, {}, async ({ server, context, problems, person }) => {
      const ann = await openWithWire(context, server.url, 'ann');
      const bob = await openWithWire(await person(), server.url, 'bob');
      await waitForUsers(bob, ['ann', 'bob']);
      await sendFromPage(ann, LONG);
      await waitForMessage(bob, LONG);
      const got = (await readMessages(bob)).filter((m) => m.kind === 'message' && m.name === 'ann');
      assert.deepEqual(got.map((m) => m.text), [LONG], 'arrived intact, once');

      // bob's panel: the server wrote it compressed (RSV1), ~400 bytes of JSON in far fewer.
      const out = await waitForCompressed(bob, 'out', LONG);
      assert.deepEqual(out.rsv, ['1', '0', '0'], 'RSV1 set: compressed (RFC 7692 §6)');
      assert.match(out.rsv1Explain, /^RSV1 = 1: this message is compressed/);
      assert.ok(out.head.includes('compressed'), out.head);
      const sent = JSON.parse(out.inflated);
      assert.equal(sent.type, 'message');
      assert.equal(sent.text, LONG, 'the inflated payload is the message event');
      const wire = parseInt(out.wireLen, 10);
      const inflated = parseInt(out.inflatedLen, 10);
      assert.equal(inflated, Buffer.byteLength(out.inflated), 'inflated length = the text shown');
      assert.ok(wire < inflated, `${wire} B on the wire for ${inflated} B`);
      assert.equal(out.ratio, `${Math.round((wire / inflated) * 100)}%`);
      assert.ok(parseInt(out.ratio, 10) < 70, `ratio ${out.ratio}`);
      assert.match(out.legend, /DEFLATE/);
      assert.ok(out.head.includes(`${wire} B`), `the frame's length is the compressed one: ${out.head}`);

      // ann's panel: the browser compressed what it sent (the other direction, masked).
      const mine = await waitForCompressed(ann, 'in', LONG);
      assert.equal(mine.rsv[0], '1', 'the browser set RSV1');
      assert.deepEqual(JSON.parse(mine.inflated), { type: 'message', room: 'general', text: LONG });
      assert.ok(parseInt(mine.wireLen, 10) < parseInt(mine.inflatedLen, 10), `${mine.wireLen} < ${mine.inflatedLen}`);
      assert.match(mine.legend, /masked.*unmasked \(DEFLATE\)/);
      assertClean(problems);
    });
  });

  test('"send 200 bytes" with compression: the browser compresses it, and its frame still takes the 16-bit length form', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { env: IN_MEMORY }, {}, async ({ server, context, problems }) => {
      const page = await openWithWire(context, server.url, 'ann');
      await page.locator('#wire-long').click();
      const frame = await waitForCompressed(page, 'in', 'Two hundred bytes in one frame');
      assert.equal(frame.inflatedLen, '200 B', 'the message is 200 bytes');
      const wire = parseInt(frame.wireLen, 10);
      assert.ok(wire > 125 && wire < 200, `${wire} B on the wire: compressed, and over 125`);
      assert.ok(frame.head.includes(`${wire} B · 16-bit length`), frame.head);
      assertClean(problems);
    });
  });

  test('COMPRESSION=off: the page gets no extension (ws.extensions is empty) and the chat works the same', { timeout: TEST_TIMEOUT }, async () => {
    const env = { ...IN_MEMORY, COMPRESSION: 'off' };
    await withServer(browser, { env }, {}, async ({ server, context, problems, person }) => {
      const ann = await openWithWire(context, server.url, 'ann');
      const bob = await openChat(await person(), server.url, 'bob');
      await waitForState(bob, 'online');
      const socket = await pageSocket(ann);
      assert.equal(socket.extensions, '', 'ws.extensions: none agreed');
      assert.equal(socket.protocol, 'wschat.v1', 'the subprotocol is negotiated all the same');

      const shown = await readHandshake(ann);
      assert.ok(shown.request.includes(`Sec-WebSocket-Extensions: ${OFFER}`), 'the browser still offers it');
      assert.ok(!shown.response.includes('Sec-WebSocket-Extensions'), shown.response);
      assert.equal(shown.extensions,
        `Extensions (Sec-WebSocket-Extensions, §9.1, RFC 7692 §5): offered ${OFFER} → accepted none (offered, but COMPRESSION=off)`);

      await sendFromPage(bob, LONG);
      await waitForMessage(ann, LONG);
      await sendFromPage(ann, 'short and plain');
      await waitForMessage(bob, 'short and plain');
      // Every frame of ann's connection is plain: RSV1 clear, no compressed entry.
      await waitFor(ann, 'the long message\'s frame in the Wire panel', (min) =>
        [...document.querySelectorAll('#wire-list .wire-frame.out[data-op="text"]')]
          .some((li) => parseInt(li.querySelector('.w-size').textContent, 10) > min), Buffer.byteLength(LONG));
      const frames = await ann.evaluate(() => [...document.querySelectorAll('#wire-list .wire-frame')].map((li) => ({
        compressed: li.classList.contains('compressed'),
        rsv1: li.querySelector('.w-rsv .w-value')?.textContent,
      })));
      assert.ok(frames.length > 2, `${frames.length} frames shown`);
      assert.deepEqual(frames.filter((f) => f.compressed || f.rsv1 === '1'), [], 'nothing compressed');
      assertClean(problems);
    });
  });
});
