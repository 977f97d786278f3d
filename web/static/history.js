// A conversation's history: the answer to a subscribe (or, for the default room, to the
// connection itself). The server numbers messages per room and per pair of users within an
// epoch; a new epoch means the server restarted and its ids started over, and `complete: false`
// on a resume means it no longer had everything we missed. Either is said in the conversation.

import { updateComposer } from './composer.js';
import { addNotice, renderBatch } from './messages.js';
import { renderDmList, renderRoomList } from './sidebar.js';

/** `msg` is the history of `room` (a room, or a private conversation). */
export function onHistory(room, msg) {
  const epoch = msg.epoch === undefined || msg.epoch === null ? null : String(msg.epoch);
  const restarted = room.epoch !== null && epoch !== room.epoch;
  const resumed = room.resuming;
  if (restarted) {
    // New epoch: ids start over, so forget the ones we have seen.
    room.seen.clear();
    room.lastId = null;
    addNotice(room, 'The server restarted. Some messages may have been missed.', 'warn', new Date());
  } else if (resumed && msg.complete === false) {
    addNotice(room, 'Some messages were missed.', 'warn', new Date());
  }
  room.epoch = epoch;
  room.resuming = false;
  room.joined = true;
  // What a resume brings was sent while we were away: it counts as unread in a hidden room.
  renderBatch(room, Array.isArray(msg.messages) ? msg.messages : [], resumed || restarted);
  renderRoomList();
  renderDmList();
  updateComposer();
}
