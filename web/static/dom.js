// The page's elements (web/templates/index.html), found once, and the one way nodes are made.
// Everything received is rendered with textContent, never as HTML: `make` is the only place
// text goes into a node it creates.

const NEAR_BOTTOM_PX = 48; // this close to the end of a list counts as at the end

const $ = (id) => document.getElementById(id);

/** The elements of index.html, by what they are. */
export const el = {
  status: $('status'),
  statusText: $('status-text'),
  toggle: $('connect-toggle'),
  nameForm: $('name-form'),
  name: $('name'),
  nameSave: $('name-save'),
  nameError: $('name-error'),
  skipLink: document.querySelector('.skip-link'),
  banned: $('banned'),
  bannedTitle: $('banned-title'),
  bannedEnd: $('banned-end'),
  bannedHelp: $('banned-help'),
  bannedRetry: $('banned-retry'),
  roomTitle: $('room-title'),
  messages: $('messages'),
  jump: $('jump'),
  typing: $('typing'),
  alerts: $('alerts'),
  composer: $('composer'),
  replyBar: $('reply-bar'),
  replyText: $('reply-text'),
  replyCancel: $('reply-cancel'),
  input: $('message-input'),
  send: $('send'),
  counter: $('counter'),
  rooms: $('rooms'),
  roomCount: $('room-count'),
  roomForm: $('room-form'),
  roomInput: $('room-input'),
  roomError: $('room-error'),
  publicRooms: $('public-rooms'),
  dms: $('dms'),
  dmCount: $('dm-count'),
  users: $('users'),
  userCount: $('user-count'),
  usersRoom: $('users-room'),
  bans: $('bans'),
  banCount: $('ban-count'),
  banList: $('ban-list'),
  muteList: $('mute-list'),
  bansRefresh: $('bans-refresh'),
  frames: $('frames'),
  frameList: $('frame-list'),
  frameCount: $('frame-count'),
  framesClear: $('frames-clear'),
  wire: $('wire'),
  wireState: $('wire-state'),
  wireOn: $('wire-on'),
  wirePing: $('wire-ping'),
  wireLong: $('wire-long'),
  wireClose: $('wire-close'),
  wireNote: $('wire-note'),
  wireExplain: $('wire-explain'),
  wireList: $('wire-list'),
  wireClear: $('wire-clear'),
};

/** A new `tag` element with a class and, when given, its text. */
export function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** A list scrolled to within NEAR_BOTTOM_PX of its end: new entries keep it at the end. */
export function nearBottom(list) {
  return list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
}

// A field's error line, under it, and the field marked invalid for assistive technology.
export function showFieldError(field, line, text) {
  line.textContent = text;
  line.hidden = false;
  field.setAttribute('aria-invalid', 'true');
}

export function clearFieldError(field, line) {
  line.hidden = true;
  line.textContent = '';
  field.removeAttribute('aria-invalid');
}
