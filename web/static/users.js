// The users list: the shown room's (while a private conversation is shown, the last room's).
// The server lists names, one per person (several tabs of one session are one name), and a
// name is held by one person at a time: so "you" is the entry with our name. A click on a name
// opens a private conversation with them. Operators (the room's `ops`, and a `join` with
// "op":true) wear an "op" badge; to an operator, everyone else has a ⚑ button beside their
// name that opens the operator's menu (operator-menu.js).
//
// Who is who: two names can look alike (or a name can change hands once released), so every
// name the page shows has its holder's user id on hover, "alice · id LJgLht". The users list
// has names only (the `users` event carries no ids), so the page remembers who held each name
// in the live events that carry both; a history is not used, as its names may have changed
// hands since.

import { el, make } from './dom.js';
import { nameHue, whoIs } from './format.js';
import { isOperator, state } from './state.js';

const KNOWN_USERS_LIMIT = 5000; // nicknames whose holder's user id the page remembers

const knownUsers = new Map(); // nickname -> user id of its holder, as last seen in a live event
let openDm = (_name) => {}; // what a click on a name does (bindUsers)
let moderate = (_button, _name, _room) => {}; // what an operator's ⚑ beside a name does

/** Sets what a click on a name does (open a private conversation), and on its ⚑ (moderate them). */
export function bindUsers(onOpen, onModerate) {
  openDm = onOpen;
  moderate = onModerate;
}

/** Remembers the holders of the names a live event names with their user ids. */
export function noteUsers(msg) {
  if (msg.type === 'history') return;
  if (msg.type === 'rename') noteUser(msg.to, msg.user);
  else noteUser(msg.name, msg.user);
  if (msg.type === 'message' && msg.dm === true) noteUser(msg.to, msg.to_user);
}

/** `user` holds `name`. */
export function noteUser(name, user) {
  if (typeof name !== 'string' || typeof user !== 'string' || knownUsers.get(name) === user) return;
  knownUsers.delete(name); // re-inserted last: the oldest go first past the limit
  knownUsers.set(name, user);
  if (knownUsers.size > KNOWN_USERS_LIMIT) knownUsers.delete(knownUsers.keys().next().value);
  markOwnUsers();
}

/** The name `user` (a user id) was last seen holding in a live event; null when none. */
export function nameOfUser(user) {
  let found = null;
  for (const [name, holder] of knownUsers) if (holder === user) found = name; // the latest wins
  return found;
}

/** `room` has these users now (a whole list, or the old one with a change applied). */
export function setUsers(room, list) {
  room.users = [...new Set(list.map(String))].sort();
  if (room.key === state.usersRoom) renderUsers();
}

/** The operators among `room`'s users: all of them (`users.ops`), or one more or one less. */
export function setOps(room, names) {
  room.ops = new Set(names.map(String));
  if (room.key === state.usersRoom) markOwnUsers();
}

export function renderUsers() {
  const room = state.rooms.get(state.usersRoom);
  const names = room ? room.users : [];
  const items = names.map((name) => {
    const li = make('li');
    li.dataset.name = name;
    li.dataset.initial = [...name][0] || '?';
    li.style.setProperty('--hue', String(nameHue(name)));
    const open = make('button', 'user-open', name);
    open.type = 'button';
    open.addEventListener('click', () => openDm(name));
    const mod = make('button', 'user-mod');
    mod.type = 'button';
    mod.setAttribute('aria-label', `Moderate ${name}`);
    mod.setAttribute('aria-haspopup', 'dialog');
    mod.title = `Moderate ${name}: kick, ban, mute`;
    mod.addEventListener('click', () => moderate(mod, name, room.name));
    li.append(open, mod);
    return li;
  });
  el.users.replaceChildren(...items);
  el.userCount.textContent = String(names.length);
  el.usersRoom.textContent = room ? `in #${room.name}` : '';
  markOwnUsers();
}

/**
 * Marks our own entry and the operators', gives every entry its "who is who" hover, and to an
 * operator a ⚑ on everyone else's but other operators'.
 */
export function markOwnUsers() {
  const room = state.rooms.get(state.usersRoom);
  const ops = room ? room.ops : new Set();
  for (const li of el.users.children) {
    const me = li.dataset.name === state.myName;
    const op = ops.has(li.dataset.name);
    li.classList.toggle('me', me);
    li.classList.toggle('op', op);
    li.querySelector('.user-mod').hidden = me || op || !isOperator();
    const who = whoIs(li.dataset.name, me ? state.user : knownUsers.get(li.dataset.name));
    li.firstElementChild.title = me ? `${who}: write a note to yourself` : `${who}: write privately`;
  }
}
