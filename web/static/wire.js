// The Wire panel: this connection's frames, byte by byte, as the server read and wrote them.
//
// A script never sees frames: the browser builds, masks and unmasks them under the WebSocket
// API. So the page asks the server: {"type":"inspect","on":true} brings a `handshake` event,
// then a `frame` event for every frame of this connection (src/chat/inspect.rs). Inspection
// belongs to a connection, so the switch is sent again on each new one (wireOnHello). "in" and
// "out" are the server's: in is browser → server, out is server → browser. Three buttons make
// frames worth looking at: a ping from the server, a message too long for the 7-bit length,
// and a close. How an entry is drawn is wire-draw.js. With permessage-deflate agreed (the
// handshake event says so), RSV1 marks a compressed message and the entries say so.

import { messageFrame } from './composer.js';
import { el, nearBottom } from './dom.js';
import { describeClose, utf8Length } from './format.js';
import { currentSocket, isGreeted, isOnline, sendFrame } from './socket.js';
import { renderCloseEvent, renderFrame, renderHandshake, renderLine, renderPageClose } from './wire-draw.js';

const WIRE_LIMIT = 200; // entries kept in the Wire panel
const WIRE_LONG_BYTES = 200; // "send 200 bytes": a frame too long for the 7-bit length (§5.2)
const WIRE_CLOSE_REASON = 'from the Wire panel';
const FILLER = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
const PING_ME_EVERY_MS = 1100; // the server answers ping_me at most once a second (and networks jitter)

let wireOn = false; // the switch: every new connection is asked to inspect itself
let wireLive = null; // the socket whose handshake event came: its frames are being shown
let wireDeflate = false; // that socket's handshake accepted permessage-deflate (RFC 7692)
let wireClosing = null; // the socket the Wire panel sent a close on
let wirePings = 0;
let wirePingAt = 0;
let wireSeen = 0; // frame events shown since the panel was last cleared

// Entries are drawn once per animation frame, all that came since in one go, and only the last
// WIRE_LIMIT of them: a burst of frames costs one layout, and entries that would scroll out of
// the panel at once are never drawn. `build(at)` makes an entry for the moment it arrived.
const wireQueue = [];

/** The switch, the three buttons and the note under them, as the connection now allows. */
export function renderWireControls() {
  const live = wireOn && isOnline() && wireLive === currentSocket();
  el.wirePing.disabled = !live || Date.now() - wirePingAt < PING_ME_EVERY_MS;
  el.wireLong.disabled = !live;
  el.wireClose.disabled = !live;
  el.wireOn.checked = wireOn;
  el.wireState.textContent = wireState();
  let note = 'Off: switch it on to see your frames.';
  if (live) note = 'On: every frame of this connection is shown below.';
  else if (wireOn && isOnline()) note = 'On: waiting for the server…';
  else if (wireOn) note = 'On: it starts again once the page is connected.';
  if (el.wireNote.dataset.refused !== 'true' && el.wireNote.textContent !== note) el.wireNote.textContent = note;
}

/** A new connection said hello: it is asked to inspect itself when the switch is on. */
export function wireOnHello() {
  if (wireOn) sendFrame({ type: 'inspect', on: true });
  renderWireControls();
}

/** A `handshake`, `frame` or `frame_skipped` event. */
export function onWire(msg) {
  if (msg.type === 'handshake') {
    if (!wireOn) return;
    wireLive = currentSocket();
    wireDeflate = typeof msg.extensions?.accepted === 'string' && msg.extensions.accepted.startsWith('permessage-deflate');
    appendWire((at) => renderHandshake(msg, at));
    renderWireControls();
  } else if (msg.type === 'frame') {
    if (!wireOn) return; // still on the wire when the switch went off
    wireSeen += 1;
    const deflate = wireDeflate;
    appendWire((at) => renderFrame(msg, at, deflate));
    el.wireState.textContent = wireState();
  } else {
    const n = Number(msg.count) || 0;
    wireLine(`${n} frame${n === 1 ? '' : 's'} not shown: the server sends at most INSPECT_MAX_EVENTS_PER_SEC frame events a second.`, 'skipped');
  }
}

// INSPECT_ENABLED=false: the server's own words, in the panel, and the switch back off.
export function wireRefused(msg) {
  wireOn = false;
  wireLive = null;
  const text = `Refused by the server: ${msg.message || 'the wire inspector is switched off'}.`;
  wireLine(text, 'refused');
  el.wireNote.textContent = text;
  el.wireNote.dataset.refused = 'true';
  el.wireNote.classList.add('refused');
  renderWireControls();
}

/** Socket `ws` closed: what the panel knows of its closing handshake. */
export function wireClosed(ws, event) {
  if (ws === wireClosing) {
    wireClosing = null;
    appendWire((at) => renderCloseEvent(event, at));
    wireLine('Reconnecting, as after any close; the new connection is inspected from its handshake.');
  } else if (wireOn && ws === wireLive) {
    wireLine(`Connection closed: ${describeClose(event.code, event.reason)}. The next one is inspected from its handshake.`);
  }
  if (ws === wireLive) wireLive = null;
  renderWireControls();
}

