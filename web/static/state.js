// The page's shared state: who we are, the server's limits, and the conversations (rooms and
// private ones) with the one on screen. Every module may read `state`; only the functions
// below change its fields. A conversation's own fields (joined, epoch, its list, the messages it
// holds, its read marker and unread count) are changed by the module that handles its events:
// history.js, messages.js, changes.js, unread.js, dms.js. What belongs
// to one part of the page lives in that part's module instead: the socket, its phase and its
// backoff in socket.js, the Wire panel's switch in wire.js, the frames count in frames.js, who
// holds which name in users.js, the public room list in rooms.js.
//
// Who you are: the server's hello gives a session (a secret, see storage.js), a public user id
// and the nickname you got. "Own" messages are recognised by that user id, never by the name:
// names change, and two people can have looked alike. Private conversations ("direct
// messages") are keyed by the other person's user id for the same reason.

import { remember } from './storage.js';

const DEFAULT_ROOM = 'general'; // until the server's hello names its default room

export const state = {
  name: null, // the nickname asked for when connecting (null: not chosen yet)
  session: null, // the session secret from the last hello (storage.js, 'session')
  user: null, // our public user id (hello.user): what "own" means
  op: false, // our session is an operator (hello.op, OPERATORS): it may delete anyone's message, kick, ban, mute
  myName: null, // the name the server settled on (hello, then renamed)
  renameTo: null, // a name typed into the field while offline, asked for with a rename once the hello has come
  maxBytes: 4096, // the largest frame the server takes (hello.max_message_bytes)
  ratePerSec: 10, // requests a second the server takes from us (hello): subscribes, typing, rooms
  defaultRoom: DEFAULT_ROOM,
  rooms: new Map(), // name -> room (see newRoom): the rooms the page is in or is joining
  dms: new Map(), // key -> private conversation (see newDm): '@' + the peer's user id
  shown: null, // the key of the conversation on screen: a room's name, or a private one's '@…'
  previous: null, // the one shown before it: shown again when the one shown is left or closed
  usersRoom: null, // the room whose users are listed (the shown one, or the last room shown)
};

// ---------------------------------------------------------------------------
// Who we are

/** The nickname to ask for on the next connection (null: not chosen; '': a guest). */
export function askForName(name) {
  state.name = name;
}

/** The session the server gave us: kept for the next connection of this tab and every other. */
export function keepSession(session) {
  state.session = session;
  remember('session', session);
}

/** The session found in storage at start. */
export function restoreSession(session) {
  state.session = session;
}

export function setUser(user) {
  state.user = user;
}

/** Whether our session is an operator (hello.op). */
export function setOperator(op) {
  state.op = op === true;
}

/** True when our session is an operator. */
export function isOperator() {
  return state.op;
}

/**
 * The name the server says is ours. It is asked for again only if the server forgets our
 * session (NAME_RESERVE_SECS after our last tab closed): the session decides who we are.
 */
export function settleName(name) {
  state.myName = name;
  state.name = name;
  remember('name', name);
}

/** A rename typed while offline (null: none), asked for once the next hello has come. */
export function setRenameTo(name) {
  state.renameTo = name;
}

/** True when `user` (an event's user id) is us, in this tab or another. */
export function isMe(user) {
  return state.user !== null && user === state.user;
}

// ---------------------------------------------------------------------------
// The server's limits (hello)

export function setLimits({ maxBytes, ratePerSec, defaultRoom }) {
  if (maxBytes !== undefined) state.maxBytes = maxBytes;
  if (ratePerSec !== undefined) state.ratePerSec = ratePerSec;
  if (defaultRoom !== undefined) state.defaultRoom = defaultRoom;
}

// ---------------------------------------------------------------------------
// Conversations
//
// One conversation of the page: a room or a private one. The server numbers messages per room
// and per pair of users, so each keeps its own resume point (epoch and last id) and its own set
// of ids seen. Its messages live in #messages while it is shown, and in `parked` (a
// DocumentFragment) while it is not. `key` is what state.shown holds.

/** Joins the page to room `name` (its history is asked for by the caller). */
export function addRoom(name) {
  const room = { kind: 'room', key: name, name, ...newConversation() };
  state.rooms.set(name, room);
  return room;
}

export function removeRoom(room) {
  state.rooms.delete(room.name);
}

/**
 * A private conversation is keyed by the peer's user id: names change, ids do not. Until the
 * server has told us the id (a click on a name in the users list knows only the name), the key
 * is '@?' + the lower-cased name, and dms.js moves it when the history names the user.
 */
export function newDm(user, name) {
  const key = user === null ? `@?${name.toLowerCase()}` : `@${user}`;
  return { kind: 'dm', key, user, name, ...newConversation() };
}

export function addDm(dm) {
  state.dms.set(dm.key, dm);
  return dm;
}

export function removeDm(dm) {
  state.dms.delete(dm.key);
}

/** A conversation opened by name learns whose it is: from now on it is keyed by `user`. */
export function rekeyDm(dm, user) {
  state.dms.delete(dm.key);
  dm.user = user;
  dm.key = `@${user}`;
  state.dms.set(dm.key, dm);
}

/** Every conversation of the page: the rooms, then the private ones. */
export function conversations() {
  return [...state.rooms.values(), ...state.dms.values()];
}

/** The conversation `key` names: '@…' a private one, anything else a room. */
export function convByKey(key) {
  if (typeof key !== 'string') return undefined;
  return key.startsWith('@') ? state.dms.get(key) : state.rooms.get(key);
}

export function shownConv() {
  return convByKey(state.shown);
}

// ---------------------------------------------------------------------------
// The conversation on screen

/** `conv` is shown now; the one shown before it is remembered for Back (see view.js). */
export function setShown(conv) {
  const current = shownConv();
  if (current && current !== conv) state.previous = current.key;
  state.shown = conv.key;
  // The users list stays on the last room shown: its names are who you can write to.
  if (conv.kind === 'room') state.usersRoom = conv.key;
}

/** Nothing is shown (a conversation's list was dropped, not parked). */
export function clearShown() {
  state.shown = null;
}

/** A conversation changed its key: what pointed at the old one points at the new one. */
export function moveKey(oldKey, newKey) {
  if (state.previous === oldKey) state.previous = newKey;
  if (state.shown === oldKey) state.shown = newKey;
}

/** The users list shows room `key`'s users. */
export function listUsersOf(key) {
  state.usersRoom = key;
}

function newConversation() {
  return {
    joined: false, // its history came on the current connection
    resuming: false, // the last request for its history carried since/epoch
    epoch: null,
    lastId: null,
    seen: new Set(), // ids shown or applied: messages and changes (edit, delete, react)
    messages: new Map(), // id -> the message as it is now (message-parts.js, heldMessage)
    users: [], // sorted nicknames
    ops: new Set(), // the nicknames among them that are operators (users.ops, join.op)
    read: null, // our session's read marker here: the last id read, in any tab (unread.js)
    readSent: null, // the last marker this tab sent, and when (unread.js throttles)
    readSentAt: 0,
    readTimer: null,
    awayUnread: 0, // a private conversation not loaded: hello.unread_dms's count
    unread: 0, // messages from others after the marker, while another conversation is shown
    typing: new Map(), // nickname -> the timer that forgets they are typing
    typingSentAt: 0, // when we last told this room we are typing
    askedOn: null, // the socket its last subscribe went out on
    parked: document.createDocumentFragment(),
    scrollTop: null, // where its list was scrolled when hidden (null: at the bottom)
    // Rendering state of its list
    lastAuthor: null,
    lastTime: 0,
    lastDay: null,
  };
}
