// Drawing the Wire panel's entries: each frame as RFC 6455 §5.2 draws it, the first two bytes
// bit by bit (FIN, RSV1-3, opcode, MASK, payload length), then the extended length and the
// masking key, then the payload in groups of four bytes, the period of the mask (§5.3): for a
// masked frame each group shows the bytes as they crossed the wire over the same bytes
// unmasked. The opening handshake (§4) is drawn as its two HTTP heads with the
// Sec-WebSocket-Accept computation between them. Every field is a button whose one-line
// explanation (with its §) is in data-explain; wire.js shows it. Nothing here keeps state.
// With permessage-deflate (RFC 7692) a compressed message's first frame has RSV1 set and its
// payload is DEFLATE bytes: the entry says so, and its final frame shows the message inflated,
// with the bytes on the wire against the bytes inflated.

import { make } from './dom.js';
import { CLOSE_CODES, describeClose, preciseTime, utf8Bytes } from './format.js';

/** RFC 6455 §5.2, §11.8: the opcodes, each with its name and one line about it. */
export const OPCODES = {
  0: ['continuation', 'a continuation frame: the next piece of a fragmented message, §5.4'],
  1: ['text', 'a text frame: the payload is UTF-8 text, §5.6'],
  2: ['binary', 'a binary frame: the payload is bytes for the application, §5.6'],
  8: ['close', 'a close frame: a 2-byte status code and a reason may follow, §5.5.1'],
  9: ['ping', 'a ping: the other side must answer with a pong carrying the same payload, §5.5.2'],
  10: ['pong', 'a pong: the answer to a ping, with the ping\u2019s payload, §5.5.3'],
};

const hex = (b) => b.toString(16).padStart(2, '0');
const hexOf = (bytes) => bytes.map(hex).join(' ');
const bitsOf = (value, width) => value.toString(2).padStart(width, '0');

/**
 * A `frame` event: one frame of this connection, as the server read or wrote it. `deflate`: the
 * connection agreed to permessage-deflate (its handshake event said so).
 */
export function renderFrame(f, at, deflate = false) {
  const dir = f.dir === 'in' ? 'in' : 'out';
  const header = hexBytes(f.header);
  const wire = hexBytes(f.payload_wire);
  const data = hexBytes(f.payload);
  const key = hexBytes(f.mask);
  const opcode = (header[0] ?? 0) & 0x0f;
  const len = Number(f.len) || 0;
  const [opname, opExplain] = OPCODES[opcode] || [String(f.opname || 'reserved'), 'a reserved opcode: a peer must fail the connection, §5.2'];
  let op = opname;
  if (opcode === 8 && Number.isFinite(f.close_code)) {
    op = `close ${describeClose(f.close_code, f.close_reason)}`;
  }

  const compressed = f.compressed === true;
  const li = make('li', `wire-frame ${dir}${opcode >= 8 ? ` control ${opname}` : ''}${compressed ? ' compressed' : ''}`);
  li.dataset.dir = dir;
  li.dataset.op = opname;
  const head = wireHead(at, dir, op, `${len} B · ${f.len_form || ''} length`);
  if (compressed) {
    const badge = make('span', 'w-compressed', 'compressed');
    badge.title = 'RSV1 set: the first frame of a message compressed with permessage-deflate, RFC 7692 §6';
    head.querySelector('.w-op').after(badge);
  }
  li.append(head);
  li.append(wireHeaderHex(header));
  li.append(...wireHeaderFields(header, dir, opcode, opExplain, len, deflate));
  if (key.length === 4) {
    li.append(wireRow(`${header.length - 4}–${header.length - 1}`, wireField('key', hexOf(key), 'masking key',
      `Masking key ${hexOf(key)}: four bytes the browser picked at random for this frame alone, §5.3`)));
  }
  if (data.length > 0) li.append(wirePayload(wire, data, key, opcode, len, false, compressed));
  // A compressed payload is DEFLATE bytes, not text: its text is the inflated one, below.
  const shownText = (opcode === 1 && !compressed) || opcode === 9 || opcode === 10;
  if (data.length > 0 && shownText) li.append(wireText(utf8Text(data), f.truncated));
  if (opcode === 8 && typeof f.close_reason === 'string' && f.close_reason !== '') {
    li.append(wireText(f.close_reason, false, 'reason'));
  }
  if (f.truncated || len > data.length) {
    const more = len - data.length;
    li.append(make('p', 'w-more', `… ${more} more byte${more === 1 ? '' : 's'} (the inspector shows the first ${data.length})`));
  }
  if (Number.isFinite(f.compressed_len)) li.append(...wireInflated(f));
  return li;
}

