// Messages people can fix and answer (issue 27): editing and deleting your own, reactions,
// replies, and unread counts that follow the session's read markers across tabs and reloads.
// Each test drives the page as a user would (pointing at a message, clicking its actions) and
// checks what the pages of everyone involved show. Run with `bash tests/browser/run.sh`.
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
  readFrames,
  waitForFrames,
  sendFromPage,
  rawClient,
  delay,
  waitForRoom,
  joinRoomByName,
  clickRoom,
  readRooms,
  clickUser,
  clickDm,
  withServer,
  startServer,
  stopServer,
  newContext,
  closeRestarted,
  messageEntry,
  messageAction,
  readEntry,
  waitForChips,
} from './lib.mjs';

const TEST_TIMEOUT = 90000;

function assertClean(problems, options) {
  assert.deepEqual(consoleProblems(problems, options), [], 'console errors or uncaught exceptions');
  assert.deepEqual(problems.dialogs, [], 'dialogs opened: the page asks in place, never with a dialog');
}

/** Opens one page per name, each a person of its own, and waits until each is online. */
async function openAll(person, baseUrl, names) {
  const pages = [];
  for (const name of names) {
    const page = await openChat(await person(), baseUrl, name);
    await waitForState(page, 'online');
    pages.push(page);
  }
  return pages;
}

/** Waits until the message `text` says "(edited)". */
function waitForEdited(page, text) {
  return waitFor(page, `${JSON.stringify(text)} marked (edited)`, (t) =>
    [...document.querySelectorAll('#messages li.message')].some((li) =>
      li.querySelector(':scope > .line > .text')?.textContent === t && li.querySelector('.edited')?.textContent === '(edited)'), text);
}

/** Waits until no message of the conversation shown has `text` anywhere in it. */
function waitForGone(page, text) {
  return waitFor(page, `${JSON.stringify(text)} gone from the page`, (t) => !document.getElementById('messages').textContent.includes(t), text);
}

/** The unread count "Your rooms" shows for `room` (0: no badge), once the room is joined. */
async function unreadOf(page, room) {
  await waitFor(page, `#${room} joined`, (r) => {
    const li = document.querySelector(`#rooms li[data-room="${r}"]`);
    return li !== null && !li.classList.contains('pending');
  }, room);
  return (await readRooms(page)).find((r) => r.room === room).unread;
}

function waitForUnread(page, room, count) {
  return waitFor(page, `#${room} with ${count} unread`, ([r, n]) => {
    const badge = document.querySelector(`#rooms li[data-room="${r}"] .unread`);
    return n === 0 ? badge === null : badge?.textContent === String(n);
  }, [room, count]);
}

