// End-to-end tests of the page's Wire panel: the server's wire inspector (src/chat/inspect.rs)
// as the page shows it, checked against RFC 6455 by computing in the test what the page shows.
// Run with `bash tests/browser/run.sh` (or `node --test wire.test.mjs` in this folder).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  REPO,
  startServer,
  stopServer,
  withServerLog,
  launchBrowser,
  newContext,
  consoleProblems,
  openChat,
  waitFor,
  waitForState,
  waitForMessage,
  sendFromPage,
  rawClient,
  delay,
  openWithWire,
  waitForHandshakes,
} from './lib.mjs';

const TEST_TIMEOUT = 90000;
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11'; // RFC 6455 §1.3
// The tests of frames byte by byte run without permessage-deflate, so that a message's payload
// is its bytes as RFC 6455 alone has them; compressed frames are compression.test.mjs's.
const PLAIN = { COMPRESSION: 'off' };

function assertClean(problems) {
  assert.deepEqual(consoleProblems(problems), [], 'console errors or uncaught exceptions');
  assert.deepEqual(problems.dialogs, [], 'dialogs opened');
}

/**
 * Runs `body` with a fresh server (history in memory: no store shared with other tests) and a
 * browser context; always cleans both up.
 */
async function withServer(browser, env, body, contextOptions = {}) {
  const server = await startServer({ tls: true, env: { HISTORY_DIR: 'off', ...env } });
  const { context, problems } = await newContext(browser, contextOptions);
  const clients = [];
  try {
    await body({ server, context, problems, clients });
  } catch (err) {
    throw withServerLog(err, server);
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await context.close();
    await stopServer(server);
  }
}

/** Every frame entry of the Wire panel as plain data: what the page shows, field by field. */
function readWire(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('#wire-list .wire-frame')].map((li) => {
      const value = (sel) => {
        const node = li.querySelector(`${sel} .w-value`);
        return node ? node.textContent : null;
      };
      return {
        dir: li.dataset.dir,
        op: li.dataset.op,
        pageKnown: li.classList.contains('page-known'),
        all: li.textContent,
        head: li.querySelector('.w-head').textContent,
        hex: li.querySelector('.w-hex') ? li.querySelector('.w-hex').textContent : null,
        fin: value('.w-fin'),
        rsv: [...li.querySelectorAll('.w-rsv .w-value')].map((n) => n.textContent),
        opcode: value('.w-opcode'),
        mask: value('.w-mask'),
        len: value('.w-len'),
        extlen: value('.w-extlen'),
        key: value('.w-key'),
        wire: [...li.querySelectorAll('.w-group .w-wire')].map((n) => n.textContent).join(' '),
        data: [...li.querySelectorAll('.w-group .w-data')].map((n) => n.textContent).join(' '),
        text: li.querySelector('.w-text-value') ? li.querySelector('.w-text-value').textContent : null,
        more: li.querySelector('.w-more') ? li.querySelector('.w-more').textContent : null,
        code: value('.w-code'),
        reason: value('.w-reason'),
        clean: value('.w-clean'),
        explains: [...li.querySelectorAll('.w-field')].map((n) => n.dataset.explain),
      };
    }),
  );
}

/** Waits for a frame entry with `dir` and `op` that shows `has` somewhere; resolves with the last one. */
async function waitForWireFrame(page, dir, op, has) {
  await waitFor(
    page,
    `a Wire frame ${dir} ${op} containing ${JSON.stringify(has)}`,
    ([d, o, h]) => [...document.querySelectorAll(`#wire-list .wire-frame[data-dir="${d}"][data-op="${o}"]`)]
      .some((li) => li.textContent.includes(h)),
    [dir, op, has],
  );
  const frames = await readWire(page);
  return frames.filter((f) => f.dir === dir && f.op === op && f.all.includes(has)).at(-1);
}

