// Rooms: joining (a subscribe), leaving (an unsubscribe), the room the address names, the
// field that joins or creates one, and the public list ({"type":"rooms"}), asked for again
// while someone can see it. Every connection starts in the default room ("general"), which
// cannot be left.

import { roomFromHash } from './address.js';
import { clearFieldError, el, make, showFieldError } from './dom.js';
import { parseRoomName, ROOM_NAME_RULE } from './format.js';
import { renderRoomList } from './sidebar.js';
import { isGreeted, sendFrame } from './socket.js';
import { addRoom, listUsersOf, removeRoom, shownConv, state } from './state.js';
import { subscribe } from './subscribe.js';
import { forgetTyping } from './typing.js';
import { renderUsers } from './users.js';
import { showAnotherThan, showConv } from './view.js';

const ROOMS_REFRESH_MS = 10000; // the public room list is asked for again this often

let publicRooms = []; // the last answer to {"type":"rooms"}: [{room, users}]

/** Shows room `name`, joining it first when the page is not in it yet. */
export function openRoom(name) {
  let room = state.rooms.get(name);
  if (!room) {
    room = addRoom(name);
    // Offline, or before the hello: onHello subscribes every room the page is in. The server
    // answers one connection's requests in order, so the list asked for next counts us in.
    if (isGreeted()) {
      subscribe(room);
      requestPublicRooms();
    }
    renderPublicRooms();
  }
  showConv(room);
}

export function leaveRoom(room) {
  if (room.name === state.defaultRoom) return;
  sendFrame({ type: 'unsubscribe', room: room.name });
  dropRoom(room);
  requestPublicRooms();
}

/** Forgets a room (left, or refused by the server); if it was shown, the one shown before it is. */
export function dropRoom(room) {
  forgetTyping(room);
  showAnotherThan(room);
  removeRoom(room);
  if (state.usersRoom === room.key) {
    listUsersOf(state.defaultRoom);
    renderUsers();
  }
  renderRoomList();
  renderPublicRooms();
}

/** Shows the room the address names (#rust), or says why it names none. */
export function followHash() {
  const name = roomFromHash();
  if (name !== null) {
    openRoom(name);
    return;
  }
  showRoomError(`The address names no room: “${location.hash.slice(1)}” is not ${ROOM_NAME_RULE}.`);
  showConv(shownConv() || state.rooms.get(state.defaultRoom));
}

export function requestPublicRooms() {
  if (isGreeted()) sendFrame({ type: 'rooms' });
}

export function onPublicRooms(msg) {
  const list = Array.isArray(msg.rooms) ? msg.rooms : [];
  publicRooms = list
    .filter((r) => r && typeof r.room === 'string')
    .map((r) => ({ room: r.room, users: Number(r.users) || 0 }));
  renderPublicRooms();
}

export function renderPublicRooms() {
  const items = publicRooms.map(({ room, users }) => {
    const li = make('li', 'public-room');
    li.dataset.room = room;
    li.classList.toggle('member', state.rooms.has(room));
    const button = make('button', 'public-open');
    button.type = 'button';
    button.append(make('span', 'room-name', `#${room}`), make('span', 'count', String(users)));
    button.title = `${users} ${users === 1 ? 'person' : 'people'} in #${room}`;
    button.addEventListener('click', () => {
      const name = parseRoomName(room);
      if (name) openRoom(name);
    });
    li.append(button);
    return li;
  });
  if (items.length === 0) items.push(make('li', 'public-empty', isGreeted() ? 'No rooms yet.' : '…'));
  el.publicRooms.replaceChildren(...items);
}

/** Says why a room was refused, under the room field. */
export function showRoomError(text) {
  showFieldError(el.roomInput, el.roomError, text);
}

/** The room field, the address's hash, and the public list's refresh. */
export function bindRooms() {
  el.roomForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const raw = el.roomInput.value.trim();
    if (raw === '') return;
    const name = parseRoomName(raw);
    if (name === null) {
      showRoomError(`“${raw}” is not a room name: use ${ROOM_NAME_RULE}.`);
      return;
    }
    clearRoomError();
    el.roomInput.value = '';
    openRoom(name);
  });

  el.roomInput.addEventListener('input', clearRoomError);

  window.addEventListener('hashchange', followHash);

  // The public room list is refreshed while someone can see it.
  setInterval(() => {
    if (document.visibilityState === 'visible') requestPublicRooms();
  }, ROOMS_REFRESH_MS);

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') requestPublicRooms();
  });
}

function clearRoomError() {
  clearFieldError(el.roomInput, el.roomError);
}