describe('changing messages: edit, delete, reactions, replies, read markers', () => {
  let browser;

  before(async () => {
    browser = await launchBrowser();
  });

  after(async () => {
    if (browser) await browser.close();
  });

  test('editing your message in place: Escape cancels, Enter saves, everyone sees the new text and "(edited)"', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, problems, person }) => {
      const [alice, bob] = await openAll(person, server.url, ['alice', 'bob']);
      await sendFromPage(alice, 'helo world');
      for (const page of [alice, bob]) await waitForMessage(page, 'helo world');

      // Escape: the field goes, the text stays, nothing is sent.
      await messageAction(alice, 'helo world', 'Edit');
      const field = alice.getByRole('textbox', { name: 'Edit your message' });
      assert.equal(await field.inputValue(), 'helo world', 'the field starts with the text');
      await field.fill('never sent');
      await field.press('Escape');
      await waitFor(alice, 'the edit field closed', () => !document.querySelector('#messages .edit-input'));
      assert.equal((await readEntry(alice, 'helo world')).edited, null);

      // Enter: saved, in both pages.
      await messageAction(alice, 'helo world', 'Edit');
      await field.fill('hello world');
      await field.press('Enter');
      for (const page of [alice, bob]) {
        await waitForEdited(page, 'hello world');
        await waitForGone(page, 'helo world');
      }
      const seen = await readEntry(bob, 'hello world');
      assert.match(seen.editedTitle, /^edited /, 'the mark says when on hover');
      const edits = await readFrames(alice, 'out', 'edit');
      assert.deepEqual(edits, [{ type: 'edit', room: 'general', id: seen.id, text: 'hello world' }], 'one edit sent, none for the cancelled one');

      // A page opened now gets the message folded: the latest text, marked edited.
      const carol = await openChat(await person(), server.url, 'carol');
      await waitForEdited(carol, 'hello world');
      assertClean(problems);
    });
  });

  test('an edit later than EDIT_WINDOW_SECS is refused (too_late), said in an alert; deleting is still allowed', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false, env: { EDIT_WINDOW_SECS: '1' } }, {}, async ({ server, problems, person }) => {
      const [alice, bob] = await openAll(person, server.url, ['alice', 'bob']);
      await sendFromPage(alice, 'said too soon');
      await waitForMessage(bob, 'said too soon');
      await delay(1500);
      await messageAction(alice, 'said too soon', 'Edit');
      await alice.getByRole('textbox', { name: 'Edit your message' }).fill('said too late');
      await alice.getByRole('textbox', { name: 'Edit your message' }).press('Enter');
      await waitFor(alice, 'an alert: too late', () =>
        [...document.querySelectorAll('#alerts .alert')].some((a) => a.dataset.key === 'too_late' && /Too late to edit/.test(a.textContent)));
      for (const page of [alice, bob]) assert.equal((await readEntry(page, 'said too soon')).edited, null);
      await messageAction(alice, 'said too soon', 'Delete');
      await messageEntry(alice, 'said too soon').getByRole('group', { name: 'Delete this message?' }).getByRole('button', { name: 'Delete', exact: true }).click();
      await waitForGone(bob, 'said too soon');
      assertClean(problems);
    });
  });

  test('only your own messages offer edit and delete, in every tab of your session; the server refuses anyone else\'s (not_yours)', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, person }) => {
      const alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      const [bob] = await openAll(person, server.url, ['bob']);
      await sendFromPage(alice, 'from alice');
      await sendFromPage(bob, 'from bob');
      const alice2 = await openChat(context, server.url); // a second tab: the same person
      await waitForState(alice2, 'online');
      for (const page of [alice, alice2, bob]) await waitForMessage(page, 'from bob');

      for (const page of [alice, alice2]) {
        assert.deepEqual((await readEntry(page, 'from alice')).actions, ['React', 'Reply', 'Edit', 'Delete']);
        assert.deepEqual((await readEntry(page, 'from bob')).actions, ['React', 'Reply'], 'no edit or delete on bob\'s');
      }
      assert.deepEqual((await readEntry(bob, 'from alice')).actions, ['React', 'Reply']);
      assert.deepEqual((await readEntry(bob, 'from bob')).actions, ['React', 'Reply', 'Edit', 'Delete']);

      // The actions show when pointing at the message, not before.
      await bob.mouse.move(1, 1);
      await waitFor(bob, 'actions hidden', () => [...document.querySelectorAll('#messages .actions')].every((a) => getComputedStyle(a).opacity === '0'));
      await messageEntry(bob, 'from alice').hover();
      await waitFor(bob, 'actions shown on hover', () => [...document.querySelectorAll('#messages li.message:hover > .actions')].some((a) => getComputedStyle(a).opacity === '1'));

      // Asking anyway (a hand-made request): refused, and the page says so.
      const id = (await readEntry(bob, 'from alice')).id;
      await bob.evaluate(async (target) => {
        (await import('/static/socket.js')).sendFrame({ type: 'edit', room: 'general', id: target, text: 'hijacked' });
      }, id);
      await waitFor(bob, 'an alert saying it is not yours', () =>
        [...document.querySelectorAll('#alerts .alert')].some((a) => a.dataset.key === 'not_yours' && /Not your message/.test(a.textContent)));
      await delay(300);
      for (const page of [alice, bob]) assert.equal((await readEntry(page, 'from alice')).text, 'from alice');

      // On a touch screen there is no hover: a long press shows the actions.
      await bob.mouse.move(1, 1);
      await messageEntry(bob, 'from alice').locator('.text').dispatchEvent('pointerdown', { pointerType: 'touch', bubbles: true });
      await waitFor(bob, 'the actions shown after a long press', () => {
        const li = document.querySelector('#messages li.message.actions-open');
        return li !== null && li.querySelector('.text').textContent === 'from alice' && getComputedStyle(li.querySelector('.actions')).opacity === '1';
      });
      assertClean(problems);
    });
  });

  test('deleting asks first, in the message; then the text is gone from every page and "message deleted" stays in its place', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, problems, person }) => {
      const [alice, bob, carol] = await openAll(person, server.url, ['alice', 'bob', 'carol']);
      await sendFromPage(alice, 'oops, my password');
      await sendFromPage(alice, 'the next one');
      for (const page of [alice, bob, carol]) await waitForMessage(page, 'the next one');
      // Carol is away while it happens: she resumes with since, and gets the changes in order.
      await carol.locator('#connect-toggle').click();
      await waitForState(carol, 'offline');

      // Cancel: nothing happens.
      await messageAction(alice, 'oops, my password', 'Delete');
      const confirm = messageEntry(alice, 'oops, my password').getByRole('group', { name: 'Delete this message?' });
      await confirm.getByRole('button', { name: 'Cancel' }).click();
      assert.equal(await confirm.count(), 0, 'the question is gone');
      await delay(300);
      assert.deepEqual(await readFrames(alice, 'out', 'delete'), [], 'nothing sent');

      // Confirmed: gone from both pages.
      const { id } = await readEntry(alice, 'oops, my password');
      await messageAction(alice, 'oops, my password', 'Delete');
      await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
      for (const page of [alice, bob]) {
        await waitForGone(page, 'oops, my password');
        const entry = await readEntry(page, 'message deleted');
        assert.equal(entry.id, id, 'in its place, with its id');
        assert.deepEqual(entry.actions, [], 'nothing more to do with it');
        await waitForMessage(page, 'the next one');
      }
      assert.deepEqual(await readFrames(alice, 'out', 'delete'), [{ type: 'delete', room: 'general', id }]);
      await messageAction(alice, 'the next one', 'Edit');
      await alice.getByRole('textbox', { name: 'Edit your message' }).fill('the next one, fixed');
      await alice.getByRole('textbox', { name: 'Edit your message' }).press('Enter');
      await waitForEdited(bob, 'the next one, fixed');

      await carol.locator('#connect-toggle').click();
      await waitForState(carol, 'online');
      await waitForEdited(carol, 'the next one, fixed');
      await waitForGone(carol, 'oops, my password');
      assert.equal((await readEntry(carol, 'message deleted')).id, id);
      const resume = (await readFrames(carol, 'in', 'history')).at(-1);
      assert.deepEqual(resume.messages.map((m) => m.type), ['delete', 'edit'], 'the resume brought the changes themselves');

      // A reload gets it folded: deleted, no text.
      await bob.reload();
      await waitForMessage(bob, 'the next one, fixed');
      assert.equal((await readEntry(bob, 'message deleted')).id, id);
      await waitForGone(bob, 'oops, my password');
      assertClean(problems);
    });
  });

  test('reactions: from the picker (or any emoji typed), as chips with counts, ours pressed, a click on a chip toggles ours', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false, env: { RATE_LIMIT_PER_SEC: '100' } }, {}, async ({ server, problems, person }) => {
      const [alice, bob] = await openAll(person, server.url, ['alice', 'bob']);
      await sendFromPage(alice, 'react to me');
      for (const page of [alice, bob]) await waitForMessage(page, 'react to me');

      // Bob picks 🎉.
      await messageAction(bob, 'react to me', 'React');
      const picker = bob.getByRole('group', { name: 'React to alice\'s message' });
      await picker.getByRole('button', { name: 'React with 🎉' }).click();
      assert.equal(await picker.count(), 0, 'the picker closes');
      await waitForChips(bob, 'react to me', '🎉1*');
      await waitForChips(alice, 'react to me', '🎉1');
      assert.equal((await readEntry(alice, 'react to me')).chips[0].title, 'bob reacted with 🎉', 'who, on hover');

      // Alice adds herself with a click on the chip, then takes it back.
      const chip = messageEntry(alice, 'react to me').locator('.chip', { hasText: '🎉' });
      await chip.click();
      await waitForChips(alice, 'react to me', '🎉2*');
      await waitForChips(bob, 'react to me', '🎉2*');
      assert.equal((await readEntry(bob, 'react to me')).chips[0].title, 'you, alice reacted with 🎉');
      await chip.click();
      await waitForChips(bob, 'react to me', '🎉1*');
      await waitForChips(alice, 'react to me', '🎉1');
      const reacts = await readFrames(alice, 'out', 'react');
      assert.deepEqual(reacts.map((f) => [f.room, f.emoji, f.on]), [['general', '🎉', true], ['general', '🎉', false]]);

      // Any emoji, typed; a word is refused before it is sent.
      await messageAction(bob, 'react to me', 'React');
      const any = picker.getByRole('textbox', { name: 'Any emoji' });
      await any.fill('yay');
      await any.press('Enter');
      await waitFor(bob, 'the picker says one emoji', () => /One emoji/.test(document.querySelector('.picker .pick-error')?.textContent || ''));
      await any.fill('🦀');
      await any.press('Enter');
      await waitForChips(alice, 'react to me', '🎉1 🦀1');
      assert.equal((await readFrames(bob, 'out', 'react')).filter((f) => f.emoji === 'yay').length, 0);

      // Bob takes his 🎉 back: the chip goes. A reload gets the rest folded.
      await messageEntry(bob, 'react to me').locator('.chip', { hasText: '🎉' }).click();
      await waitForChips(alice, 'react to me', '🦀1');
      await alice.reload();
      await waitForMessage(alice, 'react to me');
      await waitForChips(alice, 'react to me', '🦀1');

      // At most 20 distinct emoji on a message: the 21st is refused, and the page says so.
      const { id } = await readEntry(alice, 'react to me');
      const more = [...'😀😁🤣😃😄😅😆😉😊😋😎😍😘🥰😗😙😚🙂🤗🤩'];
      await alice.evaluate(async ([target, emoji]) => {
        const { sendFrame } = await import('/static/socket.js');
        for (const e of emoji) sendFrame({ type: 'react', room: 'general', id: target, emoji: e, on: true });
      }, [id, more]);
      await waitFor(alice, 'an alert: too many reactions', () =>
        [...document.querySelectorAll('#alerts .alert')].some((a) => a.dataset.key === 'too_many_reactions' && /Too many reactions/.test(a.textContent)));
      await waitForChips(bob, 'react to me', ['🦀1*', ...more.slice(0, 19).map((e) => `${e}1`)].join(' '));
      assertClean(problems);
    });
  });

  test('replies: the composer says whom you answer, the answer quotes the original, a click on the quote shows it; an original not loaded is said', { timeout: TEST_TIMEOUT }, async () => {
    const env = { RATE_LIMIT_PER_SEC: '100', HISTORY_SIZE: '12' };
    await withServer(browser, { tls: false, env }, { viewport: { width: 1200, height: 700 } }, async ({ server, problems, clients, person }) => {
      const [alice, bob] = await openAll(person, server.url, ['alice', 'bob']);
      const carol = await rawClient(server.url, 'carol');
      clients.push(carol);
      await sendFromPage(alice, 'the original question');
      for (let i = 1; i <= 8; i += 1) await carol.say(`filler ${i}\nwith\nseveral\nlines`);
      for (const page of [alice, bob]) await waitForMessage(page, 'filler 8\nwith\nseveral\nlines');
      const original = (await readEntry(bob, 'the original question')).id;

      // × stops answering: the next message answers nothing.
      await messageAction(bob, 'the original question', 'Reply');
      const bar = bob.locator('#reply-bar');
      await waitFor(bob, 'the reply bar', () => !document.getElementById('reply-bar').hidden);
      assert.equal(await bar.locator('#reply-text').textContent(), 'Replying to alice: the original question');
      await bar.getByRole('button', { name: 'Cancel the reply' }).click();
      assert.equal(await bar.isHidden(), true);

      // Answering.
      await messageAction(bob, 'the original question', 'Reply');
      await sendFromPage(bob, 'the answer');
      for (const page of [alice, bob]) {
        await waitForMessage(page, 'the answer');
        assert.equal((await readEntry(page, 'the answer')).quote, 'alice the original question');
      }
      assert.equal(await bar.isHidden(), true, 'the bar goes once the answer is sent');
      const sent = (await readFrames(bob, 'out', 'message')).find((f) => f.text === 'the answer');
      assert.equal(sent.reply_to, original);

      // Alice, at the end of the list, clicks the quote: the original comes into view, highlighted.
      const inView = (text) => alice.evaluate((t) => {
        const li = [...document.querySelectorAll('#messages li.message')].find((n) => n.querySelector('.text')?.textContent === t);
        const box = li.getBoundingClientRect();
        const list = document.getElementById('messages').getBoundingClientRect();
        return box.top >= list.top && box.bottom <= list.bottom;
      }, text);
      assert.equal(await inView('the original question'), false, 'the original is out of view at first');
      await messageEntry(alice, 'the answer').locator('.quote').click();
      await waitFor(alice, 'the original highlighted and in view', () => {
        const li = document.querySelector('#messages li.message.highlight');
        if (!li) return false;
        const box = li.getBoundingClientRect();
        const list = document.getElementById('messages').getBoundingClientRect();
        return li.querySelector('.text').textContent === 'the original question' && box.top >= list.top && box.bottom <= list.bottom;
      });

      // The original falls out of the history (HISTORY_SIZE=12): a page opened now says it is not loaded,
      // and an answer to it from a page that still shows it is refused (not_found), said in an alert.
      for (let i = 9; i <= 12; i += 1) await carol.say(`filler ${i}`);
      const dave = await openChat(await person(), server.url, 'dave');
      await waitForMessage(dave, 'the answer');
      assert.equal((await readEntry(dave, 'the answer')).quote, 'Answers a message not loaded here');
      await messageAction(bob, 'the original question', 'Reply');
      await sendFromPage(bob, 'too late to answer');
      await waitFor(bob, 'an alert: not found', () =>
        [...document.querySelectorAll('#alerts .alert')].some((a) => a.dataset.key === 'not_found'));
      assertClean(problems);
    });
  });

  test('a private conversation: the same actions, addressed with "to"', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, problems, person }) => {
      const [alice, bob] = await openAll(person, server.url, ['alice', 'bob']);
      await waitForUsers(alice, ['alice', 'bob']);
      await clickUser(alice, 'bob');
      await sendFromPage(alice, 'privte note');
      await waitForMessage(alice, 'privte note');
      await waitFor(bob, 'alice in "Direct messages"', () => document.querySelector('#dms li.dm[data-name="alice"]') !== null);
      await clickDm(bob, 'alice');
      await waitForMessage(bob, 'privte note');
      assert.deepEqual((await readEntry(bob, 'privte note')).actions, ['React', 'Reply']);

      await messageAction(alice, 'privte note', 'Edit');
      const field = alice.getByRole('textbox', { name: 'Edit your message' });
      await field.fill('private note');
      await field.press('Enter');
      for (const page of [alice, bob]) await waitForEdited(page, 'private note');
      const { id } = await readEntry(alice, 'private note');
      assert.deepEqual(await readFrames(alice, 'out', 'edit'), [{ type: 'edit', to: 'bob', id, text: 'private note' }]);

      // Bob reacts; alice sees the chip.
      await messageAction(bob, 'private note', 'React');
      await bob.getByRole('button', { name: 'React with 👍' }).click();
      await waitForChips(alice, 'private note', '👍1');
      assert.deepEqual((await readFrames(bob, 'out', 'react')).map((f) => [f.to, f.id, f.emoji, f.on]), [['alice', id, '👍', true]]);
      assertClean(problems);
    });
  });

  test('a conversation is read only while its tab is visible and scrolled to the end', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, clients }) => {
      const bob = await rawClient(server.url, 'bob');
      clients.push(bob);
      const alice = await openChat(context, server.url, 'alice');
      await waitForState(alice, 'online');
      const readsOf = async () => (await readFrames(alice, 'out', 'read')).map((f) => f.id);
      const g1 = await bob.say('g1');
      await waitFor(alice, 'g1 read', (id) => [...document.querySelectorAll('#frame-list li.out .f-body')].some((n) => n.textContent.includes(`"type":"read","room":"general","id":${id}`)), g1.id);

      // The tab goes to the background: what comes is not read.
      await alice.evaluate(() => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'hidden' });
        document.dispatchEvent(new Event('visibilitychange'));
      });
      const g2 = await bob.say('g2');
      await waitForMessage(alice, 'g2');
      await delay(1500);
      assert.ok(!(await readsOf()).includes(g2.id), 'not read while hidden');

      // Back in view: read at once.
      await alice.evaluate(() => {
        Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => 'visible' });
        document.dispatchEvent(new Event('visibilitychange'));
      });
      await waitFor(alice, 'g2 read', (id) => [...document.querySelectorAll('#frame-list li.out .f-body')].some((n) => n.textContent.includes(`"type":"read","room":"general","id":${id}`)), g2.id);

      // Scrolled up: what comes below is not read until the list is scrolled down again.
      for (let i = 3; i <= 12; i += 1) await bob.say(`g${i}\nwith\nseveral\nlines\nto\nscroll`);
      await waitForMessage(alice, 'g12\nwith\nseveral\nlines\nto\nscroll');
      await delay(1100);
      await alice.evaluate(() => {
        document.getElementById('messages').scrollTop = 0;
      });
      const g13 = await bob.say('g13');
      await waitFor(alice, 'the "new messages" button', () => !document.getElementById('jump').hidden);
      await delay(1500);
      assert.ok(!(await readsOf()).includes(g13.id), 'not read while scrolled up');
      await alice.locator('#jump').click();
      await waitFor(alice, 'g13 read', (id) => [...document.querySelectorAll('#frame-list li.out .f-body')].some((n) => n.textContent.includes(`"type":"read","room":"general","id":${id}`)), g13.id);
      const reads = await readsOf();
      assert.deepEqual(reads, [...reads].sort((a, b) => a - b), 'the marker only moves forward');
      assertClean(problems);
    });
  });

  test('unread counts follow the session\'s read markers: read in one tab, the other tab\'s count drops; a reload keeps the count', { timeout: TEST_TIMEOUT }, async () => {
    await withServer(browser, { tls: false }, {}, async ({ server, context, problems, clients }) => {
      const bob = await rawClient(server.url, 'bob');
      clients.push(bob);
      const tabA = await openChat(context, server.url, 'alice');
      await waitForState(tabA, 'online');
      const g0 = await bob.say('g0');
      await waitForMessage(tabA, 'g0');
      // Shown, at the end, the tab visible: read, and the marker sent.
      await waitFor(tabA, 'a read marker for g0', (id) =>
        [...document.querySelectorAll('#frame-list li.out .f-body')].some((n) => n.textContent === JSON.stringify({ type: 'read', room: 'general', id })), g0.id);
      await joinRoomByName(tabA, 'rust');

      const tabB = await openChat(context, server.url); // a second tab: the same session
      await waitForState(tabB, 'online');
      await waitForMessage(tabB, 'g0');
      await joinRoomByName(tabB, 'rust');
      await bob.say('g1');
      await bob.say('g2');
      for (const tab of [tabA, tabB]) await waitForUnread(tab, 'general', 2);

      // A reload (rust shown, general loaded beside it): the count is the marker's, not forgotten.
      await tabB.reload();
      await waitForRoom(tabB, 'rust');
      assert.equal(await unreadOf(tabB, 'general'), 2, 'after the reload: 2 unread from the marker');
      const [history] = (await waitForFrames(tabB, 'in', 'history')).filter((h) => h.room === 'general');
      assert.equal(history.read, g0.id, 'the history carries the marker');

      // Tab A reads general: tab B's count drops to 0, and a reload agrees.
      await clickRoom(tabA, 'general');
      await waitForUnread(tabB, 'general', 0);
      assert.equal((await readFrames(tabB, 'in', 'read')).at(-1).room, 'general', 'told by the other tab\'s marker');
      await tabB.reload();
      await waitForRoom(tabB, 'rust');
      assert.equal(await unreadOf(tabB, 'general'), 0, 'after the reload: nothing unread');

      // Neither tab shows general: a new message counts in both, and after a reload.
      await clickRoom(tabA, 'rust');
      await bob.say('g3');
      for (const tab of [tabA, tabB]) await waitForUnread(tab, 'general', 1);
      await tabB.reload();
      await waitForRoom(tabB, 'rust');
      assert.equal(await unreadOf(tabB, 'general'), 1, 'after the reload: the one after the marker');

      // Private conversations too: read in tab A, tab B's count drops.
      bob.dm('alice', 'psst');
      for (const tab of [tabA, tabB]) {
        await waitFor(tab, 'bob in "Direct messages" with 1 unread', () =>
          document.querySelector('#dms li.dm[data-name="bob"] .unread')?.textContent === '1');
      }
      await clickDm(tabA, 'bob');
      await waitForMessage(tabA, 'psst');
      await waitFor(tabB, 'bob read in the other tab', () =>
        document.querySelector('#dms li.dm[data-name="bob"]') !== null && !document.querySelector('#dms li.dm[data-name="bob"] .unread'));
      assert.ok((await readFrames(tabB, 'in', 'read')).some((f) => f.dm === 'bob'), 'told by the other tab\'s marker');
      assertClean(problems);
    });
  });

  // Issue 28, its first part: a session named in OPERATORS (by the user id its hello gives)
  // deletes anyone's message from the page, after a restart with that setting.
  test('an operator sees Delete on everyone\'s messages and removes a spammer\'s; the others see it gone; a page it kicks says why and stays offline', { timeout: 120000 }, async () => {
    let server = await startServer({ tls: false });
    const { port, dir } = server;
    const { context, problems } = await newContext(browser);
    const clients = [];
    try {
      const carol = await openChat(context, server.url, 'carol');
      await waitForState(carol, 'online');
      const [hello] = await waitForFrames(carol, 'in', 'hello');
      await carol.waitForFunction((s) => localStorage.getItem('wschat.session') === s, hello.session);
      assert.equal(hello.op, undefined, 'not an operator yet');
      await stopServer(server, { removeDir: false });
      await waitForState(carol, 'reconnecting', 10000);
      server = await startServer({ tls: false, port, dir, env: { OPERATORS: hello.user } });
      await waitForState(carol, 'online', 20000);
      await waitFor(carol, 'a second hello', () =>
        [...document.querySelectorAll('#frame-list li.in .f-body')].filter((n) => n.textContent.includes('"type":"hello"')).length >= 2);
      const again = (await readFrames(carol, 'in', 'hello')).at(-1);
      assert.deepEqual([again.op, again.user], [true, hello.user], 'the same session, an operator now');

      const spammer = await rawClient(server.url, 'spammer');
      clients.push(spammer);
      const bob = await rawClient(server.url, 'bob');
      clients.push(bob);
      const spam = await spammer.say('cheap watches, click here');
      await waitForMessage(carol, 'cheap watches, click here');
      assert.deepEqual((await readEntry(carol, 'cheap watches, click here')).actions, ['React', 'Reply', 'Delete'], 'an operator may delete it, not edit it');
      await messageAction(carol, 'cheap watches, click here', 'Delete');
      const confirm = messageEntry(carol, 'cheap watches, click here').getByRole('group', { name: 'Delete this message?' });
      await confirm.getByRole('button', { name: 'Delete', exact: true }).click();
      await waitForGone(carol, 'cheap watches, click here');
      assert.equal((await readEntry(carol, 'message deleted')).id, spam.id);
      const deleted = await bob.waitFor('the deletion', (e) => e.type === 'delete');
      assert.deepEqual([deleted.target, deleted.by, deleted.op], [spam.id, 'carol', true], 'everyone sees who removed it');

      // A kick: erin's page says why and stays offline (no reconnect loop).
      const other = await newContext(browser);
      const erin = await openChat(other.context, server.url, 'erin');
      await waitForState(erin, 'online');
      const operator = await rawClient(server.url, 'carol', { session: hello.session });
      clients.push(operator);
      operator.ws.send(JSON.stringify({ type: 'kick', name: 'erin', reason: 'spam' }));
      await waitForState(erin, 'offline', 10000);
      await waitFor(erin, 'the kick explained', () =>
        document.getElementById('alerts').textContent.includes('An operator removed you from the chat: spam'));
      await delay(3000);
      assert.equal(await erin.locator('#status').getAttribute('data-state'), 'offline', 'no reconnect by itself');
      assert.equal((await readFrames(erin, 'out', 'session')).length, 1, 'one connection, not a loop');
      assert.deepEqual(consoleProblems(other.problems), [], 'the kicked page: no console errors');
      await other.context.close();
      // The page tried to reconnect while the server was restarting.
      assertClean(problems, { allowConnectionRefused: true });
    } finally {
      await closeRestarted({ server, context, clients, dir });
    }
  });
});
