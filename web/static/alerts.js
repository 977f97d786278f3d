// Alerts (refused input, protocol trouble): dismissable, never swallowed. The same kind of alert
// again is counted (×2) and moved last rather than shown twice; at most MAX_ALERTS are kept.

import { el, make } from './dom.js';

const MAX_ALERTS = 3;

/** Shows `text` (with a bold `title`, when given); `key` names its kind. */
export function showAlert(text, key, title) {
  const existing = [...el.alerts.children].find((a) => a.dataset.key === key);
  if (existing) {
    const n = Number(existing.dataset.count) + 1;
    existing.dataset.count = String(n);
    existing.querySelector('.alert-text').textContent = text;
    existing.querySelector('.alert-count').textContent = `×${n}`;
    el.alerts.appendChild(existing); // newest last
    return;
  }
  const box = make('div', 'alert');
  box.dataset.key = key;
  box.dataset.count = '1';
  box.setAttribute('role', 'alert');
  if (title) box.append(make('strong', 'alert-title', title), ' ');
  box.append(make('span', 'alert-text', text), ' ', make('span', 'alert-count', ''));
  const close = make('button', 'alert-close', '×');
  close.type = 'button';
  close.setAttribute('aria-label', 'Dismiss');
  close.addEventListener('click', () => {
    box.remove();
    el.input.focus();
  });
  box.append(close);
  el.alerts.appendChild(box);
  while (el.alerts.children.length > MAX_ALERTS) el.alerts.firstElementChild.remove();
}
