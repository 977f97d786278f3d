// End-to-end tests of the chat page in headless Chromium against the real server.
// Run with `bash tests/browser/run.sh` (or `node --test` in this folder).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import {
  REPO,
  startServer,
  stopServer,
  closeRestarted,
  withServerLog,
  launchBrowser,
  newContext,
  consoleProblems,
  openChat,
  waitFor,
  waitForState,
  waitForMessage,
  waitForUsers,
  readMessages,
  sendFromPage,
  rawClient,
  delay,
  waitForRoom,
  joinRoomByName,
  clickRoom,
  readRooms,
  readFrames,
  waitForFrames,
  readDms,
  killServer,
  waitForDm,
  clickUser,
  clickDm,
  waitForNotice,
  waitForMyName,
  withServer,
} from './lib.mjs';

const TEST_TIMEOUT = 90000;

/** A server without a store (HISTORY_DIR=off): a restart is a new epoch, with ids from 1 again. */
const NO_STORE = { HISTORY_DIR: 'off' };

/** The page's notices that say something may be lost (web/static/history.js, onHistory). */
const MISSED_NOTICE = /server restarted|messages (may have been|were) missed/i;

/** Asserts that the pages of a context logged no console error, threw nothing and opened no dialog. */
function assertClean(problems, options) {
  assert.deepEqual(consoleProblems(problems, options), [], 'console errors or uncaught exceptions');
  assert.deepEqual(problems.dialogs, [], 'dialogs opened');
}

function countText(messages, text) {
  return messages.filter((m) => m.kind === 'message' && m.text === text).length;
}

/** No (epoch, id) pair twice: ids restart only when the server restarts (new epoch). */
function assertNoDuplicateIds(messages) {
  const seen = new Set();
  for (const m of messages) {
    if (m.kind !== 'message') continue;
    assert.notEqual(m.id, null, `message without data-id: ${m.text}`);
    const key = `${m.epoch}/${m.id}`;
    assert.ok(!seen.has(key), `message id ${m.id} (epoch ${m.epoch}) shown twice`);
    seen.add(key);
  }
}

/** Opens one page per name, each in a context of its own (one person each), and waits until each is online. */
async function openAll(person, baseUrl, names) {
  const pages = [];
  for (const name of names) {
    const page = await openChat(await person(), baseUrl, name);
    await waitForState(page, 'online');
    pages.push(page);
  }
  return pages;
}

/** Waits until the line under the conversation reads `text` ('' when nobody is typing). */
function waitForTyping(page, text, timeout = 10000) {
  return waitFor(page, `#typing to read ${JSON.stringify(text)}`, (want) => document.getElementById('typing').textContent === want, text, timeout);
}

/** Shows `room` and checks it lists exactly `texts` as messages, once each, and whether it says some were missed. */
async function assertRoomShows(page, room, texts, { missed }) {
  await clickRoom(page, room);
  const shown = await readMessages(page);
  assert.deepEqual(
    shown.filter((m) => m.kind === 'message').map((m) => m.text),
    texts,
    `#${room} shows each message once, in order`,
  );
  assertNoDuplicateIds(shown);
  const says = shown.some((m) => m.kind === 'notice' && /missed/i.test(m.text));
  assert.equal(says, missed, `#${room} ${missed ? 'says' : 'does not say'} that messages were missed`);
}

