// Private conversations ("direct messages"): {"type":"message","to":"bob",…} to write,
// {"type":"subscribe","dm":"bob"} for the history. A private message reaches every connection
// of both people, whether or not they have the conversation open; a note to yourself is one
// whose two people are you. A conversation is keyed by the other person's user id (state.js,
// newDm), learnt from the server: a click on a name knows only the name.

import { showAlert } from './alerts.js';
import { el } from './dom.js';
import { sameName } from './format.js';
import { onHistory } from './history.js';
import { addNotice, clearList, renderBatch } from './messages.js';
import { renderDmList } from './sidebar.js';
import { currentSocket, isGreeted } from './socket.js';
import { addDm, clearShown, isMe, moveKey, newDm, rekeyDm, removeDm, state } from './state.js';
import { subscribe } from './subscribe.js';
import { onReadEvent, recount } from './unread.js';
import { noteUser } from './users.js';
import { renderConvHead, showAnotherThan, showConv } from './view.js';

/** Opens the private conversation with `name` (a click in the users list; our own name: notes). */
export function openDm(name) {
  let dm;
  if (state.myName !== null && state.user !== null && sameName(name, state.myName)) {
    dm = dmWith(state.user, state.myName);
  } else {
    dm = findDmByName(name) || addDm(newDm(null, name));
  }
  // Its history comes once per connection; before the hello, onHello asks for it.
  if (isGreeted() && !dm.joined && dm.askedOn !== currentSocket()) subscribe(dm);
  showConv(dm);
  el.input.focus();
}

export function closeDm(dm) {
  // No unsubscribe: a private message reaches both people whatever they have open. One that
  // arrives later opens the conversation in the list again.
  showAnotherThan(dm);
  removeDm(dm);
  renderDmList();
}

// The other person is the recipient when we sent it (from this tab or another), else the
// sender; in a note to self we are both.
export function onDirectMessage(msg) {
  const mine = isMe(msg.user);
  const user = mine ? msg.to_user : msg.user;
  const name = mine ? msg.to : msg.name;
  if (typeof user !== 'string' || typeof name !== 'string') return;
  const dm = dmWith(user, name);
  renderBatch(dm, [msg]);
  renderDmList();
}

// An edit, a deletion or a reaction in a private conversation names its two people as a private
// message does. One the page has not loaded holds no message it could change.
export function onDmChange(msg) {
  const dm = state.dms.get(`@${isMe(msg.user) ? msg.to_user : msg.user}`);
  if (dm) renderBatch(dm, [msg]);
}

// Another tab of ours read a private conversation: {"type":"read","dm":"bob","user":"…","id":3},
// `user` the other person's id.
export function onDmRead(msg) {
  const dm = (typeof msg.user === 'string' && state.dms.get(`@${msg.user}`)) || findDmByName(msg.dm);
  if (dm) onReadEvent(dm, msg);
}

export function onDmHistory(msg) {
  if (typeof msg.user !== 'string') return;
  const dm = dmWith(msg.user, msg.dm);
  if (dm.epoch === null) {
    // The first history of this conversation: live messages shown before it are in it too, and
    // in their place among the older ones.
    clearList(dm);
  }
  onHistory(dm, msg);
}

// Nobody holds that name (they never did, or the name was freed). The error names it in `to`.
export function onNoSuchUser(msg) {
  const name = typeof msg.to === 'string' ? msg.to : '';
  const dm = name === '' ? undefined : findDmByName(name);
  // An operator's request names its person with `name` (kick, ban, mute): an alert then.
  const text = msg.message || `Nobody is called ${name || msg.name}.`;
  if (dm) addNotice(dm, text, 'warn', new Date());
  else showAlert(text, 'no_such_user', 'No such user.');
}

// hello.unread_dms: [{name, user, count}], what came while no connection of ours was open. A
// conversation the page has loaded counts them itself when its resume brings them.
export function addUnreadDms(list) {
  for (const entry of list) {
    if (!entry || typeof entry.user !== 'string' || typeof entry.name !== 'string') continue;
    noteUser(entry.name, entry.user);
    const count = Number(entry.count);
    const dm = dmWith(entry.user, entry.name);
    if (dm.epoch === null && dm.key !== state.shown && Number.isFinite(count) && count > 0) {
      dm.awayUnread += count;
      recount(dm);
    }
  }
}

/** Someone we write with is called `name` now: their conversation shows it. */
export function renameDm(user, name) {
  const dm = state.dms.get(`@${user}`);
  if (dm && dm.name !== name) {
    dm.name = name;
    renderDmList();
    if (dm.key === state.shown) renderConvHead();
  }
}

function findDmByName(name) {
  return [...state.dms.values()].find((dm) => sameName(dm.name, name));
}

/** The conversation with user id `user` (made when there is none), under their latest `name`. */
function dmWith(user, name) {
  let dm = state.dms.get(`@${user}`);
  if (!dm) {
    // Perhaps opened by its name a moment ago, before the server told us whose it is.
    const pending = state.dms.get(`@?${name.toLowerCase()}`);
    dm = pending ? adoptDmKey(pending, user) : addDm(newDm(user, name));
  }
  if (dm.name !== name) {
    dm.name = name;
    if (dm.key === state.shown) renderConvHead();
  }
  return dm;
}

/** A conversation opened by name learns its user id: from now on it is keyed by it. */
function adoptDmKey(pending, user) {
  const oldKey = pending.key;
  const wasShown = state.shown === oldKey;
  const known = state.dms.get(`@${user}`); // we had one with them already, under an older name
  if (known) removeDm(pending);
  else rekeyDm(pending, user);
  const dm = known || pending;
  moveKey(oldKey, dm.key);
  if (wasShown) {
    if (known) {
      clearShown(); // the pending one's list is dropped, not parked
      el.messages.replaceChildren();
      showConv(known);
    } else {
      renderConvHead(); // its title now names whose it is
    }
  }
  return dm;
}
