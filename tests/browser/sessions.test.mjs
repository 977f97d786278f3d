// Who chooses who you are (issue 22): a cookie planted by another page, a link with ?name=, and
// the user ids the page shows on hover. Run with `bash tests/browser/run.sh`.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import {
  launchBrowser,
  consoleProblems,
  openChat,
  waitFor,
  waitForState,
  waitForMessage,
  waitForUsers,
  readFrames,
  sendFromPage,
  rawClient,
  clickUser,
  waitForMyName,
  withServer,
} from './lib.mjs';

const TEST_TIMEOUT = 90000;

/** Runs `body` with a fresh server (plain HTTP, debug log) and browser context; cleans both up. */
function withDebugServer(browser, body) {
  return withServer(browser, { tls: false, env: { LOG_LEVEL: 'debug' } }, {}, body);
}

function assertClean(problems) {
  assert.deepEqual(consoleProblems(problems), [], 'console errors or uncaught exceptions');
  assert.deepEqual(problems.dialogs, [], 'dialogs opened');
}

/**
 * Mallory's page on another port of the chat's host: it sets `wschat_session` to her session
 * (cookies ignore ports, so the chat's host gets it) and links to the chat.
 */
async function plantingPage(session, chatUrl) {
  const server = http.createServer((req, res) => {
    res.writeHead(200, {
      'Content-Type': 'text/html; charset=utf-8',
      'Set-Cookie': `wschat_session=${session}; Path=/`,
      'Connection': 'close',
    });
    res.end(`<!doctype html><title>free stickers</title><a id="go" href="${chatUrl}/?name=victor">Chat</a>`);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${server.address().port}/`,
    close: () => new Promise((resolve) => server.close(resolve)),
  };
}

/** Every WebSocket URL the pages of `context` open, from now on. */
function watchSockets(context) {
  const urls = [];
  const watch = (page) => page.on('websocket', (ws) => urls.push(ws.url()));
  for (const page of context.pages()) watch(page);
  context.on('page', watch);
  return urls;
}

/** The JSON frames the page's frames panel shows from the server, once one has `text` in it. */
async function framesOnceShown(page, text) {
  await waitFor(page, `a frame with ${text} in the frames panel`, (t) =>
    [...document.querySelectorAll('#frame-list li.in .f-body')].some((n) => n.textContent.includes(t)), text);
  return readFrames(page, 'in');
}

/** The hello the page got. */
async function helloOf(page) {
  return (await framesOnceShown(page, '"type":"hello"')).find((f) => f.type === 'hello');
}

/** Our own user id, from the hello the page got. */
async function myUser(page) {
  return (await helloOf(page)).user;
}

describe('sessions: who chooses who you are', () => {
  let browser;

  before(async () => {
    browser = await launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
  });

  test('a session cookie planted by a page on another port chooses nobody\'s session, and no URL the page opens holds a session', { timeout: TEST_TIMEOUT }, async () => {
    await withDebugServer(browser, async ({ server, context, problems, clients, person }) => {
      const mallory = await rawClient(server.url, 'mallory');
      clients.push(mallory);
      const malloryHello = mallory.frames.find((f) => f.type === 'hello');
      const planter = await plantingPage(malloryHello.session, server.url);
      try {
        // Victor has been here before: he has a session of his own.
        const urls = watchSockets(context);
        const first = await openChat(context, server.url, 'victor');
        await waitForState(first, 'online');
        const victor = await myUser(first);
        const session = await first.evaluate(() => localStorage.getItem('wschat.session'));
        await first.close();

        // Mallory's page plants her session and links to the chat.
        const lure = await context.newPage();
        await lure.goto(planter.url);
        const cookies = await context.cookies(server.url);
        assert.ok(cookies.some((c) => c.name === 'wschat_session' && c.value === malloryHello.session), 'the cookie was planted for the chat\'s host');
        await lure.locator('#go').click();
        await waitForState(lure, 'online');
        assert.equal(await myUser(lure), victor, 'Victor is still Victor');
        await waitForMyName(lure, 'victor');

        // Someone new to the chat clicks the same link: a fresh session, not Mallory's.
        const newcomer = await person();
        const newcomerUrls = watchSockets(newcomer);
        const lured = await newcomer.newPage();
        await lured.goto(planter.url);
        await lured.locator('#go').click();
        await waitForState(lured, 'online');
        const hello = await helloOf(lured);
        assert.notEqual(hello.user, malloryHello.user, 'the planted cookie chose the session');
        assert.notEqual(hello.session, malloryHello.session);
        assert.equal(hello.name, 'victor-2', 'a newcomer asking for a taken name');

        // A private message to the newcomer reaches the newcomer, not Mallory.
        const bob = await rawClient(server.url, 'bob');
        clients.push(bob);
        bob.dm('victor-2', 'for victor-2 only');
        await framesOnceShown(lured, 'for victor-2 only');
        await bob.say('after the private message');
        await mallory.waitFor('bob\'s room message', (f) => f.type === 'message' && f.text === 'after the private message');
        assert.ok(!mallory.frames.some((f) => f.text === 'for victor-2 only'), 'Mallory read a private message');

        // The session went in a first frame, never in a URL: not in the page's, not in the log.
        for (const url of [...urls, ...newcomerUrls]) {
          assert.match(url, /\/ws\?.*session_in=frame/, url);
          assert.doesNotMatch(url, /[?&]session=/, url);
        }
        assert.ok(urls.length >= 2 && newcomerUrls.length >= 1, JSON.stringify([urls, newcomerUrls]));
        for (const secret of [session, hello.session]) {
          assert.ok(!urls.concat(newcomerUrls).some((u) => u.includes(secret)), 'a URL holds the session');
          assert.ok(!server.log.includes(secret), 'the server log holds the session');
        }
        const [sent] = await readFrames(lure, 'out');
        assert.deepEqual(sent, { type: 'session', session: '…' }, 'the first frame, as the frames panel shows it');
        assertClean(problems);
      } finally {
        await planter.close();
      }
    });
  });

  test('a link with ?name= renames nobody who has a session, and the name stays theirs', { timeout: TEST_TIMEOUT }, async () => {
    await withDebugServer(browser, async ({ server, context, problems, clients }) => {
      const alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      const user = await myUser(alice);

      // Mallory sends alice a link.
      const linked = await context.newPage();
      await linked.goto(`${server.url}/?name=mallory`);
      await waitForState(linked, 'online');
      await waitForMyName(linked, 'alice');
      assert.equal(await myUser(linked), user);
      await sendFromPage(linked, 'still alice');
      await waitForMessage(alice, 'still alice');
      for (const page of [alice, linked]) {
        assert.deepEqual(await readFrames(page, 'out', 'rename'), [], 'no rename was sent');
        assert.deepEqual(await readFrames(page, 'in', 'renamed'), [], 'nobody was renamed');
        assert.equal(await page.locator('#name').inputValue(), 'alice');
      }
      assert.equal(new URL(linked.url()).searchParams.get('name'), 'alice', 'the address follows the name we have');

      // alice is still held by her: Mallory asking for it gets alice-2.
      const thief = await rawClient(server.url, 'alice');
      clients.push(thief);
      assert.equal(thief.frames.find((f) => f.type === 'hello').name, 'alice-2');
      assertClean(problems);
    });
  });

  test('who is who: names carry the first characters of their holder\'s user id on hover', { timeout: TEST_TIMEOUT }, async () => {
    await withDebugServer(browser, async ({ server, context, problems, clients }) => {
      const alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      const me = await myUser(alice);
      const bob = await rawClient(server.url, 'bob');
      clients.push(bob);
      const bobUser = bob.frames.find((f) => f.type === 'hello').user;
      await waitForUsers(alice, ['alice', 'bob']);
      await bob.say('hi from bob');
      await waitForMessage(alice, 'hi from bob');
      await sendFromPage(alice, 'hi from alice');
      await waitForMessage(alice, 'hi from alice');

      const hint = (name, user) => `${name} · id ${user.slice(0, 6)}`;
      const authors = await alice.evaluate(() =>
        [...document.querySelectorAll('#messages .message .author')].map((a) => a.title));
      assert.ok(authors.includes(hint('bob', bobUser)), JSON.stringify(authors));
      assert.ok(authors.includes(hint('alice', me)), JSON.stringify(authors));
      await waitFor(alice, 'the users list to show ids on hover', ([b, a]) => {
        const title = (n) => document.querySelector(`#users li[data-name="${n}"] .user-open`)?.title || '';
        return title('bob').startsWith(b) && title('alice').startsWith(a);
      }, [hint('bob', bobUser), hint('alice', me)]);

      await clickUser(alice, 'bob');
      assert.equal(await alice.getAttribute('#room-title', 'title'), `Private conversation with ${hint('bob', bobUser)}`);
      assertClean(problems);
    });
  });
});
