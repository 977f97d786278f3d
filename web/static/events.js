// What the server says, one event at a time: `handle` is called with every JSON frame that
// arrives and hands it to the part of the page it is about. Events for the connection (hello,
// renamed, error, the public room list, the Wire panel's) come first; then private messages and
// histories, which carry `dm`; every other event belongs to one room (no `room`: the default
// room). Every connection starts in the default room; other rooms are joined with
// {"type":"subscribe","room":"rust"}, and each room has its own history, users and ids. A change
// to a message (edit, delete, react) is an entry of its conversation like a message, and so
// is what an operator did (`moderation`, moderation.js); `read` is how far another tab of ours
// has read. `bans`, the answer to an operator's {"type":"bans"}, goes to the Bans panel.

import { showAlert } from './alerts.js';
import { onBans, onModerationEntry, showBansPanel } from './bans.js';
import { hideBanned, noteBan } from './banned.js';
import { CHANGE_TYPES } from './changes.js';
import { updateComposer } from './composer.js';
import { addUnreadDms, onDirectMessage, onDmChange, onDmHistory, onDmRead, onNoSuchUser, renameDm } from './dms.js';
import { el } from './dom.js';
import { endTime, parseRoomName, parseTime } from './format.js';
import { onHistory } from './history.js';
import { addNotice, renderBatch } from './messages.js';
import { onRenamed, setMyName, showNameError } from './names.js';
import { dropRoom, onPublicRooms, requestPublicRooms, showRoomError } from './rooms.js';
import { renderDmList, renderRoomList } from './sidebar.js';
import { markGreeted, sendFrame } from './socket.js';
import { addRoom, isMe, keepSession, setLimits, setOperator, setRenameTo, setUser, shownConv, state } from './state.js';
import { renderStatusTitle } from './status.js';
import { resubscribeAll, retrySubscribes } from './subscribe.js';
import { onTyping, stopTyping } from './typing.js';
import { onReadEvent } from './unread.js';
import { markOwnUsers, noteUsers, setOps, setUsers } from './users.js';
import { onWire, wireOnHello, wireRefused } from './wire.js';

const ERROR_TITLES = {
  rate_limited: 'Slow down.',
  empty: 'Nothing to send.',
  too_long: 'Too long.',
  bad_request: 'Not understood.',
  not_subscribed: 'Not in that room.',
  not_yours: 'Not your message.',
  not_found: 'That message is not there any more.',
  too_late: 'Too late to edit.',
  too_many_reactions: 'Too many reactions.',
  not_allowed: 'Not allowed.',
  not_banned: 'Not banned.',
  not_muted: 'Not muted.',
  muted: 'Muted.',
};

// Refusals of a subscribe: shown next to the room field, not as alerts.
const ROOM_ERRORS = new Set(['bad_room', 'too_many_rooms']);

