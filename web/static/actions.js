// What a message offers: pointing at it (or pressing it a moment on a touch screen, or tabbing
// into it) shows its actions: React and Reply on any message, Edit and Delete on your own. Its
// quote shows the original, a chip toggles your reaction, and to an operator its author's name
// opens the operator's menu (operator-menu.js). Every such button says what it does
// in data-action (message-parts.js draws them); one listener on the list handles them all, for
// the message of the conversation shown.
//
// "Your own" is the session's user id, never the name (state.js, isMe): the server refuses
// anyone else's edit or delete anyway (`not_yours`).

import { updateComposer } from './composer.js';
import { el } from './dom.js';
import { confirmDelete, startEdit, stopEdit } from './edit.js';
import { closeOperatorMenu, openOperatorMenu } from './operator-menu.js';
import { closePicker, openPicker, toggleReaction } from './reactions.js';
import { showOriginal, startReply } from './reply.js';
import { shownConv } from './state.js';

const LONG_PRESS_MS = 500; // a touch held this long opens a message's actions

let pressTimer = null;

/** Listens for the actions of every message, and for long presses. */
export function bindActions() {
  el.messages.addEventListener('click', (event) => {
    const button = event.target.closest('[data-action]');
    if (!button || !el.messages.contains(button)) return;
    const found = messageOf(button);
    if (!found) return;
    const { conv, held } = found;
    switch (button.dataset.action) {
      case 'react':
        openPicker(conv, held, button);
        break;
      case 'reply':
        startReply(conv, held);
        updateComposer();
        el.input.focus();
        break;
      case 'edit':
        startEdit(conv, held);
        break;
      case 'delete':
        confirmDelete(conv, held);
        break;
      case 'chip':
        toggleReaction(conv, held, button.dataset.emoji);
        break;
      case 'quote':
        showOriginal(conv, Number(button.dataset.target));
        break;
      case 'moderate':
        openOperatorMenu(button, { name: held.name, room: conv.kind === 'room' ? conv.name : null });
        break;
      default:
        break;
    }
  });

  // A touch held on a message opens its actions (there is no hover on a touch screen); a touch
  // elsewhere closes them.
  el.messages.addEventListener('pointerdown', (event) => {
    clearTimeout(pressTimer);
    if (event.pointerType !== 'touch') return;
    const li = event.target.closest('li.message');
    if (!event.target.closest('.actions')) closeActions(li);
    if (!li || li.classList.contains('deleted')) return;
    pressTimer = setTimeout(() => li.classList.add('actions-open'), LONG_PRESS_MS);
  });
  // Lifted early, or turned into a scroll (the browser cancels the pointer): no long press.
  for (const type of ['pointerup', 'pointercancel']) {
    el.messages.addEventListener(type, () => clearTimeout(pressTimer));
  }
  // A long press also opens the browser's menu on some phones: not on a message.
  el.messages.addEventListener('contextmenu', (event) => {
    if (event.target.closest('li.actions-open')) event.preventDefault();
  });
}

/** Another conversation is shown: nothing stays open on the one left. */
export function closeMessageTools() {
  stopEdit();
  closePicker();
  closeOperatorMenu();
  closeActions(null);
}

function closeActions(except) {
  for (const li of el.messages.querySelectorAll('li.actions-open')) if (li !== except) li.classList.remove('actions-open');
}

// The message of the conversation shown that `node` is part of, as the page holds it.
function messageOf(node) {
  const li = node.closest('li.message');
  const conv = shownConv();
  if (!li || !conv) return null;
  const held = conv.messages.get(Number(li.dataset.id));
  return held && held.li === li ? { conv, held } : null;
}