/**
 * The final frame of a compressed message: its compressed bytes on the wire against its bytes
 * inflated, the ratio, and the text (RFC 7692 §7.2.2: the receiver appends 00 00 ff ff and
 * inflates); or why the inspector does not show it.
 */
function wireInflated(f) {
  const wire = f.compressed_len;
  const row = make('div', 'w-row w-deflate');
  if (!Number.isFinite(f.inflated_len)) {
    row.append(wireField('wirelen', `${wire} B`, 'compressed',
      `${wire} bytes of DEFLATE on the wire for this message, all its frames’ payloads, RFC 7692 §7.2.1`));
    return [row, make('p', 'w-note w-not-inflated', `Not shown inflated: ${f.not_inflated || 'unknown'}.`)];
  }
  const inflated = f.inflated_len;
  const ratio = inflated > 0 ? `${Math.round((wire / inflated) * 100)}%` : '–';
  row.append(
    wireField('wirelen', `${wire} B`, 'on the wire',
      `${wire} bytes of DEFLATE on the wire for this message, all its frames’ payloads, RFC 7692 §7.2.1`),
    wireField('inflatedlen', `${inflated} B`, 'inflated',
      `${inflated} bytes once inflated: the message the application reads, RFC 7692 §7.2.2`),
    wireField('ratio', ratio, 'ratio',
      `${wire} / ${inflated}: the compressed message is ${ratio} of its size; the server compresses each message on its own (no context takeover), RFC 7692 §7.1.1`),
  );
  const text = typeof f.inflated === 'string' ? f.inflated : '';
  return [row, wireText(text, false, f.opname === 'binary' ? 'inflated (hex)' : 'inflated')];
}

// The close frame the page asks the browser for: what the page knows of it. Its masking key
// and masked bytes are the browser's, and no script sees them (§10.3 is why they are random).
export function renderPageClose(code, reason, at) {
  const data = [code >> 8, code & 0xff, ...utf8Bytes(reason)];
  const header = [0x88, 0x80 | data.length];
  const li = make('li', 'wire-frame in control close page-known');
  li.dataset.dir = 'in';
  li.dataset.op = 'close';
  li.append(wireHead(at, 'in', `close ${describeClose(code, reason)}`, `${data.length} B · 7-bit length`, 'sent by this page'));
  li.append(wireHeaderHex(header, 4));
  li.append(...wireHeaderFields(header, 'in', 8, OPCODES[8][1], data.length));
  li.append(wireRow('2–5', wireField('key', '?? ?? ?? ??', 'masking key',
    'The masking key: the browser picks it and masks the payload with it; no script can read either, §5.3, §10.3')));
  li.append(wirePayload([], data, [], 8, data.length, true));
  li.append(wireText(reason, false, 'reason'));
  li.append(make('p', 'w-note', 'The browser masks this frame itself; the key and the masked bytes are not visible to scripts.'));
  return li;
}

// The server's answering close, as the CloseEvent reports it (the page saw no bytes of it).
export function renderCloseEvent(event, at) {
  const li = make('li', 'wire-frame out control close page-known');
  li.dataset.dir = 'out';
  li.dataset.op = 'close';
  li.append(wireHead(at, 'out', `close ${describeClose(event.code, event.reason)}`, 'CloseEvent', 'as the page learns it'));
  const row = make('div', 'w-row w-closeevent');
  row.append(
    wireField('code', String(event.code), 'code',
      `code = ${event.code}: the status code of the server\u2019s close frame (${CLOSE_CODES[event.code] || 'see §7.4'}), §7.1.5, §7.4.1`),
    wireField('reason', event.reason === '' ? '""' : `“${event.reason}”`, 'reason',
      'reason: the UTF-8 text after the code in the server\u2019s close frame, may be empty, §7.1.6'),
    wireField('clean', String(event.wasClean), 'wasClean', event.wasClean
      ? 'wasClean = true: both close frames crossed and the TCP connection then closed, §7.1.4'
      : 'wasClean = false: the connection ended without a complete closing handshake, §7.1.4, §7.1.5'),
  );
  li.append(row);
  return li;
}

