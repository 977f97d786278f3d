// Our nickname. The first time, the field picks the name to connect with. After that it
// renames: the server answers every tab of ours with {"type":"renamed"} and every room we are
// in with a "rename" event, or refuses with a name_taken error, shown under the field. Across
// instances a name claimed twice at once goes to one of the two; the other gets `renamed` with
// `requested`.

import { keepNameInAddress } from './address.js';
import { clearFieldError, el, showFieldError } from './dom.js';
import { cleanName } from './format.js';
import { addNotice } from './messages.js';
import { renderDmList } from './sidebar.js';
import { connectAfresh, isGreeted, sendFrame, setWanted } from './socket.js';
import { askForName, setRenameTo, settleName, shownConv, state } from './state.js';
import { renderStatusTitle } from './status.js';
import { markOwnUsers, noteUser } from './users.js';
import { renderConvHead } from './view.js';

/** The name the server says is ours: shown in the field, remembered, and in the address. */
export function setMyName(name) {
  settleName(name);
  if (state.user !== null) noteUser(name, state.user);
  if (document.activeElement !== el.name) el.name.value = name;
  keepNameInAddress(name);
  const self = state.user === null ? undefined : state.dms.get(`@${state.user}`);
  if (self) self.name = name;
  markOwnUsers();
  renderStatusTitle();
  renderDmList();
  if (shownConv() && shownConv().kind === 'dm') renderConvHead();
}

/** Every tab of our session gets its own `renamed`, whichever tab asked. */
export function onRenamed(msg) {
  if (typeof msg.name !== 'string') return;
  clearNameError();
  setMyName(msg.name);
  if (typeof msg.requested === 'string') {
    addNotice(shownConv(), `${msg.requested} is taken; you are ${msg.name}.`, 'system name-taken', new Date());
  }
}

/** Says why the name in the field is not ours, under it. */
export function showNameError(text) {
  showFieldError(el.name, el.nameError, text);
}

/** The nickname field: join with it the first time, rename with it after. */
export function bindNameForm() {
  el.nameForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = cleanName(el.name.value);
    if (state.name === null) {
      askForName(name); // '' connects as a guest
      document.body.classList.remove('needs-name');
      setWanted(true);
      connectAfresh();
      el.input.focus();
      return;
    }
    if (name === '') {
      showNameError('A nickname needs at least one letter, digit or sign.');
      return;
    }
    clearNameError();
    if (name === state.myName) return; // the server would do nothing either
    if (!isGreeted() || !sendFrame({ type: 'rename', name })) {
      setRenameTo(name); // asked for as soon as the next hello comes (onHello)
      showNameError(`Not connected: you will be ${name} once back online, if the name is free.`);
    }
  });

  el.name.addEventListener('input', clearNameError);
}

function clearNameError() {
  clearFieldError(el.name, el.nameError);
}
