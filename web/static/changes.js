// Changes to messages: an edit, a deletion, a reaction. Each is an entry of the conversation's
// one order with an id of its own, like a message (docs/protocol.md, "Changing messages"):
//
//   {"type":"edit","room":"r","id":57,"target":42,"text":"fixed","user":"…","name":"…","ts":"…"}
//   {"type":"delete","room":"r","id":58,"target":42,"user":"…","name":"…","ts":"…"}
//   {"type":"react","room":"r","id":59,"target":42,"emoji":"👍","on":true,"user":"…","name":"…"}
//
// They come live, or in a history asked for with `since` (every entry after it, in order), and
// are applied in that order to the message the page holds (messages.js hands them over, after
// skipping ids it has seen). A target the page does not hold is older than what it loaded, and a
// deleted one changes no more: either is left alone, as the server's folding does.

import { updateComposer } from './composer.js';
import { parseTime } from './format.js';
import { drawParts } from './message-parts.js';
import { forgetReplyTo } from './reply.js';
import { recount } from './unread.js';

/** The types of the entries that change a message rather than add one. */
export const CHANGE_TYPES = new Set(['edit', 'delete', 'react']);

/** Applies the change `entry` to the message of `conv` it targets. */
export function applyChange(conv, entry) {
  const target = conv.messages.get(Number(entry.target));
  if (!target || target.deleted) return;
  switch (entry.type) {
    case 'edit':
      // In a history, the edits of a message deleted since have lost their text.
      if (typeof entry.text !== 'string') return;
      target.text = entry.text;
      target.edited = parseTime(entry.ts);
      break;
    case 'delete':
      target.deleted = true;
      target.text = '';
      target.reactions.clear();
      if (forgetReplyTo(conv, target.id)) updateComposer();
      recount(conv); // a deleted message is not unread any more
      break;
    case 'react':
      react(target, entry);
      break;
    default:
      return;
  }
  drawParts(conv, target);
  // The quotes of it say what it says now.
  if (entry.type === 'react') return;
  for (const held of conv.messages.values()) if (held.replyTo === target.id) drawParts(conv, held);
}

// `on: true` adds the user to the emoji's chip (again changes nothing), `on: false` takes them
// off; a chip nobody is on goes. Chips keep the order in which each emoji was first given.
function react(target, entry) {
  if (typeof entry.emoji !== 'string' || typeof entry.user !== 'string') return;
  const name = typeof entry.name === 'string' ? entry.name : null;
  const users = target.reactions.get(entry.emoji);
  if (entry.on === true) {
    if (users) users.set(entry.user, name);
    else target.reactions.set(entry.emoji, new Map([[entry.user, name]]));
  } else if (entry.on === false && users) {
    users.delete(entry.user);
    if (users.size === 0) target.reactions.delete(entry.emoji);
  }
}