/** A `handshake` event: the request, Sec-WebSocket-Accept step by step, the response (§4). */
export function renderHandshake(h, at) {
  const str = (v) => (typeof v === 'string' ? v : '');
  const [request, key, guid, sha1, accept, response] =
    [h.request, h.key, h.guid, h.sha1, h.accept, h.response].map(str);
  const li = make('li', 'wire-handshake');
  const head = make('div', 'w-head');
  head.append(make('span', 'w-op', 'opening handshake'), make('span', 'w-size', '§4'), make('time', 'f-time', preciseTime(at)));
  li.append(head);

  li.append(make('p', 'w-caption', 'The request (browser → server), an HTTP/1.1 GET; every line ends in CRLF:'));
  li.append(wireHttp(request, key, 'request',
    'The client\u2019s opening handshake: a GET with Upgrade: websocket, Connection: Upgrade, Sec-WebSocket-Version: 13 and a key, §4.1 (your session shown as …)'));

  const steps = make('ol', 'w-steps');
  const step = (kind, label, value, explain) => {
    const item = make('li', `w-step w-step-${kind}`);
    item.append(wireField(kind, value, label, explain));
    steps.append(item);
  };
  step('key', 'Sec-WebSocket-Key', key, 'The key: 16 random bytes in base64 that the browser made for this connection, §4.1');
  const joined = wireField('keyguid', '', 'key + GUID', `The key followed by the GUID ${guid}, the same for every WebSocket server, §4.2.2`);
  joined.firstChild.append(key, make('span', 'w-guid', guid));
  const item = make('li', 'w-step w-step-keyguid');
  item.append(joined);
  steps.append(item);
  step('sha1', 'SHA-1 (hex)', sha1, 'SHA-1 of key + GUID: 20 bytes, here in hex, §4.2.2');
  step('accept', 'base64 = Sec-WebSocket-Accept', accept,
    'Those 20 bytes in base64: the server sends them back and the browser checks them, so it knows the server speaks WebSocket, §4.2.2, §4.1');
  li.append(make('p', 'w-caption', 'Sec-WebSocket-Accept, step by step (§4.2.2):'), steps);

  li.append(make('p', 'w-caption w-subprotocol', subprotocolLine(h.subprotocol)));
  li.append(make('p', 'w-caption w-extensions', extensionsLine(h.extensions)));

  li.append(make('p', 'w-caption', 'The response (server → browser); after its blank line both sides speak frames:'));
  li.append(wireHttp(response, accept, 'response',
    'The server\u2019s answer: 101 Switching Protocols with Sec-WebSocket-Accept, Sec-WebSocket-Protocol when it chose one, and Sec-WebSocket-Extensions when it accepted one, §4.2.2, §9.1'));
  return li;
}

/** The extension negotiation in one line: the offers, the 101's answer, and why (RFC 7692 §5). */
function extensionsLine(ext) {
  const offered = Array.isArray(ext?.offered) && ext.offered.length ? ext.offered.join(', ') : 'none';
  const accepted = typeof ext?.accepted === 'string' ? ext.accepted : 'none';
  const why = typeof ext?.why === 'string' ? ` (${ext.why})` : '';
  return `Extensions (Sec-WebSocket-Extensions, §9.1, RFC 7692 §5): offered ${offered} → accepted ${accepted}${why}`;
}

/** The subprotocol negotiation in one line: what was offered, what was chosen, and why (§1.9). */
function subprotocolLine(sub) {
  const offered = Array.isArray(sub?.offered) && sub.offered.length ? sub.offered.join(', ') : 'none';
  const chosen = typeof sub?.chosen === 'string' ? sub.chosen : 'none';
  const why = typeof sub?.why === 'string' ? ` (${sub.why})` : '';
  return `Subprotocol (Sec-WebSocket-Protocol, §1.9, §4.2.2): offered ${offered} → chosen ${chosen}${why}`;
}

/** A line of the panel's own ("Switched off…", frames skipped), at the time it was written. */
export function renderLine(text, kind, at) {
  const li = make('li', `wire-line${kind ? ` ${kind}` : ''}`);
  li.append(make('time', 'f-time', preciseTime(at)), make('span', '', text));
  return li;
}

