// The connection: one WebSocket at a time, its first frame (the session), reconnecting with
// backoff, and the phase the status shows (connecting | online | reconnecting | offline).
//
// The wire protocol is one JSON object per text frame:
//   client -> server  session (the first frame), message, subscribe, unsubscribe, typing, rooms,
//                     rename, edit, delete, react, read, and for the Wire panel inspect and
//                     ping_me
//   server -> client  hello, history, users, join, leave, presence, message, edit, delete,
//                     react, read, typing, rooms, rename, renamed, error, and for the Wire panel
//                     handshake, frame and frame_skipped
// This module knows frames, not what they mean: what arrives goes to the `message` hook
// (events.js), and the page learns of phase changes and closes through its other hooks, bound
// once by app.js (bindSocket). It imports nothing that draws the page.
//
// Two closes end the loop: 4001, an operator kicked us, and 4003, an operator banned us (codes
// 4000-4999 are the application's, RFC 6455 §7.4.2). A ban may also show as a connection
// refused before it opens: then the `probe` hook asks the server over HTTP whether we are
// banned (banned.js) before the next attempt is scheduled.

import { showAlert } from './alerts.js';
import { describeClose } from './format.js';
import { logEvent, logFrame } from './frames.js';
import { conversations, state } from './state.js';
import { remembered } from './storage.js';

// The chat's protocol, named in the opening handshake (RFC 6455 §1.9): the page offers it and
// the server names it in its 101. The browser itself fails a connection whose 101 names none or
// another, before 'open'; the check in 'open' says so in the log should one ever get through.
const SUBPROTOCOL = 'wschat.v1';
/** The close code of a kick by an operator (src/chat/broadcaster/moderation.rs). */
const KICKED = 4001;
/** The close code of a ban by an operator (src/chat/broadcaster/moderation.rs). */
const BANNED = 4003;
// A ban that ends: one more attempt this long after its end (the server's clock and ours may
// differ a little). Past MAX_TIMER_MS (what setTimeout takes) nothing is scheduled.
const AFTER_BAN_MS = 1000;
const MAX_TIMER_MS = 2 ** 31 - 1;
const RECONNECT_BASE_MS = 500; // first reconnect waits a random time in [0, 500) ms
const RECONNECT_CAP_MS = 10000; // ... doubling up to [0, 10 s)
const COUNTDOWN_MS = 250; // "Reconnecting in 3 s" is redrawn this often

let ws = null; // the current socket; a socket that is not it any more is ignored
let greeted = false; // the hello of the current socket arrived: subscribes may be sent
let wanted = true; // the user wants to be connected (the Connect/Disconnect toggle)
let phase = 'connecting';
let offlineReason = '';
let attempt = 0; // reconnect attempts since the last successful connect
let reconnectTimer = null;
let countdownTimer = null;
let reconnectAt = 0;
let lastCloseText = null; // the last close, for the status tooltip
let probing = null; // the socket refused before it opened whose ban probe is under way

const hooks = {
  phase: (_changed) => {}, // the phase (or its reason) was set: redraw what depends on it
  countdown: () => {}, // a second less until the next attempt
  message: (_msg) => {}, // one parsed frame from the server
  closed: (_ws, _event) => {}, // a socket closed, the current one or an older one
  banned: (_ban) => {}, // we are banned: {reason, until} (banned.js, showBanned)
  probe: async (_url) => null, // a socket refused before it opened: are we banned? (banned.js, probeBan)
  notedBan: () => null, // what the `banned` error before a 4003 said, if one came (banned.js, takeNotedBan)
};

/** Sets the hooks through which the socket tells the page what happened. */
export function bindSocket(handlers) {
  Object.assign(hooks, handlers);
}

// ---------------------------------------------------------------------------
// What the rest of the page reads

export const currentSocket = () => ws;
export const isGreeted = () => greeted;
export const isWanted = () => wanted;
export const currentPhase = () => phase;
export const currentOfflineReason = () => offlineReason;
export const lastClose = () => lastCloseText;

/** Milliseconds until the next attempt; 0 when none is scheduled. */
export function reconnectLeft() {
  return reconnectTimer ? reconnectAt - Date.now() : 0;
}

export function isOnline() {
  return phase === 'online' && ws !== null && ws.readyState === WebSocket.OPEN;
}

