// The sidebar's lists of conversations: "Your rooms" (the default room first, each with its
// unread count and a × to leave it) and "Direct messages" (one entry per person, under their
// latest name, with a × that closes it: it comes back with their next message). What a click
// does is bound by app.js (bindSidebar): these lists only draw.

import { el, make } from './dom.js';
import { nameHue, whoIs } from './format.js';
import { currentSocket } from './socket.js';
import { isMe, state } from './state.js';

const actions = {
  showRoom: (_room) => {},
  leaveRoom: (_room) => {},
  openDm: (_name) => {},
  closeDm: (_dm) => {},
};

/** Sets what the lists' buttons do. */
export function bindSidebar(handlers) {
  Object.assign(actions, handlers);
}

export function renderRoomList() {
  // The default room first, then the others in the order they were joined.
  const rooms = [...state.rooms.values()].sort(
    (a, b) => (b.name === state.defaultRoom) - (a.name === state.defaultRoom),
  );
  const items = rooms.map((room) => {
    const li = make('li', 'room');
    li.dataset.room = room.name;
    li.classList.toggle('shown', room.name === state.shown);
    li.classList.toggle('pending', !room.joined);
    const open = make('button', 'room-open');
    open.type = 'button';
    open.append(make('span', 'room-name', `#${room.name}`));
    if (room.name === state.shown) open.setAttribute('aria-current', 'true');
    if (room.unread > 0) {
      const badge = make('span', 'unread', String(room.unread));
      badge.title = `${room.unread} unread`;
      open.append(badge);
      open.setAttribute('aria-label', `#${room.name}, ${room.unread} unread`);
    }
    open.addEventListener('click', () => actions.showRoom(room));
    li.append(open);
    if (room.name !== state.defaultRoom) {
      const leave = make('button', 'room-leave', '×');
      leave.type = 'button';
      leave.title = `Leave #${room.name}`;
      leave.setAttribute('aria-label', `Leave #${room.name}`);
      leave.addEventListener('click', () => actions.leaveRoom(room));
      li.append(leave);
    }
    return li;
  });
  el.rooms.replaceChildren(...items);
  el.roomCount.textContent = String(rooms.length);
}

export function renderDmList() {
  const items = [...state.dms.values()].map((dm) => {
    const li = make('li', 'room dm');
    li.dataset.name = dm.name;
    if (dm.user !== null) li.dataset.user = dm.user;
    li.classList.toggle('shown', dm.key === state.shown);
    li.classList.toggle('pending', !dm.joined && dm.askedOn !== null && dm.askedOn === currentSocket());
    li.classList.toggle('self', isMe(dm.user));
    li.style.setProperty('--hue', String(nameHue(dm.name)));
    const open = make('button', 'room-open');
    open.type = 'button';
    open.title = dmDescription(dm);
    open.append(make('span', 'room-name', dm.name));
    if (isMe(dm.user)) open.append(make('span', 'dm-self', 'you'));
    if (dm.key === state.shown) open.setAttribute('aria-current', 'true');
    if (dm.unread > 0) {
      const badge = make('span', 'unread', String(dm.unread));
      badge.title = `${dm.unread} unread`;
      open.append(badge);
      open.setAttribute('aria-label', `${dm.name}, ${dm.unread} unread`);
    }
    open.addEventListener('click', () => actions.openDm(dm.name));
    const close = make('button', 'room-leave dm-close', '×');
    close.type = 'button';
    close.title = `Close the conversation with ${dm.name}`;
    close.setAttribute('aria-label', close.title);
    close.addEventListener('click', () => actions.closeDm(dm));
    li.append(open, close);
    return li;
  });
  if (items.length === 0) items.push(make('li', 'public-empty', 'Click a name under “Online” to write privately.'));
  el.dms.replaceChildren(...items);
  el.dmCount.textContent = String(state.dms.size);
}

/** What a private conversation is, in one line: its entry's and its heading's hover. */
export function dmDescription(dm) {
  return isMe(dm.user) ? 'Notes to yourself: only you see them' : `Private conversation with ${whoIs(dm.name, dm.user)}`;
}
