// WebSocketChat page: plain JavaScript, the standard WebSocket API, no build step.
//
// The wire protocol is one JSON object per text frame:
//   client -> server  session (the first frame), message, subscribe, unsubscribe, typing, rooms, rename
//   server -> client  hello, history, users, join, leave, presence, message, typing, rooms,
//                     rename, renamed, error
// and, for the Wire panel, inspect and ping_me out, handshake, frame and frame_skipped in.
// Every connection starts in the default room ("general"); other rooms are joined with
// {"type":"subscribe","room":"rust"}, and each room has its own history, users and ids.
//
// Who you are: the server's hello gives a session (a secret, kept in localStorage and presented
// again in the first frame of every connection, {"type":"session","session":"…"}, never in a URL,
// so every tab of one browser is one person), a public user id and the nickname you got. "Own"
// messages are recognised by that user id, never by the name: names change, and two people can
// have looked alike. Private conversations ("direct messages") are
// keyed by the other person's user id for the same reason.
// Everything received is rendered with textContent, never as HTML.
'use strict';

(function () {
  const RECONNECT_BASE_MS = 500; // first reconnect waits a random time in [0, 500) ms
  const RECONNECT_CAP_MS = 10000; // ... doubling up to [0, 10 s)
  const FRAME_LIMIT = 200; // entries kept in the frames panel
  const FRAME_PREVIEW_CHARS = 2000; // longer frames are shown cut, with their full size
  const WIRE_LIMIT = 200; // entries kept in the Wire panel
  const WIRE_LONG_BYTES = 200; // "send 200 bytes": a frame too long for the 7-bit length (§5.2)
  const WIRE_CLOSE_REASON = 'from the Wire panel';
  const PING_ME_EVERY_MS = 1100; // the server answers ping_me at most once a second (and networks jitter)
  const MAX_ALERTS = 3;
  const NAME_KEY = 'websocketchat.name'; // the nickname to ask for when the session is unknown
  const SESSION_KEY = 'wschat.session'; // the server's session secret: shared by every tab
  const GROUP_MS = 3 * 60 * 1000; // messages by one author this close together share a header
  const NEAR_BOTTOM_PX = 48;
  const DEFAULT_ROOM = 'general'; // until the server's hello names its default room
  const TYPING_SEND_MS = 2000; // at most one "typing" frame per room this often (the server's limit too)
  const TYPING_SHOW_MS = 3000; // "alice is typing…" lasts this long after her last typing event
  const ROOMS_REFRESH_MS = 10000; // the public room list is asked for again this often
  const TYPING_NAMES_SHOWN = 4; // more typers than this are counted, not named
  const ID_HINT_CHARS = 6; // "alice · id LJgLht": enough of a user id to tell two people apart
  const KNOWN_USERS_LIMIT = 5000; // nicknames whose holder's user id the page remembers

  // What the server accepts as a room name (src/chat/room.rs, RoomName::parse), after lower-casing.
  const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;
  const ROOM_NAME_RULE = '1 to 32 characters of a-z, 0-9, - and _, starting with a letter or a digit';

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
    not_subscribed: 'Not in that room.',
  };

  // What the server does to a nickname before using it (src/chat/nickname.rs): control characters
  // removed, then trimmed and cut to 32 characters.
  const NAME_MAX_CHARS = 32;
  const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/g;

  // Refusals of a subscribe: shown next to the room field, not as alerts.
  const ROOM_ERRORS = new Set(['bad_room', 'too_many_rooms']);

  const $ = (id) => document.getElementById(id);
  const el = {
    status: $('status'),
    statusText: $('status-text'),
    toggle: $('connect-toggle'),
    nameForm: $('name-form'),
    name: $('name'),
    nameSave: $('name-save'),
    nameError: $('name-error'),
    skipLink: document.querySelector('.skip-link'),
    roomTitle: $('room-title'),
    messages: $('messages'),
    jump: $('jump'),
    typing: $('typing'),
    alerts: $('alerts'),
    composer: $('composer'),
    input: $('message-input'),
    send: $('send'),
    counter: $('counter'),
    rooms: $('rooms'),
    roomCount: $('room-count'),
    roomForm: $('room-form'),
    roomInput: $('room-input'),
    roomError: $('room-error'),
    publicRooms: $('public-rooms'),
    dms: $('dms'),
    dmCount: $('dm-count'),
    users: $('users'),
    userCount: $('user-count'),
    usersRoom: $('users-room'),
    frames: $('frames'),
    frameList: $('frame-list'),
    frameCount: $('frame-count'),
    framesClear: $('frames-clear'),
    wire: $('wire'),
    wireState: $('wire-state'),
    wireOn: $('wire-on'),
    wirePing: $('wire-ping'),
    wireLong: $('wire-long'),
    wireClose: $('wire-close'),
    wireNote: $('wire-note'),
    wireExplain: $('wire-explain'),
    wireList: $('wire-list'),
    wireClear: $('wire-clear'),
  };

  const encoder = new TextEncoder();
  const utf8Length = (s) => encoder.encode(s).length;

  const state = {
    name: null, // the nickname asked for when connecting (null: not chosen yet)
    session: null, // the session secret from the last hello (localStorage SESSION_KEY)
    user: null, // our public user id (hello.user): what "own" means
    knownUsers: new Map(), // nickname -> user id of its holder, as last seen in a live event
    myName: null, // the name the server settled on (hello, then renamed)
    renameTo: null, // a name typed into the field while offline, asked for with a rename once the hello has come
    wanted: true, // the user wants to be connected (the Connect/Disconnect toggle)
    ws: null,
    greeted: false, // the hello of the current socket arrived: subscribes may be sent
    phase: 'connecting', // connecting | online | reconnecting | offline
    offlineReason: '',
    attempt: 0, // reconnect attempts since the last successful connect
    reconnectTimer: null,
    countdownTimer: null,
    reconnectAt: 0,
    lastClose: null, // text of the last close, for the status tooltip
    maxBytes: 4096,
    ratePerSec: 10, // requests a second the server takes from us (hello): subscribes, typing, rooms
    defaultRoom: DEFAULT_ROOM,
    rooms: new Map(), // name -> room (see newRoom): the rooms the page is in or is joining
    dms: new Map(), // key -> private conversation (see newDm): '@' + the peer's user id
    shown: null, // the key of the conversation on screen: a room's name, or a private one's '@…'
    previous: null, // the one shown before it: shown again when the one shown is left or closed
    usersRoom: null, // the room whose users are listed (the shown one, or the last room shown)
    publicRooms: [], // the last answer to {"type":"rooms"}
    retryTimer: null, // asks again for rooms whose subscribe the rate limit refused
    newBelow: 0, // messages added below the fold of the shown room (the "New messages" button)
    framesSeen: 0,
    wireOn: false, // the Wire panel's switch: every new connection is asked to inspect itself
    wireLive: null, // the socket whose handshake event came: its frames are being shown
    wireClosing: null, // the socket the Wire panel sent a close on
    wirePings: 0,
    wirePingAt: 0,
    wireSeen: 0, // frame events shown since the panel was last cleared
  };

  // One conversation of the page: a room or a private one. The server numbers messages per room
  // and per pair of users, so each keeps its own resume point (epoch and last id) and its own set
  // of ids seen. Its messages live in #messages while it is shown, and in `parked` (a
  // DocumentFragment) while it is not. `key` is what state.shown holds.
  function newRoom(name) {
    return { kind: 'room', key: name, name, ...newConversation() };
  }

  // A private conversation is keyed by the peer's user id: names change, ids do not. Until the
  // server has told us the id (a click on a name in the users list knows only the name), the key
  // is '@?' + the lower-cased name, and adoptDmKey moves it when the history names the user.
  function newDm(user, name) {
    const key = user === null ? `@?${name.toLowerCase()}` : `@${user}`;
    return { kind: 'dm', key, user, name, ...newConversation() };
  }

  function newConversation() {
    return {
      joined: false, // its history came on the current connection
      resuming: false, // the last request for its history carried since/epoch
      epoch: null,
      lastId: null,
      seen: new Set(),
      users: [], // sorted nicknames
      unread: 0, // messages that arrived while another room was shown
      typing: new Map(), // nickname -> the timer that forgets they are typing
      typingSentAt: 0, // when we last told this room we are typing
      askedOn: null, // the socket its last subscribe went out on
      parked: document.createDocumentFragment(),
      scrollTop: null, // where its list was scrolled when hidden (null: at the bottom)
      // Rendering state of its list
      lastAuthor: null,
      lastTime: 0,
      lastDay: null,
    };
  }

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

  /** The nickname the server will make of `raw` (see CONTROL_CHARS); '' when nothing is left. */
  function cleanName(raw) {
    return [...String(raw).replace(CONTROL_CHARS, '').trim()].slice(0, NAME_MAX_CHARS).join('').trim();
  }

  const sameName = (a, b) => a.toLowerCase() === b.toLowerCase(); // names are unique case-insensitively

  /** The room name `raw` stands for, lower-cased as the server does; null when it is not one. */
  function parseRoomName(raw) {
    const name = String(raw).trim().toLowerCase();
    return ROOM_NAME.test(name) ? name : null;
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
    renderWireControls();
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

  // The session says who we are, and it never goes into a URL: proxies and servers write URLs
  // to their logs. `session_in=frame` tells the server that it comes in our first frame
  // (sessionFrame), sent as soon as the connection opens; the server waits for it before the
  // hello. It gives a known session its name back (and ignores `name`), so a reload or a second
  // tab is the same person. Without one (first visit, or the server forgot it) `name` is the
  // nickname asked for.
  // The default room resumes through the URL: the server sends its history right after hello.
  // The other rooms resume with a subscribe each, sent when the hello arrives (see onHello).
  function wsUrl() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const query = [];
    if (state.name) query.push(`name=${encodeURIComponent(state.name)}`);
    query.push('session_in=frame');
    const home = state.rooms.get(state.defaultRoom);
    if (home && home.epoch !== null) {
      // Resume: only what came after the last message we have.
      query.push(`since=${home.lastId === null ? 0 : home.lastId}`);
      query.push(`epoch=${encodeURIComponent(home.epoch)}`);
    }
    return `${scheme}//${location.host}/ws${query.length ? `?${query.join('&')}` : ''}`;
  }

  /**
   * The first frame of every connection: our session, or null when we have none yet. Returns the
   * frame and what the frames panel shows of it (the session as …, like the server's inspector).
   */
  function sessionFrame() {
    // Another tab may have been given a newer session since this one read it.
    const session = storageGet(SESSION_KEY) || state.session || null;
    const frame = JSON.stringify({ type: 'session', session });
    const shown = JSON.stringify({ type: 'session', session: session === null ? null : '…' });
    return [frame, shown];
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
    let ws;
    try {
      ws = new WebSocket(url);
    } catch (err) {
      logEvent('✕', `could not open ${url}: ${err.message}`);
      scheduleReconnect();
      return;
    }
    // A new connection is in no room until the server sends the room's history.
    state.greeted = false;
    for (const conv of conversations()) conv.joined = false;
    const home = state.rooms.get(state.defaultRoom);
    if (home) home.resuming = home.epoch !== null;
    state.ws = ws;
    setPhase(phase);
    logEvent('…', `connecting to ${url}`);

    ws.addEventListener('open', () => {
      if (ws !== state.ws) return;
      logEvent('●', `open ${url}`);
      const [frame, shown] = sessionFrame();
      ws.send(frame);
      logFrame('out', shown);
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
      if (msg && typeof msg === 'object') handle(msg);
    });

    ws.addEventListener('close', (event) => {
      const text = describeClose(event.code, event.reason);
      logEvent('✕', `close ${text}`, 'close');
      state.lastClose = text;
      renderStatusTitle();
      wireClosed(ws, event);
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

  function isOnline() {
    return state.phase === 'online' && state.ws !== null && state.ws.readyState === WebSocket.OPEN;
  }

  /** Sends one JSON object as a text frame and shows it in the frames panel; false when offline. */
  function sendFrame(object) {
    if (!isOnline()) return false;
    const frame = JSON.stringify(object);
    state.ws.send(frame);
    logFrame('out', frame);
    return true;
  }

  // ---------------------------------------------------------------------------
  // Server events

  function handle(msg) {
    noteUsers(msg);
    switch (msg.type) {
      case 'hello':
        onHello(msg);
        return;
      case 'rooms':
        onPublicRooms(msg);
        return;
      case 'error':
        onError(msg);
        return;
      case 'renamed':
        onRenamed(msg);
        return;
      case 'handshake':
      case 'frame':
      case 'frame_skipped':
        onWire(msg);
        return;
      default:
        break;
    }
    // Private messages and the history of a private conversation carry `dm`, never `room`.
    if (msg.type === 'message' && msg.dm === true) {
      onDirectMessage(msg);
      return;
    }
    if (msg.type === 'history' && typeof msg.dm === 'string') {
      onDmHistory(msg);
      return;
    }
    // Every other event belongs to one room (no `room`: the default room). An event for a room
    // the page has left is late news: the unsubscribe crossed it on the wire.
    const room = state.rooms.get(typeof msg.room === 'string' ? msg.room : state.defaultRoom);
    if (!room) return;
    switch (msg.type) {
      case 'history':
        onHistory(room, msg);
        break;
      case 'users':
        setUsers(room, Array.isArray(msg.users) ? msg.users : []);
        break;
      case 'join':
        addNotice(room, `${msg.name ?? 'someone'} joined`, 'join', parseTime(msg.ts));
        // In a big room the server sends only the change, not the whole list.
        if (msg.name != null) setUsers(room, [...room.users, String(msg.name)]);
        break;
      case 'leave':
        addNotice(room, `${msg.name ?? 'someone'} left`, 'leave', parseTime(msg.ts));
        if (msg.name != null) {
          setUsers(room, room.users.filter((n) => n !== String(msg.name)));
          stopTyping(room, String(msg.name));
        }
        break;
      case 'presence': {
        // A room of more than 100 names: instead of users, join and leave, who came and went in
        // the last second, applied as set changes (a name we have may be listed). No notices:
        // in a room that size they would bury the conversation.
        const left = new Set(Array.isArray(msg.left) ? msg.left.map(String) : []);
        const joined = Array.isArray(msg.joined) ? msg.joined.map(String) : [];
        setUsers(room, [...room.users.filter((n) => !left.has(n)), ...joined]);
        for (const name of left) stopTyping(room, name);
        break;
      }
      case 'rename':
        onRename(room, msg);
        break;
      case 'message':
        renderBatch(room, [msg], true);
        if (typeof msg.name === 'string') stopTyping(room, msg.name); // the message they were typing
        break;
      case 'typing':
        // The server does not echo our typing to this connection, but another tab of ours is
        // another connection: our own typing is recognised by the user id.
        if (typeof msg.name === 'string' && !isMe(msg.user)) onTyping(room, msg.name);
        break;
      default:
        // Unknown types are visible in the frames panel; nothing else to do.
        break;
    }
  }

  // Who is who: two names can look alike (or a name can change hands once released), so every
  // name the page shows has its holder's user id on hover, "alice · id LJgLht". The users list
  // has names only (the `users` event carries no ids), so the page remembers who held each name
  // in the live events that carry both; a history is not used, as its names may have changed
  // hands since.

  /** Remembers the holders of the names a live event names with their user ids. */
  function noteUsers(msg) {
    if (msg.type === 'history') return;
    if (msg.type === 'rename') noteUser(msg.to, msg.user);
    else noteUser(msg.name, msg.user);
    if (msg.type === 'message' && msg.dm === true) noteUser(msg.to, msg.to_user);
  }

  function noteUser(name, user) {
    if (typeof name !== 'string' || typeof user !== 'string' || state.knownUsers.get(name) === user) return;
    state.knownUsers.delete(name); // re-inserted last: the oldest go first past the limit
    state.knownUsers.set(name, user);
    if (state.knownUsers.size > KNOWN_USERS_LIMIT) state.knownUsers.delete(state.knownUsers.keys().next().value);
    markOwnUsers();
  }

  /** "alice · id LJgLht": a name and the first characters of its holder's user id, when known. */
  function whoIs(name, user) {
    return typeof user === 'string' && user !== '' ? `${name} · id ${user.slice(0, ID_HINT_CHARS)}` : name;
  }

  /** True when `user` (an event's user id) is us, in this tab or another. */
  function isMe(user) {
    return state.user !== null && user === state.user;
  }

  function onHello(msg) {
    state.attempt = 0; // a successful connect resets the backoff
    state.greeted = true;
    // Keep the session for the next connection of this tab and of every other tab.
    if (typeof msg.session === 'string' && msg.session !== '') {
      state.session = msg.session;
      storageSet(SESSION_KEY, msg.session);
    }
    if (typeof msg.user === 'string') state.user = msg.user;
    if (typeof msg.name === 'string') setMyName(msg.name);
    // `requested` is there only when the name asked for was someone else's.
    if (typeof msg.requested === 'string') {
      addNotice(shownConv(), `${msg.requested} is taken; you are ${state.myName}.`, 'system name-taken', new Date());
    } else if (state.renameTo !== null && state.myName !== null && state.renameTo !== state.myName) {
      // A rename typed into the field while we were offline: asked for now.
      sendFrame({ type: 'rename', name: state.renameTo });
    }
    state.renameTo = null;
    const max = Number(msg.max_message_bytes);
    if (Number.isFinite(max) && max > 0) state.maxBytes = max;
    const home = typeof msg.default_room === 'string' ? parseRoomName(msg.default_room) : null;
    if (home) state.defaultRoom = home;
    if (!state.rooms.has(state.defaultRoom)) addRoom(state.defaultRoom);
    el.nameSave.textContent = 'Change';
    // Requests other than messages have their own allowance: the message rate, but at least one a
    // second per room a connection may be in (src/chat/handler.rs, request_rate).
    const rate = Number(msg.rate_limit_per_sec);
    const rooms = Number(msg.max_rooms_per_connection);
    if (Number.isFinite(rate) && rate > 0) {
      state.ratePerSec = Number.isFinite(rooms) && rooms > rate ? rooms : rate;
    }
    // Private messages that came while no connection of ours was open, counted per peer.
    if (Array.isArray(msg.unread_dms)) addUnreadDms(msg.unread_dms);
    // The server put this connection in the default room; every other room the page is in, and
    // every private conversation it has opened, is asked for again, each from where it left off.
    resubscribeAll();
    requestPublicRooms();
    // Inspection belongs to a connection: a new one is asked again.
    if (state.wireOn) sendFrame({ type: 'inspect', on: true });
    renderWireControls();
    renderStatusTitle();
    renderRoomList();
    renderDmList();
    updateComposer();
  }

  /** The name the server says is ours: shown in the field, remembered, and in the address. */
  function setMyName(name) {
    state.myName = name;
    if (state.user !== null) noteUser(name, state.user);
    if (document.activeElement !== el.name) el.name.value = name;
    // Asked for again only if the server forgets our session (NAME_RESERVE_SECS after our last
    // tab closed): the session decides who we are, so this is the same for every tab.
    state.name = name;
    storageSet(NAME_KEY, name);
    // Keep a ?name= in the address bar in step, so a reload does not ask for the old name.
    const url = new URL(location.href);
    if (url.searchParams.has('name') && url.searchParams.get('name') !== name) {
      url.searchParams.set('name', name);
      history.replaceState(null, '', url);
    }
    const self = state.user === null ? undefined : state.dms.get(`@${state.user}`);
    if (self) self.name = name;
    markOwnUsers();
    renderStatusTitle();
    renderDmList();
    if (shownConv() && shownConv().kind === 'dm') renderConvHead();
  }

  // Every tab of our session gets its own `renamed`, whichever tab asked. Across instances a name
  // claimed twice at once goes to one of the two; the other gets `renamed` with `requested`.
  function onRenamed(msg) {
    if (typeof msg.name !== 'string') return;
    clearNameError();
    setMyName(msg.name);
    if (typeof msg.requested === 'string') {
      addNotice(shownConv(), `${msg.requested} is taken; you are ${msg.name}.`, 'system name-taken', new Date());
    }
  }

  // Someone in this room changed their name (maybe us): the users list follows in its own event.
  function onRename(room, msg) {
    if (typeof msg.from !== 'string' || typeof msg.to !== 'string') return;
    addNotice(room, `${msg.from} is now ${msg.to}`, 'rename', parseTime(msg.ts));
    stopTyping(room, msg.from);
    // A private conversation with them shows their new name.
    const dm = typeof msg.user === 'string' ? state.dms.get(`@${msg.user}`) : undefined;
    if (dm && dm.name !== msg.to) {
      dm.name = msg.to;
      renderDmList();
      if (dm.key === state.shown) renderConvHead();
    }
  }

  function onHistory(room, msg) {
    const epoch = msg.epoch === undefined || msg.epoch === null ? null : String(msg.epoch);
    const restarted = room.epoch !== null && epoch !== room.epoch;
    const resumed = room.resuming;
    if (restarted) {
      // New epoch: ids start over, so forget the ones we have seen.
      room.seen.clear();
      room.lastId = null;
      addNotice(room, 'The server restarted. Some messages may have been missed.', 'warn', new Date());
    } else if (resumed && msg.complete === false) {
      addNotice(room, 'Some messages were missed.', 'warn', new Date());
    }
    room.epoch = epoch;
    room.resuming = false;
    room.joined = true;
    // What a resume brings was sent while we were away: it counts as unread in a hidden room.
    renderBatch(room, Array.isArray(msg.messages) ? msg.messages : [], resumed || restarted);
    renderRoomList();
    renderDmList();
    updateComposer();
  }

  function onError(msg) {
    if (msg.code === 'session_expired') {
      // The hello just before carried a fresh session (already stored): we are a new person to the
      // server, with the name asked for or the first free one after it. Nothing else to do.
      addNotice(shownConv(), 'Your session had expired; you have a new one.', 'system', new Date());
      return;
    }
    if (msg.code === 'name_taken') {
      showNameError(msg.message || `${msg.name ?? 'That name'} is taken.`);
      return;
    }
    if (msg.code === 'no_such_user') {
      onNoSuchUser(msg);
      return;
    }
    if (msg.code === 'disabled') {
      wireRefused(msg);
      return;
    }
    const room = typeof msg.room === 'string' ? state.rooms.get(msg.room) : undefined;
    if (ROOM_ERRORS.has(msg.code)) {
      // The server did not let us in: the room goes from the list, and the reason is shown
      // next to the field it was asked for with.
      if (room && room.name !== state.defaultRoom && !room.joined) dropRoom(room);
      showRoomError(msg.message || `The server refused the room (${msg.code}).`);
      return;
    }
    // About a room the page has left already: an unsubscribe for a room the server never let us
    // into (its subscribe was refused by the rate limit). Nothing to tell the user.
    if (msg.code === 'not_subscribed' && typeof msg.room === 'string' && !room) return;
    if (msg.code === 'rate_limited') retrySubscribes();
    const about = room ? ` (#${room.name})` : '';
    showAlert(`${msg.message || 'The server refused that.'}${about}`, msg.code || 'error', ERROR_TITLES[msg.code]);
  }

  // ---------------------------------------------------------------------------
  // Rooms: the ones the page is in, the one shown, the address bar and the public list

  function addRoom(name) {
    const room = newRoom(name);
    state.rooms.set(name, room);
    return room;
  }

  /** Every conversation of the page: the rooms, then the private ones. */
  function conversations() {
    return [...state.rooms.values(), ...state.dms.values()];
  }

  /** The conversation `key` names: '@…' a private one, anything else a room. */
  function convByKey(key) {
    if (typeof key !== 'string') return undefined;
    return key.startsWith('@') ? state.dms.get(key) : state.rooms.get(key);
  }

  function shownConv() {
    return convByKey(state.shown);
  }

  /**
   * Asks for a conversation's history (a room's also brings its users); with since/epoch when the
   * page has had it before. A private one is asked for by the peer's name, the only handle the
   * protocol has; the answer names the user id (see onDmHistory).
   */
  function subscribe(conv) {
    const frame = conv.kind === 'dm' ? { type: 'subscribe', dm: conv.name } : { type: 'subscribe', room: conv.name };
    conv.resuming = conv.epoch !== null;
    if (conv.resuming) {
      frame.since = conv.lastId === null ? 0 : conv.lastId;
      frame.epoch = conv.epoch;
    }
    conv.askedOn = state.ws;
    sendFrame(frame);
  }

  /**
   * The conversations to ask for again on this connection: every room but the default one (the
   * server put us there already), and each private one the page has opened. A private one that
   * only ever received live messages is asked for when it is opened.
   */
  function awaitingSubscribe() {
    return conversations().filter((conv) => {
      if (conv.joined) return false;
      if (conv.kind === 'room') return conv.name !== state.defaultRoom;
      return conv.epoch !== null || conv.key === state.shown;
    });
  }

  // Subscribes count against the requests' allowance (subscribe, unsubscribe, typing, rooms): a
  // bucket of twice max(rate_limit_per_sec, max_rooms_per_connection) frames, refilled at that
  // rate (src/chat/rate_limit.rs). A page coming back into its rooms can ask for all of them at
  // once; should it ever be in more, it sends the first `rate` at once and the rest at half the
  // rate, so the resume does not look like a flood (closed with 1008).
  function resubscribeAll() {
    const ws = state.ws;
    const rate = Math.max(1, Math.floor(state.ratePerSec));
    const keys = awaitingSubscribe().map((conv) => conv.key);
    keys.forEach((key, i) => {
      const send = () => {
        const conv = convByKey(key); // undefined when left or closed meanwhile
        if (ws === state.ws && conv && !conv.joined) subscribe(conv);
      };
      if (i < rate) send();
      else setTimeout(send, ((i - rate + 1) * 2000) / rate);
    });
  }

  // A subscribe refused by the rate limit: once the bucket has refilled (two seconds at most),
  // conversations still waiting are asked again.
  function retrySubscribes() {
    if (awaitingSubscribe().length === 0 || state.retryTimer !== null) return;
    state.retryTimer = setTimeout(() => {
      state.retryTimer = null;
      resubscribeAll();
    }, 2000);
  }

  /** Shows room `name`, joining it first when the page is not in it yet. */
  function openRoom(name) {
    let room = state.rooms.get(name);
    if (!room) {
      room = addRoom(name);
      // Offline, or before the hello: onHello subscribes every room the page is in. The server
      // answers one connection's requests in order, so the list asked for next counts us in.
      if (state.greeted) {
        subscribe(room);
        requestPublicRooms();
      }
      renderPublicRooms();
    }
    showConv(room);
  }

  function leaveRoom(room) {
    if (room.name === state.defaultRoom) return;
    sendFrame({ type: 'unsubscribe', room: room.name });
    dropRoom(room);
    requestPublicRooms();
  }

  /** Forgets a room (left, or refused by the server); if it was shown, the one shown before it is. */
  function dropRoom(room) {
    for (const timer of room.typing.values()) clearTimeout(timer);
    showAnotherThan(room);
    state.rooms.delete(room.name);
    if (state.usersRoom === room.key) {
      state.usersRoom = state.defaultRoom;
      renderUsers();
    }
    renderRoomList();
    renderPublicRooms();
  }

  /** When `conv` is shown, shows the conversation shown before it (or the default room) instead. */
  function showAnotherThan(conv) {
    if (state.shown !== conv.key) return;
    const back = state.previous !== conv.key && convByKey(state.previous);
    showConv(back || state.rooms.get(state.defaultRoom));
  }

  // Switching conversations moves the shown one's messages out of #messages into its fragment,
  // and the new one's in: the nodes are kept, so nothing is rendered twice and scroll positions
  // survive.
  function showConv(conv) {
    const current = shownConv();
    if (current !== conv) {
      if (current) {
        current.scrollTop = isNearBottom() ? null : el.messages.scrollTop;
        while (el.messages.firstChild) current.parked.appendChild(el.messages.firstChild);
        state.previous = current.key;
      }
      state.shown = conv.key;
      // The users list stays on the last room shown: its names are who you can write to.
      if (conv.kind === 'room') state.usersRoom = conv.key;
      el.messages.appendChild(conv.parked); // moves the children; the fragment is empty again
      el.messages.scrollTop = conv.scrollTop === null ? el.messages.scrollHeight : conv.scrollTop;
      state.newBelow = 0;
      el.jump.hidden = true;
      renderConvHead();
      renderUsers();
      renderTyping();
      updateComposer();
    }
    conv.unread = 0;
    renderRoomList();
    renderDmList();
    if (conv.kind === 'room') setHash(conv.name);
  }

  /** The heading and the tab's title name the conversation shown: #rust, or @bob for a private one. */
  function renderConvHead() {
    const conv = shownConv();
    if (!conv) return;
    const title = conv.kind === 'room' ? `#${conv.name}` : `@${conv.name}`;
    el.roomTitle.textContent = title;
    el.roomTitle.dataset.kind = conv.kind;
    el.roomTitle.title = conv.kind === 'room' ? '' : dmDescription(conv);
    document.title = `${title} · WebSocketChat`;
    if (conv.kind === 'room') el.input.placeholder = 'Write a message…';
    else el.input.placeholder = isMe(conv.user) ? 'Write a note to yourself…' : `Write to ${conv.name} privately…`;
  }

  function dmDescription(dm) {
    return isMe(dm.user) ? 'Notes to yourself: only you see them' : `Private conversation with ${whoIs(dm.name, dm.user)}`;
  }

  // The address remembers the room shown (#rust), so a link opens it and Back goes to the last one.
  // Private conversations stay out of it: a link is for sharing, and they are not.

  /** The room the address names: the default room without a hash, null when it is not a room. */
  function roomFromHash() {
    let raw = location.hash.slice(1);
    try {
      raw = decodeURIComponent(raw);
    } catch (_) {
      return null; // a stray % in the address
    }
    return raw === '' ? state.defaultRoom : parseRoomName(raw);
  }

  function setHash(name) {
    if (roomFromHash() !== name) location.hash = name;
  }

  function followHash() {
    const name = roomFromHash();
    if (name !== null) {
      openRoom(name);
      return;
    }
    showRoomError(`The address names no room: “${location.hash.slice(1)}” is not ${ROOM_NAME_RULE}.`);
    showConv(shownConv() || state.rooms.get(state.defaultRoom));
  }

  // ---------------------------------------------------------------------------
  // Private conversations: {"type":"message","to":"bob",…} and {"type":"subscribe","dm":"bob"}

  function addDm(dm) {
    state.dms.set(dm.key, dm);
    return dm;
  }

  function findDmByName(name) {
    return [...state.dms.values()].find((dm) => sameName(dm.name, name));
  }

  /** The conversation with user id `user` (made when there is none), under their latest `name`. */
  function dmWith(user, name) {
    let dm = state.dms.get(`@${user}`);
    if (!dm) {
      // Perhaps opened by its name a moment ago, before the server told us whose it is.
      const pending = state.dms.get(`@?${name.toLowerCase()}`);
      dm = pending ? adoptDmKey(pending, user) : addDm(newDm(user, name));
    }
    if (dm.name !== name) {
      dm.name = name;
      if (dm.key === state.shown) renderConvHead();
    }
    return dm;
  }

  /** A conversation opened by name learns its user id: from now on it is keyed by it. */
  function adoptDmKey(pending, user) {
    const oldKey = pending.key;
    state.dms.delete(oldKey);
    const known = state.dms.get(`@${user}`);
    const dm = known || pending; // we had one with them already, under an older name
    if (!known) {
      dm.user = user;
      dm.key = `@${user}`;
      addDm(dm);
    }
    if (state.previous === oldKey) state.previous = dm.key;
    if (state.shown === oldKey) {
      if (known) {
        state.shown = null; // the pending one's list is dropped, not parked
        el.messages.replaceChildren();
        showConv(known);
      } else {
        state.shown = dm.key;
        renderConvHead(); // its title now names whose it is
      }
    }
    return dm;
  }

  /** Opens the private conversation with `name` (a click in the users list; our own name: notes). */
  function openDm(name) {
    let dm;
    if (state.myName !== null && state.user !== null && sameName(name, state.myName)) {
      dm = dmWith(state.user, state.myName);
    } else {
      dm = findDmByName(name) || addDm(newDm(null, name));
    }
    // Its history comes once per connection; before the hello, onHello asks for it.
    if (state.greeted && !dm.joined && dm.askedOn !== state.ws) subscribe(dm);
    showConv(dm);
    el.input.focus();
  }

  function closeDm(dm) {
    // No unsubscribe: a private message reaches both people whatever they have open. One that
    // arrives later opens the conversation in the list again.
    showAnotherThan(dm);
    state.dms.delete(dm.key);
    renderDmList();
  }

  // A private message reaches every connection of both people, whether or not they have the
  // conversation open. The other person is the recipient when we sent it (from this tab or
  // another), else the sender; in a note to self we are both.
  function onDirectMessage(msg) {
    const mine = isMe(msg.user);
    const user = mine ? msg.to_user : msg.user;
    const name = mine ? msg.to : msg.name;
    if (typeof user !== 'string' || typeof name !== 'string') return;
    const dm = dmWith(user, name);
    renderBatch(dm, [msg], true);
    renderDmList();
  }

  function onDmHistory(msg) {
    if (typeof msg.user !== 'string') return;
    const dm = dmWith(msg.user, msg.dm);
    if (dm.epoch === null) {
      // The first history of this conversation: live messages shown before it are in it too, and
      // in their place among the older ones.
      clearList(dm);
    }
    onHistory(dm, msg);
  }

  // Nobody holds that name (they never did, or the name was freed). The error names it in `to`.
  function onNoSuchUser(msg) {
    const name = typeof msg.to === 'string' ? msg.to : '';
    const dm = name === '' ? undefined : findDmByName(name);
    const text = msg.message || `Nobody is called ${name}.`;
    if (dm) addNotice(dm, text, 'warn', new Date());
    else showAlert(text, 'no_such_user', 'No such user.');
  }

  // hello.unread_dms: [{name, user, count}], what came while no connection of ours was open. A
  // conversation the page has loaded counts them itself when its resume brings them.
  function addUnreadDms(list) {
    for (const entry of list) {
      if (!entry || typeof entry.user !== 'string' || typeof entry.name !== 'string') continue;
      noteUser(entry.name, entry.user);
      const count = Number(entry.count);
      const dm = dmWith(entry.user, entry.name);
      if (dm.epoch === null && dm.key !== state.shown && Number.isFinite(count) && count > 0) dm.unread += count;
    }
  }

  function requestPublicRooms() {
    if (state.greeted) sendFrame({ type: 'rooms' });
  }

  function onPublicRooms(msg) {
    const list = Array.isArray(msg.rooms) ? msg.rooms : [];
    state.publicRooms = list
      .filter((r) => r && typeof r.room === 'string')
      .map((r) => ({ room: r.room, users: Number(r.users) || 0 }));
    renderPublicRooms();
  }

  function renderRoomList() {
    // The default room first, then the others in the order they were joined.
    const rooms = [...state.rooms.values()].sort(
      (a, b) => (b.name === state.defaultRoom) - (a.name === state.defaultRoom),
    );
    const items = rooms.map((room) => {
      const li = make('li', 'room');
      li.dataset.room = room.name;
      li.classList.toggle('shown', room.name === state.shown);
      li.classList.toggle('pending', !room.joined);
      const open = make('button', 'room-open');
      open.type = 'button';
      open.append(make('span', 'room-name', `#${room.name}`));
      if (room.name === state.shown) open.setAttribute('aria-current', 'true');
      if (room.unread > 0) {
        const badge = make('span', 'unread', String(room.unread));
        badge.title = `${room.unread} unread`;
        open.append(badge);
        open.setAttribute('aria-label', `#${room.name}, ${room.unread} unread`);
      }
      open.addEventListener('click', () => {
        showConv(room);
        el.input.focus();
      });
      li.append(open);
      if (room.name !== state.defaultRoom) {
        const leave = make('button', 'room-leave', '×');
        leave.type = 'button';
        leave.title = `Leave #${room.name}`;
        leave.setAttribute('aria-label', `Leave #${room.name}`);
        leave.addEventListener('click', () => leaveRoom(room));
        li.append(leave);
      }
      return li;
    });
    el.rooms.replaceChildren(...items);
    el.roomCount.textContent = String(rooms.length);
  }

  // "Direct messages": one entry per person, under their latest name, with its unread count and
  // a × that closes it (it comes back with their next message).
  function renderDmList() {
    const items = [...state.dms.values()].map((dm) => {
      const li = make('li', 'room dm');
      li.dataset.name = dm.name;
      if (dm.user !== null) li.dataset.user = dm.user;
      li.classList.toggle('shown', dm.key === state.shown);
      li.classList.toggle('pending', !dm.joined && dm.askedOn !== null && dm.askedOn === state.ws);
      li.classList.toggle('self', isMe(dm.user));
      li.style.setProperty('--hue', String(nameHue(dm.name)));
      const open = make('button', 'room-open');
      open.type = 'button';
      open.title = dmDescription(dm);
      open.append(make('span', 'room-name', dm.name));
      if (isMe(dm.user)) open.append(make('span', 'dm-self', 'you'));
      if (dm.key === state.shown) open.setAttribute('aria-current', 'true');
      if (dm.unread > 0) {
        const badge = make('span', 'unread', String(dm.unread));
        badge.title = `${dm.unread} unread`;
        open.append(badge);
        open.setAttribute('aria-label', `${dm.name}, ${dm.unread} unread`);
      }
      open.addEventListener('click', () => openDm(dm.name));
      const close = make('button', 'room-leave dm-close', '×');
      close.type = 'button';
      close.title = `Close the conversation with ${dm.name}`;
      close.setAttribute('aria-label', close.title);
      close.addEventListener('click', () => closeDm(dm));
      li.append(open, close);
      return li;
    });
    if (items.length === 0) items.push(make('li', 'public-empty', 'Click a name under “Online” to write privately.'));
    el.dms.replaceChildren(...items);
    el.dmCount.textContent = String(state.dms.size);
  }

  function renderPublicRooms() {
    const items = state.publicRooms.map(({ room, users }) => {
      const li = make('li', 'public-room');
      li.dataset.room = room;
      li.classList.toggle('member', state.rooms.has(room));
      const button = make('button', 'public-open');
      button.type = 'button';
      button.append(make('span', 'room-name', `#${room}`), make('span', 'count', String(users)));
      button.title = `${users} ${users === 1 ? 'person' : 'people'} in #${room}`;
      button.addEventListener('click', () => {
        const name = parseRoomName(room);
        if (name) openRoom(name);
      });
      li.append(button);
      return li;
    });
    if (items.length === 0) items.push(make('li', 'public-empty', state.greeted ? 'No rooms yet.' : '…'));
    el.publicRooms.replaceChildren(...items);
  }

  function showRoomError(text) {
    showFieldError(el.roomInput, el.roomError, text);
  }

  function clearRoomError() {
    clearFieldError(el.roomInput, el.roomError);
  }

  // A field's error line, under it, and the field marked invalid for assistive technology.
  function showFieldError(field, line, text) {
    line.textContent = text;
    line.hidden = false;
    field.setAttribute('aria-invalid', 'true');
  }

  function clearFieldError(field, line) {
    line.hidden = true;
    line.textContent = '';
    field.removeAttribute('aria-invalid');
  }

  // ---------------------------------------------------------------------------
  // Messages list: each room renders into its own list (see showRoom)

  function listOf(conv) {
    return conv.key === state.shown ? el.messages : conv.parked;
  }

  /** Empties a conversation's list, forgetting the ids it showed. */
  function clearList(conv) {
    if (conv.key === state.shown) el.messages.replaceChildren();
    else conv.parked = document.createDocumentFragment();
    conv.seen.clear();
    conv.lastId = null;
    conv.lastAuthor = null;
    conv.lastTime = 0;
    conv.lastDay = null;
  }

  function isNearBottom() {
    const m = el.messages;
    return m.scrollHeight - m.scrollTop - m.clientHeight < NEAR_BOTTOM_PX;
  }

  function scrollToBottom() {
    el.messages.scrollTop = el.messages.scrollHeight;
    state.newBelow = 0;
    el.jump.hidden = true;
  }

  function afterAppend(room, stick, added) {
    if (room.key !== state.shown) return;
    if (stick) {
      scrollToBottom();
    } else if (added > 0) {
      state.newBelow += added;
      const arrow = make('span', '', '↓');
      arrow.setAttribute('aria-hidden', 'true');
      el.jump.replaceChildren(`${state.newBelow} new message${state.newBelow === 1 ? '' : 's'} `, arrow);
      el.jump.hidden = false;
    }
  }

  function maybeDayDivider(room, date) {
    const key = dayKey(date);
    if (key === room.lastDay) return;
    room.lastDay = key;
    const li = make('li', 'notice day');
    li.append(make('span', '', dayLabel(date)));
    listOf(room).appendChild(li);
    room.lastAuthor = null;
  }

  function addNotice(room, text, kind, date) {
    const stick = room.key === state.shown && isNearBottom();
    maybeDayDivider(room, date);
    const li = make('li', `notice ${kind}`);
    li.append(make('span', 'notice-text', text));
    const time = make('time', '', clockTime(date));
    time.dateTime = date.toISOString();
    li.append(' ', time);
    listOf(room).appendChild(li);
    room.lastAuthor = null;
    afterAppend(room, stick, 0);
  }

  /** Renders messages of one conversation, skipping ids it already shows; `fresh`: count them as unread. */
  function renderBatch(room, list, fresh) {
    const shown = room.key === state.shown;
    let stick = shown && isNearBottom();
    let added = 0;
    for (const m of list) {
      if (!m || typeof m !== 'object') continue;
      const id = Number(m.id);
      const hasId = m.id !== undefined && m.id !== null && Number.isFinite(id);
      if (hasId) {
        if (room.seen.has(id)) continue; // a resume overlapping what we have: never show an id twice
        room.seen.add(id);
        if (room.lastId === null || id > room.lastId) room.lastId = id;
      }
      const name = typeof m.name === 'string' ? m.name : '?';
      // Ours when sent by our user id, from this tab or another: never compared by name.
      const own = isMe(m.user);
      if (own) stick = true; // your own message always brings you down
      else if (fresh && !shown) room.unread += 1;
      listOf(room).appendChild(renderMessage(room, m, hasId ? id : null, name, own));
      added += 1;
    }
    afterAppend(room, stick, added);
    if (!shown && added > 0) {
      renderRoomList();
      renderDmList();
    }
  }

  function renderMessage(room, m, id, name, own) {
    const date = parseTime(m.ts);
    maybeDayDivider(room, date);
    const li = make('li', own ? 'message own' : 'message');
    if (id !== null) li.dataset.id = String(id);
    if (room.epoch !== null) li.dataset.epoch = room.epoch;
    li.style.setProperty('--hue', String(nameHue(name)));
    const author = typeof m.user === 'string' ? m.user : name; // grouped by person, not by name
    const grouped = room.lastAuthor === author && date.getTime() - room.lastTime < GROUP_MS;
    if (grouped) li.classList.add('grouped');
    room.lastAuthor = author;
    room.lastTime = date.getTime();

    const meta = make('div', 'meta');
    const who = make('span', 'author', name);
    who.title = whoIs(name, m.user);
    meta.append(who);
    const time = make('time', '', clockTime(date));
    time.dateTime = date.toISOString();
    time.title = date.toLocaleString();
    meta.append(' ', time);
    const body = make('div', 'text', typeof m.text === 'string' ? m.text : String(m.text));
    li.append(meta, body);
    return li;
  }

  // ---------------------------------------------------------------------------
  // Users list: the shown room's (while a private conversation is shown, the last room's). The
  // server lists names, one per person (several tabs of one session are one name), and a name is
  // held by one person at a time: so "you" is the entry with our name. A click on a name opens a
  // private conversation with them.

  function setUsers(room, list) {
    room.users = [...new Set(list.map(String))].sort();
    if (room.key === state.usersRoom) renderUsers();
  }

  function renderUsers() {
    const room = state.rooms.get(state.usersRoom);
    const names = room ? room.users : [];
    const items = names.map((name) => {
      const li = make('li');
      li.dataset.name = name;
      li.dataset.initial = [...name][0] || '?';
      li.style.setProperty('--hue', String(nameHue(name)));
      const open = make('button', 'user-open', name);
      open.type = 'button';
      open.addEventListener('click', () => openDm(name));
      li.append(open);
      return li;
    });
    el.users.replaceChildren(...items);
    el.userCount.textContent = String(names.length);
    el.usersRoom.textContent = room ? `in #${room.name}` : '';
    markOwnUsers();
  }

  function markOwnUsers() {
    for (const li of el.users.children) {
      const me = li.dataset.name === state.myName;
      li.classList.toggle('me', me);
      const who = whoIs(li.dataset.name, me ? state.user : state.knownUsers.get(li.dataset.name));
      li.firstElementChild.title = me ? `${who}: write a note to yourself` : `${who}: write privately`;
    }
  }

  // ---------------------------------------------------------------------------
  // Typing: "alice is typing…" for TYPING_SHOW_MS after her last typing event

  function onTyping(room, name) {
    clearTimeout(room.typing.get(name));
    room.typing.set(
      name,
      setTimeout(() => stopTyping(room, name), TYPING_SHOW_MS),
    );
    if (room.key === state.shown) renderTyping();
  }

  function stopTyping(room, name) {
    if (!room.typing.has(name)) return;
    clearTimeout(room.typing.get(name));
    room.typing.delete(name);
    if (room.key === state.shown) renderTyping();
  }

  function renderTyping() {
    const room = shownConv();
    const text = typingText(room ? [...room.typing.keys()].sort() : []);
    if (el.typing.textContent !== text) el.typing.textContent = text;
  }

  // "alice is typing…", "alice and bob are typing…", "alice, bob and carol are typing…";
  // beyond TYPING_NAMES_SHOWN names: "alice, bob, carol and 4 others are typing…".
  function typingText(names) {
    if (names.length === 0) return '';
    if (names.length === 1) return `${names[0]} is typing…`;
    let shown = names.slice(0, -1);
    let last = names[names.length - 1];
    if (names.length > TYPING_NAMES_SHOWN) {
      shown = names.slice(0, TYPING_NAMES_SHOWN - 1);
      last = `${names.length - shown.length} others`;
    }
    return `${shown.join(', ')} and ${last} are typing…`;
  }

  /** Called as the user types: tells the shown room, at most once every TYPING_SEND_MS. */
  function noteTyping() {
    const room = shownConv();
    // Typing is a room event: the protocol has none for private conversations.
    if (!room || room.kind !== 'room' || !room.joined || el.input.value.trim() === '') return;
    const now = Date.now();
    if (now - room.typingSentAt < TYPING_SEND_MS) return;
    if (sendFrame({ type: 'typing', room: room.name })) room.typingSentAt = now;
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
  // Wire panel: this connection's frames, byte by byte, as the server read and wrote them
  //
  // A script never sees frames: the browser builds, masks and unmasks them under the WebSocket
  // API. So the page asks the server: {"type":"inspect","on":true} brings a `handshake` event,
  // then a `frame` event for every frame of this connection (src/chat/inspect.rs). Inspection
  // belongs to a connection, so the switch is sent again on each new one (onHello). "in" and
  // "out" are the server's: in is browser → server, out is server → browser.
  //
  // Each frame is drawn as RFC 6455 §5.2 draws it: the first two bytes bit by bit (FIN, RSV1-3,
  // opcode, MASK, payload length), then the extended length and the masking key, then the
  // payload in groups of four bytes, the period of the mask (§5.3): for a masked frame each
  // group shows the bytes as they crossed the wire over the same bytes unmasked. Every field
  // is a button whose one-line explanation (with its §) shows under the switch.

  const OPCODES = {
    0: ['continuation', 'a continuation frame: the next piece of a fragmented message, §5.4'],
    1: ['text', 'a text frame: the payload is UTF-8 text, §5.6'],
    2: ['binary', 'a binary frame: the payload is bytes for the application, §5.6'],
    8: ['close', 'a close frame: a 2-byte status code and a reason may follow, §5.5.1'],
    9: ['ping', 'a ping: the other side must answer with a pong carrying the same payload, §5.5.2'],
    10: ['pong', 'a pong: the answer to a ping, with the ping\u2019s payload, §5.5.3'],
  };

  /** "81 85 37" -> [0x81, 0x85, 0x37]; anything that is not hex is dropped. */
  function hexBytes(text) {
    return typeof text === 'string' ? (text.match(/[0-9a-f]{2}/gi) || []).map((h) => parseInt(h, 16)) : [];
  }

  const hex = (b) => b.toString(16).padStart(2, '0');
  const hexOf = (bytes) => bytes.map(hex).join(' ');
  const bitsOf = (value, width) => value.toString(2).padStart(width, '0');

  /** The bytes as UTF-8 text; a character cut at the end (a truncated payload) is left out. */
  function utf8Text(bytes) {
    return new TextDecoder('utf-8').decode(new Uint8Array(bytes), { stream: true });
  }

  function wireState() {
    if (!state.wireOn) return 'off';
    return state.wireLive !== null && state.wireLive === state.ws ? String(state.wireSeen) : 'on';
  }

  function renderWireControls() {
    const live = state.wireOn && isOnline() && state.wireLive === state.ws;
    el.wirePing.disabled = !live || Date.now() - state.wirePingAt < PING_ME_EVERY_MS;
    el.wireLong.disabled = !live;
    el.wireClose.disabled = !live;
    el.wireOn.checked = state.wireOn;
    el.wireState.textContent = wireState();
    let note = 'Off: switch it on to see your frames.';
    if (live) note = 'On: every frame of this connection is shown below.';
    else if (state.wireOn && isOnline()) note = 'On: waiting for the server…';
    else if (state.wireOn) note = 'On: it starts again once the page is connected.';
    if (el.wireNote.dataset.refused !== 'true' && el.wireNote.textContent !== note) el.wireNote.textContent = note;
  }

  function setWire(on) {
    state.wireOn = on;
    delete el.wireNote.dataset.refused;
    el.wireNote.classList.remove('refused');
    // Before the hello, onHello sends it.
    if (state.greeted && sendFrame({ type: 'inspect', on })) {
      if (!on) wireLine('Switched off: the server shows no more frames.');
    }
    if (!on) state.wireLive = null;
    renderWireControls();
  }

  function onWire(msg) {
    if (msg.type === 'handshake') {
      if (!state.wireOn) return;
      state.wireLive = state.ws;
      appendWire((at) => renderHandshake(msg, at));
      renderWireControls();
    } else if (msg.type === 'frame') {
      if (!state.wireOn) return; // still on the wire when the switch went off
      state.wireSeen += 1;
      appendWire((at) => renderFrame(msg, at));
      el.wireState.textContent = wireState();
    } else {
      const n = Number(msg.count) || 0;
      wireLine(`${n} frame${n === 1 ? '' : 's'} not shown: the server sends at most INSPECT_MAX_EVENTS_PER_SEC frame events a second.`, 'skipped');
    }
  }

  // INSPECT_ENABLED=false: the server's own words, in the panel, and the switch back off.
  function wireRefused(msg) {
    state.wireOn = false;
    state.wireLive = null;
    const text = `Refused by the server: ${msg.message || 'the wire inspector is switched off'}.`;
    wireLine(text, 'refused');
    el.wireNote.textContent = text;
    el.wireNote.dataset.refused = 'true';
    el.wireNote.classList.add('refused');
    renderWireControls();
  }

  // Once the page has called close(), the browser delivers no more messages (WHATWG WebSockets):
  // the server's frame events about the closing handshake never arrive. What the page knows is
  // the close frame it asked for and the CloseEvent, which carries the server's answer.
  function wireSendClose() {
    if (el.wireClose.disabled) return;
    const ws = state.ws;
    state.wireClosing = ws;
    appendWire((at) => renderPageClose(1000, WIRE_CLOSE_REASON, at));
    ws.close(1000, WIRE_CLOSE_REASON); // state.ws stays: its close event reconnects as after any close
    renderWireControls();
  }

  function wireClosed(ws, event) {
    if (ws === state.wireClosing) {
      state.wireClosing = null;
      appendWire((at) => renderCloseEvent(event, at));
      wireLine('Reconnecting, as after any close; the new connection is inspected from its handshake.');
    } else if (state.wireOn && ws === state.wireLive) {
      wireLine(`Connection closed: ${describeClose(event.code, event.reason)}. The next one is inspected from its handshake.`);
    }
    if (ws === state.wireLive) state.wireLive = null;
    renderWireControls();
  }

  function wirePing() {
    if (el.wirePing.disabled) return;
    state.wirePings += 1;
    if (!sendFrame({ type: 'ping_me', payload: `ping ${state.wirePings}` })) return;
    state.wirePingAt = Date.now();
    renderWireControls();
    setTimeout(renderWireControls, PING_ME_EVERY_MS);
  }

  /** A chat message to the conversation shown whose frame is exactly WIRE_LONG_BYTES bytes. */
  function wireSendLong() {
    if (el.wireLong.disabled) return;
    const envelope = utf8Length(JSON.stringify(messageFrame('')));
    let text = 'Two hundred bytes in one frame: its length takes the 16-bit form. ';
    text = text.slice(0, Math.max(1, WIRE_LONG_BYTES - envelope)); // ASCII: one byte a character
    for (let i = 0; envelope + text.length < WIRE_LONG_BYTES; i += 1) text += String(i % 10);
    sendFrame(messageFrame(text));
  }

  // Entries are drawn once per animation frame, all that came since in one go, and only the last
  // WIRE_LIMIT of them: a burst of frames costs one layout, and entries that would scroll out of
  // the panel at once are never drawn. `build(at)` makes an entry for the moment it arrived.
  const wireQueue = [];

  function appendWire(build) {
    wireQueue.push({ build, at: new Date() });
    if (wireQueue.length > WIRE_LIMIT) wireQueue.shift();
    if (wireQueue.length === 1) requestAnimationFrame(flushWire);
  }

  function flushWire() {
    const list = el.wireList;
    const stick = list.scrollHeight - list.scrollTop - list.clientHeight < NEAR_BOTTOM_PX;
    const entries = document.createDocumentFragment();
    for (const { build, at } of wireQueue.splice(0)) {
      const li = build(at);
      // The first field of each entry is its tab stop; arrows move within it (onWireKey).
      const first = li.querySelector('.w-field');
      if (first) first.tabIndex = 0;
      entries.append(li);
    }
    list.append(entries);
    while (list.children.length > WIRE_LIMIT) list.firstElementChild.remove();
    if (stick) list.scrollTop = list.scrollHeight;
  }

  function wireLine(text, kind) {
    appendWire((at) => {
      const li = make('li', `wire-line${kind ? ` ${kind}` : ''}`);
      li.append(make('time', 'f-time', preciseTime(at)), make('span', '', text));
      return li;
    });
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

  function renderFrame(f, at) {
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

    const li = make('li', `wire-frame ${dir}${opcode >= 8 ? ` control ${opname}` : ''}`);
    li.dataset.dir = dir;
    li.dataset.op = opname;
    li.append(wireHead(at, dir, op, `${len} B · ${f.len_form || ''} length`));
    li.append(wireHeaderHex(header));
    li.append(...wireHeaderFields(header, dir, opcode, opExplain, len));
    if (key.length === 4) {
      li.append(wireRow(`${header.length - 4}–${header.length - 1}`, wireField('key', hexOf(key), 'masking key',
        `Masking key ${hexOf(key)}: four bytes the browser picked at random for this frame alone, §5.3`)));
    }
    if (data.length > 0) li.append(wirePayload(wire, data, key, opcode, len));
    const shownText = opcode === 1 || opcode === 9 || opcode === 10;
    if (data.length > 0 && shownText) li.append(wireText(utf8Text(data), f.truncated));
    if (opcode === 8 && typeof f.close_reason === 'string' && f.close_reason !== '') {
      li.append(wireText(f.close_reason, false, 'reason'));
    }
    if (f.truncated || len > data.length) {
      const more = len - data.length;
      li.append(make('p', 'w-more', `… ${more} more byte${more === 1 ? '' : 's'} (the inspector shows the first ${data.length})`));
    }
    return li;
  }

  function wireHeaderHex(header, unknown = 0) {
    const p = make('p', 'w-hex');
    p.append(make('span', 'w-hex-label', 'header'), ` ${hexOf(header)}${' ??'.repeat(unknown)}`);
    return p;
  }

  /** The first two bytes bit by bit, then the extended length, as in the §5.2 diagram. */
  function wireHeaderFields(header, dir, opcode, opExplain, len) {
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
      ...rsv.map((bit, i) => wireField('rsv', String(bit), `RSV${i + 1}`, bit
        ? `RSV${i + 1} = 1: only an extension may set it, and none was negotiated, §5.2`
        : `RSV${i + 1} = 0: reserved for extensions; none was negotiated, so it must be 0, §5.2`, 1)),
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

  /**
   * The payload in groups of four bytes: masked over unmasked when it was masked. `hidden`: the
   * browser masked it with a key the page cannot see, so only the unmasked bytes are known.
   */
  function wirePayload(wire, data, key, opcode, len, hidden = false) {
    const masked = key.length === 4;
    const box = make('div', 'w-payload');
    const legend = make('p', 'w-legend');
    if (masked) {
      legend.append(make('span', 'w-wire', 'masked (on the wire)'), ' ⊕ key = ', make('span', 'w-data', 'unmasked'));
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

  // The close frame the page asks the browser for: what the page knows of it. Its masking key
  // and masked bytes are the browser's, and no script sees them (§10.3 is why they are random).
  function renderPageClose(code, reason, at) {
    const data = [code >> 8, code & 0xff, ...encoder.encode(reason)];
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
  function renderCloseEvent(event, at) {
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

  function renderHandshake(h, at) {
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

    li.append(make('p', 'w-caption', 'The response (server → browser); after its blank line both sides speak frames:'));
    li.append(wireHttp(response, accept, 'response',
      'The server\u2019s answer: 101 Switching Protocols with Sec-WebSocket-Accept; no subprotocol, no extension, §4.2.2'));
    return li;
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

  // Keyboard: Tab reaches each entry's first field; the arrows, Home and End move within it.
  function onWireKey(event) {
    const field = event.target.closest('.w-field');
    if (!field) return;
    const fields = [...field.closest('#wire-list > li').querySelectorAll('.w-field')];
    const at = fields.indexOf(field);
    const to = { ArrowRight: at + 1, ArrowDown: at + 1, ArrowLeft: at - 1, ArrowUp: at - 1, Home: 0, End: fields.length - 1 }[event.key];
    if (to === undefined || !fields[to]) return;
    event.preventDefault();
    for (const f of fields) f.tabIndex = -1;
    fields[to].tabIndex = 0;
    fields[to].focus();
  }

  function explainWire(event) {
    const field = event.target instanceof Element ? event.target.closest('.w-field') : null;
    if (field && field.dataset.explain && el.wireExplain.textContent !== field.dataset.explain) {
      el.wireExplain.textContent = field.dataset.explain;
    }
  }

  // ---------------------------------------------------------------------------
  // Composer

  // The server's limit is on the whole frame, so count exactly what will be sent: the UTF-8
  // bytes of {"type":"message","room":"general","text":"..."} (38 bytes of envelope plus the
  // room's name, and 2 bytes for each quote or backslash in the text). A private message names
  // its recipient instead: {"type":"message","to":"bob","text":"..."}.
  function messageFrame(text) {
    const conv = shownConv();
    if (conv && conv.kind === 'dm') return { type: 'message', to: conv.name, text };
    return { type: 'message', room: conv ? conv.name : state.defaultRoom, text };
  }

  function updateComposer() {
    const left = state.maxBytes - utf8Length(JSON.stringify(messageFrame(el.input.value)));
    el.counter.textContent = String(left);
    el.counter.classList.toggle('low', left >= 0 && left < Math.min(200, state.maxBytes / 10));
    el.counter.classList.toggle('over', left < 0);
    // Until its history arrives the server may not have us in the shown room yet (and a private
    // conversation opened by name does not know whose it is).
    const room = shownConv();
    const ready = isOnline() && room !== undefined && room.joined;
    el.send.disabled = !ready || left < 0 || el.input.value.trim() === '';
    el.composer.classList.toggle('disabled', !ready);
  }

  function autosize() {
    el.input.style.height = 'auto';
    el.input.style.height = `${Math.min(el.input.scrollHeight, 200)}px`;
  }

  function sendMessage() {
    if (el.send.disabled) return;
    if (!sendFrame(messageFrame(el.input.value))) return;
    el.input.value = '';
    autosize();
    updateComposer();
  }

  // ---------------------------------------------------------------------------
  // Nickname

  // The first time, the field picks the name to connect with. After that it renames: the server
  // answers every tab of ours with {"type":"renamed"} and every room we are in with a "rename"
  // event, or refuses with a name_taken error, shown under the field.
  el.nameForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const name = cleanName(el.name.value);
    if (state.name === null) {
      state.name = name; // '' connects as a guest
      document.body.classList.remove('needs-name');
      state.wanted = true;
      state.attempt = 0;
      connect('connecting');
      el.input.focus();
      return;
    }
    if (name === '') {
      showNameError('A nickname needs at least one letter, digit or sign.');
      return;
    }
    clearNameError();
    if (name === state.myName) return; // the server would do nothing either
    if (!state.greeted || !sendFrame({ type: 'rename', name })) {
      state.renameTo = name; // asked for as soon as the next hello comes (onHello)
      showNameError(`Not connected: you will be ${name} once back online, if the name is free.`);
    }
  });

  el.name.addEventListener('input', clearNameError);

  function showNameError(text) {
    showFieldError(el.name, el.nameError, text);
  }

  function clearNameError() {
    clearFieldError(el.name, el.nameError);
  }

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
    noteTyping();
  });

  el.messages.addEventListener('scroll', () => {
    if (isNearBottom()) {
      state.newBelow = 0;
      el.jump.hidden = true;
    }
  });

  el.jump.addEventListener('click', () => {
    scrollToBottom();
    el.input.focus();
  });

  // The address bar's hash names the room, so the skip link moves the focus itself.
  el.skipLink.addEventListener('click', (event) => {
    event.preventDefault();
    el.input.focus();
  });

  el.roomForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const raw = el.roomInput.value.trim();
    if (raw === '') return;
    const name = parseRoomName(raw);
    if (name === null) {
      showRoomError(`“${raw}” is not a room name: use ${ROOM_NAME_RULE}.`);
      return;
    }
    clearRoomError();
    el.roomInput.value = '';
    openRoom(name);
  });

  el.roomInput.addEventListener('input', clearRoomError);

  window.addEventListener('hashchange', followHash);

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

  el.wireOn.addEventListener('change', () => setWire(el.wireOn.checked));
  el.wirePing.addEventListener('click', wirePing);
  el.wireLong.addEventListener('click', wireSendLong);
  el.wireClose.addEventListener('click', wireSendClose);
  el.wireList.addEventListener('keydown', onWireKey);
  for (const type of ['mouseover', 'focusin', 'click']) el.wireList.addEventListener(type, explainWire);
  el.wireClear.addEventListener('click', () => {
    wireQueue.length = 0;
    el.wireList.replaceChildren();
    state.wireSeen = 0;
    renderWireControls();
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

  // The public room list is refreshed while someone can see it.
  setInterval(() => {
    if (document.visibilityState === 'visible') requestPublicRooms();
  }, ROOMS_REFRESH_MS);

  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') requestPublicRooms();
  });

  // ---------------------------------------------------------------------------
  // Start

  function start() {
    const fromUrl = new URLSearchParams(location.search).get('name');
    const stored = storageGet(NAME_KEY);
    state.session = storageGet(SESSION_KEY);
    if (state.session === null && fromUrl !== null && cleanName(fromUrl) !== '') {
      // A first visit (no session yet): ?name= is the name to ask for. With a session a link
      // changes nothing: anyone can send a link, and a rename would free our name for them.
      // Renaming is the nickname field's job, on a click.
      state.name = cleanName(fromUrl);
    } else if (stored) {
      state.name = stored;
    }
    // The default room, and the one the address names (#rust) shown; subscribed once connected.
    addRoom(state.defaultRoom);
    renderPublicRooms();
    followHash();
    renderDmList();
    updateComposer();
    if (state.name === null) {
      // First visit: ask for a nickname once.
      document.body.classList.add('needs-name');
      if (fromUrl !== null) el.name.value = cleanName(fromUrl);
      setPhase('offline', 'choose a nickname');
      addNotice(shownConv(), 'Welcome! Choose a nickname above and press Join.', 'system', new Date());
      el.name.focus();
      return;
    }
    el.name.value = state.name;
    el.nameSave.textContent = 'Change';
    connect('connecting');
  }

  start();
})();
