// Requests about one message of a conversation: edit, delete and react name the message by its
// id, and the conversation as a message to it would: `room` for a room, `to` (the other
// person's name) for a private one. A read marker names a private conversation with `dm`, as a
// subscribe does. See docs/protocol.md, "Changing messages".
//
//   {"type":"edit","room":"rust","id":42,"text":"fixed"}     {"type":"edit","to":"bob","id":3,…}
//   {"type":"delete","room":"rust","id":42}
//   {"type":"react","room":"rust","id":42,"emoji":"👍","on":true}
//   {"type":"read","room":"rust","id":57}                    {"type":"read","dm":"bob","id":3}

import { sendFrame } from './socket.js';

/** Sends a change of message `id` of `conv`: false when offline. */
export function sendChange(conv, type, id, fields = {}) {
  const where = conv.kind === 'dm' ? { to: conv.name } : { room: conv.name };
  return sendFrame({ type, ...where, id, ...fields });
}

/** Tells the server how far this session has read `conv`: false when offline. */
export function sendRead(conv, id) {
  const where = conv.kind === 'dm' ? { dm: conv.name } : { room: conv.name };
  return sendFrame({ type: 'read', ...where, id });
}
