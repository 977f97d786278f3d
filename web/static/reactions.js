// Reactions: {"type":"react","room":"r","id":42,"emoji":"👍","on":true} puts you on a message's
// 👍 chip, "on":false takes you off it. The server takes one emoji (one grapheme of at most 32
// bytes that is an emoji) and at most 20 distinct emoji per message (`too_many_reactions`).
// The picker offers the common ones and a field for any other; a chip toggles your own.

import { el, make } from './dom.js';
import { utf8Length } from './format.js';
import { sendChange } from './requests.js';
import { isMe } from './state.js';

const COMMON = ['👍', '❤️', '😂', '🎉', '😮', '😢'];
const EMOJI_MAX_BYTES = 32;
// Emoji, with the parts that build them: keycaps (1️⃣), flags (🇫🇷), skin tones, joiners.
const EMOJI = /^(?:\p{Extended_Pictographic}|\p{Regional_Indicator}|[#*0-9]\uFE0F?\u20E3)/u;

let picker = null; // {li, node, close}: the one picker open

/** Puts us on `emoji`'s chip of `held` (of `conv`), or takes us off it. */
export function toggleReaction(conv, held, emoji) {
  const users = held.reactions.get(emoji);
  const mine = users !== undefined && [...users.keys()].some(isMe);
  sendChange(conv, 'react', held.id, { emoji, on: !mine });
}

/** Opens the picker on `held`'s entry; a second click on React closes it. */
export function openPicker(conv, held, opener) {
  const again = picker && picker.li === held.li;
  closePicker();
  if (again) return;
  const node = make('div', 'picker');
  node.setAttribute('role', 'group');
  node.setAttribute('aria-label', `React to ${held.name}'s message`);
  const choose = (emoji) => {
    closePicker();
    toggleOn(conv, held, emoji);
    el.input.focus();
  };
  for (const emoji of COMMON) {
    const button = make('button', 'pick', emoji);
    button.type = 'button';
    button.title = `React with ${emoji}`;
    button.setAttribute('aria-label', `React with ${emoji}`);
    button.addEventListener('click', () => choose(emoji));
    node.append(button);
  }
  node.append(anyEmoji(choose));
  node.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    event.preventDefault();
    closePicker();
    opener.focus();
  });
  held.li.append(node);
  held.li.classList.add('picking');
  const close = (event) => {
    if (!node.contains(event.target) && event.target !== opener) closePicker();
  };
  document.addEventListener('pointerdown', close, true);
  picker = { li: held.li, node, close };
  node.querySelector('button').focus({ preventScroll: true });
  node.scrollIntoView({ block: 'nearest' });
}

export function closePicker() {
  if (!picker) return;
  document.removeEventListener('pointerdown', picker.close, true);
  picker.node.remove();
  picker.li.classList.remove('picking');
  picker = null;
}

// Adding from the picker never takes a reaction back: only its chip does.
function toggleOn(conv, held, emoji) {
  const users = held.reactions.get(emoji);
  if (users && [...users.keys()].some(isMe)) return;
  sendChange(conv, 'react', held.id, { emoji, on: true });
}

// A field for any emoji: one, checked here as the server would, so a slip is said at once.
function anyEmoji(choose) {
  const form = make('form', 'pick-any');
  const input = make('input', 'pick-input');
  input.type = 'text';
  input.placeholder = 'any emoji';
  input.setAttribute('aria-label', 'Any emoji');
  input.autocomplete = 'off';
  const add = make('button', 'btn btn-quiet btn-small', 'Add');
  add.type = 'submit';
  const error = make('p', 'pick-error');
  error.hidden = true;
  error.setAttribute('role', 'alert');
  form.append(input, add, error);
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const emoji = input.value.trim();
    if (!isOneEmoji(emoji)) {
      error.textContent = 'One emoji, please.';
      error.hidden = false;
      input.setAttribute('aria-invalid', 'true');
      return;
    }
    choose(emoji);
  });
  return form;
}

function isOneEmoji(text) {
  if (text === '' || utf8Length(text) > EMOJI_MAX_BYTES || !EMOJI.test(text)) return false;
  if (typeof Intl.Segmenter !== 'function') return true; // the server checks it anyway
  return [...new Intl.Segmenter().segment(text)].length === 1;
}
