// Moderation notices: what an operator did, said in the room it concerns. A kick, a ban, an
// unban, a mute, an unmute, or a message removed by an operator is an entry of the room's order,
// like a message: it has an id, comes live to everyone in the room and comes back in
// histories. But it is not a message: it has no author line, no actions, no reactions, and it
// never counts as unread (messages.js draws it as a notice and keeps it out of the messages a
// conversation holds, which unread.js counts). One quiet line says it all:
//
//   {"type":"moderation","room":"general","id":57,"action":"ban","name":"bob","user":"…",
//    "by":"carol","by_user":"…","reason":"spam","until":"2026-12-07T05:00:00.000Z","ts":"…"}
//   → "carol banned bob for 1 h (until 05:00): spam"
//
// `reason` is absent when the operator gave none; `until` is there only for a ban or a mute
// that ends (without it, it lasts until an operator lifts it); `target` (the message's id) only
// for a delete, whose `delete` entry came just before.

import { endTime, parseTime, spanText, whoIs } from './format.js';

/** The entry type of a moderation notice. */
export const MODERATION = 'moderation';

/** The line that says what `entry` (a moderation entry) did: "carol muted bob for 10 min (until 14:05)". */
export function moderationText(entry) {
  const by = typeof entry.by === 'string' ? entry.by : 'An operator';
  const name = typeof entry.name === 'string' ? entry.name : 'someone';
  let text;
  switch (entry.action) {
    case 'kick':
      text = `${by} removed ${name} from the chat`;
      break;
    case 'ban':
      text = `${by} banned ${name}${howLong(entry)}`;
      break;
    case 'unban':
      text = `${by} lifted the ban on ${name}`;
      break;
    case 'mute':
      text = `${by} muted ${name} in this room${howLong(entry)}`;
      break;
    case 'unmute':
      text = `${by} unmuted ${name}`;
      break;
    case 'delete':
      text = `${by} removed a message by ${name}`;
      break;
    default:
      text = `${by} moderated ${name} (${String(entry.action)})`;
  }
  const reason = typeof entry.reason === 'string' && entry.reason.trim() !== '' ? entry.reason.trim() : null;
  return reason === null ? text : `${text}: ${reason}`;
}

/** The hover of a notice: who did it and who it was done to, with their user ids. */
export function moderationTitle(entry) {
  const by = whoIs(typeof entry.by === 'string' ? entry.by : '?', entry.by_user);
  const name = whoIs(typeof entry.name === 'string' ? entry.name : '?', entry.user);
  const ends = typeof entry.until === 'string' ? `; ends ${parseTime(entry.until).toLocaleString()}` : '';
  return `by ${by}, about ${name}${ends}`;
}

// " for 1 h (until 14:05)" when it ends (the span from the entry's time to its end), and
// " until an operator lifts it" when it does not.
function howLong(entry) {
  if (typeof entry.until !== 'string') return ' until an operator lifts it';
  const end = parseTime(entry.until);
  const from = parseTime(entry.ts);
  return ` for ${spanText((end.getTime() - from.getTime()) / 1000)} (until ${endTime(end)})`;
}
