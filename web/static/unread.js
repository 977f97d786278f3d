// Read markers and unread counts. The server keeps, per session and per conversation, the last
// id read ({"type":"read","room":"rust","id":57}; a private conversation names the other person
// with "dm"): it only moves forward, every history carries it as `read`, and the session's other
// tabs get it as a `read` event. The counts in "Your rooms" and "Direct messages" are computed
// from it: the messages from others after the marker. So two tabs and a reload agree, where a
// count kept by each tab would not.
//
// A conversation is read when it is shown, scrolled to its end, and the tab is visible; the
// marker then moves to its last id at once on this page, and is sent at most once a second per
// conversation (the last one of a burst is sent when the second is over).

import { el, nearBottom } from './dom.js';
import { sendRead } from './requests.js';
import { renderDmList, renderRoomList } from './sidebar.js';
import { convByKey, shownConv, state } from './state.js';

const READ_EVERY_MS = 1000; // at most one read marker a second per conversation

/** Counts `conv`'s unread messages again; redraws the lists when the count changed. */
export function recount(conv) {
  let count = conv.epoch === null ? conv.awayUnread : 0;
  if (conv.key !== state.shown) {
    for (const held of conv.messages.values()) {
      if (!held.own && !held.deleted && (conv.read === null || held.id > conv.read)) count += 1;
    }
  } else {
    count = 0; // the conversation on screen shows its messages, not a count
  }
  if (count === conv.unread) return;
  conv.unread = count;
  renderRoomList();
  renderDmList();
}

/**
 * The marker is at `id`: never moves backwards. `known`: the server told us (a history's `read`,
 * another tab's `read` event), so there is nothing to send.
 */
export function moveMarker(conv, id, known = false) {
  if (!Number.isFinite(id)) return;
  if (known && (conv.readSent === null || id > conv.readSent)) conv.readSent = id;
  if (conv.read !== null && id <= conv.read) return;
  conv.read = id;
  if (conv.kind === 'dm') conv.awayUnread = 0; // read in another tab: what came while away too
  recount(conv);
}

/**
 * A history came: a first one without a marker starts it at its end (what was there when we
 * came is not news; an empty one at 0, so what comes later is unread in every tab and after a
 * reload too), and a marker this tab could not send yet (offline) goes now.
 */
export function settleMarker(conv, first) {
  if (first && conv.read === null) moveMarker(conv, conv.lastId === null ? 0 : conv.lastId);
  if (conv.read !== null) sendMarker(conv);
}

/** The conversation shown may have been read now (shown, scrolled, new messages, tab visible). */
export function readShown() {
  const conv = shownConv();
  if (!conv || !conv.joined || conv.lastId === null) return;
  if (document.visibilityState !== 'visible' || !nearBottom(el.messages)) return;
  moveMarker(conv, conv.lastId);
  sendMarker(conv);
}

/** A `read` event: another tab of this session read a room, or a private conversation. */
export function onReadEvent(conv, msg) {
  moveMarker(conv, Number(msg.id), true);
}

/** The tab coming back into view reads what it shows. */
export function bindUnread() {
  document.addEventListener('visibilitychange', readShown);
}

// At most one marker a second per conversation; the latest one goes when the second is over,
// even if another conversation is shown by then. Offline, it goes with the next read.
function sendMarker(conv) {
  if (conv.readTimer !== null || (conv.readSent !== null && conv.read <= conv.readSent)) return;
  const wait = conv.readSentAt + READ_EVERY_MS - Date.now();
  if (wait > 0) {
    conv.readTimer = setTimeout(() => {
      conv.readTimer = null;
      if (convByKey(conv.key) === conv) sendMarker(conv); // not left or closed meanwhile
    }, wait);
    return;
  }
  if (!conv.joined || !sendRead(conv, conv.read)) return;
  conv.readSent = conv.read;
  conv.readSentAt = Date.now();
}