/** Sends one JSON object as a text frame and shows it in the frames panel; false when offline. */
export function sendFrame(object) {
  if (!isOnline()) return false;
  const frame = JSON.stringify(object);
  ws.send(frame);
  logFrame('out', frame);
  return true;
}

// ---------------------------------------------------------------------------
// Connecting

/** The hello of the current socket came: the connection works, the backoff starts over. */
export function markGreeted() {
  greeted = true;
  attempt = 0;
}

export function setWanted(on) {
  wanted = on;
}

export function setPhase(next, reason) {
  const changed = next !== phase || (reason || '') !== offlineReason;
  phase = next;
  offlineReason = reason || '';
  hooks.phase(changed);
}

/** Connects now, as a first attempt (a click, the network back). */
export function connectAfresh() {
  attempt = 0;
  connect('connecting');
}

/** Opens a new socket (closing the current one), showing `next` meanwhile. */
export function connect(next) {
  clearReconnect();
  if (ws) closeSocket(1000, 'reconnecting');
  if (!wanted || state.name === null) return;
  if (navigator.onLine === false) {
    setPhase('offline', 'no network');
    return;
  }

  const url = wsUrl();
  let socket;
  try {
    socket = new WebSocket(url, [SUBPROTOCOL]);
  } catch (err) {
    logEvent('✕', `could not open ${url}: ${err.message}`);
    scheduleReconnect();
    return;
  }
  // A new connection is in no room until the server sends the room's history.
  greeted = false;
  for (const conv of conversations()) conv.joined = false;
  const home = state.rooms.get(state.defaultRoom);
  if (home) home.resuming = home.epoch !== null;
  ws = socket;
  setPhase(next);
  logEvent('…', `connecting to ${url}`);
  listen(socket, url);
}

/** Closes the socket and stays offline until asked again. */
export function goOffline(reason) {
  clearReconnect();
  closeSocket(1000, reason);
  setPhase('offline', reason);
}

function listen(socket, url) {
  let opened = false;
  socket.addEventListener('open', () => {
    opened = true;
    if (socket !== ws) return;
    // ws.extensions: what the server accepted of the browser's offer, permessage-deflate here
    // (RFC 7692): the browser then compresses and inflates messages itself, unseen by the page.
    logEvent('●', `open ${url} (subprotocol ${socket.protocol || 'none'}; extensions ${socket.extensions || 'none'})`);
    if (socket.protocol !== SUBPROTOCOL) {
      logEvent('?', `the server speaks ${socket.protocol || 'no subprotocol'}, not ${SUBPROTOCOL}`);
    }
    const [frame, shown] = sessionFrame();
    socket.send(frame);
    logFrame('out', shown);
    setPhase('online');
  });

  socket.addEventListener('message', (event) => {
    if (socket !== ws) return;
    if (typeof event.data !== 'string') {
      logEvent('?', 'binary frame ignored');
      return;
    }
    logFrame('in', event.data);
    let msg;
    try {
      msg = JSON.parse(event.data);
    } catch (_) {
      showAlert('The server sent a frame that is not JSON.', 'bad_json');
      return;
    }
    if (msg && typeof msg === 'object') hooks.message(msg);
  });

  socket.addEventListener('close', (event) => {
    const text = describeClose(event.code, event.reason);
    logEvent('✕', `close ${text}`, 'close');
    lastCloseText = text;
    hooks.closed(socket, event);
    if (socket !== ws) return; // closed on purpose (rename, toggle, offline)
    ws = null;
    if (event.code === KICKED) {
      // An operator closed this session's connections: say why, and do not come back by
      // ourselves (the server would take us, but the operator meant us to stop for now).
      const why = event.reason.replace(/^kicked:?\s*/, '');
      setPhase('offline', 'removed by an operator');
      showAlert(`An operator removed you from the chat${why ? `: ${why}` : ''}. Connect again when you are ready.`, 'kicked');
      return;
    }
    if (event.code === BANNED) {
      // Banned: say why now; the probe may add when it ends (and when to try again).
      const why = event.reason.replace(/^banned:?\s*/, '');
      // Refused at our session frame, the error event before the close said until when.
      stopForBan(hooks.notedBan() ?? { reason: why || null, until: undefined });
      probeThen(socket, url, (ban) => {
        if (ban && phase === 'offline') stopForBan(ban);
      });
      return;
    }
    if (!opened && navigator.onLine !== false) {
      // Refused before it opened: the server down, or an upgrade answered 403 because we are
      // banned. Only an HTTP request can tell (banned.js).
      setPhase('reconnecting');
      probeThen(socket, url, (ban) => (ban ? stopForBan(ban) : scheduleReconnect()));
      return;
    }
    if (navigator.onLine === false) setPhase('offline', 'no network');
    else scheduleReconnect();
  });
  // 'error' is always followed by 'close', which does the work.
}