/** "81 85 37" -> [0x81, 0x85, 0x37]; anything that is not hex is dropped. */
function hexBytes(text) {
  return typeof text === 'string' ? (text.match(/[0-9a-f]{2}/gi) || []).map((h) => parseInt(h, 16)) : [];
}

/** The bytes as UTF-8 text; a character cut at the end (a truncated payload) is left out. */
function utf8Text(bytes) {
  return new TextDecoder('utf-8').decode(new Uint8Array(bytes), { stream: true });
}

/** One field of a frame: its value (bits or hex) over its name; `explain` is its one line. */
function wireField(kind, value, label, explain, bits) {
  const button = make('button', `w-field w-${kind}`);
  button.type = 'button';
  button.tabIndex = -1;
  button.dataset.explain = explain;
  button.append(make('span', 'w-value', value), make('span', 'w-label', label));
  if (bits) button.style.setProperty('--bits', String(bits));
  return button;
}

function wireRow(label, ...fields) {
  const row = make('div', 'w-row');
  row.append(make('span', 'w-offset', label), ...fields);
  return row;
}

function wireHead(at, dir, op, detail, note) {
  const head = make('div', 'w-head');
  const badge = make('span', 'w-dir', dir);
  badge.title = dir === 'in' ? 'read by the server from this browser' : 'written by the server to this browser';
  head.append(
    badge,
    make('span', 'w-route', dir === 'in' ? 'browser → server' : 'server → browser'),
    make('span', 'w-op', op),
    make('span', 'w-size', detail),
  );
  if (note) head.append(make('span', 'w-source', note));
  head.append(make('time', 'f-time', preciseTime(at)));
  return head;
}

function wireHeaderHex(header, unknown = 0) {
  const p = make('p', 'w-hex');
  p.append(make('span', 'w-hex-label', 'header'), ` ${hexOf(header)}${' ??'.repeat(unknown)}`);
  return p;
}

/** The first two bytes bit by bit, then the extended length, as in the §5.2 diagram. */
function wireHeaderFields(header, dir, opcode, opExplain, len, deflate) {
  const [b0 = 0, b1 = 0] = header;
  const fin = b0 >> 7;
  const rsv = [(b0 >> 6) & 1, (b0 >> 5) & 1, (b0 >> 4) & 1];
  const mask = b1 >> 7;
  const short = b1 & 0x7f;
  const rows = [];
  rows.push(wireRow(`0: ${hex(b0)}`,
    wireField('fin', String(fin), 'FIN', fin
      ? 'FIN = 1: the final frame of its message (here most often the only one), §5.2'
      : 'FIN = 0: more frames of this message follow, §5.4', 1),
    ...rsv.map((bit, i) => wireField(i === 0 && bit && deflate ? 'rsv w-deflated' : 'rsv', String(bit), `RSV${i + 1}`,
      rsvExplain(i, bit, opcode, deflate), 1)),
    wireField('opcode', bitsOf(opcode, 4), `opcode ${opcode}`, `opcode = ${opcode}: ${opExplain}`, 4)));
  let lenExplain = `Payload length = ${short}: up to 125 bytes fit in these 7 bits, §5.2`;
  if (short === 126) lenExplain = 'Payload length = 126: the length is in the next 2 bytes (16-bit form, for 126 to 65535 bytes), §5.2';
  if (short === 127) lenExplain = 'Payload length = 127: the length is in the next 8 bytes (64-bit form, for 65536 bytes and more), §5.2';
  rows.push(wireRow(`1: ${hex(b1)}`,
    wireField('mask', String(mask), 'MASK', mask
      ? 'MASK = 1: every frame from a client is masked, §5.3'
      : (dir === 'out' ? 'MASK = 0: a server never masks its frames, §5.1' : 'MASK = 0: a client frame must be masked; the server fails the connection, §5.1'), 1),
    wireField('len', bitsOf(short, 7), short > 125 ? `length ${short}: ${short === 126 ? '16' : '64'}-bit next` : `length ${short}`, lenExplain, 7)));
  if (short === 126 || short === 127) {
    const ext = header.slice(2, short === 126 ? 4 : 10);
    const bits = short === 126 ? 16 : 64;
    rows.push(wireRow(`2–${1 + ext.length}`, wireField('extlen', hexOf(ext), `length ${len} (${bits}-bit)`,
      `Extended payload length = ${len}, ${bits}-bit, most significant byte first: ${bits === 16 ? 'lengths 126 to 65535' : 'lengths from 65536'}, §5.2`)));
  }
  return rows;
}

