// Replies: a message may answer an earlier message of the same conversation,
// {"type":"message","room":"r","text":"…","reply_to":42}, and carries "reply_to":42 from then
// on. While you write an answer the composer says whom you answer ("Replying to alice: …", with
// a × to stop); the answer shows a quote of the original (message-parts.js) that brings it into
// view and highlights it when clicked.

import { el, make } from './dom.js';
import { firstWords } from './message-parts.js';
import { shownConv } from './state.js';

const HIGHLIGHT_MS = 2000; // how long the original stays highlighted

let replying = null; // {key, id}: the message of conversation `key` being answered

/** Answers message `held` of `conv`: the composer says so. */
export function startReply(conv, held) {
  replying = { key: conv.key, id: held.id };
  renderReplyBar();
}

/** Stops answering (the ×, Escape, or the answer sent). */
export function cancelReply() {
  replying = null;
  renderReplyBar();
}

/** The message answered went (deleted): no answer to it. True when one was being written. */
export function forgetReplyTo(conv, id) {
  if (!replying || replying.key !== conv.key || replying.id !== id) return false;
  cancelReply();
  return true;
}

/** The `reply_to` of the message written in the conversation shown, or null. */
export function replyTarget() {
  const conv = shownConv();
  return replying && conv && replying.key === conv.key ? replying.id : null;
}

/** The composer's "Replying to …" line, shown while the conversation answered in is shown. */
export function renderReplyBar() {
  const conv = shownConv();
  const held = replying && conv && replying.key === conv.key ? conv.messages.get(replying.id) : undefined;
  if (!held) {
    el.replyBar.hidden = true;
    el.replyText.replaceChildren();
    return;
  }
  el.replyText.replaceChildren('Replying to ', make('strong', 'reply-name', held.name), ': ', make('span', 'reply-words', firstWords(held)));
  el.replyBar.hidden = false;
}

/** A quote was clicked: the original is brought into view and highlighted for a moment. */
export function showOriginal(conv, id) {
  const held = conv.messages.get(id);
  if (!held || !held.li || !el.messages.contains(held.li)) return;
  held.li.scrollIntoView({ block: 'center', behavior: 'smooth' });
  held.li.classList.remove('highlight');
  void held.li.offsetWidth; // restart the animation when clicked again
  held.li.classList.add('highlight');
  held.li.tabIndex = -1;
  held.li.focus({ preventScroll: true });
  setTimeout(() => held.li.classList.remove('highlight'), HIGHLIGHT_MS);
}
