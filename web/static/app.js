// WebSocketChat page: plain JavaScript, the standard WebSocket API, no build step.
//
// The wire protocol is one JSON object per text frame:
//   client -> server  {"type":"message","text":"..."}
//   server -> client  hello, history, users, join, leave, message, error
// Everything received is rendered with textContent, never as HTML.
'use strict';

(function () {
  const RECONNECT_BASE_MS = 500; // first reconnect waits a random time in [0, 500) ms
  const RECONNECT_CAP_MS = 10000; // ... doubling up to [0, 10 s)
  const FRAME_LIMIT = 200; // entries kept in the frames panel
  const FRAME_PREVIEW_CHARS = 2000; // longer frames are shown cut, with their full size
  const MAX_ALERTS = 3;
  const NAME_KEY = 'websocketchat.name';
  const GROUP_MS = 3 * 60 * 1000; // messages by one author this close together share a header
  const NEAR_BOTTOM_PX = 48;

  const CLOSE_CODES = {
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
  };

  const ERROR_TITLES = {
    rate_limited: 'Slow down.',
    empty: 'Nothing to send.',
    too_long: 'Too long.',
    bad_request: 'Not understood.',
  };

  const $ = (id) => document.getElementById(id);
  const el = {
    status: $('status'),
    statusText: $('status-text'),
    toggle: $('connect-toggle'),
    nameForm: $('name-form'),
    name: $('name'),
    nameSave: $('name-save'),
    messages: $('messages'),
    jump: $('jump'),
    alerts: $('alerts'),
    composer: $('composer'),
    input: $('message-input'),
    send: $('send'),
    counter: $('counter'),
    users: $('users'),
    userCount: $('user-count'),
    frames: $('frames'),
    frameList: $('frame-list'),
    frameCount: $('frame-count'),
    framesClear: $('frames-clear'),
  };

  const encoder = new TextEncoder();
  const utf8Length = (s) => encoder.encode(s).length;

  const state = {
    name: null, // the nickname asked for (null: not chosen yet)
    persistName: false, // remember it in localStorage (not when it came from ?name=)
    myName: null, // the name the server settled on (hello)
    wanted: true, // the user wants to be connected (the Connect/Disconnect toggle)
    ws: null,
    phase: 'connecting', // connecting | online | reconnecting | offline
    offlineReason: '',
    attempt: 0, // reconnect attempts since the last successful connect
    reconnectTimer: null,
    countdownTimer: null,
    reconnectAt: 0,
    lastClose: null, // text of the last close, for the status tooltip
    // Resume state: ids strictly increase within an epoch.
    epoch: null,
    lastId: null,
    seen: new Set(),
    maxBytes: 4096,
    // Rendering state
    lastAuthor: null,
    lastTime: 0,
    lastDay: null,
    unread: 0,
    framesSeen: 0,
  };

  // ---------------------------------------------------------------------------
  // Small helpers

  function storageGet(key) {
    try {
      return window.localStorage.getItem(key);
    } catch (_) {
      return null;
    }
  }

  function storageSet(key, value) {
    try {
      if (value) window.localStorage.setItem(key, value);
      else window.localStorage.removeItem(key);
    } catch (_) {
      /* storage unavailable (private mode): the name is just not remembered */
    }
  }

  function parseTime(ts) {
    const d = typeof ts === 'string' ? new Date(ts) : new Date(NaN);
    return Number.isNaN(d.getTime()) ? new Date() : d;
  }

  const pad = (n, w = 2) => String(n).padStart(w, '0');

  function clockTime(d) {
    return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }

  function preciseTime(d) {
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  }

  function dayKey(d) {
    return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
  }

  function dayLabel(d) {
    const today = new Date();
    const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
    if (dayKey(d) === dayKey(today)) return 'Today';
    if (dayKey(d) === dayKey(yesterday)) return 'Yesterday';
    return d.toLocaleDateString([], { weekday: 'long', year: 'numeric', month: 'long', day: 'numeric' });
  }

  // A stable hue per name, so authors are told apart at a glance.
  function nameHue(name) {
    let h = 0;
    for (const ch of name) h = (h * 31 + ch.codePointAt(0)) >>> 0;
    return h % 360;
  }

  function describeClose(code, reason) {
    const label = CLOSE_CODES[code] || 'closed';
    return `${code} ${label}${reason ? ` — “${reason}”` : ''}`;
  }

  function make(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---------------------------------------------------------------------------
  // Status indicator

  const announcer = make('div', 'visually-hidden');
  announcer.setAttribute('role', 'status');
  document.body.appendChild(announcer);

  function setPhase(phase, reason) {
    const changed = phase !== state.phase || (reason || '') !== state.offlineReason;
    state.phase = phase;
    state.offlineReason = reason || '';
    el.status.dataset.state = phase;
    renderStatusText();
    renderStatusTitle();
    updateComposer();
    el.toggle.textContent = state.wanted ? 'Disconnect' : 'Connect';
    el.toggle.hidden = state.name === null;
    el.users.classList.toggle('stale', phase !== 'online');
    if (changed) announcer.textContent = el.statusText.textContent;
  }

  function renderStatusText() {
    let text;
    switch (state.phase) {
      case 'connecting':
        text = 'Connecting…';
        break;
      case 'online':
        text = 'Online';
        break;
      case 'reconnecting': {
        const left = state.reconnectAt - Date.now();
        text = state.reconnectTimer && left > 0 ? `Reconnecting in ${Math.ceil(left / 1000)} s` : 'Reconnecting…';
        break;
      }
      default:
        text = state.offlineReason ? `Offline: ${state.offlineReason}` : 'Offline';
    }
    if (el.statusText.textContent !== text) el.statusText.textContent = text;
  }

  function renderStatusTitle() {
    const parts = [];
    if (state.phase === 'online' && state.myName) parts.push(`Connected as ${state.myName}.`);
    if (state.lastClose) parts.push(`Last close: ${state.lastClose}`);
    el.status.title = parts.join(' ');
  }

  // ---------------------------------------------------------------------------
  // Connection

  function wsUrl() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = [];
    if (state.name) query.push(`name=${encodeURIComponent(state.name)}`);
    if (state.epoch !== null) {
      // Resume: only what came after the last message we have.
      query.push(`since=${state.lastId === null ? 0 : state.lastId}`);
      query.push(`epoch=${encodeURIComponent(state.epoch)}`);
    }
    return `${scheme}//${location.host}/ws${query.length ? `?${query.join('&')}` : ''}`;
  }

  function clearReconnect() {
    clearTimeout(state.reconnectTimer);
    clearInterval(state.countdownTimer);
    state.reconnectTimer = null;
    state.countdownTimer = null;
  }

  function connect(phase) {
    clearReconnect();
    if (state.ws) closeSocket(1000, 'reconnecting');
    if (!state.wanted || state.name === null) return;
    if (navigator.onLine === false) {
      setPhase('offline', 'no network');
      return;
    }

    const url = wsUrl();
    const resuming = state.epoch !== null;
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      logEvent('✕', `could not open ${url}: ${err.message}`);
      scheduleReconnect();
      return;
    }
    ws.resuming = resuming;
    state.ws = ws;
    setPhase(phase);
    logEvent('…', `connecting to ${url}`);

    ws.addEventListener('open', () => {
      if (ws !== state.ws) return;
      logEvent('●', `open ${url}`);
      setPhase('online');
    });

    ws.addEventListener('message', (event) => {
      if (ws !== state.ws) return;
      if (typeof event.data !== 'string') {
        logEvent('?', 'binary frame ignored');
        return;
      }
      logFrame('in', event.data);
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch (_) {
        showAlert('The server sent a frame that is not JSON.', 'bad_json');
        return;
      }
      if (msg && typeof msg === 'object') handle(msg, ws);
    });

    ws.addEventListener('close', (event) => {
      const text = describeClose(event.code, event.reason);
      logEvent('✕', `close ${text}`, 'close');
      state.lastClose = text;
      renderStatusTitle();
      if (ws !== state.ws) return; // closed on purpose (rename, toggle, offline)
      state.ws = null;
      if (navigator.onLine === false) setPhase('offline', 'no network');
      else scheduleReconnect();
    });
    // 'error' is always followed by 'close', which does the work.
  }

  function closeSocket(code, reason) {
    const ws = state.ws;
    state.ws = null;
    if (!ws) return;
    ws.intentional = true;
    try {
      ws.close(code, reason);
    } catch (_) {
      /* already closing */
    }
  }

  // Exponential backoff with full jitter: wait a random time in [0, min(cap, base * 2^attempt)).
  function scheduleReconnect() {
    clearReconnect();
    const ceiling = Math.min(RECONNECT_CAP_MS, RECONNECT_BASE_MS * 2 ** Math.min(state.attempt, 16));
    const delay = Math.floor(Math.random() * ceiling);
    state.attempt += 1;
    state.reconnectAt = Date.now() + delay;
    state.reconnectTimer = setTimeout(() => {
      state.reconnectTimer = null;
      clearInterval(state.countdownTimer);
      state.countdownTimer = null;
      connect('reconnecting');
    }, delay);
    state.countdownTimer = setInterval(renderStatusText, 250);
    setPhase('reconnecting');
  }

  function goOffline(reason) {
    clearReconnect();
    closeSocket(1000, reason);
    setPhase('offline', reason);
  }

  // ---------------------------------------------------------------------------
  // Server events

  function handle(msg, ws) {
    switch (msg.type) {
      case 'hello':
        onHello(msg);
        break;
      case 'history':
        onHistory(msg, ws);
        break;
      case 'users':
        renderUsers(Array.isArray(msg.users) ? msg.users : []);
        break;
      case 'join':
        addNotice(`${msg.name ?? 'someone'} joined`, 'join', parseTime(msg.ts));
        // In a big room the server sends only the change, not the whole list.
        if (msg.name != null) renderUsers([...currentUsers(), String(msg.name)]);
        break;
      case 'leave':
        addNotice(`${msg.name ?? 'someone'} left`, 'leave', parseTime(msg.ts));
        if (msg.name != null) renderUsers(currentUsers().filter((n) => n !== String(msg.name)));
        break;
      case 'message':
        renderBatch([msg]);
        break;
      case 'error':
        showAlert(msg.message || 'The server refused that.', msg.code || 'error', ERROR_TITLES[msg.code]);
        break;
      default:
        // Unknown types are visible in the frames panel; nothing else to do.
        break;
    }
  }

  function onHello(msg) {
    state.attempt = 0; // a successful connect resets the backoff
    if (typeof msg.name === 'string') state.myName = msg.name;
    const max = Number(msg.max_message_bytes);
    if (Number.isFinite(max) && max > 0) state.maxBytes = max;
    if (document.activeElement !== el.name) el.name.value = state.myName || '';
    if (state.persistName && state.myName) storageSet(NAME_KEY, state.myName);
    el.nameSave.textContent = 'Change';
    renderStatusTitle();
    updateComposer();
    markOwnUsers();
  }

  function onHistory(msg, ws) {
    const epoch = msg.epoch === undefined || msg.epoch === null ? null : String(msg.epoch);
    const restarted = state.epoch !== null && epoch !== state.epoch;
    if (restarted) {
      // New epoch: ids start over, so forget the ones we have seen.
      state.seen.clear();
      state.lastId = null;
      addNotice(
        'The server restarted. Some messages may have been missed.',
        'warn',
        new Date(),
      );
    } else if (ws.resuming && msg.complete === false) {
      addNotice('Some messages were missed.', 'warn', new Date());
    }
    state.epoch = epoch;
    renderBatch(Array.isArray(msg.messages) ? msg.messages : []);
  }

  // ---------------------------------------------------------------------------
  // Messages list

  function isNearBottom() {
    const m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    el.messages.scrollTop = el.messages.scrollHeight;
    state.unread = 0;
    el.jump.hidden = true;
  }

  function afterAppend(stick, added) {
    if (stick) {
      scrollToBottom();
    } else if (added > 0) {
      state.unread += added;
      const arrow = make('span', '', '↓');
      arrow.setAttribute('aria-hidden', 'true');
      el.jump.replaceChildren(`${state.unread} new message${state.unread === 1 ? '' : 's'} `, arrow);
      el.jump.hidden = false;
    }
  }

  function maybeDayDivider(date) {
    const key = dayKey(date);
    if (key === state.lastDay) return;
    state.lastDay = key;
    const li = make('li', 'notice day');
    li.append(make('span', '', dayLabel(date)));
    el.messages.appendChild(li);
    state.lastAuthor = null;
  }

  function addNotice(text, kind, date) {
    const stick = isNearBottom();
    maybeDayDivider(date);
    const li = make('li', `notice ${kind}`);
    li.append(make('span', 'notice-text', text));
    const time = make('time', '', clockTime(date));
    time.dateTime = date.toISOString();
    li.append(' ', time);
    el.messages.appendChild(li);
    state.lastAuthor = null;
    afterAppend(stick, 0);
  }

  function renderBatch(list) {
    let stick = isNearBottom();
    let added = 0;
    for (const m of list) {
      if (!m || typeof m !== 'object') continue;
      const id = Number(m.id);
      const hasId = m.id !== undefined && m.id !== null && Number.isFinite(id);
      if (hasId) {
        if (state.seen.has(id)) continue; // belt and braces: never show an id twice
        state.seen.add(id);
        if (state.lastId === null || id > state.lastId) state.lastId = id;
      }
      const name = typeof m.name === 'string' ? m.name : '?';
      const own = state.myName !== null && name === state.myName;
      if (own) stick = true; // your own message always brings you down
      el.messages.appendChild(renderMessage(m, hasId ? id : null, name, own));
      added += 1;
    }
    afterAppend(stick, added);
  }

  function renderMessage(m, id, name, own) {
    const date = parseTime(m.ts);
    maybeDayDivider(date);
    const li = make('li', own ? 'message own' : 'message');
    if (id !== null) li.dataset.id = String(id);
    if (state.epoch !== null) li.dataset.epoch = state.epoch;
    li.style.setProperty('--hue', String(nameHue(name)));
    const grouped = state.lastAuthor === name && date.getTime() - state.lastTime < GROUP_MS;
    if (grouped) li.classList.add('grouped');
    state.lastAuthor = name;
    state.lastTime = date.getTime();

    const meta = make('div', 'meta');
    meta.append(make('span', 'author', name));
    const time = make('time', '', clockTime(date));
    time.dateTime = date.toISOString();
    time.title = date.toLocaleString();
    meta.append(' ', time);
    const body = make('div', 'text', typeof m.text === 'string' ? m.text : String(m.text));
    li.append(meta, body);
    return li;
  }

  function currentUsers() {
    return [...el.users.children].map((li) => li.dataset.name);
  }

  function renderUsers(list) {
    const names = [...new Set(list.map(String))].sort();
    const items = names.map((n) => {
      const name = String(n);
      const li = make('li', '', name);
      li.dataset.name = name;
      li.dataset.initial = [...name][0] || '?';
      li.style.setProperty('--hue', String(nameHue(name)));
      return li;
    });
    el.users.replaceChildren(...items);
    el.userCount.textContent = String(names.length);
    markOwnUsers();
  }

  function markOwnUsers() {
    for (const li of el.users.children) {
      li.classList.toggle('me', li.dataset.name === state.myName);
    }
  }

  // ---------------------------------------------------------------------------
  // Alerts (refused input, protocol trouble): dismissable, never swallowed

  function showAlert(text, key, title) {
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

  // ---------------------------------------------------------------------------
  // Frames panel

  function appendFrameEntry(li) {
    const list = el.frameList;
    const stick = list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
    list.appendChild(li);
    while (list.children.length > FRAME_LIMIT) list.firstElementChild.remove();
    state.framesSeen += 1;
    el.frameCount.textContent = String(state.framesSeen);
    if (stick) list.scrollTop = list.scrollHeight;
  }

  function logFrame(direction, text) {
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

  function logEvent(symbol, text, kind) {
    const li = make('li', `frame event${kind ? ` ${kind}` : ''}`);
    li.append(make('time', 'f-time', preciseTime(new Date())));
    li.append(make('span', 'f-dir', symbol));
    li.append(make('span', 'f-body', text));
    appendFrameEntry(li);
  }

  // ---------------------------------------------------------------------------
  // Composer

  // The server's limit is on the whole frame, so count exactly what will be sent:
  // the UTF-8 bytes of {"type":"message","text":"..."} (28 bytes of envelope, plus
  // 2 bytes for each quote or backslash in the text).
  const messageFrame = (text) => JSON.stringify({ type: 'message', text });

  function updateComposer() {
    const left = state.maxBytes - utf8Length(messageFrame(el.input.value));
    el.counter.textContent = String(left);
    el.counter.classList.toggle('low', left >= 0 && left < Math.min(200, state.maxBytes / 10));
    el.counter.classList.toggle('over', left < 0);
    const online = state.phase === 'online' && state.ws !== null && state.ws.readyState === WebSocket.OPEN;
    el.send.disabled = !online || left < 0 || el.input.value.trim() === '';
    el.composer.classList.toggle('disabled', !online);
  }

  function autosize() {
    el.input.style.height = 'auto';
    el.input.style.height = `${Math.min(el.input.scrollHeight, 200)}px`;
  }

  function sendMessage() {
    if (el.send.disabled || !state.ws) return;
    const frame = messageFrame(el.input.value);
    state.ws.send(frame);
    logFrame('out', frame);
    el.input.value = '';
    autosize();
    updateComposer();
  }

  // ---------------------------------------------------------------------------
  // Nickname

  function setWantedName(name, persist) {
    state.name = name;
    state.persistName = persist;
    if (persist) storageSet(NAME_KEY, name);
    // Keep a ?name= in the address bar in step, so a reload keeps the new name.
    const url = new URL(location.href);
    if (url.searchParams.has('name')) {
      if (name) url.searchParams.set('name', name);
      else url.searchParams.delete('name');
      history.replaceState(null, '', url);
    }
  }

  el.nameForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = el.name.value.trim();
    const first = state.name === null;
    if (!first && name === state.myName && state.phase === 'online') return;
    setWantedName(name, true);
    document.body.classList.remove('needs-name');
    state.wanted = true;
    state.attempt = 0;
    if (!first) addNotice(name ? `Rejoining as ${name}…` : 'Rejoining as a guest…', 'system', new Date());
    connect('connecting');
    el.input.focus();
  });

  // ---------------------------------------------------------------------------
  // Wiring

  el.composer.addEventListener('submit', (event) => {
    event.preventDefault();
    sendMessage();
  });

  el.input.addEventListener('keydown', (event) => {
    if (event.key !== 'Enter' || event.shiftKey || event.isComposing || event.keyCode === 229) return;
    event.preventDefault();
    sendMessage();
  });

  el.input.addEventListener('input', () => {
    autosize();
    updateComposer();
  });

  el.messages.addEventListener('scroll', () => {
    if (isNearBottom()) {
      state.unread = 0;
      el.jump.hidden = true;
    }
  });

  el.jump.addEventListener('click', () => {
    scrollToBottom();
    el.input.focus();
  });

  el.toggle.addEventListener('click', () => {
    if (state.wanted) {
      state.wanted = false;
      goOffline('disconnected');
    } else {
      state.wanted = true;
      state.attempt = 0;
      connect('connecting');
    }
  });

  el.framesClear.addEventListener('click', () => {
    el.frameList.replaceChildren();
    state.framesSeen = 0;
    el.frameCount.textContent = '0';
  });

  window.addEventListener('offline', () => {
    if (state.name !== null) goOffline('no network');
  });

  window.addEventListener('online', () => {
    if (state.name !== null && state.wanted && !state.ws) {
      state.attempt = 0;
      connect('connecting');
    }
  });

  // ---------------------------------------------------------------------------
  // Start

  function start() {
    const fromUrl = new URLSearchParams(location.search).get('name');
    const stored = storageGet(NAME_KEY);
    if (fromUrl !== null && fromUrl.trim() !== '') {
      setWantedName(fromUrl.trim(), false); // ?name= wins over the remembered one
    } else if (stored) {
      setWantedName(stored, true);
    }
    updateComposer();
    if (state.name === null) {
      // First visit: ask for a nickname once.
      document.body.classList.add('needs-name');
      setPhase('offline', 'choose a nickname');
      addNotice('Welcome! Choose a nickname above and press Join.', 'system', new Date());
      el.name.focus();
      return;
    }
    el.name.value = state.name;
    el.nameSave.textContent = 'Change';
    connect('connecting');
  }

  start();
})();