/** The switch, the buttons, Clear, and the explanations of the fields. */
export function bindWire() {
  el.wireOn.addEventListener('change', () => setWire(el.wireOn.checked));
  el.wirePing.addEventListener('click', wirePing);
  el.wireLong.addEventListener('click', wireSendLong);
  el.wireClose.addEventListener('click', wireSendClose);
  el.wireList.addEventListener('keydown', onWireKey);
  for (const type of ['mouseover', 'focusin', 'click']) el.wireList.addEventListener(type, explainWire);
  el.wireClear.addEventListener('click', () => {
    wireQueue.length = 0;
    el.wireList.replaceChildren();
    wireSeen = 0;
    renderWireControls();
  });
}

function wireState() {
  if (!wireOn) return 'off';
  return wireLive !== null && wireLive === currentSocket() ? String(wireSeen) : 'on';
}

function setWire(on) {
  wireOn = on;
  delete el.wireNote.dataset.refused;
  el.wireNote.classList.remove('refused');
  // Before the hello, onHello sends it.
  if (isGreeted() && sendFrame({ type: 'inspect', on })) {
    if (!on) wireLine('Switched off: the server shows no more frames.');
  }
  if (!on) wireLive = null;
  renderWireControls();
}

function wirePing() {
  if (el.wirePing.disabled) return;
  wirePings += 1;
  if (!sendFrame({ type: 'ping_me', payload: `ping ${wirePings}` })) return;
  wirePingAt = Date.now();
  renderWireControls();
  setTimeout(renderWireControls, PING_ME_EVERY_MS);
}

/**
 * A chat message to the conversation shown whose frame is exactly WIRE_LONG_BYTES bytes. Its
 * filler is random letters, which DEFLATE cannot shrink much: with permessage-deflate the
 * browser compresses it (RFC 7692), and its frame still takes the 16-bit length form.
 */
function wireSendLong() {
  if (el.wireLong.disabled) return;
  const envelope = utf8Length(JSON.stringify(messageFrame('')));
  let text = 'Two hundred bytes in one frame: its length takes the 16-bit form. ';
  text = text.slice(0, Math.max(1, WIRE_LONG_BYTES - envelope)); // ASCII: one byte a character
  while (envelope + text.length < WIRE_LONG_BYTES) text += FILLER[Math.floor(Math.random() * FILLER.length)];
  sendFrame(messageFrame(text));
}

// Once the page has called close(), the browser delivers no more messages (WHATWG WebSockets):
// the server's frame events about the closing handshake never arrive. What the page knows is
// the close frame it asked for and the CloseEvent, which carries the server's answer.
function wireSendClose() {
  if (el.wireClose.disabled) return;
  const ws = currentSocket();
  wireClosing = ws;
  appendWire((at) => renderPageClose(1000, WIRE_CLOSE_REASON, at));
  ws.close(1000, WIRE_CLOSE_REASON); // it stays the current socket: its close event reconnects as after any close
  renderWireControls();
}

function appendWire(build) {
  wireQueue.push({ build, at: new Date() });
  if (wireQueue.length > WIRE_LIMIT) wireQueue.shift();
  if (wireQueue.length === 1) requestAnimationFrame(flushWire);
}

function flushWire() {
  const list = el.wireList;
  const stick = nearBottom(list);
  const entries = document.createDocumentFragment();
  for (const { build, at } of wireQueue.splice(0)) {
    const li = build(at);
    // The first field of each entry is its tab stop; arrows move within it (onWireKey).
    const first = li.querySelector('.w-field');
    if (first) first.tabIndex = 0;
    entries.append(li);
  }
  list.append(entries);
  while (list.children.length > WIRE_LIMIT) list.firstElementChild.remove();
  if (stick) list.scrollTop = list.scrollHeight;
}

function wireLine(text, kind) {
  appendWire((at) => renderLine(text, kind, at));
}

// Keyboard: Tab reaches each entry's first field; the arrows, Home and End move within it.
function onWireKey(event) {
  const field = event.target.closest('.w-field');
  if (!field) return;
  const fields = [...field.closest('#wire-list > li').querySelectorAll('.w-field')];
  const at = fields.indexOf(field);
  const to = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: fields.length - 1 }[event.key];
  if (to === undefined || !fields[to]) return;
  event.preventDefault();
  for (const f of fields) f.tabIndex = -1;
  fields[to].tabIndex = 0;
  fields[to].focus();
}

function explainWire(event) {
  const field = event.target instanceof Element ? event.target.closest('.w-field') : null;
  if (field && field.dataset.explain && el.wireExplain.textContent !== field.dataset.explain) {
    el.wireExplain.textContent = field.dataset.explain;
  }
}
