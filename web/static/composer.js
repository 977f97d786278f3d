// The composer: the message box, its byte counter and the Send button. Enter sends,
// Shift+Enter starts a new line. A message goes to the conversation shown: a room, or a
// person ({"type":"message","to":"bob",…}). While it answers a message (reply.js) it carries
// "reply_to", and the line above the box says whom it answers; Escape or its × stop that.

import { el } from './dom.js';
import { utf8Length } from './format.js';
import { cancelReply, renderReplyBar, replyTarget } from './reply.js';
import { isOnline, sendFrame } from './socket.js';
import { shownConv, state } from './state.js';
import { noteTyping } from './typing.js';

const MAX_HEIGHT_PX = 200; // the box grows with its text up to this height

// The server's limit is on the whole frame, so count exactly what will be sent: the UTF-8
// bytes of {"type":"message","room":"general","text":"..."} (38 bytes of envelope plus the
// room's name, and 2 bytes for each quote or backslash in the text). A private message names
// its recipient instead: {"type":"message","to":"bob","text":"..."}.
export function messageFrame(text) {
  const conv = shownConv();
  const frame = conv && conv.kind === 'dm'
    ? { type: 'message', to: conv.name, text }
    : { type: 'message', room: conv ? conv.name : state.defaultRoom, text };
  const target = replyTarget();
  if (target !== null) frame.reply_to = target;
  return frame;
}

/** The counter, and whether Send is enabled: online, in the room shown, and within the limit. */
export function updateComposer() {
  renderReplyBar();
  const left = state.maxBytes - utf8Length(JSON.stringify(messageFrame(el.input.value)));
  el.counter.textContent = String(left);
  el.counter.classList.toggle('low', left >= 0 && left < Math.min(200, state.maxBytes / 10));
  el.counter.classList.toggle('over', left < 0);
  // Until its history arrives the server may not have us in the shown room yet (and a private
  // conversation opened by name does not know whose it is).
  const room = shownConv();
  const ready = isOnline() && room !== undefined && room.joined;
  el.send.disabled = !ready || left < 0 || el.input.value.trim() === '';
  el.composer.classList.toggle('disabled', !ready);
}

export function bindComposer() {
  el.composer.addEventListener('submit', (event) => {
    event.preventDefault();
    sendMessage();
  });

  el.input.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && replyTarget() !== null) {
      event.preventDefault();
      stopReplying();
      return;
    }
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    sendMessage();
  });

  el.replyCancel.addEventListener('click', stopReplying);

  el.input.addEventListener('input', () => {
    autosize();
    updateComposer();
    noteTyping();
  });
}

function autosize() {
  el.input.style.height = 'auto';
  el.input.style.height = `${Math.min(el.input.scrollHeight, MAX_HEIGHT_PX)}px`;
}

function stopReplying() {
  cancelReply();
  updateComposer();
  el.input.focus();
}

function sendMessage() {
  if (el.send.disabled) return;
  if (!sendFrame(messageFrame(el.input.value))) return;
  cancelReply();
  el.input.value = '';
  autosize();
  updateComposer();
}
