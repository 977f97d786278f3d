// The operator's menu on a person: what an operator (hello.op, OPERATORS) can do to someone.
// It opens from the ⚑ button beside a name in the users list (users.js) or from the name
// heading their messages (messages.js, actions.js), never on our own name nor on another
// operator's (the server refuses those with `not_allowed` anyway). Each button sends one request
// (docs/protocol.md), with the reason typed above it when there is one:
//
//   {"type":"kick","name":"bob","reason":"spam"}            every connection of theirs: 4001
//   {"type":"ban","name":"bob","secs":3600,"reason":"spam"}  secs 0: until an operator lifts it
//   {"type":"mute","room":"general","name":"bob","secs":600} their messages and reactions there refused
//   {"type":"unmute","room":"general","name":"bob"}
//
// What happened comes back as a moderation notice in the rooms concerned (moderation.js), a
// refusal as an alert (events.js). The menu is a small dialog floating next to what opened it,
// so a list drawn again under it does not take it away: Escape, a click outside or focus moving
// out of it closes it, and the focus goes back where it came from.

import { el, make } from './dom.js';
import { sendFrame } from './socket.js';

const BAN_SPANS = [['10 min', 600], ['1 h', 3600], ['1 day', 86400], ['Permanent', 0]];
const MUTE_SPANS = [['10 min', 600], ['1 h', 3600], ['Permanent', 0]];
// Kept short: the reason also travels in the close frame ("banned: spam"), whose reason has at
// most 123 bytes (RFC 6455 §5.5); the server shortens a longer one there.
const REASON_MAX_CHARS = 100;
const GAP_PX = 4; // between the menu and what opened it

let open = null; // { node, anchor }: the menu shown, and the button that opened it

/** Opens the menu about `name` next to `anchor`; `room` (null: none) is where Mute applies. */
export function openOperatorMenu(anchor, { name, room }) {
  closeOperatorMenu();
  const node = make('div', 'op-menu');
  node.setAttribute('role', 'dialog');
  node.setAttribute('aria-label', `Moderate ${name}`);
  node.append(make('p', 'op-menu-title', `Moderate ${name}`));

  const label = make('label', 'op-menu-label', 'Reason (optional) ');
  const reason = make('input', 'op-menu-reason');
  reason.type = 'text';
  reason.maxLength = REASON_MAX_CHARS;
  reason.placeholder = 'shown to everyone';
  label.append(reason);
  node.append(label);

  const note = make('p', 'op-menu-note');
  note.setAttribute('role', 'status');
  const send = (request, withReason = true) => {
    const why = reason.value.trim();
    const frame = withReason && why !== '' ? { ...request, reason: why } : request;
    if (!sendFrame(frame)) {
      note.textContent = 'Offline: nothing was sent.';
      return;
    }
    closeOperatorMenu();
  };

  node.append(row('Kick', [['Kick', () => send({ type: 'kick', name })]]));
  node.append(row('Ban', BAN_SPANS.map(([text, secs]) => [text, () => send({ type: 'ban', name, secs })])));
  if (room !== null) {
    const mutes = MUTE_SPANS.map(([text, secs]) => [text, () => send({ type: 'mute', room, name, secs })]);
    mutes.push(['Unmute', () => send({ type: 'unmute', room, name }, false)]);
    node.append(row(`Mute in #${room}`, mutes));
  }
  const cancel = make('button', 'btn btn-quiet btn-small op-menu-close', 'Close');
  cancel.type = 'button';
  cancel.addEventListener('click', () => closeOperatorMenu());
  node.append(note, cancel);

  node.addEventListener('keydown', (event) => {
    if (event.key !== 'Escape') return;
    event.preventDefault();
    closeOperatorMenu();
  });
  node.addEventListener('focusout', (event) => {
    if (event.relatedTarget && !node.contains(event.relatedTarget)) closeOperatorMenu(false);
  });
  document.body.append(node);
  open = { node, anchor };
  place(node, anchor);
  document.addEventListener('pointerdown', onPointerDown, true);
  reason.focus();
}

/** Closes the menu, if one is open; the focus goes back to what opened it unless `refocus` is false. */
export function closeOperatorMenu(refocus = true) {
  if (!open) return;
  const { node, anchor } = open;
  open = null;
  document.removeEventListener('pointerdown', onPointerDown, true);
  const hadFocus = node.contains(document.activeElement);
  node.remove();
  if (!refocus || !hadFocus) return;
  if (anchor.isConnected) anchor.focus({ preventScroll: true });
  else el.input.focus();
}

// A labelled group of buttons: "Ban  [10 min] [1 h] [1 day] [Permanent]".
function row(title, buttons) {
  const group = make('div', 'op-menu-row');
  group.setAttribute('role', 'group');
  group.setAttribute('aria-label', title);
  group.append(make('span', 'op-menu-what', title));
  for (const [text, act] of buttons) {
    const button = make('button', 'btn btn-quiet btn-small', text);
    button.type = 'button';
    button.addEventListener('click', act);
    group.append(button);
  }
  return group;
}

// Under `anchor` (above it when there is no room below), inside the window.
function place(node, anchor) {
  const at = anchor.getBoundingClientRect();
  const box = node.getBoundingClientRect();
  const left = Math.max(GAP_PX, Math.min(at.left, window.innerWidth - box.width - GAP_PX));
  let top = at.bottom + GAP_PX;
  if (top + box.height > window.innerHeight && at.top - box.height - GAP_PX > 0) top = at.top - box.height - GAP_PX;
  node.style.left = `${left}px`;
  node.style.top = `${Math.max(GAP_PX, top)}px`;
}

function onPointerDown(event) {
  if (open && !open.node.contains(event.target) && event.target !== open.anchor) closeOperatorMenu(false);
}