/** One RSV bit's line: RSV1 is permessage-deflate's "compressed" bit once it is agreed (RFC 7692 §6). */
function rsvExplain(i, bit, opcode, deflate) {
  if (i === 0 && deflate) {
    if (bit) {
      return opcode === 1 || opcode === 2
        ? 'RSV1 = 1: this message is compressed, permessage-deflate (RFC 7692 §6) gives RSV1 that meaning, §5.2'
        : 'RSV1 = 1 on a frame that starts no message: an error even with permessage-deflate (RFC 7692 §6.1), §5.2';
    }
    return 'RSV1 = 0: not compressed; with permessage-deflate each message is compressed or not (RFC 7692 §6.1), §5.2';
  }
  const n = i + 1;
  return bit
    ? `RSV${n} = 1: only an extension may set it, and none that uses it was negotiated, §5.2`
    : `RSV${n} = 0: reserved for extensions; none that uses it was negotiated, so it must be 0, §5.2`;
}

/**
 * The payload in groups of four bytes: masked over unmasked when it was masked. `hidden`: the
 * browser masked it with a key the page cannot see, so only the unmasked bytes are known.
 * `compressed`: the unmasked bytes are DEFLATE (RFC 7692 §7.2.1), not the message itself.
 */
function wirePayload(wire, data, key, opcode, len, hidden = false, compressed = false) {
  const masked = key.length === 4;
  const box = make('div', 'w-payload');
  const legend = make('p', 'w-legend');
  if (masked) {
    legend.append(make('span', 'w-wire', 'masked (on the wire)'), ' ⊕ key = ', make('span', 'w-data', compressed ? 'unmasked (DEFLATE)' : 'unmasked'));
  } else if (compressed) {
    legend.append(make('span', 'w-data', 'payload, DEFLATE'), ' (compressed, not masked: on the wire as it is)');
  } else if (hidden) {
    legend.append(make('span', 'w-data', 'unmasked'), ' (on the wire masked with the browser\u2019s key)');
  } else {
    legend.append(make('span', 'w-data', 'payload'), ' (not masked: on the wire as it is)');
  }
  const bytes = make('div', 'w-bytes');
  for (let at = 0; at < data.length; at += 4) {
    const group = data.slice(at, at + 4);
    const end = at + group.length - 1;
    let explain;
    if (masked) {
      const steps = group.map((b, i) => `${hex(wire[at + i] ?? 0)}⊕${hex(key[(at + i) % 4])}=${hex(b)}`);
      explain = `Payload bytes ${at}–${end}: ${steps.join(' ')}, each wire byte XOR the key byte i mod 4, §5.3`;
    } else if (hidden) {
      explain = `Payload bytes ${at}–${end} before masking: the browser XORs them with its key before sending, §5.3`;
    } else {
      explain = `Payload bytes ${at}–${end}: sent unmasked, as every server frame is, §5.1`;
    }
    if (opcode === 8 && at === 0 && len >= 2) explain += `; the first 2 bytes are the status code ${(data[0] << 8) | data[1]}, §5.5.1`;
    const button = make('button', 'w-field w-group');
    button.type = 'button';
    button.tabIndex = -1;
    button.dataset.explain = explain;
    if (masked) button.append(make('span', 'w-wire', hexOf(wire.slice(at, at + 4))));
    button.append(make('span', 'w-data', hexOf(group)));
    bytes.append(button);
  }
  box.append(legend, bytes);
  return box;
}

function wireText(text, truncated, label = 'as text') {
  const p = make('p', 'w-text');
  p.append(make('span', 'w-text-label', label), ' ', make('q', 'w-text-value', `${text}${truncated ? '…' : ''}`));
  return p;
}

/** An HTTP head as text, with `mark` (the key, the accept value) marked where it appears. */
function wireHttp(text, mark, kind, explain) {
  const pre = make('pre', `w-field w-http w-${kind}`);
  pre.tabIndex = -1;
  pre.dataset.explain = explain;
  const lines = text.replace(/\r\n/g, '\n').replace(/\n+$/, '');
  const parts = mark ? lines.split(mark) : [lines];
  parts.forEach((part, i) => {
    if (i > 0) pre.append(make('mark', '', mark));
    pre.append(part);
  });
  return pre;
}
