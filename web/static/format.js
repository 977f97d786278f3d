// Pure helpers: times, names, room names, close codes, byte counts. Nothing here touches the
// page or its state, so every other module may import it.

// What the server accepts as a room name (src/chat/room.rs, RoomName::parse), after lower-casing.
const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
export const ROOM_NAME_RULE = '1 to 32 characters of a-z, 0-9, - and _, starting with a letter or a digit';

// What the server does to a nickname before using it (src/chat/nickname.rs): control characters
// removed, then trimmed and cut to 32 characters.
const NAME_MAX_CHARS = 32;
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;

const ID_HINT_CHARS = 6; // "alice · id LJgLht": enough of a user id to tell two people apart

// RFC 6455 §7.4.1: the status codes a close frame carries, as the page names them.
export const CLOSE_CODES = {
  1000: 'normal closure',
  1001: 'going away (server shutting down or page leaving)',
  1002: 'protocol error',
  1003: 'unsupported data',
  1005: 'no status code',
  1006: 'abnormal closure (no close frame: the connection was lost)',
  1007: 'invalid frame payload',
  1008: 'policy violation (flooding)',
  1009: 'message too big',
  1010: 'missing extension',
  1011: 'internal server error',
  1012: 'service restart',
  1013: 'try again later (too slow, evicted)',
  1015: 'TLS handshake failed',
  // 4000-4999 are the application's own (RFC 6455 §7.4.2): this chat's operators.
  4001: 'kicked by an operator',
  4003: 'banned by an operator',
};

const encoder = new TextEncoder();

/** The UTF-8 bytes of `s`. */
export const utf8Bytes = (s) => encoder.encode(s);

/** How many UTF-8 bytes `s` takes: the server's limits count bytes, not characters. */
export const utf8Length = (s) => encoder.encode(s).length;

/** An event's `ts` as a Date; now when it is missing or not a time. */
export function parseTime(ts) {
  const d = typeof ts === 'string' ? new Date(ts) : new Date(NaN);
  return Number.isNaN(d.getTime()) ? new Date() : d;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

export function clockTime(d) {
  return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export function preciseTime(d) {
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

export function dayKey(d) {
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

export function dayLabel(d) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(d) === dayKey(today)) return 'Today';
  if (dayKey(d) === dayKey(yesterday)) return 'Yesterday';
  return d.toLocaleDateString([], { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
}

/** A stable hue per name, so authors are told apart at a glance. */
export function nameHue(name) {
  let h = 0;
  for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
  return h % 360;
}

/** "1001 going away (…) — “reason”": a close code with its meaning and the reason, if any. */
export function describeClose(code, reason) {
  const label = CLOSE_CODES[code] || 'closed';
  return `${code} ${label}${reason ? ` — “${reason}”` : ''}`;
}

/** The nickname the server will make of `raw` (see CONTROL_CHARS); '' when nothing is left. */
export function cleanName(raw) {
  return [...String(raw).replace(CONTROL_CHARS, '').trim()].slice(0, NAME_MAX_CHARS).join('').trim();
}

/** Names are unique case-insensitively. */
export const sameName = (a, b) => a.toLowerCase() === b.toLowerCase();

/** The room name `raw` stands for, lower-cased as the server does; null when it is not one. */
export function parseRoomName(raw) {
  const name = String(raw).trim().toLowerCase();
  return ROOM_NAME.test(name) ? name : null;
}

/** "alice · id LJgLht": a name and the first characters of its holder's user id, when known. */
export function whoIs(name, user) {
  return typeof user === 'string' && user !== '' ? `${name} · id ${user.slice(0, ID_HINT_CHARS)}` : name;
}

/** "90 s", "10 min", "1 h", "1 day", "3 days": a span of `secs` seconds, rounded to its unit. */
export function spanText(secs) {
  // Each unit from the one below rounded, so 3599.9 s (an end a moment after its start) is "1 h".
  const s = Math.max(0, Math.round(secs));
  if (s < 60) return `${s} s`;
  const min = Math.round(s / 60);
  if (min < 60) return `${min} min`;
  const hours = Math.round(min / 60);
  if (hours < 24) return `${hours} h`;
  const days = Math.round(hours / 24);
  return `${days} day${days === 1 ? '' : 's'}`;
}

/** "14:05" today, "8 Dec, 14:05" another day: when a ban or a mute ends. */
export function endTime(d) {
  if (dayKey(d) === dayKey(new Date())) return clockTime(d);
  return `${d.toLocaleDateString([], { day: 'numeric', month: 'short' })}, ${clockTime(d)}`;
}