/** One event from the server. */
export function handle(msg) {
  noteUsers(msg);
  switch (msg.type) {
    case 'hello':
      onHello(msg);
      return;
    case 'rooms':
      onPublicRooms(msg);
      return;
    case 'error':
      onError(msg);
      return;
    case 'renamed':
      onRenamed(msg);
      return;
    case 'handshake':
    case 'frame':
    case 'frame_skipped':
      onWire(msg);
      return;
    case 'bans':
      onBans(msg);
      return;
    default:
      break;
  }
  // Private messages and the history of a private conversation carry `dm`, never `room`.
  if (msg.type === 'message' && msg.dm === true) {
    onDirectMessage(msg);
    return;
  }
  if (CHANGE_TYPES.has(msg.type) && msg.dm === true) {
    onDmChange(msg);
    return;
  }
  if (msg.type === 'history' && typeof msg.dm === 'string') {
    onDmHistory(msg);
    return;
  }
  if (msg.type === 'read' && typeof msg.dm === 'string') {
    onDmRead(msg);
    return;
  }
  // An event for a room the page has left is late news: the unsubscribe crossed it on the wire.
  const room = state.rooms.get(typeof msg.room === 'string' ? msg.room : state.defaultRoom);
  if (!room) return;
  switch (msg.type) {
    case 'history':
      onHistory(room, msg);
      break;
    case 'users':
      // `ops`: the operators among them, absent when none.
      setOps(room, Array.isArray(msg.ops) ? msg.ops : []);
      setUsers(room, Array.isArray(msg.users) ? msg.users : []);
      break;
    case 'join':
      addNotice(room, `${msg.name ?? 'someone'} joined`, 'join', parseTime(msg.ts));
      // In a big room the server sends only the change, not the whole list.
      if (msg.name != null && msg.op === true) setOps(room, [...room.ops, String(msg.name)]);
      if (msg.name != null) setUsers(room, [...room.users, String(msg.name)]);
      break;
    case 'leave':
      addNotice(room, `${msg.name ?? 'someone'} left`, 'leave', parseTime(msg.ts));
      if (msg.name != null) {
        if (room.ops.has(String(msg.name))) setOps(room, [...room.ops].filter((n) => n !== String(msg.name)));
        setUsers(room, room.users.filter((n) => n !== String(msg.name)));
        stopTyping(room, String(msg.name));
      }
      break;
    case 'presence': {
      // A room of more than 100 names: instead of users, join and leave, who came and went in
      // the last second, applied as set changes (a name we have may be listed). No notices:
      // in a room that size they would bury the conversation.
      const left = new Set(Array.isArray(msg.left) ? msg.left.map(String) : []);
      const joined = Array.isArray(msg.joined) ? msg.joined.map(String) : [];
      setUsers(room, [...room.users.filter((n) => !left.has(n)), ...joined]);
      for (const name of left) stopTyping(room, name);
      break;
    }
    case 'rename':
      onRename(room, msg);
      break;
    case 'edit':
    case 'delete':
    case 'react':
      renderBatch(room, [msg]);
      break;
    case 'moderation':
      renderBatch(room, [msg]);
      onModerationEntry(msg);
      break;
    case 'read':
      onReadEvent(room, msg);
      break;
    case 'message':
      renderBatch(room, [msg]);
      if (typeof msg.name === 'string') stopTyping(room, msg.name); // the message they were typing
      break;
    case 'typing':
      // The server does not echo our typing to this connection, but another tab of ours is
      // another connection: our own typing is recognised by the user id.
      if (typeof msg.name === 'string' && !isMe(msg.user)) onTyping(room, msg.name);
      break;
    default:
      // Unknown types are visible in the frames panel; nothing else to do.
      break;
  }
}

// The first event of every connection: who we are, the server's limits, and what we missed.
function onHello(msg) {
  markGreeted();
  // Keep the session for the next connection of this tab and of every other tab.
  if (typeof msg.session === 'string' && msg.session !== '') keepSession(msg.session);
  if (typeof msg.user === 'string') setUser(msg.user);
  setOperator(msg.op);
  hideBanned(); // let in: not banned (any more)
  showBansPanel();
  markOwnUsers(); // an operator gets the ⚑ beside the others' names
  if (typeof msg.name === 'string') setMyName(msg.name);
  // `requested` is there only when the name asked for was someone else's.
  if (typeof msg.requested === 'string') {
    addNotice(shownConv(), `${msg.requested} is taken; you are ${state.myName}.`, 'system name-taken', new Date());
  } else if (state.renameTo !== null && state.myName !== null && state.renameTo !== state.myName) {
    // A rename typed into the field while we were offline: asked for now.
    sendFrame({ type: 'rename', name: state.renameTo });
  }
  setRenameTo(null);
  const max = Number(msg.max_message_bytes);
  if (Number.isFinite(max) && max > 0) setLimits({ maxBytes: max });
  const home = typeof msg.default_room === 'string' ? parseRoomName(msg.default_room) : null;
  if (home) setLimits({ defaultRoom: home });
  if (!state.rooms.has(state.defaultRoom)) addRoom(state.defaultRoom);
  el.nameSave.textContent = 'Change';
  // Requests other than messages have their own allowance: the message rate, but at least one a
  // second per room a connection may be in (src/chat/handler.rs, request_rate).
  const rate = Number(msg.rate_limit_per_sec);
  const rooms = Number(msg.max_rooms_per_connection);
  if (Number.isFinite(rate) && rate > 0) {
    setLimits({ ratePerSec: Number.isFinite(rooms) && rooms > rate ? rooms : rate });
  }
  // Private messages that came while no connection of ours was open, counted per peer.
  if (Array.isArray(msg.unread_dms)) addUnreadDms(msg.unread_dms);
  // The server put this connection in the default room; every other room the page is in, and
  // every private conversation it has opened, is asked for again, each from where it left off.
  resubscribeAll();
  requestPublicRooms();
  // Inspection belongs to a connection: a new one is asked again.
  wireOnHello();
  renderStatusTitle();
  renderRoomList();
  renderDmList();
  updateComposer();
}

