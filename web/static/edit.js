// Editing and deleting your own messages, in place. Edit turns the text into a field: Enter
// saves ({"type":"edit","room":"r","id":42,"text":"fixed"}), Shift+Enter starts a new line,
// Escape (or leaving it unchanged) cancels. Delete asks first, in the message itself, then sends
// {"type":"delete","room":"r","id":42}. Either shows on the page when the server's event comes
// back (changes.js), in every tab and for everyone; a refusal (`not_yours`, `not_found`,
// `too_late`) is an alert (events.js).

import { el, make } from './dom.js';
import { drawParts } from './message-parts.js';
import { sendChange } from './requests.js';

let editing = null; // {conv, held}: the message whose text is a field now
let confirming = null; // {held, node}: the message asking "Delete this message?"

/** Turns `held`'s text into a field. */
export function startEdit(conv, held) {
  stopEdit();
  stopConfirm();
  const li = held.li;
  const line = li.querySelector(':scope > .line');
  if (!line || held.deleted) return;
  editing = { conv, held };
  li.classList.add('editing');
  const field = make('textarea', 'edit-input');
  field.value = held.text;
  field.rows = Math.min(8, held.text.split('\n').length);
  field.setAttribute('aria-label', 'Edit your message');
  const help = make('p', 'edit-help');
  help.append(make('kbd', '', 'Enter'), ' saves, ', make('kbd', '', 'Escape'), ' cancels');
  line.replaceChildren(field, help);
  field.addEventListener('keydown', (event) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      finish(true);
    } else if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.keyCode !== 229) {
      event.preventDefault();
      save(field.value);
    }
  });
  field.focus();
  field.setSelectionRange(field.value.length, field.value.length);
}

/** Asks, in the message, whether to delete `held`. */
export function confirmDelete(conv, held) {
  stopEdit();
  stopConfirm();
  const node = make('div', 'confirm');
  node.setAttribute('role', 'group');
  node.setAttribute('aria-label', 'Delete this message?');
  const yes = make('button', 'btn btn-danger btn-small', 'Delete');
  yes.type = 'button';
  const no = make('button', 'btn btn-quiet btn-small', 'Cancel');
  no.type = 'button';
  node.append(make('span', 'confirm-text', 'Delete this message?'), yes, no);
  yes.addEventListener('click', () => {
    stopConfirm();
    sendChange(conv, 'delete', held.id);
    el.input.focus();
  });
  no.addEventListener('click', () => {
    stopConfirm();
    held.li.querySelector('.act-delete')?.focus();
  });
  node.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    event.preventDefault();
    no.click();
  });
  held.li.append(node);
  confirming = { held, node };
  no.focus();
}

/** Closes the field without saving (another message is edited, or the list is left). */
export function stopEdit() {
  if (editing) finish(false);
}

function stopConfirm() {
  if (!confirming) return;
  confirming.node.remove();
  confirming = null;
}

// The same text again changes nothing (the server would send nothing back); an empty one is not
// a message: delete it instead.
function save(text) {
  const { conv, held } = editing;
  if (text.trim() === '') return;
  if (text !== held.text) sendChange(conv, 'edit', held.id, { text });
  finish(false);
  el.input.focus();
}

function finish(refocus) {
  const { conv, held } = editing;
  editing = null;
  held.li.classList.remove('editing');
  drawParts(conv, held);
  if (refocus) held.li.querySelector('.act-edit')?.focus({ preventScroll: true });
}
