// The Bans panel, for operators only: who is banned from the chat and who is muted in which
// room, each with a button that lifts it. Opening the panel (or Refresh) asks the server:
//
//   → {"type":"bans"}
//   ← {"type":"bans","bans":[{"user":"…","name":"bob","until":"…"|null,"reason":"spam","by":"carol"}],
//      "mutes":[{"room":"general","user":"…","name":"bob","until":"…"|null,"reason":"…","by":"carol"}]}
//
// Unban sends {"type":"unban","user":"…"} (by user id: the name may be someone else's by now),
// Unmute {"type":"unmute","room":"general","name":"bob"}. While the panel is open, every ban,
// unban, mute or unmute notice (moderation.js) asks for the list again, so it stays current.

import { el, make } from './dom.js';
import { endTime, parseTime, whoIs } from './format.js';
import { sendFrame } from './socket.js';
import { isOperator } from './state.js';

const ASK_AFTER_MS = 200; // notices in several rooms about one ban: one question for them all
const LISTED_ACTIONS = new Set(['ban', 'unban', 'mute', 'unmute']);

let askTimer = null;

/** Opening the panel and Refresh ask for the list. */
export function bindBans() {
  el.bans.addEventListener('toggle', () => {
    if (el.bans.open) askForBans();
  });
  el.bansRefresh.addEventListener('click', askForBans);
}

/** The panel is there for an operator only (hello.op). */
export function showBansPanel() {
  el.bans.hidden = !isOperator();
  if (el.bans.hidden) el.bans.open = false;
  else if (el.bans.open) askForBans(); // a new connection: the list may have changed meanwhile
}

/** The server's list: drawn in the panel. */
export function onBans(msg) {
  const bans = Array.isArray(msg.bans) ? msg.bans.filter(Boolean) : [];
  const mutes = Array.isArray(msg.mutes) ? msg.mutes.filter(Boolean) : [];
  el.banList.replaceChildren(...(bans.length ? bans.map(banItem) : [emptyItem('Nobody is banned.')]));
  el.muteList.replaceChildren(...(mutes.length ? mutes.map(muteItem) : [emptyItem('Nobody is muted.')]));
  el.banCount.textContent = String(bans.length + mutes.length);
}

/** A moderation entry came: a ban or a mute that changed makes the open panel ask again. */
export function onModerationEntry(entry) {
  if (!el.bans.open || !LISTED_ACTIONS.has(entry.action)) return;
  clearTimeout(askTimer);
  askTimer = setTimeout(askForBans, ASK_AFTER_MS);
}

function askForBans() {
  clearTimeout(askTimer);
  askTimer = null;
  sendFrame({ type: 'bans' });
}

function banItem(ban) {
  const name = typeof ban.name === 'string' ? ban.name : '?';
  const lift = ban.user ? { type: 'unban', user: String(ban.user) } : { type: 'unban', name };
  return item(whoIs(name, ban.user), ban, 'Unban', `Unban ${name}`, lift);
}

function muteItem(mute) {
  const name = typeof mute.name === 'string' ? mute.name : '?';
  const room = String(mute.room);
  const who = `${whoIs(name, mute.user)} in #${room}`;
  return item(who, mute, 'Unmute', `Unmute ${name} in #${room}`, { type: 'unmute', room, name });
}

// "bob · id LJgLht", then "until 14:05 · spam · by carol", and the button that lifts it.
function item(who, entry, label, longLabel, request) {
  const li = make('li', 'ban');
  li.dataset.name = typeof entry.name === 'string' ? entry.name : '';
  const parts = [typeof entry.until === 'string' ? `until ${endTime(parseTime(entry.until))}` : 'until lifted'];
  if (typeof entry.reason === 'string' && entry.reason !== '') parts.push(entry.reason);
  if (typeof entry.by === 'string') parts.push(`by ${entry.by}`);
  const text = make('span', 'ban-text');
  text.append(make('span', 'ban-who', who), make('span', 'ban-what', parts.join(' · ')));
  const button = make('button', 'btn btn-quiet btn-small', label);
  button.type = 'button';
  button.setAttribute('aria-label', longLabel);
  button.addEventListener('click', () => {
    if (!sendFrame(request)) return;
    button.disabled = true; // until the list comes again
    askForBans();
  });
  li.append(text, button);
  return li;
}

function emptyItem(text) {
  return make('li', 'ban empty', text);
}
