// WebSocketChat page: plain JavaScript modules, the standard WebSocket API, no build step.
//
// This file only wires the modules together and starts the page. Read them in this order:
//   socket.js     the connection: the session frame, reconnecting with backoff, the phase
//   events.js     every server event, handed to the part of the page it is about
//   state.js      who we are and the conversations, changed only through its functions
//   rooms.js, dms.js, subscribe.js, history.js   rooms, private conversations, resuming
//   view.js, messages.js, sidebar.js, users.js, typing.js, status.js   what is on screen
//   composer.js, names.js   the message box and the nickname field
//   message-parts.js, changes.js   a message as held, and its edits, deletion and reactions
//   actions.js, edit.js, reactions.js, reply.js   what a message offers: edit, delete, react, reply
//   moderation.js, operator-menu.js, bans.js, banned.js   operators: the notices of what they
//                 did, their menu on a name, the Bans panel; and the screen of a banned page
//   unread.js, requests.js   read markers and unread counts; requests about a message
//   wire.js, wire-draw.js   the Wire panel: this connection's frames, byte by byte (RFC 6455)
//   frames.js, alerts.js, address.js, storage.js, dom.js, format.js   small helpers
// Lower modules never import higher ones: where a list's button or the socket must reach
// up (open a conversation, handle an event), app.js binds the function once, below.

import { bindActions } from './actions.js';
import { nameFromAddress } from './address.js';
import { bindBanned, probeBan, showBanned, takeNotedBan } from './banned.js';
import { bindBans } from './bans.js';
import { bindComposer, updateComposer } from './composer.js';
import { closeDm, openDm } from './dms.js';
import { el } from './dom.js';
import { handle } from './events.js';
import { cleanName } from './format.js';
import { bindFrames } from './frames.js';
import { addNotice, bindMessages } from './messages.js';
import { bindNameForm } from './names.js';
import { openOperatorMenu } from './operator-menu.js';
import { bindRooms, followHash, leaveRoom, renderPublicRooms } from './rooms.js';
import { bindSidebar, renderDmList } from './sidebar.js';
import { bindSocket, connect, connectAfresh, currentSocket, goOffline, isWanted, setPhase } from './socket.js';
import { addRoom, askForName, restoreSession, shownConv, state } from './state.js';
import { bindStatus, renderPhase, renderStatusText, renderStatusTitle } from './status.js';
import { migrateOldKeys, remembered } from './storage.js';
import { bindUnread } from './unread.js';
import { bindUsers } from './users.js';
import { showConv } from './view.js';
import { bindWire, wireClosed } from './wire.js';

bindSocket({
  phase: renderPhase,
  countdown: renderStatusText,
  message: handle,
  closed: (ws, event) => {
    renderStatusTitle();
    wireClosed(ws, event);
  },
  banned: showBanned,
  probe: probeBan,
  notedBan: takeNotedBan,
});
bindSidebar({
  showRoom: (room) => {
    showConv(room);
    el.input.focus();
  },
  leaveRoom,
  openDm,
  closeDm,
});
bindUsers(openDm, (button, name, room) => openOperatorMenu(button, { name, room }));
bindNameForm();
bindComposer();
bindMessages();
bindActions();
bindUnread();
bindRooms();
bindStatus();
bindFrames();
bindWire();
bindBans();
bindBanned(connectAfresh);

// The address bar's hash names the room, so the skip link moves the focus itself.
el.skipLink.addEventListener('click', (event) => {
  event.preventDefault();
  el.input.focus();
});

window.addEventListener('offline', () => {
  if (state.name !== null) goOffline('no network');
});

window.addEventListener('online', () => {
  if (state.name !== null && isWanted() && !currentSocket()) connectAfresh();
});

start();

function start() {
  migrateOldKeys();
  const fromUrl = nameFromAddress();
  const stored = remembered('name');
  restoreSession(remembered('session'));
  if (state.session === null && fromUrl !== null && cleanName(fromUrl) !== '') {
    // A first visit (no session yet): ?name= is the name to ask for. With a session a link
    // changes nothing: anyone can send a link, and a rename would free our name for them.
    // Renaming is the nickname field's job, on a click.
    askForName(cleanName(fromUrl));
  } else if (stored) {
    askForName(stored);
  }
  // The default room, and the one the address names (#rust) shown; subscribed once connected.
  addRoom(state.defaultRoom);
  renderPublicRooms();
  followHash();
  renderDmList();
  updateComposer();
  if (state.name === null) {
    // First visit: ask for a nickname once.
    document.body.classList.add('needs-name');
    if (fromUrl !== null) el.name.value = cleanName(fromUrl);
    setPhase('offline', 'choose a nickname');
    addNotice(shownConv(), 'Welcome! Choose a nickname above and press Join.', 'system', new Date());
    el.name.focus();
    return;
  }
  el.name.value = state.name;
  el.nameSave.textContent = 'Change';
  connect('connecting');
}
