// Typing: "alice is typing…" for TYPING_SHOW_MS after her last typing event, and our own typing
// told to the room shown at most once every TYPING_SEND_MS. Typing is a room event: the
// protocol has none for private conversations.

import { el } from './dom.js';
import { sendFrame } from './socket.js';
import { shownConv, state } from './state.js';

const TYPING_SEND_MS = 2000; // at most one "typing" frame per room this often (the server's limit too)
const TYPING_SHOW_MS = 3000; // "alice is typing…" lasts this long after her last typing event
const TYPING_NAMES_SHOWN = 4; // more typers than this are counted, not named

/** `name` is typing in `room`. */
export function onTyping(room, name) {
  clearTimeout(room.typing.get(name));
  room.typing.set(
    name,
    setTimeout(() => stopTyping(room, name), TYPING_SHOW_MS),
  );
  if (room.key === state.shown) renderTyping();
}

/** `name` stopped typing in `room` (sent the message, left, or was quiet long enough). */
export function stopTyping(room, name) {
  if (!room.typing.has(name)) return;
  clearTimeout(room.typing.get(name));
  room.typing.delete(name);
  if (room.key === state.shown) renderTyping();
}

/** Forgets everybody typing in `room` (the page leaves it). */
export function forgetTyping(room) {
  for (const timer of room.typing.values()) clearTimeout(timer);
}

export function renderTyping() {
  const room = shownConv();
  const text = typingText(room ? [...room.typing.keys()].sort() : []);
  if (el.typing.textContent !== text) el.typing.textContent = text;
}

/** Called as the user types: tells the shown room, at most once every TYPING_SEND_MS. */
export function noteTyping() {
  const room = shownConv();
  if (!room || room.kind !== 'room' || !room.joined || el.input.value.trim() === '') return;
  const now = Date.now();
  if (now - room.typingSentAt < TYPING_SEND_MS) return;
  if (sendFrame({ type: 'typing', room: room.name })) room.typingSentAt = now;
}

// "alice is typing…", "alice and bob are typing…", "alice, bob and carol are typing…";
// beyond TYPING_NAMES_SHOWN names: "alice, bob, carol and 4 others are typing…".
function typingText(names) {
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  let shown = names.slice(0, -1);
  let last = names[names.length - 1];
  if (names.length > TYPING_NAMES_SHOWN) {
    shown = names.slice(0, TYPING_NAMES_SHOWN - 1);
    last = `${names.length - shown.length} others`;
  }
  return `${shown.join(', ')} and ${last} are typing…`;
}
