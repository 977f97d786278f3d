// The address bar. Its hash remembers the room shown (#rust), so a link opens it and Back goes
// to the last one; private conversations stay out of it: a link is for sharing, and they are
// not. A ?name= is kept in step with our name, so a reload does not ask for the old one.

import { parseRoomName } from './format.js';
import { state } from './state.js';

/** The room the address names: the default room without a hash, null when it is not a room. */
export function roomFromHash() {
  let raw = location.hash.slice(1);
  try {
    raw = decodeURIComponent(raw);
  } catch (_) {
    return null; // a stray % in the address
  }
  return raw === '' ? state.defaultRoom : parseRoomName(raw);
}

/** The address names room `name`. */
export function setHash(name) {
  if (roomFromHash() !== name) location.hash = name;
}

/** The ?name= a first visit may carry (null: none). */
export function nameFromAddress() {
  return new URLSearchParams(location.search).get('name');
}

/** A ?name= in the address follows our name, without a new history entry. */
export function keepNameInAddress(name) {
  const url = new URL(location.href);
  if (url.searchParams.has('name') && url.searchParams.get('name') !== name) {
    url.searchParams.set('name', name);
    history.replaceState(null, '', url);
  }
}
