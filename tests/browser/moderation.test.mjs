// Operators moderating from the page (issue 28): the operator's menu on a name (kick, ban,
// mute, unmute, a reason), the notices everyone in the room sees, the Bans panel, and what a
// muted or banned person's page shows. One server for the whole file, restarted once at the
// start with OPERATORS naming carol's user id (known only from her first hello); the tests run
// in order and build on each other: a mute, then a ban, then the ban lifted, then the
// operator's own page reloaded while the address it shares with a banned page is barred.
//
// Every page of the browser connects from 127.0.0.1, so a ban, which also bars the address the
// banned session last came from, bars every page here but the operator's (the server exempts
// operator sessions). The bystanders who must stay connected through a ban are raw clients,
// each from a loopback address of its own (lib.mjs, rawClient). Run with
// `cd tests/browser && node --test --test-reporter=spec moderation.test.mjs`.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  launchBrowser,
  consoleProblems,
  openChat,
  waitFor,
  waitForState,
  waitForMessage,
  waitForUsers,
  waitForNotice,
  readFrames,
  waitForFrames,
  sendFromPage,
  rawClient,
  delay,
  joinRoomByName,
  clickRoom,
  readRooms,
  startServer,
  stopServer,
  newContext,
  closeRestarted,
  withServerLog,
} from './lib.mjs';

const TEST_TIMEOUT = 90000;
const NO_LOOP_MS = 4000; // how long a banned page is watched for a reconnect it must not make

// What Chromium itself logs when the server refuses a banned page: the refused upgrade, and the
// page's plain GET of the same URL answered 403 (banned.js). Nothing else may appear.
const BANNED_PAGE_LOGS = [
  /^WebSocket connection to '.*' failed/,
  /^Failed to load resource: the server responded with a status of 403/,
];

function assertClean(problems, allowed = [], options = {}) {
  const left = consoleProblems(problems, options).filter((t) => !allowed.some((re) => re.test(t)));
  assert.deepEqual(left, [], 'console errors or uncaught exceptions');
  assert.deepEqual(problems.dialogs, [], 'dialogs opened: the page asks in place, never with a dialog');
}

/** The operator's menu about `name`, as opened. */
function menuOf(page, name) {
  return page.getByRole('dialog', { name: `Moderate ${name}` });
}

/** Clicks `button` of the menu's group `group` ("Ban", "Mute in #general", "Kick"), with `reason` typed first. */
async function choose(page, name, group, button, reason) {
  const menu = menuOf(page, name);
  await menu.waitFor();
  if (reason !== undefined) await menu.getByLabel('Reason (optional)').fill(reason);
  await menu.getByRole('group', { name: group }).getByRole('button', { name: button, exact: true }).click();
  await waitFor(page, 'the menu closed once its request went', () => !document.querySelector('.op-menu'));
}

/** Whether the banned banner shows, and what it says. */
function readBanner(page) {
  return page.evaluate(() => {
    const box = document.getElementById('banned');
    return { shown: !box.hidden, text: box.textContent.replace(/\s+/g, ' ').trim() };
  });
}

function waitForBanner(page, pattern) {
  return waitFor(page, `the banned banner saying /${pattern}/`, (p) => {
    const box = document.getElementById('banned');
    return !box.hidden && new RegExp(p).test(box.textContent);
  }, pattern);
}

/** Counts the WebSockets `page` opens from now on (a reload's included). */
function countSockets(page) {
  const counter = { opened: 0 };
  page.on('websocket', () => {
    counter.opened += 1;
  });
  return counter;
}

