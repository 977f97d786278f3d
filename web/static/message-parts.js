// One message as the page holds it, and the parts of its list entry that change after it is
// shown: the quote of the message it answers, its text ("message deleted" once deleted), the
// "(edited)" mark, the reaction chips and the actions offered on hover. messages.js makes the
// entry (author, time, grouping); changes.js changes the held message and redraws these parts
// with `drawParts`. Nothing here listens: every button says what it does in data-action, and
// actions.js handles a click on any of them.
//
// A message from the server, live or in a history, may carry (docs/protocol.md, "History"):
//   "reply_to":42, "edited":"<ts>", "deleted":true (and no text),
//   "reactions":[{"emoji":"👍","users":["<user id>",…]},…]

import { make } from './dom.js';
import { parseTime } from './format.js';
import { isMe, isOperator } from './state.js';
import { nameOfUser } from './users.js';

const QUOTE_CHARS = 80; // a quote shows the first words of the message it answers
const ID_HINT_CHARS = 6; // a reacting user whose name the page does not know: "id LJgLht"
const CHIP_NAMES = 20; // a chip's hover names this many of its users, then counts the others

/** The message `m` (an event, or an entry of a history) as the page holds it. */
export function heldMessage(m, id, name) {
  const held = {
    id,
    user: typeof m.user === 'string' ? m.user : null,
    name,
    own: isMe(m.user), // ours when sent by our user id, from this tab or another
    op: m.op === true, // sent by an operator (OPERATORS): badged, and never moderated
    text: typeof m.text === 'string' ? m.text : '',
    edited: typeof m.edited === 'string' ? parseTime(m.edited) : null,
    deleted: m.deleted === true,
    replyTo: Number.isFinite(Number(m.reply_to)) && m.reply_to !== null ? Number(m.reply_to) : null,
    reactions: new Map(), // emoji -> Map(user id -> name, or null when the page does not know it)
    li: null,
  };
  if (Array.isArray(m.reactions)) {
    for (const r of m.reactions) {
      if (!r || typeof r.emoji !== 'string' || !Array.isArray(r.users)) continue;
      const users = new Map(r.users.filter((u) => typeof u === 'string').map((u) => [u, null]));
      if (users.size > 0) held.reactions.set(r.emoji, users);
    }
  }
  return held;
}

/** (Re)draws the parts of `held`'s entry that change; `conv` holds the message it answers. */
export function drawParts(conv, held) {
  const li = held.li;
  if (!li) return;
  // An edit in progress keeps its field (edit.js), unless the message is gone. The actions stay
  // while the message does: the list is a live region, and a part drawn again is read out again.
  const keepLine = li.classList.contains('editing') && !held.deleted;
  for (const part of li.querySelectorAll(':scope > :is(.quote, .line, .reactions, .actions, .picker, .confirm)')) {
    if (part.matches('.quote, .reactions') || held.deleted || (part.matches('.line') && !keepLine)) part.remove();
  }
  li.classList.toggle('deleted', held.deleted);
  if (held.deleted) li.classList.remove('editing', 'picking', 'actions-open');
  // In order: the author and time, the quote, the text, the chips, the actions; a picker or a
  // confirmation open on the message stays last.
  const after = li.querySelector(':scope > .meta').nextSibling;
  if (held.replyTo !== null && !held.deleted) li.insertBefore(quote(conv, held.replyTo), after);
  if (!keepLine) li.insertBefore(line(held), after);
  if (held.deleted || held.id === null) return;
  let bar = li.querySelector(':scope > .actions');
  if (!bar) bar = li.insertBefore(actions(held), li.querySelector(':scope > :is(.picker, .confirm)'));
  if (held.reactions.size > 0) li.insertBefore(chips(conv, held), bar);
}

/** The first words of `held`, for a quote or the composer's "Replying to". */
export function firstWords(held) {
  if (held.deleted) return 'message deleted';
  const words = held.text.replace(/\s+/g, ' ').trim();
  return words.length > QUOTE_CHARS ? `${words.slice(0, QUOTE_CHARS)}…` : words;
}

function line(held) {
  const row = make('div', 'line');
  const text = make('div', held.deleted ? 'text deleted' : 'text', held.deleted ? 'message deleted' : held.text);
  row.append(text);
  if (held.edited && !held.deleted) {
    const mark = make('span', 'edited', '(edited)');
    mark.title = `edited ${held.edited.toLocaleString()}`;
    row.append(mark);
  }
  return row;
}

// "↩ alice: the first words…", a button that shows the original; a message not held says so.
function quote(conv, id) {
  const target = conv.messages.get(id);
  if (!target) {
    const missing = make('div', 'quote missing', 'Answers a message not loaded here');
    missing.dataset.target = String(id);
    return missing;
  }
  const button = make('button', 'quote');
  button.type = 'button';
  button.dataset.action = 'quote';
  button.dataset.target = String(id);
  button.append(make('span', 'quote-name', target.name), ' ', make('span', 'quote-text', firstWords(target)));
  button.title = `Show ${target.name}'s message`;
  button.setAttribute('aria-label', `Answers ${target.name}: ${firstWords(target)}. Show it`);
  return button;
}

// One chip per emoji, in the order each was first given: "👍 2", ours pressed.
function chips(conv, held) {
  const row = make('div', 'reactions');
  row.setAttribute('role', 'group');
  row.setAttribute('aria-label', 'Reactions');
  for (const [emoji, users] of held.reactions) {
    const mine = [...users.keys()].some(isMe);
    const chip = make('button', mine ? 'chip mine' : 'chip');
    chip.type = 'button';
    chip.dataset.action = 'chip';
    chip.dataset.emoji = emoji;
    chip.setAttribute('aria-pressed', String(mine));
    chip.append(make('span', 'chip-emoji', emoji), make('span', 'chip-count', String(users.size)));
    const who = whoReacted(conv, users);
    chip.title = `${who} reacted with ${emoji}`;
    chip.setAttribute('aria-label', `${emoji} ${users.size}: ${who}${mine ? '. Click to take yours back' : '. Click to add yours'}`);
    row.append(chip);
  }
  return row;
}

// "you, alice, bob", and past CHIP_NAMES names "… and 12 others".
function whoReacted(conv, users) {
  const names = [...users].slice(0, CHIP_NAMES).map(([user, name]) => (isMe(user) ? 'you' : name || nameIn(conv, user)));
  const others = users.size - names.length;
  return others > 0 ? `${names.join(', ')} and ${others} other${others === 1 ? '' : 's'}` : names.join(', ');
}

// A user's name: a message of theirs in the conversation, or any live event that named them.
function nameIn(conv, user) {
  for (const held of conv.messages.values()) if (held.user === user) return held.name;
  return nameOfUser(user) || `id ${user.slice(0, ID_HINT_CHARS)}`;
}

// What can be done with a message: react and reply to any, edit and delete our own; an operator
// deletes anyone's (the server checks it again: OPERATORS). An operator moderates the author
// from the author's name instead (messages.js, operator-menu.js).
function actions(held) {
  const bar = make('div', 'actions');
  bar.setAttribute('role', 'group');
  bar.setAttribute('aria-label', `Message by ${held.name}`);
  const add = (action, symbol, label) => {
    const button = make('button', `act act-${action}`, symbol);
    button.type = 'button';
    button.dataset.action = action;
    button.title = label;
    button.setAttribute('aria-label', label);
    bar.append(button);
  };
  add('react', '☺', 'React');
  add('reply', '↩', 'Reply');
  if (held.own) add('edit', '✎', 'Edit');
  if (held.own || isOperator()) add('delete', '🗑', 'Delete');
  return bar;
}
