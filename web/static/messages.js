// The message list: each conversation renders into its own list, #messages while it is shown
// and its `parked` fragment while it is not (view.js moves them). Messages by one author close
// together share a header, a day divider starts each day, and ids already shown are skipped,
// so a resume that overlaps what we have shows nothing twice. A list scrolled up stays put; a
// "New messages" button counts what came below. An entry that changes a message (edit, delete,
// react) has an id of its own in the same order: it is handed to changes.js instead; so has a
// moderation notice (moderation.js), drawn as a notice, not a message. Each message is also held
// as data (message-parts.js) in its conversation's `messages`, which the changes, the replies
// and the unread count read. An operator's messages carry "op":true and a small "op" badge.

import { applyChange, CHANGE_TYPES } from './changes.js';
import { el, make, nearBottom } from './dom.js';
import { clockTime, dayKey, dayLabel, nameHue, parseTime, whoIs } from './format.js';
import { drawParts, heldMessage } from './message-parts.js';
import { MODERATION, moderationText, moderationTitle } from './moderation.js';
import { isOperator, state } from './state.js';
import { readShown, recount } from './unread.js';

const GROUP_MS = 3 * 60 * 1000; // messages by one author this close together share a header

let newBelow = 0; // messages added below the fold of the shown conversation

/** Adds a line that is not a message ("alice joined", a warning) to `room`'s list. */
export function addNotice(room, text, kind, date) {
  const stick = room.key === state.shown && isNearBottom();
  appendNotice(room, text, kind, date);
  afterAppend(room, stick, 0);
}

/**
 * Renders the entries of one conversation in their order (messages, and the changes to them),
 * skipping ids it has seen already.
 */
export function renderBatch(room, list) {
  const shown = room.key === state.shown;
  let stick = shown && isNearBottom();
  let added = 0;
  for (const m of list) {
    if (!m || typeof m !== 'object') continue;
    const id = Number(m.id);
    const hasId = m.id !== undefined && m.id !== null && Number.isFinite(id);
    if (hasId) {
      if (room.seen.has(id)) continue; // a resume overlapping what we have: never show an id twice
      room.seen.add(id);
      if (room.lastId === null || id > room.lastId) room.lastId = id;
    }
    if (CHANGE_TYPES.has(m.type)) {
      applyChange(room, m);
      continue;
    }
    if (m.type === MODERATION) {
      // Not a message: never held in `messages`, so never unread, never acted on.
      const li = appendNotice(room, moderationText(m), 'moderation', parseTime(m.ts));
      if (hasId) li.dataset.id = String(id);
      li.dataset.action = String(m.action);
      li.title = moderationTitle(m);
      continue;
    }
    const name = typeof m.name === 'string' ? m.name : '?';
    const held = heldMessage(m, hasId ? id : null, name);
    if (held.own) stick = true; // your own message always brings you down
    listOf(room).appendChild(renderMessage(room, m, held));
    if (hasId) room.messages.set(id, held);
    drawParts(room, held);
    added += 1;
  }
  afterAppend(room, stick, added);
  recount(room);
  if (shown) readShown();
}

/** Empties a conversation's list, forgetting the ids it showed. */
export function clearList(conv) {
  if (conv.key === state.shown) el.messages.replaceChildren();
  else conv.parked = document.createDocumentFragment();
  conv.seen.clear();
  conv.messages.clear();
  conv.lastId = null;
  conv.lastAuthor = null;
  conv.lastTime = 0;
  conv.lastDay = null;
}

export function isNearBottom() {
  return nearBottom(el.messages);
}

/** Another conversation is shown: nothing new below its fold yet. */
export function resetNewBelow() {
  newBelow = 0;
  el.jump.hidden = true;
}

/** Scrolling down to the end, or the "New messages" button. */
export function bindMessages() {
  el.messages.addEventListener('scroll', () => {
    if (!isNearBottom()) return;
    resetNewBelow();
    readShown(); // scrolled down to the end: read
  });

  el.jump.addEventListener('click', () => {
    scrollToBottom();
    el.input.focus();
  });
}

function listOf(conv) {
  return conv.key === state.shown ? el.messages : conv.parked;
}

function scrollToBottom() {
  el.messages.scrollTop = el.messages.scrollHeight;
  resetNewBelow();
}

function afterAppend(room, stick, added) {
  if (room.key !== state.shown) return;
  if (stick) {
    scrollToBottom();
  } else if (added > 0) {
    newBelow += added;
    const arrow = make('span', '', '↓');
    arrow.setAttribute('aria-hidden', 'true');
    el.jump.replaceChildren(`${newBelow} new message${newBelow === 1 ? '' : 's'} `, arrow);
    el.jump.hidden = false;
  }
}

// A line that is not a message, under a day divider when it starts a day; returns its entry.
function appendNotice(room, text, kind, date) {
  maybeDayDivider(room, date);
  const li = make('li', `notice ${kind}`);
  li.append(make('span', 'notice-text', text));
  const time = make('time', '', clockTime(date));
  time.dateTime = date.toISOString();
  li.append(' ', time);
  listOf(room).appendChild(li);
  room.lastAuthor = null;
  return li;
}

function maybeDayDivider(room, date) {
  const key = dayKey(date);
  if (key === room.lastDay) return;
  room.lastDay = key;
  const li = make('li', 'notice day');
  li.append(make('span', '', dayLabel(date)));
  listOf(room).appendChild(li);
  room.lastAuthor = null;
}

// The entry's frame: who and when, grouped with the author's previous message; its text, quote,
// chips and actions are its parts (message-parts.js, drawParts), drawn again when they change.
function renderMessage(room, m, held) {
  const date = parseTime(m.ts);
  maybeDayDivider(room, date);
  const li = make('li', held.own ? 'message own' : 'message');
  if (held.id !== null) li.dataset.id = String(held.id);
  if (room.epoch !== null) li.dataset.epoch = room.epoch;
  li.style.setProperty('--hue', String(nameHue(held.name)));
  const author = held.user !== null ? held.user : held.name; // grouped by person, not by name
  const grouped = room.lastAuthor === author && date.getTime() - room.lastTime < GROUP_MS;
  if (grouped) li.classList.add('grouped');
  room.lastAuthor = author;
  room.lastTime = date.getTime();

  const meta = make('div', 'meta');
  // To an operator, the name heading someone else's messages is a button: it opens the
  // operator's menu (actions.js, operator-menu.js). Not on an operator's, nor on a grouped
  // message's, whose heading is hidden.
  const moderated = isOperator() && !held.own && !held.op && !grouped && held.user !== null;
  const who = make(moderated ? 'button' : 'span', 'author', held.name);
  who.title = whoIs(held.name, m.user);
  if (moderated) {
    who.type = 'button';
    who.dataset.action = 'moderate';
    who.setAttribute('aria-haspopup', 'dialog');
    who.title += ': moderate';
  }
  meta.append(who);
  if (held.op) {
    const badge = make('span', 'op-badge', 'op');
    badge.title = 'An operator of this chat';
    meta.append(' ', badge);
  }
  const time = make('time', '', clockTime(date));
  time.dateTime = date.toISOString();
  time.title = date.toLocaleString();
  meta.append(' ', time);
  li.append(meta);
  held.li = li;
  return li;
}