// Someone in this room changed their name (maybe us): the users list follows in its own event.
function onRename(room, msg) {
  if (typeof msg.from !== 'string' || typeof msg.to !== 'string') return;
  addNotice(room, `${msg.from} is now ${msg.to}`, 'rename', parseTime(msg.ts));
  stopTyping(room, msg.from);
  // A private conversation with them shows their new name.
  if (typeof msg.user === 'string') renameDm(msg.user, msg.to);
}

function onError(msg) {
  if (msg.code === 'session_expired') {
    // The hello just before carried a fresh session (already stored): we are a new person to the
    // server, with the name asked for or the first free one after it. Nothing else to do.
    addNotice(shownConv(), 'Your session had expired; you have a new one.', 'system', new Date());
    return;
  }
  if (msg.code === 'name_taken') {
    showNameError(msg.message || `${msg.name ?? 'That name'} is taken.`);
    return;
  }
  if (msg.code === 'no_such_user') {
    onNoSuchUser(msg);
    return;
  }
  if (msg.code === 'banned') {
    // Said just before the close 4003 that follows it, with why and until when: the banner
    // shows it then (banned.js).
    noteBan(msg);
    return;
  }
  if (msg.code === 'disabled') {
    wireRefused(msg);
    return;
  }
  const room = typeof msg.room === 'string' ? state.rooms.get(msg.room) : undefined;
  if (ROOM_ERRORS.has(msg.code)) {
    // The server did not let us in: the room goes from the list, and the reason is shown
    // next to the field it was asked for with.
    if (room && room.name !== state.defaultRoom && !room.joined) dropRoom(room);
    showRoomError(msg.message || `The server refused the room (${msg.code}).`);
    return;
  }
  // About a room the page has left already: an unsubscribe for a room the server never let us
  // into (its subscribe was refused by the rate limit). Nothing to tell the user.
  if (msg.code === 'not_subscribed' && typeof msg.room === 'string' && !room) return;
  if (msg.code === 'rate_limited') retrySubscribes();
  if (msg.code === 'muted') {
    // An operator muted us in that room: what we sent there (a message, an edit, a reaction) was refused.
    const where = room ? ` in #${room.name}` : typeof msg.room === 'string' ? ` in #${msg.room}` : '';
    const ends = typeof msg.until === 'string' ? ` until ${endTime(parseTime(msg.until))}` : '';
    showAlert(`You are muted${where}${ends}: an operator stopped your messages and reactions here.`, 'muted', ERROR_TITLES.muted);
    return;
  }
  let about = room ? ` (#${room.name})` : '';
  if (typeof msg.to === 'string') about = ` (@${msg.to})`;
  showAlert(`${msg.message || 'The server refused that.'}${about}`, msg.code || 'error', ERROR_TITLES[msg.code]);
}