// The session says who we are, and it never goes into a URL: proxies and servers write URLs
// to their logs. `session_in=frame` tells the server that it comes in our first frame
// (sessionFrame), sent as soon as the connection opens; the server waits for it before the
// hello. It gives a known session its name back (and ignores `name`), so a reload or a second
// tab is the same person. Without one (first visit, or the server forgot it) `name` is the
// nickname asked for.
// The default room resumes through the URL: the server sends its history right after hello.
// The other rooms resume with a subscribe each, sent when the hello arrives (events.js, onHello).
function wsUrl() {
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  const query = [];
  if (state.name) query.push(`name=${encodeURIComponent(state.name)}`);
  query.push('session_in=frame');
  const home = state.rooms.get(state.defaultRoom);
  if (home && home.epoch !== null) {
    // Resume: only what came after the last message we have.
    query.push(`since=${home.lastId === null ? 0 : home.lastId}`);
    query.push(`epoch=${encodeURIComponent(home.epoch)}`);
  }
  return `${scheme}//${location.host}/ws${query.length ? `?${query.join('&')}` : ''}`;
}

/**
 * The first frame of every connection: our session, or null when we have none yet. Returns the
 * frame and what the frames panel shows of it (the session as …, like the server's inspector).
 */
function sessionFrame() {
  // Another tab may have been given a newer session since this one read it.
  const session = remembered('session') || state.session || null;
  const frame = JSON.stringify({ type: 'session', session });
  const shown = JSON.stringify({ type: 'session', session: session === null ? null : '…' });
  return [frame, shown];
}

function closeSocket(code, reason) {
  const socket = ws;
  ws = null;
  if (!socket) return;
  try {
    socket.close(code, reason);
  } catch (_) {
    /* already closing */
  }
}

// Exponential backoff with full jitter: wait a random time in [0, min(cap, base * 2^attempt)).
function scheduleReconnect() {
  clearReconnect();
  const ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** Math.min(attempt, 16));
  const delay = Math.floor(Math.random() * ceiling);
  attempt += 1;
  reconnectAt = Date.now() + delay;
  reconnectTimer = setTimeout(() => {
    reconnectTimer = null;
    clearInterval(countdownTimer);
    countdownTimer = null;
    connect('reconnecting');
  }, delay);
  countdownTimer = setInterval(() => hooks.countdown(), COUNTDOWN_MS);
  setPhase('reconnecting');
}

// Asks the `probe` hook about `socket`'s URL, then calls `then` with its answer, unless
// something else happened meanwhile: a new socket, a click on Disconnect, the network gone.
function probeThen(socket, url, then) {
  probing = socket;
  hooks.probe(url).then((ban) => {
    if (probing !== socket || ws !== null || !wanted) return;
    probing = null;
    then(ban);
  });
}

// Banned: no reconnect loop. One attempt a moment after the ban ends, when it ends.
function stopForBan(ban) {
  clearReconnect();
  setPhase('offline', 'banned');
  hooks.banned(ban);
  const end = typeof ban.until === 'string' ? Date.parse(ban.until) : NaN;
  if (!Number.isFinite(end)) return;
  const wait = Math.max(0, end - Date.now()) + AFTER_BAN_MS;
  if (wait > MAX_TIMER_MS) return;
  reconnectTimer = setTimeout(() => {
    reconnectTimer = null;
    connect('reconnecting');
  }, wait);
}

function clearReconnect() {
  probing = null;
  clearTimeout(reconnectTimer);
  clearInterval(countdownTimer);
  reconnectTimer = null;
  countdownTimer = null;
}
