// Asking for a conversation's history: {"type":"subscribe","room":"rust"} or
// {"type":"subscribe","dm":"bob"}, with since/epoch when the page has had it before, so only
// what came after the last message we have is sent again. A new connection is in no
// conversation but the default room until each is asked for again (resubscribeAll).

import { currentSocket, sendFrame } from './socket.js';
import { conversations, convByKey, state } from './state.js';

const REFILL_MS = 2000; // the server's request bucket refills within this

let retryTimer = null; // asks again for conversations whose subscribe the rate limit refused

/**
 * Asks for a conversation's history (a room's also brings its users). A private one is asked
 * for by the peer's name, the only handle the protocol has; the answer names the user id
 * (dms.js, onDmHistory).
 */
export function subscribe(conv) {
  const frame = conv.kind === 'dm' ? { type: 'subscribe', dm: conv.name } : { type: 'subscribe', room: conv.name };
  conv.resuming = conv.epoch !== null;
  if (conv.resuming) {
    frame.since = conv.lastId === null ? 0 : conv.lastId;
    frame.epoch = conv.epoch;
  }
  conv.askedOn = currentSocket();
  sendFrame(frame);
}

// Subscribes count against the requests' allowance (subscribe, unsubscribe, typing, rooms): a
// bucket of twice max(rate_limit_per_sec, max_rooms_per_connection) frames, refilled at that
// rate (src/chat/rate_limit.rs). A page coming back into its rooms can ask for all of them at
// once; should it ever be in more, it sends the first `rate` at once and the rest at half the
// rate, so the resume does not look like a flood (closed with 1008).
export function resubscribeAll() {
  const ws = currentSocket();
  const rate = Math.max(1, Math.floor(state.ratePerSec));
  const keys = awaitingSubscribe().map((conv) => conv.key);
  keys.forEach((key, i) => {
    const send = () => {
      const conv = convByKey(key); // undefined when left or closed meanwhile
      if (ws === currentSocket() && conv && !conv.joined) subscribe(conv);
    };
    if (i < rate) send();
    else setTimeout(send, ((i - rate + 1) * REFILL_MS) / rate);
  });
}

// A subscribe refused by the rate limit: once the bucket has refilled (two seconds at most),
// conversations still waiting are asked again.
export function retrySubscribes() {
  if (awaitingSubscribe().length === 0 || retryTimer !== null) return;
  retryTimer = setTimeout(() => {
    retryTimer = null;
    resubscribeAll();
  }, REFILL_MS);
}

/**
 * The conversations to ask for again on this connection: every room but the default one (the
 * server put us there already), and each private one the page has opened. A private one that
 * only ever received live messages is asked for when it is opened.
 */
function awaitingSubscribe() {
  return conversations().filter((conv) => {
    if (conv.joined) return false;
    if (conv.kind === 'room') return conv.name !== state.defaultRoom;
    return conv.epoch !== null || conv.key === state.shown;
  });
}