describe('operators moderate from the page: menu, notices, mute, ban, the Bans panel', () => {
  let browser;
  let server;
  let dir;
  let carolContext;
  let problems;
  let carol; // the operator's page
  let spam; // erin's browser: banned in one test, let in again in the next
  let erin;
  let operatorSession; // carol's session, for a raw client of hers from another address
  const clients = [];

  /** Runs a test's body; a failure carries the tail of the server's log. */
  async function logged(body) {
    try {
      await body();
    } catch (err) {
      throw withServerLog(err, server);
    }
  }

  before(async () => {
    browser = await launchBrowser();
    server = await startServer({ tls: false });
    dir = server.dir;
    ({ context: carolContext, problems } = await newContext(browser));
    carol = await openChat(carolContext, server.url, 'carol');
    await waitForState(carol, 'online');
    const [hello] = await waitForFrames(carol, 'in', 'hello');
    await carol.waitForFunction((s) => localStorage.getItem('wschat.session') === s, hello.session);
    operatorSession = hello.session;
    // OPERATORS names public user ids: carol's is known now; a restart makes her an operator.
    await stopServer(server, { removeDir: false });
    await waitForState(carol, 'reconnecting', 10000);
    server = await startServer({ tls: false, port: server.port, dir, env: { OPERATORS: hello.user } });
    await waitForState(carol, 'online', 20000);
    await waitFor(carol, 'an operator\'s hello', () =>
      [...document.querySelectorAll('#frame-list li.in .f-body')].some((n) => n.textContent.includes('"op":true')));
  });

  after(async () => {
    if (spam) await spam.context.close();
    if (server) await closeRestarted({ server, context: carolContext, clients, dir });
    if (browser) await browser.close();
  });

  test('a mute: the muted person\'s message is refused with an alert, everyone sees the notice (live and in the history, never unread); unmute lifts it; operators wear a badge', { timeout: TEST_TIMEOUT }, () => logged(async () => {
    const other = await newContext(browser);
    try {
      const dave = await openChat(other.context, server.url, 'dave');
      await waitForState(dave, 'online');
      await waitForUsers(carol, ['carol', 'dave']);
      await waitForUsers(dave, ['carol', 'dave']);

      // The badge: carol is an operator to everyone, in the users list and on her messages.
      await waitFor(dave, 'carol marked op in the users list', () =>
        document.querySelector('#users li[data-name="carol"]')?.classList.contains('op'));
      await sendFromPage(carol, 'welcome, everyone');
      await waitForMessage(dave, 'welcome, everyone');
      assert.equal(await dave.locator('#messages li.message .op-badge').count(), 1, 'her message has the op badge');
      // The menu is an operator's: dave's page offers it nowhere, and has no Bans panel.
      assert.equal(await dave.locator('#users .user-mod:visible, #messages button.author').count(), 0, 'no operator menu for dave');
      assert.equal(await dave.locator('#bans').isHidden(), true, 'no Bans panel for dave');
      // Nor is it offered on carol's own name, in the list or on her message.
      assert.equal(await carol.locator('#users li[data-name="carol"] .user-mod').isHidden(), true, 'not on her own name');
      assert.equal(await carol.locator('#messages button.author').count(), 0, 'not on her own message');
      assert.equal(await carol.locator('#bans').isHidden(), false, 'the Bans panel is there for her');

      // dave looks at another room while carol mutes him in #general: the notice is not unread there.
      await joinRoomByName(dave, 'side');
      // From the keyboard: the ⚑ beside dave's name, Enter, the reason, then Mute for 10 min.
      await carol.locator('#users li[data-name="dave"] .user-mod').focus();
      await carol.keyboard.press('Enter');
      assert.equal(await menuOf(carol, 'dave').getByLabel('Reason (optional)').evaluate((n) => n === document.activeElement), true, 'the reason has the focus');
      await choose(carol, 'dave', 'Mute in #general', '10 min', 'calm down');
      const [mute] = await waitForFrames(carol, 'out', 'mute');
      assert.deepEqual(mute, { type: 'mute', room: 'general', name: 'dave', secs: 600, reason: 'calm down' });
      await waitForNotice(carol, 'carol muted dave in this room for 10 min \\(until .+\\): calm down');
      await delay(500); // dave's page has it by now, in #general, not shown

      assert.equal((await readRooms(dave)).find((r) => r.room === 'general').unread, 0, 'a notice is not an unread message');
      await clickRoom(dave, 'general');
      await waitForNotice(dave, 'carol muted dave in this room for 10 min');
      const notice = dave.locator('#messages li.notice.moderation').last();
      assert.ok(Number(await notice.getAttribute('data-id')) > 0, 'an entry of the room\'s order, with an id');
      assert.equal(await notice.locator('button').count(), 0, 'no actions on a notice');

      // Muted: his message is refused, and his page says so in that room.
      await sendFromPage(dave, 'can anyone hear me?');
      await waitFor(dave, 'the muted alert', () => document.getElementById('alerts').textContent.includes('You are muted in #general'));
      await delay(300);
      assert.equal(await carol.locator('#messages').getByText('can anyone hear me?').count(), 0, 'nobody got it');

      // Unmute, from the menu opened with a click this time.
      await carol.locator('#users li[data-name="dave"] .user-mod').click();
      await choose(carol, 'dave', 'Mute in #general', 'Unmute');
      assert.deepEqual((await readFrames(carol, 'out', 'unmute')).at(-1), { type: 'unmute', room: 'general', name: 'dave' });
      await waitForNotice(carol, 'carol unmuted dave');
      await waitForNotice(dave, 'carol unmuted dave');
      await sendFromPage(dave, 'thanks');
      await waitForMessage(carol, 'thanks');

      // A reload: the notices come back in the history, in their place.
      await dave.reload();
      await waitForState(dave, 'online');
      await clickRoom(dave, 'general');
      await waitForNotice(dave, 'carol unmuted dave');
      const texts = await dave.locator('#messages li.notice.moderation .notice-text').allTextContents();
      assert.deepEqual(texts.map((t) => t.replace(/ \(until .*\)/, '')), ['carol muted dave in this room for 10 min: calm down', 'carol unmuted dave']);
      assertClean(other.problems);
    } finally {
      await other.context.close();
    }
  }));

  test('a ban from the menu on a message\'s author: the spammer\'s page says why and does not reconnect, not even after a reload; the room sees the notice', { timeout: TEST_TIMEOUT }, () => logged(async () => {
    spam = await newContext(browser);
    const bob = await rawClient(server.url, 'bob'); // a bystander, from an address of his own
    clients.push(bob);
    erin = await openChat(spam.context, server.url, 'erin');
    const sockets = countSockets(erin);
    await waitForState(erin, 'online');
    await sendFromPage(erin, 'cheap watches, click here');
    await waitForMessage(carol, 'cheap watches, click here');

    // The name heading erin's message opens the menu; Ban for 1 h, with a reason.
    const entry = carol.locator('#messages li.message').filter({ hasText: 'cheap watches, click here' });
    await entry.locator('button.author').click();
    await choose(carol, 'erin', 'Ban', '1 h', 'spam');
    assert.deepEqual((await readFrames(carol, 'out', 'ban')).at(-1), { type: 'ban', name: 'erin', secs: 3600, reason: 'spam' });

    // erin's page: closed with 4003, says why, stays offline.
    await waitForBanner(erin, 'You are banned: spam');
    await waitForState(erin, 'offline');
    await waitFor(erin, 'the status says banned', () => document.getElementById('status-text').textContent === 'Offline: banned');
    const before = sockets.opened;
    await delay(NO_LOOP_MS);
    assert.equal(sockets.opened, before, 'no new connection after the ban');
    assert.equal((await readBanner(erin)).shown, true);

    // Everyone in the room sees the notice; bob hears it as an event.
    await waitForNotice(carol, 'carol banned erin for 1 h \\(until .+\\): spam');
    const event = await bob.waitFor('the moderation event', (f) => f.type === 'moderation' && f.action === 'ban');
    assert.deepEqual([event.name, event.by, event.reason, event.room], ['erin', 'carol', 'spam', 'general']);

    // A reload: the server judges the page's connection at its session frame (it may be an
    // operator's, which an address ban must not keep out) and closes it with 4003; the page
    // learns the ban's end from the 403 to a plain GET of the same URL, and makes no loop of it.
    await erin.reload();
    await waitForBanner(erin, 'You are banned: spam');
    await waitFor(erin, 'the ban\'s end, from the 403', () => /until/.test(document.getElementById('banned-end').textContent));
    assert.match(await erin.locator('#status').getAttribute('title'), /Last close: 4003 banned by an operator/);
    assert.equal(await erin.locator('#alerts .alert').count(), 0, 'the banner says it all: no alert besides');
    const afterReload = sockets.opened;
    await delay(NO_LOOP_MS);
    assert.equal(sockets.opened, afterReload, 'no reconnect loop after the reload');
    assert.equal(await erin.locator('#status').getAttribute('data-state'), 'offline');

    // A socket that fails before it opens, its upgrade refused with 403: what the server does
    // to an upgrade it judges at once, by its address (one that does not say its session comes
    // in its first frame; the page's sockets are made to drop `session_in=frame` here). The page
    // asks its own URL over http, reads the 403's JSON, and stays banned rather than loop.
    await erin.evaluate(() => {
      const Real = window.WebSocket;
      window.WebSocket = class extends Real {
        constructor(url, protocols) {
          super(url.replace('session_in=frame', 'session_in=url'), protocols);
        }
      };
    });
    await erin.evaluate(() => document.getElementById('banned-end').replaceChildren());
    const beforeTry = sockets.opened;
    const sessionsSent = (await readFrames(erin, 'out', 'session')).length;
    await erin.getByRole('button', { name: 'Try again' }).click();
    await waitFor(erin, 'the banner again, its end read from the 403', () =>
      !document.getElementById('banned').hidden && /until/.test(document.getElementById('banned-end').textContent));
    assert.equal(await erin.locator('#status-text').textContent(), 'Offline: banned');
    await delay(NO_LOOP_MS);
    assert.equal(sockets.opened, beforeTry + 1, 'one attempt, no loop');
    assert.equal((await readFrames(erin, 'out', 'session')).length, sessionsSent, 'that socket never opened');
    assertClean(spam.problems, BANNED_PAGE_LOGS);
  }));

  test('the Bans panel lists the ban; Unban lifts it and the banned page connects again after a reload', { timeout: TEST_TIMEOUT }, () => logged(async () => {
    assert.ok(erin, 'the ban test ran first');
    await carol.locator('#bans summary').click();
    const [asked] = await waitForFrames(carol, 'out', 'bans');
    assert.deepEqual(asked, { type: 'bans' });
    const row = carol.locator('#ban-list li.ban').filter({ hasText: 'erin' });
    await row.waitFor();
    assert.match(await row.textContent(), /until .*spam.*by carol/);

    await row.getByRole('button', { name: 'Unban erin' }).click();
    const unban = (await readFrames(carol, 'out', 'unban')).at(-1);
    assert.equal(unban.type, 'unban');
    assert.equal(typeof unban.user, 'string', 'by user id');
    await waitForNotice(carol, 'carol lifted the ban on erin');
    await waitFor(carol, 'the panel says nobody is banned', () => document.getElementById('ban-list').textContent.includes('Nobody is banned.'));

    // erin's page, reloaded: her session and her address are let in again.
    await erin.reload();
    await waitForState(erin, 'online');
    assert.equal((await readBanner(erin)).shown, false, 'no banner once let in');
    await sendFromPage(erin, 'sorry about that');
    await waitForMessage(carol, 'sorry about that');
    assertClean(spam.problems, BANNED_PAGE_LOGS);
    // carol's page saw the server restart at the start: its refused attempts are Chromium's.
    assertClean(problems, [], { allowConnectionRefused: true });
  }));

  // An operator's session is exempt from an address ban. The page presents its session in its
  // first frame, never in the URL, so the server judges its connection at that frame.
  test('an operator\'s page on the address of someone banned is let in after a reload', { timeout: TEST_TIMEOUT }, () => logged(async () => {
    const operator = await rawClient(server.url, 'carol', { session: operatorSession }); // from 127.0.3.x
    clients.push(operator);
    operator.ws.send(JSON.stringify({ type: 'ban', name: 'erin', secs: 600, reason: 'again' }));
    await waitForBanner(erin, 'You are banned: again');
    try {
      await carol.reload();
      await waitForState(carol, 'online');
      assert.equal((await readBanner(carol)).shown, false, 'an operator is not banned by an address');
    } finally {
      operator.ws.send(JSON.stringify({ type: 'unban', name: 'erin' }));
      await operator.waitFor('the unban', (f) => f.type === 'moderation' && f.action === 'unban');
    }
  }));
});
