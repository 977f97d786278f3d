// Which conversation is on screen. Switching moves the shown one's messages out of #messages
// into its fragment, and the new one's in: the nodes are kept, so nothing is rendered twice and
// scroll positions survive. The heading and the tab's title name what is shown: #rust, or @bob
// for a private conversation. Shown and scrolled to its end, a conversation is read (unread.js).

import { closeMessageTools } from './actions.js';
import { setHash } from './address.js';
import { updateComposer } from './composer.js';
import { el } from './dom.js';
import { isNearBottom, resetNewBelow } from './messages.js';
import { dmDescription, renderDmList, renderRoomList } from './sidebar.js';
import { convByKey, isMe, setShown, shownConv, state } from './state.js';
import { renderTyping } from './typing.js';
import { readShown, recount } from './unread.js';
import { renderUsers } from './users.js';

/** Shows `conv` (a room or a private conversation) and marks it read. */
export function showConv(conv) {
  const current = shownConv();
  if (current !== conv) {
    if (current) {
      closeMessageTools();
      current.scrollTop = isNearBottom() ? null : el.messages.scrollTop;
      while (el.messages.firstChild) current.parked.appendChild(el.messages.firstChild);
    }
    setShown(conv);
    el.messages.appendChild(conv.parked); // moves the children; the fragment is empty again
    el.messages.scrollTop = conv.scrollTop === null ? el.messages.scrollHeight : conv.scrollTop;
    resetNewBelow();
    renderConvHead();
    renderUsers();
    renderTyping();
    updateComposer();
    if (current) recount(current); // not shown any more: its count, if it was not read
  }
  recount(conv);
  readShown();
  renderRoomList();
  renderDmList();
  if (conv.kind === 'room') setHash(conv.name);
}

/** When `conv` is shown, shows the conversation shown before it (or the default room) instead. */
export function showAnotherThan(conv) {
  if (state.shown !== conv.key) return;
  const back = state.previous !== conv.key && convByKey(state.previous);
  showConv(back || state.rooms.get(state.defaultRoom));
}

/** The heading and the tab's title name the conversation shown: #rust, or @bob for a private one. */
export function renderConvHead() {
  const conv = shownConv();
  if (!conv) return;
  const title = conv.kind === 'room' ? `#${conv.name}` : `@${conv.name}`;
  el.roomTitle.textContent = title;
  el.roomTitle.dataset.kind = conv.kind;
  el.roomTitle.title = conv.kind === 'room' ? '' : dmDescription(conv);
  document.title = `${title} · WebSocketChat`;
  if (conv.kind === 'room') el.input.placeholder = 'Write a message…';
  else el.input.placeholder = isMe(conv.user) ? 'Write a note to yourself…' : `Write to ${conv.name} privately…`;
}
