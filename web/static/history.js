// A conversation's history: the answer to a subscribe (or, for the default room, to the
// connection itself). The server numbers messages per room and per pair of users within an
// epoch; a new epoch means the server restarted and its ids started over, and `complete: false`
// on a resume means it no longer had everything we missed. Either is said in the conversation.
// A history without `since` is folded: each message as it is now (edited, deleted, its
// reactions); with `since` it holds every entry after it, the changes too, applied in order
// (messages.js). Either carries `read`, our session's read marker there (unread.js).

import { updateComposer } from './composer.js';
import { addNotice, renderBatch } from './messages.js';
import { renderDmList, renderRoomList } from './sidebar.js';
import { moveMarker, readShown, settleMarker } from './unread.js';

/** `msg` is the history of `room` (a room, or a private conversation). */
export function onHistory(room, msg) {
  const epoch = msg.epoch === undefined || msg.epoch === null ? null : String(msg.epoch);
  const restarted = room.epoch !== null && epoch !== room.epoch;
  const resumed = room.resuming;
  if (restarted) {
    // New epoch: ids start over, so forget the ones we have seen.
    room.seen.clear();
    room.messages.clear(); // the old entries stay on screen, but nothing can be done with them
    room.lastId = null;
    room.read = null;
    room.readSent = null;
    addNotice(room, 'The server restarted. Some messages may have been missed.', 'warn', new Date());
  } else if (resumed && msg.complete === false) {
    addNotice(room, 'Some messages were missed.', 'warn', new Date());
  }
  room.epoch = epoch;
  room.resuming = false;
  room.joined = true;
  if (room.kind === 'dm' && !resumed) room.awayUnread = 0; // the history brings them
  const read = Number(msg.read);
  if (msg.read !== undefined && msg.read !== null) moveMarker(room, read, true);
  // Unread: the messages from others after the marker (what a resume brings was sent while we
  // were away).
  renderBatch(room, Array.isArray(msg.messages) ? msg.messages : []);
  settleMarker(room, !resumed && !restarted);
  readShown();
  renderRoomList();
  renderDmList();
  updateComposer();
}
