// The banned screen, and how the page learns it is banned. An operator's ban
// ({"type":"ban",…}, operator-menu.js) keeps a session and the addresses it came from out
// until it ends. The page hears of it in one of two ways:
//   - its connection is closed with 4003 (socket.js): at once when the ban comes, or right after
//     its session frame when it connects again (the server judges the page's connections at that
//     frame, since an operator's session must get in from a banned address);
//   - its connection is refused before it opens: a server that judges an upgrade at once (a
//     client whose session is not in its first frame) answers it 403 with a JSON body. A
//     browser does not let a page read that answer (the WebSocket API gives only a close with
//     1006, RFC 6455 §7.1.5), so when a socket fails before it opened, the page asks
//     `GET /banned` with the socket's query over http(s) (`probeBan`), which the server answers
//     a banned client the same way: 403 {"error":"banned","reason":"spam","until":"…"|null},
//     and anyone else 200 {"banned":false}. Any other answer (or none: the server is down)
//     means "not banned": reconnect as usual.
// After a 4003 the page asks too: the close says why, the JSON also says until when.
// Either way a banner covers the page, "You are banned: spam", with when it ends ("until 14:05",
// or "until an operator lifts it"), and the page stops reconnecting: a loop would only knock on
// a closed door. It tries once more by itself a second after the ban's end, when it has one
// (socket.js, stopForBan); "Try again" (after an operator lifted it) tries at once. A hello
// takes the banner away.

import { el } from './dom.js';
import { endTime, parseTime } from './format.js';

const PROBE_TIMEOUT_MS = 5000; // a probe that hangs must not hold the reconnect loop up

let retry = () => {}; // what "Try again" does (bindBanned)
let told = null; // the last `banned` error event's {reason, until} (noteBan), for the 4003 after it

/** Sets what "Try again" does: connect now. */
export function bindBanned(onRetry) {
  retry = onRetry;
  el.bannedRetry.addEventListener('click', () => retry());
}

/**
 * Shows the banner: `ban` is {reason, until}; `reason` null when none was given, `until` an
 * RFC 3339 time, null for a ban until an operator lifts it, undefined when not known (a 4003
 * says only why).
 */
export function showBanned({ reason, until }) {
  el.bannedTitle.textContent = reason ? `You are banned: ${reason}` : 'You are banned';
  let ends = '';
  if (until === null) ends = 'The ban lasts until an operator lifts it.';
  else if (typeof until === 'string') ends = `The ban lasts until ${endTime(parseTime(until))}.`;
  el.bannedEnd.textContent = ends;
  el.bannedEnd.hidden = ends === '';
  el.bannedHelp.textContent = typeof until === 'string'
    ? 'This page will not reconnect until then; it tries once more when the ban ends.'
    : 'This page will not reconnect by itself.';
  el.banned.hidden = false;
  document.body.classList.add('is-banned');
}

/**
 * Notes a `banned` error event ({"code":"banned","reason":"spam","until":…}): the server says it
 * right before the 4003 that refuses a banned session at its first frame, whose close reason
 * says only "banned".
 */
export function noteBan(msg) {
  told = banOf(msg);
}

/** What the last `banned` error event said, once (null when none came). */
export function takeNotedBan() {
  const ban = told;
  told = null;
  return ban;
}

/** A connection was let in: no ban (any more). */
export function hideBanned() {
  if (el.banned.hidden) return;
  el.banned.hidden = true;
  document.body.classList.remove('is-banned');
}

/**
 * Asks the server, over plain HTTP(S), whether the client that opened `wsUrl` is banned:
 * resolves to {reason, until} when it is, to null when it is not or when nothing answers.
 * `/banned`, with the socket's query (ws: → http:, wss: → https:); the session is never in
 * it (socket.js), so this asks about our address, which is what refuses an upgrade before
 * the session frame.
 */
export async function probeBan(wsUrl) {
  // `/banned` answers 200 {"banned":false} to a client that is not, so that asking logs no
  // error in the console; the socket's own path (`GET /ws`) would answer that with a 400.
  const url = new URL(wsUrl.replace(/^ws(s?):/, 'http$1:'));
  url.pathname = '/banned';
  try {
    const answer = await fetch(url, {
      credentials: 'same-origin',
      cache: 'no-store',
      signal: AbortSignal.timeout(PROBE_TIMEOUT_MS),
    });
    if (answer.status !== 403) return null;
    const body = await answer.json();
    if (!body || body.error !== 'banned') return null;
    return banOf(body);
  } catch (_) {
    return null; // not JSON, no answer, timed out: not known to be banned
  }
}

// {reason, until} from the server's JSON about a ban (the error event, the 403's body): `reason`
// null when none was given, `until` null for a ban until an operator lifts it.
function banOf(json) {
  return {
    reason: typeof json.reason === 'string' && json.reason !== '' ? json.reason : null,
    until: typeof json.until === 'string' ? json.until : null,
  };
}
