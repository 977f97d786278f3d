// The Frames panel: every JSON frame of this connection, ↑ sent and ↓ received, with its size,
// and the socket's events (connecting, open, close) between them. The last FRAME_LIMIT are kept.

import { el, make, nearBottom } from './dom.js';
import { preciseTime, utf8Length } from './format.js';

const FRAME_LIMIT = 200; // entries kept in the frames panel
const FRAME_PREVIEW_CHARS = 2000; // longer frames are shown cut, with their full size

let framesSeen = 0; // entries added since the panel was last cleared

/** Shows one frame: `direction` is 'in' (received) or 'out' (sent), `text` the frame. */
export function logFrame(direction, text) {
  const li = make('li', `frame ${direction}`);
  li.append(make('time', 'f-time', preciseTime(new Date())));
  const dir = make('span', 'f-dir', direction === 'in' ? '↓' : '↑');
  dir.title = direction === 'in' ? 'received' : 'sent';
  li.append(dir);
  let type = '';
  try {
    const parsed = JSON.parse(text);
    if (parsed && typeof parsed.type === 'string') type = parsed.type;
  } catch (_) {
    type = 'not JSON';
  }
  li.append(make('span', 'f-type', type));
  li.append(make('span', 'f-size', `${utf8Length(text)} B`));
  const shown = text.length > FRAME_PREVIEW_CHARS ? `${text.slice(0, FRAME_PREVIEW_CHARS)}…` : text;
  li.append(make('code', 'f-body', shown));
  appendFrameEntry(li);
}

/** Shows something that happened to the socket: `symbol` in the arrow's place, then `text`. */
export function logEvent(symbol, text, kind) {
  const li = make('li', `frame event${kind ? ` ${kind}` : ''}`);
  li.append(make('time', 'f-time', preciseTime(new Date())));
  li.append(make('span', 'f-dir', symbol));
  li.append(make('span', 'f-body', text));
  appendFrameEntry(li);
}

/** The Clear button. */
export function bindFrames() {
  el.framesClear.addEventListener('click', () => {
    el.frameList.replaceChildren();
    framesSeen = 0;
    el.frameCount.textContent = '0';
  });
}

function appendFrameEntry(li) {
  const list = el.frameList;
  const stick = nearBottom(list);
  list.appendChild(li);
  while (list.children.length > FRAME_LIMIT) list.firstElementChild.remove();
  framesSeen += 1;
  el.frameCount.textContent = String(framesSeen);
  if (stick) list.scrollTop = list.scrollHeight;
}
