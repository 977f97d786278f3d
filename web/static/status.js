// The status in the top bar: a dot and a word for the socket's phase (Connecting…, Online,
// Reconnecting in 3 s, Offline: why), the Connect/Disconnect toggle, and a hover that says who
// we are connected as and how the last connection closed. A change is also read out by
// screen readers through a hidden live region.

import { updateComposer } from './composer.js';
import { el, make } from './dom.js';
import {
  connectAfresh, currentOfflineReason, currentPhase, goOffline, isWanted, lastClose, reconnectLeft, setWanted,
} from './socket.js';
import { state } from './state.js';
import { renderWireControls } from './wire.js';

const announcer = make('div', 'visually-hidden');
announcer.setAttribute('role', 'status');
document.body.appendChild(announcer);

/** The socket's phase was set (`changed`: it or its reason differs): everything that shows it. */
export function renderPhase(changed) {
  const phase = currentPhase();
  el.status.dataset.state = phase;
  renderStatusText();
  renderStatusTitle();
  updateComposer();
  renderWireControls();
  el.toggle.textContent = isWanted() ? 'Disconnect' : 'Connect';
  el.toggle.hidden = state.name === null;
  el.users.classList.toggle('stale', phase !== 'online');
  if (changed) announcer.textContent = el.statusText.textContent;
}

export function renderStatusText() {
  let text;
  switch (currentPhase()) {
    case 'connecting':
      text = 'Connecting…';
      break;
    case 'online':
      text = 'Online';
      break;
    case 'reconnecting': {
      const left = reconnectLeft();
      text = left > 0 ? `Reconnecting in ${Math.ceil(left / 1000)} s` : 'Reconnecting…';
      break;
    }
    default: {
      const reason = currentOfflineReason();
      text = reason ? `Offline: ${reason}` : 'Offline';
    }
  }
  if (el.statusText.textContent !== text) el.statusText.textContent = text;
}

export function renderStatusTitle() {
  const parts = [];
  if (currentPhase() === 'online' && state.myName) parts.push(`Connected as ${state.myName}.`);
  if (lastClose()) parts.push(`Last close: ${lastClose()}`);
  el.status.title = parts.join(' ');
}

/** The Connect/Disconnect toggle. */
export function bindStatus() {
  el.toggle.addEventListener('click', () => {
    if (isWanted()) {
      setWanted(false);
      goOffline('disconnected');
    } else {
      setWanted(true);
      connectAfresh();
    }
  });
}