const bytes = (hex) => (hex.match(/[0-9a-f]{2}/g) || []).map((h) => parseInt(h, 16));
const utf8 = (hex) => Buffer.from(bytes(hex)).toString('utf8');

/** §5.3: each payload byte i is the wire byte i XOR masking key byte i mod 4. */
function unmask(wireHex, keyHex) {
  const key = bytes(keyHex);
  return bytes(wireHex).map((b, i) => (b ^ key[i % 4]).toString(16).padStart(2, '0')).join(' ');
}

describe('Wire panel', () => {
  let browser;

  before(async () => {
    browser = await launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
  });

  test('switching the panel on shows the handshake, whose accept is base64(SHA-1(key + GUID))', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, {}, async ({ server, context, problems }) => {
      const page = await openChat(context, server.url, 'ann');
      await waitForState(page, 'online');
      await page.locator('#wire summary').click();
      assert.equal(await page.locator('#wire-state').textContent(), 'off', 'off until switched on');
      assert.equal(await page.locator('#wire-list > li').count(), 0);
      assert.equal(await page.locator('#wire-ping').isDisabled(), true);
      await page.locator('#wire-on').check();
      await waitForHandshakes(page, 1);

      const shown = await page.evaluate(() => {
        const li = document.querySelector('#wire-list .wire-handshake');
        const v = (kind) => li.querySelector(`.w-step-${kind} .w-value`).textContent;
        return {
          request: li.querySelector('.w-request').textContent,
          key: v('key'),
          keyGuid: v('keyguid'),
          sha1: v('sha1'),
          accept: v('accept'),
          response: li.querySelector('.w-response').textContent,
          subprotocol: li.querySelector('.w-subprotocol').textContent,
          order: [...li.querySelectorAll('.w-http, .w-step')].map((n) => (n.matches('.w-http') ? n.classList[2] : n.classList[1])),
        };
      });
      assert.match(shown.key, /^[A-Za-z0-9+/]{22}==$/, 'a 16-byte key in base64');
      assert.equal(Buffer.from(shown.key, 'base64').length, 16);
      assert.equal(shown.keyGuid, shown.key + GUID);
      const sha1 = createHash('sha1').update(shown.key + GUID).digest();
      assert.equal(shown.sha1, sha1.toString('hex'));
      assert.equal(shown.accept, sha1.toString('base64'), 'accept = base64(SHA-1(key + GUID))');
      assert.deepEqual(shown.order, ['w-request', 'w-step-key', 'w-step-keyguid', 'w-step-sha1', 'w-step-accept', 'w-response']);
      assert.match(shown.request, /^GET \/ws\?name=ann&session_in=frame HTTP\/1\.1\n/, 'the session is in no URL');
      assert.ok(shown.request.includes(`Sec-WebSocket-Key: ${shown.key}`), shown.request);
      assert.match(shown.response, /^HTTP\/1\.1 101 Switching Protocols\n/);
      assert.ok(shown.response.includes(`Sec-WebSocket-Accept: ${shown.accept}`), shown.response);

      // The subprotocol (RFC 6455 §1.9): the page offers wschat.v1, the server names it in the
      // 101, and the page's socket (the module's own, imported again) speaks it.
      assert.ok(shown.request.includes('Sec-WebSocket-Protocol: wschat.v1'), shown.request);
      assert.ok(shown.response.includes('Sec-WebSocket-Protocol: wschat.v1'), shown.response);
      assert.equal(shown.subprotocol,
        'Subprotocol (Sec-WebSocket-Protocol, §1.9, §4.2.2): offered wschat.v1 → chosen wschat.v1 (offered and spoken)');
      const protocol = await page.evaluate(async () => (await import('/static/socket.js')).currentSocket().protocol);
      assert.equal(protocol, 'wschat.v1', 'ws.protocol of the page\u2019s connection');

      // A field explains itself in one line, with its §, on hover and on focus.
      await page.locator('#wire-list .w-step-accept .w-field').hover();
      assert.match(await page.locator('#wire-explain').textContent(), /Sec-WebSocket-Accept|browser checks.*§4\.2\.2/);
      await page.locator('#wire-list .w-request').focus();
      assert.match(await page.locator('#wire-explain').textContent(), /§4\.1/);
      assert.equal(await page.locator('#wire-ping').isDisabled(), false, 'the buttons work once it is on');
      assertClean(problems);
    });
  });

  test('a message sent from the page is an "in" frame whose masked bytes XOR the mask give its payload', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, PLAIN, async ({ server, context, problems }) => {
      const page = await openWithWire(context, server.url, 'ann');
      const text = 'Hello, wire!';
      await sendFromPage(page, text);
      const sent = JSON.stringify({ type: 'message', room: 'general', text });
      const frame = await waitForWireFrame(page, 'in', 'text', text);

      assert.equal(frame.text, sent, 'the payload, shown as text, is the frame the page sent');
      assert.equal(frame.mask, '1', 'MASK = 1');
      assert.match(frame.key, /^[0-9a-f]{2}( [0-9a-f]{2}){3}$/);
      assert.equal(unmask(frame.wire, frame.key), frame.data, 'masked XOR key = unmasked');
      assert.notEqual(frame.wire, frame.data, 'the wire bytes are masked');
      assert.equal(utf8(frame.data), sent);
      assert.deepEqual([frame.fin, frame.rsv, frame.opcode], ['1', ['0', '0', '0'], '0001']);
      assert.equal(frame.len, sent.length.toString(2).padStart(7, '0'), '7-bit length');
      assert.ok(frame.hex.startsWith(`header 81 ${(0x80 | sent.length).toString(16)} ${frame.key}`), frame.hex);
      assert.ok(frame.explains.includes('MASK = 1: every frame from a client is masked, §5.3'));

      // The keyboard: the arrows go from field to field within a frame, each explained on focus.
      const entry = page.locator('#wire-list .wire-frame.in[data-op="text"]', { hasText: text }).last();
      await entry.locator('.w-fin').focus();
      assert.match(await page.locator('#wire-explain').textContent(), /^FIN = 1: .*§5\.2$/);
      await page.keyboard.press('ArrowRight');
      assert.equal(await entry.locator('.w-rsv').first().evaluate((n) => n === document.activeElement), true);
      assert.match(await page.locator('#wire-explain').textContent(), /^RSV1 = 0: .*§5\.2$/);

      // The server's broadcast of it comes back unmasked (§5.1).
      await waitForMessage(page, text);
      const echo = await waitForWireFrame(page, 'out', 'text', '{"type":"message"');
      assert.deepEqual([echo.mask, echo.key], ['0', null], 'MASK = 0, no masking key');
      assert.equal(echo.wire, '', 'one row of bytes: nothing was masked');
      assert.ok(echo.explains.includes('MASK = 0: a server never masks its frames, §5.1'));
      assert.ok(echo.text.startsWith(utf8(echo.data)));
      assertClean(problems);
    });
  });

  test('"send 200 bytes" shows the 16-bit length form: 126 in the 7-bit field, then 00 c8', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, PLAIN, async ({ server, context, problems }) => {
      const page = await openWithWire(context, server.url, 'ann');
      await page.locator('#wire-long').click();
      const frame = await waitForWireFrame(page, 'in', 'text', '200 B · 16-bit');
      assert.equal(frame.len, '1111110', '126 in the 7-bit field');
      assert.equal(frame.extlen, '00 c8', 'then 200 in 16 bits');
      assert.ok(frame.hex.startsWith('header 81 fe 00 c8 '), frame.hex);
      assert.equal(frame.hex.split(' ').length - 1, 8, '2 + 2 + 4 header bytes');
      assert.equal(frame.more, '… 136 more bytes (the inspector shows the first 64)');
      assert.equal(unmask(frame.wire, frame.key), frame.data);
      assert.equal(bytes(frame.data).length, 64);
      const sent = (await page.evaluate(() =>
        [...document.querySelectorAll('#frame-list li.out .f-body')].map((n) => n.textContent)))
        .find((f) => f.startsWith('{"type":"message"'));
      assert.equal(Buffer.byteLength(sent), 200, 'the frame the page sent is 200 bytes');
      assert.ok(sent.startsWith(utf8(frame.data)));
      await waitForMessage(page, JSON.parse(sent).text);
      assertClean(problems);
    });
  });

  test('"ping me" shows the server\'s ping "out" and the browser\'s pong "in", with the same payload', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, {}, async ({ server, context, problems }) => {
      const page = await openWithWire(context, server.url, 'ann');
      await page.locator('#wire-ping').click();
      const ping = await waitForWireFrame(page, 'out', 'ping', 'ping 1');
      const pong = await waitForWireFrame(page, 'in', 'pong', 'ping 1');
      assert.deepEqual([ping.opcode, ping.mask, ping.key], ['1001', '0', null]);
      assert.deepEqual([pong.opcode, pong.mask], ['1010', '1']);
      assert.equal(unmask(pong.wire, pong.key), pong.data);
      assert.equal(pong.data, ping.data, 'the pong carries the ping\'s payload (§5.5.3)');
      assert.equal(utf8(ping.data), 'ping 1');
      assert.ok(ping.hex.startsWith('header 89 06'), ping.hex);
      // Control frames are told apart.
      assert.equal(await page.locator('#wire-list .wire-frame.control.ping').count(), 1);
      assert.equal(await page.locator('#wire-list .wire-frame.control.pong').count(), 1);
      assert.equal(await page.locator('#wire-ping').isDisabled(), true, 'one ping a second');
      await waitFor(page, 'ping me enabled again', () => !document.getElementById('wire-ping').disabled);
      assertClean(problems);
    });
  });

  test('"send a close" shows the close the page sent and the server\'s answer, then the page reconnects and inspects again', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, {}, async ({ server, context, problems }) => {
      const page = await openWithWire(context, server.url, 'ann');
      await page.locator('#wire-close').click();
      await waitFor(page, 'the server\'s answering close', () =>
        document.querySelector('#wire-list .wire-frame.out.close.page-known') !== null);
      const frames = await readWire(page);
      const sent = frames.find((f) => f.dir === 'in' && f.op === 'close' && f.pageKnown);
      const answer = frames.find((f) => f.dir === 'out' && f.op === 'close' && f.pageKnown);
      const reason = 'from the Wire panel';
      assert.ok(sent.head.includes('1000 normal closure'), sent.head);
      assert.equal(sent.text, reason);
      assert.equal(sent.data, `03 e8 ${Buffer.from(reason).toString('hex').match(/../g).join(' ')}`);
      assert.deepEqual([sent.opcode, sent.mask, sent.key], ['1000', '1', '?? ?? ?? ??']);
      assert.deepEqual([answer.code, answer.reason, answer.clean], ['1000', '""', 'true']);
      const note = await page.locator('#wire-list .page-known .w-note').textContent();
      assert.match(note, /not visible to scripts/);

      await waitForState(page, 'online');
      await waitForHandshakes(page, 2);
      await sendFromPage(page, 'back again');
      const frame = await waitForWireFrame(page, 'in', 'text', 'back again');
      assert.equal(unmask(frame.wire, frame.key), frame.data);
      assertClean(problems);
    });
  });

  test('INSPECT_ENABLED=false: switching the panel on shows the server\'s refusal', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { INSPECT_ENABLED: 'false' }, async ({ server, context, problems }) => {
      const page = await openChat(context, server.url, 'ann');
      await waitForState(page, 'online');
      await page.locator('#wire summary').click();
      await page.locator('#wire-on').click(); // not check(): the refusal unchecks it at once
      await waitFor(page, 'the refusal in the Wire panel', () =>
        document.querySelector('#wire-list .wire-line.refused') !== null);
      const line = await page.locator('#wire-list .wire-line.refused').textContent();
      assert.match(line, /Refused by the server: .*INSPECT_ENABLED/);
      assert.match(await page.locator('#wire-note').textContent(), /Refused/);
      assert.equal(await page.locator('#wire-on').isChecked(), false, 'the switch goes back off');
      assert.equal(await page.locator('#wire-state').textContent(), 'off');
      assert.equal(await page.locator('#wire-list .wire-handshake').count(), 0);
      assert.equal(await page.locator('#alerts .alert').count(), 0, 'said in the panel, not as an alert');
      assertClean(problems);
    });
  });

  test('a busy room: frame_skipped is a line, and the panel keeps the last 200 entries', { timeout: TEST_TIMEOUT }, async () => {
    const env = { INSPECT_MAX_EVENTS_PER_SEC: '250', RATE_LIMIT_PER_SEC: '1000' };
    await withServer(browser, env, async ({ server, context, problems, clients }) => {
      const page = await openWithWire(context, server.url, 'ann');
      const bob = await rawClient(server.url, 'bob');
      clients.push(bob);
      for (let i = 1; i <= 300; i += 1) bob.send(`busy ${i}`);
      await waitForMessage(page, 'busy 300');
      // The frames over the rate are counted when the next second begins, at the next frame.
      await delay(1100);
      await bob.say('after');
      await waitFor(page, 'a frame_skipped line', () =>
        document.querySelector('#wire-list .wire-line.skipped') !== null);
      assert.match(await page.locator('#wire-list .wire-line.skipped > span').textContent(), /^\d+ frames? not shown/);
      await waitForMessage(page, 'after');
      // The page answers the newest message with its read marker (unread.js): the newest frame, last.
      await waitFor(page, 'the read marker last', () => {
        const last = document.querySelector('#wire-list > li:last-child');
        return last?.dataset.dir === 'in' && last.textContent.includes('"type":"read"');
      });
      assert.equal(await page.locator('#wire-list > li').count(), 200, 'the last 200 entries');
      assertClean(problems);
    });
  });

  // Writes docs/wire-panel.png when SCREENSHOT=1.
  test('screenshot of the Wire panel', { timeout: TEST_TIMEOUT, skip: process.env.SCREENSHOT !== '1' && 'set SCREENSHOT=1 to write docs/wire-panel.png' }, async () => {
    await withServer(browser, PLAIN, async ({ server, context, problems, clients }) => {
      const bob = await rawClient(server.url, 'bob');
      clients.push(bob);
      await bob.say('Morning! Anyone around?');
      const page = await openChat(context, server.url, 'ann');
      await waitForState(page, 'online');
      // Typed before the panel is on, so its "typing" frame is not in the picture.
      await page.locator('#message-input').fill('Hello');
      await page.locator('#wire summary').click();
      await page.locator('#wire-on').check();
      await waitForHandshakes(page, 1);
      await page.locator('#wire-ping').click();
      await waitForWireFrame(page, 'in', 'pong', 'ping 1');
      await page.locator('#message-input').press('Enter');
      await waitForWireFrame(page, 'out', 'text', '16-bit');
      await page.evaluate(() => {
        // The sidebar scrolled to the panel, the list to the handshake's steps.
        document.getElementById('wire').scrollIntoView();
        const list = document.getElementById('wire-list');
        list.scrollTop = document.querySelector('#wire-list .w-steps').offsetTop - list.offsetTop - 24;
      });
      await page.locator('#wire-list .wire-frame.in[data-op="text"] .w-mask').first().hover();
      const out = path.join(REPO, 'docs', 'wire-panel.png');
      mkdirSync(path.dirname(out), { recursive: true });
      await page.screenshot({ path: out });
      assertClean(problems);
    }, { viewport: { width: 1200, height: 1600 } });
  });
});