describe('WebSocketChat page', () => {
  let browser;

  before(async () => {
    browser = await launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
  });

  // Scenarios 1 and 4: two users chat, with TLS on (self-signed) and off.
  for (const tls of [true, false]) {
    test(`two users chat, TLS ${tls ? 'on' : 'off'}`, { timeout: TEST_TIMEOUT }, async () => {
      await withServer(browser, { tls }, {}, async ({ server, context, problems, person }) => {
        assert.match(server.url, tls ? /^https:\/\// : /^http:\/\//);
        const alice = await openChat(context, server.url, 'alice');
        await waitForState(alice, 'online');
        const bob = await openChat(await person(), server.url, 'bob');
        await waitForState(bob, 'online');

        for (const page of [alice, bob]) await waitForUsers(page, ['alice', 'bob']);
        assert.equal(await alice.inputValue('#name'), 'alice');
        assert.equal(await bob.inputValue('#name'), 'bob');

        // The page picked the socket scheme from the page's own protocol.
        const scheme = tls ? 'wss' : 'ws';
        const opened = await alice.locator('#frame-list li.event').allTextContents();
        assert.ok(
          opened.some((t) => t.includes(`open ${scheme}://127.0.0.1:${server.port}/ws?name=alice`)),
          `expected an "open ${scheme}://…" entry, got ${JSON.stringify(opened)}`,
        );

        // Alice sends with Enter, Bob with the Send button.
        await sendFromPage(alice, 'hello from alice');
        await bob.locator('#message-input').fill('hi alice, bob here');
        await bob.locator('#send').click();
        for (const page of [alice, bob]) {
          await waitForMessage(page, 'hello from alice');
          await waitForMessage(page, 'hi alice, bob here');
        }

        const a = await readMessages(alice);
        const b = await readMessages(bob);
        const fromAlice = a.find((m) => m.text === 'hello from alice');
        const fromBob = a.find((m) => m.text === 'hi alice, bob here');
        assert.equal(fromAlice.own, true, 'own message has class own');
        assert.equal(fromAlice.name, 'alice');
        assert.equal(fromBob.own, false);
        assert.equal(fromBob.name, 'bob');
        assert.equal(b.find((m) => m.text === 'hi alice, bob here').own, true);
        assert.equal(b.find((m) => m.text === 'hello from alice').own, false);
        assert.ok(fromAlice.id < fromBob.id, 'ids increase');
        assert.deepEqual(
          b.filter((m) => m.kind === 'message').map((m) => [m.id, m.text]),
          a.filter((m) => m.kind === 'message').map((m) => [m.id, m.text]),
          'both pages show the same messages in the same order',
        );
        assertNoDuplicateIds(a);

        // Join notices are notices, not messages.
        await waitFor(alice, '"bob joined" notice', () =>
          [...document.querySelectorAll('#messages .notice')].some((n) => n.textContent.includes('bob joined')),
        );
        assert.equal(a.filter((m) => m.kind === 'message' && /joined/.test(m.text)).length, 0);

        // Bob leaves: Alice sees the notice and the users list shrinks.
        await bob.close();
        await waitFor(alice, '"bob left" notice and bob gone from #users', () => {
          const left = [...document.querySelectorAll('#messages .notice')].some((n) => n.textContent.includes('bob left'));
          const users = [...document.querySelectorAll('#users li')].map((li) => li.textContent.trim());
          return left && !users.includes('bob') && users.includes('alice');
        });

        assertClean(problems);
      });
    });
  }

  // Scenario 2: text is rendered as text.
  test('markup in messages and names is shown as text', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, clients, person }) => {
      const xss = '<img src=x onerror=alert(1)>';
      const alice = await openChat(context, server.url, 'alice');
      const bob = await openChat(await person(), server.url, 'bob');
      await waitForState(alice, 'online');
      await waitForState(bob, 'online');

      await sendFromPage(alice, xss);
      await waitForMessage(bob, xss);
      await waitForMessage(alice, xss);

      // A user whose name is markup, through a raw client.
      const eve = await rawClient(server.url, '<b onmouseover=alert(2)>eve</b>');
      clients.push(eve);
      const eveName = (await eve.waitFor('hello', (f) => f.type === 'hello')).name;
      await eve.say('<script>alert(3)</script>');
      await waitForMessage(bob, '<script>alert(3)</script>');
      await waitForUsers(bob, [eveName]);

      for (const page of [alice, bob]) {
        const found = await page.evaluate(() => ({
          elements: document.querySelectorAll('#messages img, #messages script, #messages b, #users b, #users img').length,
          html: [...document.querySelectorAll('#messages .message .text')].map((n) => n.innerHTML),
        }));
        assert.equal(found.elements, 0, 'no element created from message or name text');
        assert.ok(found.html.includes('&lt;img src=x onerror=alert(1)&gt;'), `escaped markup, got ${found.html}`);
      }
      const shown = await readMessages(bob);
      assert.ok(shown.some((m) => m.kind === 'message' && m.name === eveName), 'the markup name is shown as text');
      // Give a stray onerror handler a moment to fire before checking for dialogs.
      await delay(300);
      assertClean(problems);
    });
  });

  // Scenario 3: the server restarts; the page reconnects by itself and misses nothing. A server
  // without a store, so that the page also says the server restarted (a new epoch).
  test('reconnects after a server restart and shows what was sent meanwhile exactly once', { timeout: 150000 }, async (t) => {
    let server = await startServer({ tls: false, env: NO_STORE });
    const { port, dir } = server;
    const { context, problems } = await newContext(browser);
    const clients = [];
    try {
      const alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      await sendFromPage(alice, 'before the restart');
      await waitForMessage(alice, 'before the restart');

      // The page reconnects with a random backoff; if it happens to come back
      // before the other client has sent, the message arrives live rather than
      // in the resume history. Repeat the outage until the resume path was taken.
      let viaHistory = false;
      for (let round = 1; round <= 3 && !viaHistory; round += 1) {
        const text = `sent during the outage (${round})`;
        const exit = await stopServer(server, { removeDir: false });
        assert.deepEqual(exit, { code: 0, signal: null }, 'SIGTERM stops the server with exit code 0');

        await waitForState(alice, 'reconnecting', 10000);
        await waitFor(alice, 'a close entry in the frames panel', () =>
          [...document.querySelectorAll('#frame-list li.close')].some((li) => /close 10\d\d/.test(li.textContent)),
        );
        assert.match(await alice.getAttribute('#status', 'title'), /Last close: 10\d\d/);
        assert.equal(await alice.locator('#send').isDisabled(), true, 'no sending while reconnecting');

        await delay(2500); // the outage: long enough for the backoff to grow
        server = await startServer({ tls: false, env: NO_STORE, port, dir });
        const carol = await rawClient(server.url, 'carol');
        clients.push(carol);
        const echoed = await carol.say(text);

        await waitForState(alice, 'online', 20000);
        await waitForMessage(alice, text, 10000);
        const shown = await readMessages(alice);
        assert.equal(countText(shown, text), 1, `"${text}" shown exactly once`);
        assert.equal(shown.find((m) => m.text === text).id, echoed.id);
        assertNoDuplicateIds(shown);

        viaHistory = await alice.evaluate((want) => {
          const bodies = [...document.querySelectorAll('#frame-list li.in .f-body')].map((n) => n.textContent);
          return bodies.some((b) => {
            try {
              const f = JSON.parse(b);
              return f.type === 'history' && f.messages.some((m) => m.text === want);
            } catch {
              return false;
            }
          });
        }, text);
        t.diagnostic(`round ${round}: "${text}" arrived ${viaHistory ? 'in the resume history' : 'live'}`);
        await carol.close();
        clients.pop();
      }
      assert.ok(viaHistory, 'at least one outage message came back through the resume history');

      const shown = await readMessages(alice);
      assert.equal(countText(shown, 'before the restart'), 1);
      assertNoDuplicateIds(shown);
      assert.ok(
        shown.some((m) => m.kind === 'notice' && /server restarted/i.test(m.text)),
        'the page says the server restarted',
      );

      // Sending works again after the reconnect.
      await sendFromPage(alice, 'back again');
      await waitForMessage(alice, 'back again');
      assert.equal(countText(await readMessages(alice), 'back again'), 1);

      // Chromium logs each refused connection attempt itself; nothing else may appear.
      const refused = problems.console.length - consoleProblems(problems, { allowConnectionRefused: true }).length + problems.pageErrors.length;
      t.diagnostic(`${refused} refused connection attempt(s) logged by Chromium during the outages`);
      assertClean(problems, { allowConnectionRefused: true });
    } catch (err) {
      throw withServerLog(err, server);
    } finally {
      await closeRestarted({ server, context, clients, dir });
    }
  });

  // Issue 15: the store (HISTORY_DIR, kept in the server's folder) outlives the server. After a
  // restart the epoch is the same and ids go on, so the page resumes where it was with nothing
  // to warn about, and a reload shows the conversation and the same person.
  test('a restart with the store, clean or a crash: the page comes back with no notice, a reload shows the conversation and the same name', { timeout: 150000 }, async () => {
    let server = await startServer({ tls: false });
    const { port, dir } = server;
    const { context, problems } = await newContext(browser);
    const clients = [];
    try {
      const alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      const carol = await rawClient(server.url, 'carol');
      clients.push(carol);
      for (const text of ['one', 'two', 'three']) {
        await sendFromPage(alice, text);
        await waitForMessage(alice, text);
      }
      await carol.say('and one from carol');
      await waitForMessage(alice, 'and one from carol');
      const [hello] = await waitForFrames(alice, 'in', 'hello');
      const before = (await readMessages(alice)).filter((m) => m.kind === 'message');
      const last = before[before.length - 1];
      await carol.close();
      clients.pop();
      const sent = ['one', 'two', 'three', 'and one from carol'];

      // The page reconnects by itself after each restart: the same epoch, after its last id, and
      // the history it gets back is complete.
      const restart = async (how, text) => {
        const exit = how === 'SIGKILL' ? await killServer(server) : await stopServer(server, { removeDir: false });
        assert.deepEqual(exit, how === 'SIGKILL' ? { code: null, signal: 'SIGKILL' } : { code: 0, signal: null }, `${how} ends the server`);
        await waitForState(alice, 'reconnecting', 10000);
        server = await startServer({ tls: false, port, dir });
        await waitForState(alice, 'online', 20000);
        const dave = await rawClient(server.url, 'dave');
        clients.push(dave);
        const echoed = await dave.say(text);
        await waitForMessage(alice, text);
        await dave.close();
        clients.pop();
        sent.push(text);
        return echoed;
      };
      const afterTerm = await restart('SIGTERM', 'after a clean restart');
      assert.ok(afterTerm.id > last.id, `ids go on after the restart: ${afterTerm.id} after ${last.id}`);
      const afterKill = await restart('SIGKILL', 'after a crash');
      assert.ok(afterKill.id > afterTerm.id, `ids go on after the crash: ${afterKill.id} after ${afterTerm.id}`);

      let shown = await readMessages(alice);
      assert.deepEqual(shown.filter((m) => m.kind === 'message').map((m) => m.text), sent, 'each message once, in order');
      assertNoDuplicateIds(shown);
      assert.deepEqual(shown.filter((m) => m.kind === 'notice' && MISSED_NOTICE.test(m.text)).map((m) => m.text), [], 'no notice that messages may be missing');
      assert.deepEqual(new Set(shown.filter((m) => m.kind === 'message').map((m) => m.epoch)), new Set([last.epoch]), 'one epoch throughout');
      const opened = await alice.locator('#frame-list li.event').allTextContents();
      assert.ok(
        opened.some((e) => e.includes(`since=${last.id}&epoch=${last.epoch}`)),
        `resumed after ${last.id} in epoch ${last.epoch}: ${JSON.stringify(opened)}`,
      );
      const resumes = (await readFrames(alice, 'in', 'history')).filter((f) => f.dm === undefined).slice(1);
      assert.equal(resumes.length, 2, 'one resume per restart');
      assert.deepEqual(resumes.map((f) => [String(f.epoch), f.complete]), [[last.epoch, true], [last.epoch, true]], 'each resume complete, in the same epoch');
      const hellos = await waitForFrames(alice, 'in', 'hello');
      assert.deepEqual(hellos.map((h) => [h.user, h.name]), hellos.map(() => [hello.user, 'alice']), 'the same person after each restart');

      // A reload after the restarts: the conversation from the store, the same session and name.
      await alice.reload();
      await waitForState(alice, 'online');
      await waitForMessage(alice, 'after a crash');
      await waitForMyName(alice, 'alice');
      shown = await readMessages(alice);
      assert.deepEqual(shown.filter((m) => m.kind === 'message').map((m) => m.text), sent, 'the conversation after the reload');
      assert.deepEqual(shown.filter((m) => m.kind === 'notice' && MISSED_NOTICE.test(m.text)).map((m) => m.text), [], 'no notice after the reload');
      assert.equal(shown.find((m) => m.text === 'one').own, true, 'what alice said before the restarts is hers');
      const [again] = await waitForFrames(alice, 'in', 'hello');
      assert.deepEqual([again.session, again.user, again.name, again.requested], [hello.session, hello.user, 'alice', undefined], 'the session and its name survived');
      assert.deepEqual((await readFrames(alice, 'in', 'error')).map((f) => f.code), [], 'no session_expired, no error');
      assertClean(problems, { allowConnectionRefused: true });
    } catch (err) {
      throw withServerLog(err, server);
    } finally {
      await closeRestarted({ server, context, clients, dir });
    }
  });

  test('resumes after a dropped connection with since/epoch, and says when messages were missed', { timeout: TEST_TIMEOUT }, async () => {
    const env = { HISTORY_SIZE: '3', RATE_LIMIT_PER_SEC: '100' };
    await withServer(browser, { tls: false, env }, {}, async ({ server, context, problems, clients, person }) => {
      const alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      const carol = await rawClient(server.url, 'carol');
      clients.push(carol);
      const first = await carol.say('first');
      await waitForMessage(alice, 'first');

      const toggle = alice.locator('#connect-toggle');
      await toggle.click();
      await waitForState(alice, 'offline');
      assert.equal((await toggle.textContent()).trim(), 'Connect');
      await alice.locator('#message-input').fill('typed while offline');
      assert.equal(await alice.locator('#send').isDisabled(), true, 'no sending while offline');
      await alice.locator('#message-input').fill('');

      await carol.say('while away 1');
      await carol.say('while away 2');
      await toggle.click();
      await waitForState(alice, 'online');
      await waitForMessage(alice, 'while away 2');
      let shown = await readMessages(alice);
      for (const text of ['first', 'while away 1', 'while away 2']) assert.equal(countText(shown, text), 1, text);
      assert.ok(!shown.some((m) => m.kind === 'notice' && /missed/i.test(m.text)), 'nothing was missed');
      const events = await alice.locator('#frame-list li.event').allTextContents();
      assert.ok(
        events.some((e) => e.includes(`since=${first.id}&epoch=`)),
        `resumed with since=${first.id}: ${JSON.stringify(events)}`,
      );

      // Away for longer than the history holds (HISTORY_SIZE=3).
      await toggle.click();
      await waitForState(alice, 'offline');
      for (let i = 1; i <= 5; i += 1) await carol.say(`x${i}`);
      await toggle.click();
      await waitForState(alice, 'online');
      await waitForMessage(alice, 'x5');
      await waitFor(alice, '"some messages were missed" notice', () =>
        [...document.querySelectorAll('#messages .notice')].some((n) => /some messages were missed/i.test(n.textContent)),
      );
      shown = await readMessages(alice);
      for (const text of ['x3', 'x4', 'x5']) assert.equal(countText(shown, text), 1, text);
      assert.equal(countText(shown, 'x1'), 0, 'x1 fell out of the history');
      assertNoDuplicateIds(shown);
      assertClean(problems);
    });
  });

  test('goes offline with the network and comes back by itself', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, clients, person }) => {
      const alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      await context.setOffline(true);
      await waitForState(alice, 'offline');
      assert.match(await alice.locator('#status').textContent(), /offline/i);
      assert.equal(await alice.locator('#send').isDisabled(), true);
      const carol = await rawClient(server.url, 'carol');
      clients.push(carol);
      await carol.say('said while alice had no network');
      await context.setOffline(false);
      await waitForState(alice, 'online');
      await waitForMessage(alice, 'said while alice had no network');
      assertNoDuplicateIds(await readMessages(alice));
      // Going offline is the point here: Chromium may report what it was loading then.
      assertClean(problems, { allowOffline: true });
    });
  });

  // Scenario 5: counter, Enter / Shift+Enter, refused input shown to the user.
  test('composer: byte counter, Enter and Shift+Enter', { timeout: TEST_TIMEOUT }, async () => {
    const env = { MAX_MESSAGE_BYTES: '200' };
    await withServer(browser, { tls: false, env }, {}, async ({ server, context, problems, person }) => {
      const alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      const input = alice.locator('#message-input');
      const counter = alice.locator('#counter');
      const send = alice.locator('#send');
      // Chat messages sent (the page also sends typing and rooms frames).
      const sent = () => alice.locator('#frame-list li.out .f-type', { hasText: /^message$/ }).count();

      // The limit (from hello) is for the whole frame: {"type":"message","room":"general","text":""} is 45 bytes.
      await waitFor(alice, 'counter from the hello limit', () => document.getElementById('counter').textContent === '155');
      await input.fill('héllo €'); // 10 bytes of UTF-8
      assert.equal(await counter.textContent(), '145');
      await input.fill('say "hi"'); // 8 bytes, and each quote is escaped: 10
      assert.equal(await counter.textContent(), '145');
      await input.fill('   ');
      assert.equal(await send.isDisabled(), true, 'whitespace only is not sent');

      await input.fill('y'.repeat(156));
      assert.equal(await counter.textContent(), '-1');
      assert.equal(await send.isDisabled(), true, 'one byte over is not sent');
      await input.press('Enter');
      assert.equal(await sent(), 0, 'Enter does not send a message over the limit');
      await input.fill('y'.repeat(155));
      assert.equal(await counter.textContent(), '0');
      await input.press('Enter');
      await waitForMessage(alice, 'y'.repeat(155)); // exactly at the limit: the server takes it
      assert.equal(await sent(), 1);

      await input.pressSequentially('line one');
      await input.press('Shift+Enter');
      await input.pressSequentially('line two');
      assert.equal(await input.inputValue(), 'line one\nline two');
      assert.equal(await sent(), 1, 'Shift+Enter does not send');
      await input.press('Enter');
      await waitForMessage(alice, 'line one\nline two');
      assert.equal(await input.inputValue(), '', 'the box is emptied after sending');
      assert.equal(await counter.textContent(), '155');
      assert.equal(await sent(), 2);
      assertNoDuplicateIds(await readMessages(alice));
      assert.equal(await alice.getAttribute('#status', 'data-state'), 'online', 'still connected');
      assertClean(problems);
    });
  });

  test('refused input (rate limit) is shown to the user and can be dismissed', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false, env: { RATE_LIMIT_PER_SEC: '1' } }, {}, async ({ server, context, problems, person }) => {
      const alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      const input = alice.locator('#message-input');
      // A burst of twice the rate is allowed; the next ones are refused with an error event.
      for (let i = 1; i <= 4; i += 1) {
        await input.fill(`fast ${i}`);
        await input.press('Enter');
      }
      const alert = alice.locator('#alerts .alert');
      await alert.first().waitFor({ state: 'visible', timeout: 10000 });
      const alertText = await alert.first().textContent();
      assert.ok(alertText.trim().length > 5, `the alert says something: ${alertText}`);
      const errorFrames = await alice.evaluate(() =>
        [...document.querySelectorAll('#frame-list li.in .f-body')]
          .map((n) => {
            try {
              return JSON.parse(n.textContent);
            } catch {
              return null;
            }
          })
          .filter((f) => f && f.type === 'error'),
      );
      assert.ok(errorFrames.some((f) => f.code === 'rate_limited'), `a rate_limited error event: ${JSON.stringify(errorFrames)}`);
      assert.ok(alertText.includes(errorFrames[0].message), 'the alert shows the server\'s text');
      await alert.first().locator('.alert-close').click();
      await waitFor(alice, 'alert dismissed', () => document.querySelectorAll('#alerts .alert').length === 0);

      // Keep flooding: the server closes with 1008, the page explains it and reconnects by itself.
      for (let i = 1; i <= 10 && (await alice.getAttribute('#status', 'data-state')) === 'online'; i += 1) {
        await input.fill(`flood ${i}`);
        await input.press('Enter');
      }
      await waitFor(alice, 'a "close 1008 policy violation" entry in the frames panel', () =>
        [...document.querySelectorAll('#frame-list li.close')].some((li) => /close 1008 policy violation/.test(li.textContent)),
      );
      await waitForState(alice, 'online');
      assert.match(await alice.getAttribute('#status', 'title'), /Last close: 1008/);
      assertClean(problems);
    });
  });

  test('asks for a nickname once, remembers it, ?name= changes nothing once you have a session, and it can be changed', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, person }) => {
      const page = await context.newPage();
      await page.goto(`${server.url}/`);
      await waitForState(page, 'offline');
      assert.equal(await page.evaluate(() => document.activeElement.id), 'name', 'the nickname field has focus');
      assert.equal(await page.locator('#send').isDisabled(), true);

      await page.locator('#name').fill('dave');
      await page.locator('#name').press('Enter');
      await waitForState(page, 'online');
      await waitForUsers(page, ['dave']);

      await page.goto(`${server.url}/`);
      await waitForState(page, 'online');
      await waitForUsers(page, ['dave']);
      assert.equal(await page.inputValue('#name'), 'dave', 'remembered');

      // A link is not a click: it renames nobody (issue 22; see sessions.test.mjs).
      await page.goto(`${server.url}/?name=erin`);
      await waitForState(page, 'online');
      await waitForMyName(page, 'dave');
      await waitForUsers(page, ['dave']);

      await page.locator('#name').fill('frank');
      await page.locator('#name').press('Enter');
      await waitFor(page, 'frank listed, dave gone', () => {
        const users = [...document.querySelectorAll('#users li')].map((li) => li.textContent.trim());
        return users.includes('frank') && !users.includes('dave');
      });
      await waitForState(page, 'online');
      await sendFromPage(page, 'I am frank now');
      await waitForMessage(page, 'I am frank now');
      const mine = (await readMessages(page)).find((m) => m.text === 'I am frank now');
      assert.equal(mine.own, true);
      assert.equal(mine.name, 'frank');
      assertClean(problems);
    });
  });

  test('phone width: long words wrap, the list follows new messages unless scrolled up', { timeout: TEST_TIMEOUT }, async () => {
    const env = { RATE_LIMIT_PER_SEC: '1000' };
    const viewport = { width: 375, height: 720 };
    await withServer(browser, { tls: false, env }, { viewport }, async ({ server, context, problems, clients, person }) => {
      const alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      const carol = await rawClient(server.url, 'carol');
      clients.push(carol);
      for (let i = 1; i <= 30; i += 1) await carol.say(`message number ${i}`);
      await carol.say('w'.repeat(400));
      await waitForMessage(alice, 'w'.repeat(400));

      const layout = await alice.evaluate(() => {
        const list = document.getElementById('messages');
        const last = list.querySelector('.message:last-of-type .text');
        return {
          pageOverflow: document.documentElement.scrollWidth - window.innerWidth,
          listOverflow: list.scrollWidth - list.clientWidth,
          bubbleRight: last.getBoundingClientRect().right,
          listRight: list.getBoundingClientRect().right,
          fromBottom: list.scrollHeight - list.scrollTop - list.clientHeight,
        };
      });
      assert.ok(layout.pageOverflow <= 0, `no horizontal scrolling of the page (${layout.pageOverflow}px)`);
      assert.ok(layout.listOverflow <= 0, `no horizontal scrolling of the list (${layout.listOverflow}px)`);
      assert.ok(layout.bubbleRight <= layout.listRight, 'the long word wraps inside the list');
      assert.ok(layout.fromBottom < 50, `scrolled to the newest message (${layout.fromBottom}px from the bottom)`);

      // Scrolled up: a new message does not yank the view; a jump button appears.
      await alice.evaluate(() => {
        document.getElementById('messages').scrollTop = 0;
      });
      await waitFor(alice, 'the list at the top', () => document.getElementById('messages').scrollTop === 0);
      await carol.say('while you were reading');
      await waitForMessage(alice, 'while you were reading');
      await alice.locator('#jump').waitFor({ state: 'visible', timeout: 5000 });
      assert.equal(await alice.evaluate(() => document.getElementById('messages').scrollTop), 0, 'the view stayed put');
      await alice.locator('#jump').click();
      await waitFor(alice, 'the list at the bottom and the button gone', () => {
        const list = document.getElementById('messages');
        return list.scrollHeight - list.scrollTop - list.clientHeight < 50 && document.getElementById('jump').hidden;
      });
      assertClean(problems);
    });
  });

  // ---------------------------------------------------------------------------
  // Rooms (issue 13): every test below also checks the page logged no console error.

  test('joins a room by name: listed, shown, in the address; only its members get its messages', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, person }) => {
      const [alice, bob, carol] = await openAll(person, server.url, ['alice', 'bob', 'carol']);

      await joinRoomByName(alice, 'Rust', 'rust'); // lower-cased, as the server does
      assert.deepEqual((await readRooms(alice)).map((r) => r.room), ['general', 'rust']);
      assert.equal(new URL(alice.url()).hash, '#rust');
      assert.deepEqual(await readFrames(alice, 'out', 'subscribe'), [{ type: 'subscribe', room: 'rust' }]);
      await joinRoomByName(bob, 'rust');
      await waitForUsers(alice, ['alice', 'bob']);

      await sendFromPage(alice, 'hello rust');
      await waitForMessage(bob, 'hello rust');
      await waitForMessage(alice, 'hello rust');
      assert.ok(
        (await readFrames(alice, 'out', 'message')).some((f) => f.room === 'rust' && f.text === 'hello rust'),
        'the message frame names the room shown',
      );

      // Carol is only in general. Once she has a later message of general, the rust one would
      // have reached her too if it were sent to her: one instance's broadcaster keeps one order.
      await clickRoom(alice, 'general');
      await sendFromPage(alice, 'hello general');
      await waitForMessage(carol, 'hello general');
      assert.equal(countText(await readMessages(carol), 'hello rust'), 0, 'not shown in general');
      assert.equal(countText(await readMessages(alice), 'hello rust'), 0, 'general does not show rust messages');
      assert.deepEqual(
        (await readFrames(carol, 'in')).filter((f) => f.room === 'rust'),
        [],
        'nothing of rust reached carol',
      );
      await clickRoom(alice, 'rust');
      assert.equal(countText(await readMessages(alice), 'hello rust'), 1, 'back in rust, its message is there once');
      assertClean(problems);
    });
  });

  test('a room not shown counts its new messages; showing it clears the count', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, clients, person }) => {
      const [alice] = await openAll(person, server.url, ['alice']);
      await joinRoomByName(alice, 'rust');
      await clickRoom(alice, 'general');
      const bob = await rawClient(server.url, 'bob');
      clients.push(bob);
      await bob.subscribe('rust');
      for (const text of ['r1', 'r2', 'r3']) await bob.say(text, 'rust');
      await bob.say('g1'); // shown: not counted

      await waitFor(alice, 'rust with 3 unread', () =>
        document.querySelector('#rooms li[data-room="rust"] .unread')?.textContent === '3',
      );
      await waitForMessage(alice, 'g1');
      const rooms = await readRooms(alice);
      assert.equal(rooms.find((r) => r.room === 'general').unread, 0, 'the room shown has no count');

      await clickRoom(alice, 'rust');
      assert.equal((await readRooms(alice)).find((r) => r.room === 'rust').unread, 0, 'cleared when shown');
      const shown = await readMessages(alice);
      for (const text of ['r1', 'r2', 'r3']) assert.equal(countText(shown, text), 1, text);
      assert.equal(countText(shown, 'g1'), 0);
      assertClean(problems);
    });
  });

  test('leaving a room removes it, and its other members see the leave', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, person }) => {
      const [alice, bob] = await openAll(person, server.url, ['alice', 'bob']);
      await joinRoomByName(alice, 'rust');
      await joinRoomByName(bob, 'rust');
      await waitForUsers(bob, ['alice', 'bob']);
      assert.equal((await readRooms(alice)).find((r) => r.room === 'general').leavable, false, 'the default room stays');

      await alice.locator('#rooms li[data-room="rust"] .room-leave').click();
      await waitForRoom(alice, 'general');
      assert.deepEqual((await readRooms(alice)).map((r) => r.room), ['general']);
      assert.deepEqual(await readFrames(alice, 'out', 'unsubscribe'), [{ type: 'unsubscribe', room: 'rust' }]);

      await waitFor(bob, '"alice left" in rust, and alice gone from its users', () => {
        const left = [...document.querySelectorAll('#messages .notice')].some((n) => n.textContent.includes('alice left'));
        const users = [...document.querySelectorAll('#users li')].map((li) => li.textContent.trim());
        return left && !users.includes('alice') && users.includes('bob');
      });
      // She left rust only: general still lists her.
      await clickRoom(bob, 'general');
      await waitForUsers(bob, ['alice', 'bob']);
      assert.equal(
        (await readMessages(bob)).filter((m) => m.kind === 'notice' && m.text.includes('alice left')).length,
        0,
        'no leave in general',
      );
      assertClean(problems);
    });
  });

  test('the public room list shows member counts, and a click joins the room', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, person }) => {
      const [alice, bob] = await openAll(person, server.url, ['alice', 'bob']);
      await joinRoomByName(alice, 'rust');
      await joinRoomByName(bob, 'rust');
      const carol = await openChat(await person(), server.url, 'carol');
      await waitForState(carol, 'online');

      // Asked for when the page opens: most members first.
      await waitFor(carol, 'public list: general 3, rust 2', () => {
        const rows = [...document.querySelectorAll('#public-rooms li.public-room')].map(
          (li) => `${li.dataset.room}=${li.querySelector('.count').textContent}`,
        );
        return rows.join(' ') === 'general=3 rust=2';
      });
      await carol.locator('#public-rooms li[data-room="rust"] .public-open').click();
      await waitForRoom(carol, 'rust');
      await waitForUsers(carol, ['alice', 'bob', 'carol']);
      // Asked for again after joining.
      await waitFor(carol, 'public list: rust 3, marked as joined', () => {
        const li = document.querySelector('#public-rooms li[data-room="rust"]');
        return li !== null && li.querySelector('.count').textContent === '3' && li.classList.contains('member');
      });
      assert.ok((await readFrames(carol, 'out', 'rooms')).length >= 2, 'asked on open and after joining');
      assertClean(problems);
    });
  });

  test('typing: "alice is typing…" for about 3 s, several names joined, never your own', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, person }) => {
      const pages = await openAll(person, server.url, ['alice', 'bob', 'carol']);
      const [alice, bob, carol] = pages;
      for (const page of pages) await joinRoomByName(page, 'rust');
      await waitForUsers(alice, ['alice', 'bob', 'carol']);
      const typingLine = (page) => page.locator('#typing').textContent();

      await alice.locator('#message-input').pressSequentially('hello the', { delay: 20 });
      await waitForTyping(bob, 'alice is typing…');
      const seen = Date.now();
      await waitForTyping(carol, 'alice is typing…');
      assert.equal(await typingLine(alice), '', 'your own typing is not shown');
      const typingSent = await readFrames(alice, 'out', 'typing');
      assert.deepEqual(typingSent, [{ type: 'typing', room: 'rust' }], 'one typing frame for a burst of keys');

      await waitForTyping(bob, '', 6000);
      const lasted = Date.now() - seen;
      assert.ok(lasted >= 2000 && lasted <= 4500, `shown for about 3 s (${lasted} ms)`);

      // Two typers: more than 2 s after alice's last typing frame, so hers is sent again.
      await alice.locator('#message-input').pressSequentially('re', { delay: 20 });
      await bob.locator('#message-input').pressSequentially('hi', { delay: 20 });
      await waitForTyping(carol, 'alice and bob are typing…');
      await waitForTyping(alice, 'bob is typing…');
      await waitForTyping(bob, 'alice is typing…');

      // A message from the typer ends their "typing".
      await alice.locator('#message-input').press('Enter');
      await waitForMessage(carol, 'hello there');
      await waitForTyping(carol, 'bob is typing…', 2000);
      assertClean(problems);
    });
  });

  test('a link to /#rust opens the page in rust; a hash change switches rooms', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, clients, person }) => {
      const bob = await rawClient(server.url, 'bob');
      clients.push(bob);
      await bob.subscribe('rust');
      await bob.say('said before the link was opened', 'rust');

      const alice = await context.newPage();
      await alice.goto(`${server.url}/?name=alice#rust`);
      await waitForRoom(alice, 'rust');
      assert.deepEqual((await readRooms(alice)).map((r) => r.room), ['general', 'rust']);
      assert.deepEqual(await readFrames(alice, 'out', 'subscribe'), [{ type: 'subscribe', room: 'rust' }]);
      await waitForMessage(alice, 'said before the link was opened');
      await waitForUsers(alice, ['alice', 'bob']);
      await bob.say('said after', 'rust');
      await waitForMessage(alice, 'said after');

      // Typing another room into the address bar joins it; Back goes to the room before.
      await alice.evaluate(() => {
        location.hash = '#go';
      });
      await waitForRoom(alice, 'go');
      assert.deepEqual((await readRooms(alice)).map((r) => r.room), ['general', 'rust', 'go']);
      await alice.goBack();
      await waitForRoom(alice, 'rust');
      await waitForMessage(alice, 'said after');

      // A newcomer following the link picks a nickname first, then lands in rust.
      const erin = await (await person()).newPage();
      await erin.goto(`${server.url}/#rust`);
      await waitForState(erin, 'offline');
      await erin.locator('#name').fill('erin');
      await erin.locator('#name').press('Enter');
      await waitForRoom(erin, 'rust');
      await waitForMessage(erin, 'said after');
      await waitForUsers(alice, ['alice', 'bob', 'erin']);
      assertClean(problems);
    });
  });

  test('resumes every room after a dropped connection or a restart: each from its own point, nothing twice', { timeout: 120000 }, async () => {
    const env = { HISTORY_SIZE: '3', RATE_LIMIT_PER_SEC: '100', ...NO_STORE };
    let server = await startServer({ tls: false, env });
    const { port, dir } = server;
    const { context, problems } = await newContext(browser);
    const clients = [];
    try {
      const [alice] = await openAll(async () => context, server.url, ['alice']);
      await joinRoomByName(alice, 'rust');
      const carol = await rawClient(server.url, 'carol');
      clients.push(carol);
      await carol.subscribe('rust');
      const beforeG = await carol.say('before g');
      const beforeR = await carol.say('before r', 'rust');
      await waitForMessage(alice, 'before r');
      const toggle = alice.locator('#connect-toggle');

      // 1. The socket closed for a moment: both rooms resume after their own last id.
      await toggle.click();
      await waitForState(alice, 'offline');
      await carol.say('away g1');
      await carol.say('away r1', 'rust');
      await carol.say('away g2');
      await carol.say('away r2', 'rust');
      await toggle.click();
      await waitForState(alice, 'online');
      await waitForMessage(alice, 'away r2');
      // "before g" came live while rust was shown, the other two with the resume.
      await waitFor(alice, 'general: 3 unread', () =>
        document.querySelector('#rooms li[data-room="general"] .unread')?.textContent === '3',
      );
      const opened = await alice.locator('#frame-list li.event').allTextContents();
      assert.ok(opened.some((e) => e.includes(`since=${beforeG.id}&epoch=`)), `general resumed in the URL: ${JSON.stringify(opened)}`);
      const resumes = (await readFrames(alice, 'out', 'subscribe')).filter((f) => f.since !== undefined);
      assert.deepEqual(resumes.map((f) => [f.room, f.since]), [['rust', beforeR.id]], 'rust resumed after its last id');
      assert.equal(typeof resumes[0].epoch, 'string');
      await assertRoomShows(alice, 'rust', ['before r', 'away r1', 'away r2'], { missed: false });
      await assertRoomShows(alice, 'general', ['before g', 'away g1', 'away g2'], { missed: false });

      // 2. Away longer than rust's history (HISTORY_SIZE=3): only rust says messages were missed.
      await toggle.click();
      await waitForState(alice, 'offline');
      for (let i = 1; i <= 5; i += 1) await carol.say(`x${i}`, 'rust');
      await carol.say('away g3');
      await toggle.click();
      await waitForState(alice, 'online');
      await waitForMessage(alice, 'away g3'); // general is shown now
      await assertRoomShows(alice, 'general', ['before g', 'away g1', 'away g2', 'away g3'], { missed: false });
      await clickRoom(alice, 'rust');
      await waitForMessage(alice, 'x5');
      await assertRoomShows(alice, 'rust', ['before r', 'away r1', 'away r2', 'x3', 'x4', 'x5'], { missed: true });
      assert.equal(countText(await readMessages(alice), 'x1'), 0, 'x1 fell out of the history');

      // 3. The server (without a store) restarts on the same port: new epochs, ids from 1 again in
      // every room. The page comes back into both rooms by itself; whether the new messages come
      // live or in the history depends on its random backoff, but each is shown once.
      await carol.close();
      clients.pop();
      await stopServer(server, { removeDir: false });
      await waitForState(alice, 'reconnecting', 10000);
      server = await startServer({ tls: false, env, port, dir });
      const dave = await rawClient(server.url, 'dave');
      clients.push(dave);
      await dave.subscribe('rust');
      await dave.say('after restart r', 'rust');
      await dave.say('after restart g');
      await waitForState(alice, 'online', 20000);
      await waitForMessage(alice, 'after restart r');
      await waitForRoom(alice, 'rust');
      const shown = await readMessages(alice);
      assert.equal(countText(shown, 'after restart r'), 1);
      assertNoDuplicateIds(shown);
      assert.ok(shown.some((m) => m.kind === 'notice' && /server restarted/i.test(m.text)), 'rust says the server restarted');
      await clickRoom(alice, 'general');
      await waitForMessage(alice, 'after restart g');
      assert.equal(countText(await readMessages(alice), 'after restart g'), 1);
      assertNoDuplicateIds(await readMessages(alice));
      await sendFromPage(alice, 'back in general');
      await waitForMessage(alice, 'back in general');
      assertClean(problems, { allowConnectionRefused: true });
    } catch (err) {
      throw withServerLog(err, server);
    } finally {
      await closeRestarted({ server, context, clients, dir });
    }
  });

  test('coming back into many rooms stays within the rate limit: no flood close, every room joined', { timeout: TEST_TIMEOUT }, async () => {
    // The server counts subscribes like messages: a bucket of 4 here, refilled at 2 a second.
    const env = { RATE_LIMIT_PER_SEC: '2' };
    await withServer(browser, { tls: false, env }, {}, async ({ server, context, problems, person }) => {
      const [alice] = await openAll(person, server.url, ['alice']);
      const names = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7', 'r8'];
      const allJoined = () =>
        waitFor(alice, 'every room joined', (n) => {
          const items = [...document.querySelectorAll('#rooms li')];
          return items.length === n && items.every((li) => !li.classList.contains('pending'));
        }, names.length + 1, 20000);

      // One after the other: past the bucket, a refused subscribe is asked again once it refilled.
      for (const name of names) await joinRoomByName(alice, name);
      await allJoined();

      const toggle = alice.locator('#connect-toggle');
      await toggle.click();
      await waitForState(alice, 'offline');
      await toggle.click();
      await waitForState(alice, 'online');
      // Sent all at once, these 8 subscribes and the rooms request would be 5 refusals in a
      // row past the bucket: closed as a flood, again after every reconnect.
      await allJoined();
      const resumed = (await readFrames(alice, 'out', 'subscribe')).filter((f) => f.since !== undefined);
      assert.deepEqual(resumed.map((f) => f.room).sort(), names, 'each room resumed once');
      const closes = await alice.locator('#frame-list li.close').allTextContents();
      assert.equal(closes.filter((c) => /1008/.test(c)).length, 0, `no flood close: ${JSON.stringify(closes)}`);
      assert.equal(await alice.getAttribute('#status', 'data-state'), 'online');
      assertClean(problems);
    });
  });

  test('a room of more than 100 names keeps its users list from presence events', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, clients, person }) => {
      const [alice] = await openAll(person, server.url, ['alice']);
      const crowd = await Promise.all(Array.from({ length: 100 }, (_, i) => rawClient(server.url, `u${String(i).padStart(3, '0')}`)));
      clients.push(...crowd);
      const userCount = (n) =>
        waitFor(alice, `${n} users listed`, (want) => document.querySelectorAll('#users li').length === want, n);
      await userCount(101);

      // Past 100 names, arrivals and departures come batched in one presence event a second.
      const late = await Promise.all(['zoe', 'yann'].map((name) => rawClient(server.url, name)));
      clients.push(...late);
      await waitForUsers(alice, ['zoe', 'yann']);
      await userCount(103);
      await crowd[0].close();
      await waitFor(alice, 'u000 gone', () => ![...document.querySelectorAll('#users li')].some((li) => li.dataset.name === 'u000'));
      await userCount(102);
      const presence = await readFrames(alice, 'in', 'presence');
      assert.ok(presence.some((f) => f.joined.includes('zoe')), 'zoe came in a presence event');
      assert.ok(presence.some((f) => f.left.includes('u000')), 'u000 left in a presence event');
      assertClean(problems);
    });
  });

  test('a bad room name in the field gives an inline message and sends nothing', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, person }) => {
      const [alice] = await openAll(person, server.url, ['alice']);
      const error = alice.locator('#room-error');
      assert.equal(await error.isHidden(), true);
      for (const bad of ['no spaces', '-dash-first', 'é', 'a'.repeat(33), 'dots.no']) {
        await alice.locator('#room-input').fill(bad);
        await alice.locator('#room-input').press('Enter');
        await error.waitFor({ state: 'visible', timeout: 5000 });
        assert.match(await error.textContent(), /is not a room name/, bad);
        assert.equal(await alice.getAttribute('#room-input', 'aria-invalid'), 'true');
        assert.equal(await alice.inputValue('#room-input'), bad, 'the name stays for correcting');
        await alice.locator('#room-input').fill(''); // editing clears the message
        await error.waitFor({ state: 'hidden', timeout: 5000 });
      }
      assert.deepEqual(await readFrames(alice, 'out', 'subscribe'), [], 'nothing sent');
      assert.deepEqual((await readRooms(alice)).map((r) => r.room), ['general']);
      assert.equal(new URL(alice.url()).hash, '', 'the address did not change');
      await joinRoomByName(alice, 'a'.repeat(32)); // the longest name is fine
      assertClean(problems);
    });
  });

  test('the server refusing a room (too_many_rooms) is shown inline and the room is dropped', { timeout: TEST_TIMEOUT }, async () => {
    const env = { MAX_ROOMS_PER_CONNECTION: '2' };
    await withServer(browser, { tls: false, env }, {}, async ({ server, context, problems, person }) => {
      const [alice] = await openAll(person, server.url, ['alice']);
      await joinRoomByName(alice, 'rust'); // general and rust: the limit
      await alice.locator('#room-input').fill('go');
      await alice.locator('#room-input').press('Enter');
      await alice.locator('#room-error').waitFor({ state: 'visible', timeout: 10000 });
      const refusals = (await readFrames(alice, 'in', 'error')).filter((f) => f.code === 'too_many_rooms');
      assert.equal(refusals.length, 1, 'one too_many_rooms error');
      assert.equal(await alice.locator('#room-error').textContent(), refusals[0].message);
      await waitForRoom(alice, 'rust'); // back to the room shown before
      assert.deepEqual((await readRooms(alice)).map((r) => r.room), ['general', 'rust']);
      assert.equal(await alice.locator('#alerts .alert').count(), 0, 'inline, not an alert');
      assertClean(problems);
    });
  });

  // ---------------------------------------------------------------------------
  // Sessions, unique names and private messages (issue 14). A browser context is one person:
  // its tabs share the session the page keeps in localStorage.

  test('two people talk privately; a third in the same room sees nothing of it', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, problems, person }) => {
      const [alice, bob, carol] = await openAll(person, server.url, ['alice', 'bob', 'carol']);
      await waitForUsers(alice, ['alice', 'bob', 'carol']);

      // A click on a name opens the conversation: its history is asked for by name.
      await clickUser(alice, 'bob');
      assert.deepEqual(await readFrames(alice, 'out', 'subscribe'), [{ type: 'subscribe', dm: 'bob' }]);
      await sendFromPage(alice, 'psst, bob');
      await waitForMessage(alice, 'psst, bob');
      assert.deepEqual(
        (await readFrames(alice, 'out', 'message')).map((f) => [f.to, f.room, f.text]),
        [['bob', undefined, 'psst, bob']],
        'sent to bob, not to a room',
      );
      assert.equal((await readMessages(alice)).find((m) => m.text === 'psst, bob').own, true);

      // Bob is in general: the conversation appears in his list with one unread, not in general.
      await waitFor(bob, 'alice in "Direct messages" with 1 unread', () =>
        document.querySelector('#dms li.dm[data-name="alice"] .unread')?.textContent === '1',
      );
      assert.equal(countText(await readMessages(bob), 'psst, bob'), 0, 'not shown in general');
      await clickDm(bob, 'alice');
      await waitForMessage(bob, 'psst, bob');
      const got = (await readMessages(bob)).find((m) => m.text === 'psst, bob');
      assert.deepEqual([got.name, got.own], ['alice', false]);
      assert.equal((await readDms(bob)).find((d) => d.name === 'alice').unread, 0, 'read once shown');
      await sendFromPage(bob, 'hi alice, only you can read this');
      await waitForMessage(alice, 'hi alice, only you can read this');
      assert.equal((await readMessages(alice)).find((m) => m.text === 'hi alice, only you can read this').own, false);

      // Alice goes back to general and says something there: once carol has it, she would have
      // had the private ones too if they had been sent to her (one broadcaster, one order).
      await clickRoom(alice, 'general');
      assert.equal(countText(await readMessages(alice), 'psst, bob'), 0, 'general does not show the private message');
      await sendFromPage(alice, 'hello everyone');
      await waitForMessage(carol, 'hello everyone');
      const carolSees = await carol.evaluate(() => document.body.textContent);
      for (const secret of ['psst, bob', 'only you can read this']) {
        assert.ok(!carolSees.includes(secret), `carol's page does not show "${secret}"`);
      }
      assert.deepEqual(await readDms(carol), [], 'carol has no private conversation');
      const carolFrames = await readFrames(carol, 'in');
      assert.deepEqual(carolFrames.filter((f) => f.dm !== undefined || /psst|only you/.test(JSON.stringify(f))), [], 'no private frame reached carol');

      // Clicking your own name opens notes to yourself: listed as you, each note shown once.
      await clickUser(alice, 'alice');
      await sendFromPage(alice, 'a note for later');
      await waitForMessage(alice, 'a note for later');
      await delay(300);
      assert.equal(countText(await readMessages(alice), 'a note for later'), 1, 'a note to self comes once');
      assert.deepEqual((await readDms(alice)).map((d) => [d.name, d.self]), [['bob', false], ['alice', true]]);

      // Bob closes the conversation: it leaves his list, and comes back with alice's next message,
      // which is shown after the earlier ones once he opens it again.
      await bob.locator('#dms li.dm[data-name="alice"] .dm-close').click();
      await waitForRoom(bob, 'general');
      assert.deepEqual(await readDms(bob), []);
      await clickDm(alice, 'bob');
      await sendFromPage(alice, 'are you still there?');
      await waitFor(bob, 'alice back in the list with 1 unread', () =>
        document.querySelector('#dms li.dm[data-name="alice"] .unread')?.textContent === '1',
      );
      await clickDm(bob, 'alice');
      await waitForMessage(bob, 'are you still there?');
      const again = (await readMessages(bob)).filter((m) => m.kind === 'message');
      assert.deepEqual(again.map((m) => m.text), ['psst, bob', 'hi alice, only you can read this', 'are you still there?']);
      assertNoDuplicateIds(again);
      assertClean(problems);
    });
  });

  test('two tabs of one browser are one person: one name, both own either tab\'s messages, both get its private messages', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, person }) => {
      const tab1 = await openChat(context, server.url, 'alice');
      await waitForState(tab1, 'online');
      const tab2 = await openChat(context, server.url); // no ?name=: the session says who we are
      await waitForState(tab2, 'online');
      const [bob] = await openAll(person, server.url, ['bob']);
      const [hello1] = await waitForFrames(tab1, 'in', 'hello');
      const [hello2] = await waitForFrames(tab2, 'in', 'hello');
      assert.equal(hello2.session, hello1.session, 'the second tab presented the session of the first');
      assert.equal(hello2.user, hello1.user, 'one user id');
      for (const tab of [tab1, tab2]) await waitForMyName(tab, 'alice');
      // The session goes in the first frame (shown as …), never in the URL.
      const opened = await tab2.locator('#frame-list li.event').allTextContents();
      assert.ok(opened.some((e) => e.includes('session_in=frame')), JSON.stringify(opened));
      assert.ok(!opened.some((e) => e.includes(hello1.session)), `a URL holds the session: ${JSON.stringify(opened)}`);
      assert.deepEqual((await readFrames(tab2, 'out'))[0], { type: 'session', session: '…' });

      // Typing in one tab: bob sees it, the other tab (the same person) does not.
      await tab1.locator('#message-input').pressSequentially('still here', { delay: 20 });
      await waitForTyping(bob, 'alice is typing…');
      await delay(300);
      assert.equal(await tab2.locator('#typing').textContent(), '', 'your own typing in another tab is not shown');
      await tab1.locator('#message-input').fill('');

      await sendFromPage(tab1, 'from tab one');
      await sendFromPage(tab2, 'from tab two');
      for (const page of [tab1, tab2, bob]) {
        await waitForMessage(page, 'from tab one');
        await waitForMessage(page, 'from tab two');
        const shown = await readMessages(page);
        const own = page !== bob;
        for (const text of ['from tab one', 'from tab two']) {
          const m = shown.find((x) => x.text === text);
          assert.deepEqual([m.name, m.own], ['alice', own], `"${text}" is ${own ? '' : 'not '}own in ${page === bob ? 'bob' : 'a tab of alice'}`);
        }
      }

      // A private message to alice reaches both tabs; her answer from one tab shows in the other as hers.
      await clickUser(bob, 'alice');
      await sendFromPage(bob, 'to whichever tab');
      for (const tab of [tab1, tab2]) {
        await waitFor(tab, 'bob in "Direct messages" with 1 unread', () =>
          document.querySelector('#dms li.dm[data-name="bob"] .unread')?.textContent === '1',
        );
      }
      await clickDm(tab2, 'bob');
      await waitForMessage(tab2, 'to whichever tab');
      await sendFromPage(tab2, 'answered from tab two');
      await waitForMessage(bob, 'answered from tab two');
      await clickDm(tab1, 'bob');
      await waitForMessage(tab1, 'answered from tab two');
      const inTab1 = await readMessages(tab1);
      assert.equal(inTab1.find((m) => m.text === 'answered from tab two').own, true, 'own in the other tab');
      assert.equal(inTab1.find((m) => m.text === 'to whichever tab').own, false);
      assert.equal(countText(inTab1, 'to whichever tab'), 1, 'shown once');
      assertClean(problems);
    });
  });

  test('a reload keeps your name with your session; meanwhile another browser asking for it gets alice-2 and is told', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, person }) => {
      let alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      const [first] = await waitForFrames(alice, 'in', 'hello');
      assert.equal(first.requested, undefined);
      assert.equal(await alice.evaluate(() => localStorage.getItem('wschat.session')), first.session, 'the session is kept');

      await alice.reload();
      await waitForState(alice, 'online');
      const [again] = await waitForFrames(alice, 'in', 'hello');
      assert.deepEqual([again.session, again.user, again.name], [first.session, first.user, 'alice'], 'same session, same person');
      await waitForMyName(alice, 'alice');

      // Alice closes her only tab. Her name stays hers: a newcomer asking for it gets alice-2.
      await alice.close();
      const other = await openChat(await person(), server.url, 'alice');
      await waitForState(other, 'online');
      await waitForMyName(other, 'alice-2');
      await waitForNotice(other, '^alice is taken; you are alice-2\\.');
      assert.equal((await waitForFrames(other, 'in', 'hello'))[0].requested, 'alice');
      await sendFromPage(other, 'I am the other one');
      await waitForMessage(other, 'I am the other one');
      assert.equal((await readMessages(other)).find((m) => m.text === 'I am the other one').name, 'alice-2');

      // Alice comes back (no ?name= this time): still alice, and no notice.
      alice = await openChat(context, server.url);
      await waitForState(alice, 'online');
      await waitForMyName(alice, 'alice');
      await waitForUsers(alice, ['alice', 'alice-2']);
      assert.equal((await waitForFrames(alice, 'in', 'hello'))[0].user, first.user);
      assert.ok(!(await readMessages(alice)).some((m) => /is taken/.test(m.text)), 'alice is not told her name is taken');
      assertClean(problems);
    });
  });

  test('rename: every tab takes the new name, a taken one is refused under the field, the rooms see "alice is now alicia"', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, person }) => {
      const tab1 = await openChat(context, server.url, 'alice');
      await waitForState(tab1, 'online');
      const tab2 = await openChat(context, server.url);
      await waitForState(tab2, 'online');
      const [bob] = await openAll(person, server.url, ['bob']);
      await joinRoomByName(tab1, 'rust');
      await joinRoomByName(bob, 'rust');
      await waitForUsers(bob, ['alice', 'bob']);
      // Bob has a private conversation with alice: it follows her to her new name.
      await clickUser(bob, 'alice');
      await sendFromPage(bob, 'before your rename');
      await waitForMessage(bob, 'before your rename');

      await clickRoom(tab1, 'general');
      await sendFromPage(tab1, 'said as alice');
      await waitForMessage(tab2, 'said as alice');

      // Taken: refused, shown under the field, nothing changes.
      const error = tab1.locator('#name-error');
      assert.equal(await error.isHidden(), true);
      await tab1.locator('#name').fill('BOB'); // names are unique whatever their case
      await tab1.locator('#name').press('Enter');
      await error.waitFor({ state: 'visible', timeout: 10000 });
      const refusals = (await readFrames(tab1, 'in', 'error')).filter((f) => f.code === 'name_taken');
      assert.equal(refusals.length, 1, 'one name_taken error');
      assert.equal(await error.textContent(), refusals[0].message);
      assert.equal(await tab1.getAttribute('#name', 'aria-invalid'), 'true');
      assert.equal(await tab1.locator('#alerts .alert').count(), 0, 'inline, not an alert');
      assert.equal(await tab2.inputValue('#name'), 'alice', 'the other tab keeps the name');
      await tab1.locator('#name').fill('BO'); // editing clears the message
      await error.waitFor({ state: 'hidden', timeout: 5000 });

      // Free: every tab of alice gets its own `renamed`.
      await tab1.locator('#name').fill('alicia');
      await tab1.locator('#name').press('Enter');
      assert.deepEqual((await readFrames(tab1, 'out', 'rename')), [{ type: 'rename', name: 'BOB' }, { type: 'rename', name: 'alicia' }]);
      for (const tab of [tab1, tab2]) await waitForMyName(tab, 'alicia');
      assert.deepEqual(await readFrames(tab2, 'out', 'rename'), [], 'the other tab sent nothing');
      assert.equal(await error.isHidden(), true);

      // Bob sees it in each room they share, and his conversation with her has her new name.
      await clickRoom(bob, 'rust');
      await waitForNotice(bob, '^alice is now alicia');
      await waitFor(bob, 'alicia listed in rust, alice gone', () => {
        const users = [...document.querySelectorAll('#users li')].map((li) => li.dataset.name);
        return users.includes('alicia') && !users.includes('alice');
      });
      await clickRoom(bob, 'general');
      await waitForNotice(bob, '^alice is now alicia');
      await waitFor(bob, 'the conversation listed as alicia', () => {
        const names = [...document.querySelectorAll('#dms li.dm')].map((li) => li.dataset.name);
        return names.length === 1 && names[0] === 'alicia';
      });
      await clickDm(bob, 'alicia');
      assert.equal(countText(await readMessages(bob), 'before your rename'), 1, 'the same conversation');
      await sendFromPage(bob, 'after your rename');
      await waitFor(tab2, 'the private message in the list', () => document.querySelector('#dms li.dm[data-name="bob"]') !== null);
      await clickDm(tab2, 'bob');
      await waitForMessage(tab2, 'after your rename');
      await clickRoom(tab2, 'general');
      await sendFromPage(tab2, 'alicia speaking');
      await clickRoom(bob, 'general');
      await waitForMessage(bob, 'alicia speaking');
      assert.deepEqual(
        (await readMessages(bob)).filter((m) => m.text === 'alicia speaking').map((m) => [m.name, m.own]),
        [['alicia', false]],
      );
      await waitForMessage(tab1, 'alicia speaking');
      assert.deepEqual(
        (await readMessages(tab1)).filter((m) => m.text === 'alicia speaking').map((m) => [m.name, m.own]),
        [['alicia', true]],
      );
      // Own is by user id, not by name: after a reload the history shows what she said as alice as hers.
      await tab2.reload();
      await waitForState(tab2, 'online');
      await waitForMessage(tab2, 'alicia speaking');
      assert.deepEqual(
        (await readMessages(tab2)).filter((m) => m.kind === 'message').map((m) => [m.text, m.name, m.own]),
        [['said as alice', 'alice', true], ['alicia speaking', 'alicia', true]],
      );
      assertClean(problems);
    });
  });

  test('private messages sent while you were away are listed as unread when you come back', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, person }) => {
      let bob = await openChat(context, server.url, 'bob');
      await waitForState(bob, 'online');
      const [alice] = await openAll(person, server.url, ['alice']);
      await clickUser(alice, 'bob');
      await bob.close(); // his only tab: no connection of his is open
      await waitFor(alice, 'bob gone from the users list', () => !document.querySelector('#users li[data-name="bob"]'));
      await sendFromPage(alice, 'while you were away');
      await waitForMessage(alice, 'while you were away');
      await sendFromPage(alice, 'and again');
      await waitForMessage(alice, 'and again');

      bob = await openChat(context, server.url);
      await waitForState(bob, 'online');
      const [hello] = await waitForFrames(bob, 'in', 'hello');
      assert.deepEqual(hello.unread_dms.map((d) => [d.name, d.count]), [['alice', 2]]);
      await waitFor(bob, 'alice listed with 2 unread', () =>
        document.querySelector('#dms li.dm[data-name="alice"] .unread')?.textContent === '2',
      );
      assert.equal(await bob.locator('#room-title').textContent(), '#general', 'the conversation is listed, not opened');
      await clickDm(bob, 'alice');
      await waitForMessage(bob, 'and again');
      const shown = (await readMessages(bob)).filter((m) => m.kind === 'message').map((m) => m.text);
      assert.deepEqual(shown, ['while you were away', 'and again']);
      assert.equal((await readDms(bob))[0].unread, 0);

      // Read now: the next visit lists nothing unread.
      await bob.reload();
      await waitForState(bob, 'online');
      assert.deepEqual((await waitForFrames(bob, 'in', 'hello'))[0].unread_dms, []);
      assert.deepEqual((await readDms(bob)).filter((d) => d.unread > 0), []);
      assertClean(problems);
    });
  });

  test('an open private conversation resumes after a dropped connection with since/epoch, nothing twice or counted twice', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, problems, clients, person }) => {
      const [alice] = await openAll(person, server.url, ['alice']);
      const bob = await rawClient(server.url, 'bob');
      clients.push(bob);
      await waitForUsers(alice, ['alice', 'bob']);
      await clickUser(alice, 'bob');
      bob.dm('alice', 'one');
      await waitForMessage(alice, 'one');
      const first = (await readMessages(alice)).find((m) => m.text === 'one');
      await clickRoom(alice, 'general');

      const toggle = alice.locator('#connect-toggle');
      await toggle.click();
      await waitForState(alice, 'offline');
      bob.dm('alice', 'two');
      bob.dm('alice', 'three');
      await bob.waitFor('three echoed', (f) => f.type === 'message' && f.dm === true && f.text === 'three');
      await toggle.click();
      await waitForState(alice, 'online');
      // hello.unread_dms counts them too; the resume is what the page counts.
      await waitFor(alice, 'bob with 2 unread', () =>
        document.querySelector('#dms li.dm[data-name="bob"] .unread')?.textContent === '2',
      );
      const resumed = (await readFrames(alice, 'out', 'subscribe')).filter((f) => f.dm === 'bob' && f.since !== undefined);
      assert.deepEqual(resumed.map((f) => f.since), [first.id], 'resumed after the last id it had');
      assert.equal(resumed[0].epoch, first.epoch);
      await delay(300);
      assert.equal((await readDms(alice))[0].unread, 2, 'not counted twice');
      await clickDm(alice, 'bob');
      const shown = await readMessages(alice);
      assert.deepEqual(shown.filter((m) => m.kind === 'message').map((m) => m.text), ['one', 'two', 'three']);
      assertNoDuplicateIds(shown);
      assertClean(problems);
    });
  });

  test('a private message to a name nobody holds any more says so in the conversation', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, problems, clients, person }) => {
      const [alice] = await openAll(person, server.url, ['alice']);
      const carol = await rawClient(server.url, 'carol');
      clients.push(carol);
      await waitForUsers(alice, ['alice', 'carol']);
      // Offline, a click opens the conversation by name; it is asked for once back online.
      const toggle = alice.locator('#connect-toggle');
      await toggle.click();
      await waitForState(alice, 'offline');
      await alice.locator('#users li[data-name="carol"] .user-open').click();
      assert.equal(await alice.locator('#room-title').textContent(), '@carol');
      carol.ws.send(JSON.stringify({ type: 'rename', name: 'caroline' }));
      await carol.waitFor('renamed', (f) => f.type === 'renamed');
      await toggle.click();
      await waitForState(alice, 'online');
      await waitForNotice(alice, '.');
      const errors = (await readFrames(alice, 'in', 'error')).filter((f) => f.code === 'no_such_user');
      assert.equal(errors.length, 1, 'one no_such_user error');
      const notices = (await readMessages(alice)).filter((m) => m.kind === 'notice' && m.text.includes(errors[0].message));
      assert.equal(notices.length, 1, 'the server\'s message shown in the conversation');
      assert.equal(await alice.locator('#room-title').textContent(), '@carol');
      assert.equal(await alice.locator('#send').isDisabled(), true, 'nobody to send to');
      assert.equal(await alice.locator('#alerts .alert').count(), 0, 'in the conversation, not an alert');
      assertClean(problems);
    });
  });

  test('an expired session is replaced without fuss: a notice, and the new session is kept', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems }) => {
      const alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      // The hello has come: the page has its session and remembers its name (the state is
      // online from the socket's open, before the hello).
      await waitForMyName(alice, 'alice');
      // The name field shows `?name=` before the hello: wait for the hello itself, and for the
      // page to have kept its session, or the reload below could store over the stale one.
      const [first] = await waitForFrames(alice, 'in', 'hello');
      await alice.waitForFunction((s) => localStorage.getItem('wschat.session') === s, first.session);
      // As if the server had forgotten us (NAME_RESERVE_SECS after our last tab closed).
      const stale = 'AAAAAAAAAAAAAAAAAAAAAA'; // well-formed, unknown to this server
      await alice.evaluate((s) => localStorage.setItem('wschat.session', s), stale);
      await alice.reload();
      await waitForState(alice, 'online');
      await waitForNotice(alice, 'session had expired');
      const [hello] = await waitForFrames(alice, 'in', 'hello');
      assert.notEqual(hello.session, stale);
      assert.ok((await readFrames(alice, 'in', 'error')).some((f) => f.code === 'session_expired'));
      // The old session still holds alice (NAME_RESERVE_SECS): the new one is somebody else.
      await waitForMyName(alice, 'alice-2');
      assert.equal(await alice.evaluate(() => localStorage.getItem('wschat.session')), hello.session, 'the new session is kept');
      assert.equal(await alice.locator('#alerts .alert').count(), 0, 'no alert');

      await alice.reload();
      await waitForState(alice, 'online');
      assert.equal((await waitForFrames(alice, 'in', 'hello'))[0].session, hello.session, 'presented next time');
      assert.deepEqual((await readFrames(alice, 'in', 'error')).filter((f) => f.code === 'session_expired'), []);
      assertClean(problems);
    });
  });

  // Writes docs/screenshot.png when SCREENSHOT=1.
  test('screenshot', { timeout: TEST_TIMEOUT, skip: process.env.SCREENSHOT !== '1' && 'set SCREENSHOT=1 to write docs/screenshot.png' }, async () => {
    await withServer(browser, { tls: true }, {}, async ({ server, context, problems, clients, person }) => {
      const alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      const bob = await openChat(await person(), server.url, 'bob');
      await waitForState(bob, 'online');
      const carol = await rawClient(server.url, 'carol');
      clients.push(carol);
      await carol.say('Morning! Is the release still on for today?');
      await sendFromPage(alice, 'Yes, after lunch. Running the last checks now.');
      await waitForMessage(bob, 'Yes, after lunch. Running the last checks now.');
      await sendFromPage(bob, "I'll watch the dashboards while it rolls out.");
      await waitForMessage(alice, "I'll watch the dashboards while it rolls out.");
      await sendFromPage(alice, 'Thanks!');
      await waitForMessage(bob, 'Thanks!');
      await sendFromPage(alice, "I'll post here when it's done.");
      await waitForMessage(bob, "I'll post here when it's done.");
      await carol.say('Sounds good.\nPing me if anything looks off.');
      await waitForMessage(alice, 'Sounds good.\nPing me if anything looks off.');
      await alice.locator('#frames summary').click();
      await alice.locator('#message-input').fill('Deploy finished');
      await alice.evaluate(() => document.activeElement.blur());
      const out = path.join(REPO, 'docs', 'screenshot.png');
      mkdirSync(path.dirname(out), { recursive: true });
      await alice.screenshot({ path: out });
      assertClean(problems);
    });
  });
});
