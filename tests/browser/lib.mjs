// Helpers for the browser tests: start and stop the real server binary, drive
// Chromium through playwright-core, and talk to the server as a raw WebSocket
// client. Every wait here has a timeout, so a bug fails a test instead of hanging it.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import WebSocket from 'ws';

export const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
// Where cargo builds: CARGO_TARGET_DIR (relative to the repository) when set, else target/.
const TARGET_DIR = path.resolve(REPO, process.env.CARGO_TARGET_DIR || 'target');
export const SERVER_BIN = process.env.WSCHAT_BIN || path.join(TARGET_DIR, 'debug', 'websocketchat');
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--ignore-certificate-errors',
];

// ---------------------------------------------------------------------------
// The server

// Matched against whole lines only: stderr may arrive split in the middle of the address.
// Every server started, so none outlives the test run, whatever happens to a test.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

const LISTENING = /listening on (https?):\/\/(\S+)/;

/**
 * Starts the server binary on 127.0.0.1 and resolves once it logs its address.
 * `dir` is its working directory (a fresh temp dir, so no .env is read) and
 * holds the TLS certificate and the store (HISTORY_DIR), so a restart in the same
 * dir reuses both, and no two servers of a run share a store. `env` may set
 * HISTORY_DIR to 'off' for a server that forgets everything when it stops.
 */
export async function startServer({ tls = true, port = 0, env = {}, dir, timeoutMs = 20000 } = {}) {
  if (!existsSync(SERVER_BIN)) {
    throw new Error(`server binary not found at ${SERVER_BIN} (build it, or set WSCHAT_BIN)`);
  }
  const workDir = dir || mkdtempSync(path.join(tmpdir(), 'wschat-test-'));
  const child = spawn(SERVER_BIN, [], {
    cwd: workDir,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME || workDir,
      PORT: String(port),
      HOST: '127.0.0.1',
      BACKEND_TLS: tls ? 'true' : 'false',
      TLS_CERT: path.join(workDir, 'cert.pem'),
      TLS_KEY: path.join(workDir, 'key.pem'),
      LOG_LEVEL: 'info',
      HISTORY_DIR: path.join(workDir, 'history'),
      ...env,
    },
  });
  let log = ''; // stderr, where the server logs
  let out = ''; // stdout, kept apart so it cannot split a stderr line
  const server = {
    dir: workDir,
    tls,
    child,
    url: null,
    port: null,
    exit: null,
    get log() {
      return out ? `${log}\n--- stdout ---\n${out}` : log;
    },
    ownsDir: !dir,
  };
  running.add(child);
  server.exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      running.delete(child);
      server.exit = { code, signal };
      resolve(server.exit);
    });
  });

  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not report its address within ${timeoutMs} ms; log:\n${log}`));
    }, timeoutMs);
    const onData = (chunk) => {
      log += chunk.toString();
      const complete = log.slice(0, log.lastIndexOf('\n') + 1);
      const m = LISTENING.exec(complete);
      if (m && !server.url) {
        clearTimeout(timer);
        server.url = `${m[1]}://${m[2]}`;
        server.port = Number(new URL(server.url).port);
        resolve();
      }
    };
    child.stderr.on('data', onData);
    child.stdout.on('data', (chunk) => {
      out += chunk.toString();
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (!server.url) reject(new Error(`server exited early (code ${code}, signal ${signal}); log:\n${log}`));
    });
  });
  return server;
}

/**
 * Ends a test that restarted its server itself: every client and the browser context closed,
 * the server stopped and its folder (kept across the restarts) removed.
 */
export async function closeRestarted({ server, context, clients, dir }) {
  await Promise.all(clients.map((c) => c.close()));
  await context.close();
  await stopServer(server, { removeDir: false });
  rmSync(dir, { recursive: true, force: true });
}

/** Adds the tail of the server's log to a failure's message. */
export function withServerLog(err, server) {
  err.message += `\n--- server log (tail) ---\n${server.log.slice(-3000)}`;
  return err;
}

/** SIGTERM, then wait for the exit (SIGKILL after `timeoutMs`). Resolves to {code, signal}. */
export async function stopServer(server, { timeoutMs = 10000, removeDir = true } = {}) {
  if (!server) return null;
  if (server.exit === null) {
    server.child.kill('SIGTERM');
    const timer = setTimeout(() => server.child.kill('SIGKILL'), timeoutMs);
    await server.exited;
    clearTimeout(timer);
  }
  if (removeDir && server.ownsDir) rmSync(server.dir, { recursive: true, force: true });
  return server.exit;
}

/** SIGKILL, as a crash would end it: nothing of the server's own shutdown runs. Keeps its dir. */
export async function killServer(server) {
  if (server.exit === null) server.child.kill('SIGKILL');
  return server.exited;
}

// ---------------------------------------------------------------------------
// The browser

export async function launchBrowser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 60000,
  });
}

/**
 * A fresh context (own storage) with every page in it watched: console errors,
 * uncaught exceptions and dialogs are collected in `problems` (pass one to share it
 * between contexts).
 *
 * A context is one browser, so one person to the chat: its pages share localStorage,
 * where the page keeps its session. Two people need two contexts.
 */
export async function newContext(
  browser,
  { viewport = { width: 1200, height: 800 } } = {},
  problems = { console: [], pageErrors: [], dialogs: [] },
) {
  const context = await browser.newContext({ ignoreHTTPSErrors: true, viewport });
  context.setDefaultTimeout(15000);
  context.on('page', (page) => watch(page, problems));
  return { context, problems };
}

function watch(page, problems) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') problems.console.push(msg.text());
  });
  page.on('pageerror', (err) => problems.pageErrors.push(String(err && err.stack ? err.stack : err)));
  page.on('dialog', (dialog) => {
    problems.dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
}

/**
 * Chromium itself logs a console error for every WebSocket connection attempt
 * that fails at the network level (server down); pages cannot suppress it.
 * Tests that take the server down on purpose pass `allowConnectionRefused`.
 */
const BROWSER_WS_FAILURE = /^WebSocket connection to '.*' failed/;

/**
 * A socket refused before it opened makes the page ask `GET /banned` whether it is banned
 * (web/static/banned.js); with the server down, Chromium logs that request's failure too.
 */
const BROWSER_PROBE_FAILURE = /^Failed to load resource: net::ERR_CONNECTION_REFUSED$/;

/**
 * Likewise, a test that takes the browser offline may catch it loading something
 * (Chromium: "Failed to load resource: net::ERR_INTERNET_DISCONNECTED").
 */
const BROWSER_OFFLINE = /net::ERR_INTERNET_DISCONNECTED/;

export function consoleProblems(problems, { allowConnectionRefused = false, allowOffline = false } = {}) {
  const consoleErrors = problems.console.filter((t) =>
    !(allowConnectionRefused && (BROWSER_WS_FAILURE.test(t) || BROWSER_PROBE_FAILURE.test(t)))
    && !(allowOffline && BROWSER_OFFLINE.test(t)));
  return [...consoleErrors, ...problems.pageErrors];
}

export async function openChat(context, baseUrl, name) {
  const page = await context.newPage();
  const q = name === undefined ? '' : `?name=${encodeURIComponent(name)}`;
  await page.goto(`${baseUrl}/${q}`);
  return page;
}

/** page.waitForFunction with a description and a snapshot of the page on failure. */
export async function waitFor(page, description, fn, arg, timeout = 15000) {
  try {
    await page.waitForFunction(fn, arg, { timeout, polling: 50 });
  } catch (err) {
    let snapshot = '';
    try {
      snapshot = await page.evaluate(() => {
        const status = document.getElementById('status');
        const items = [...document.querySelectorAll('#messages > li')].map(
          (li) => `  [${li.className}${li.dataset.id ? ` #${li.dataset.id}` : ''}] ${li.textContent.replace(/\s+/g, ' ').trim()}`,
        );
        const users = [...document.querySelectorAll('#users li')].map((li) => li.textContent).join(', ');
        const alerts = [...document.querySelectorAll('#alerts .alert')].map((a) => a.textContent).join(' | ');
        const frames = [...document.querySelectorAll('#frame-list li')]
          .slice(-12)
          .map((li) => `  ${li.textContent.slice(0, 200)}`);
        const rooms = [...document.querySelectorAll('#rooms li')].map((li) => li.textContent.replace(/\s+/g, ' ').trim() + (li.classList.contains('shown') ? ' (shown)' : '') + (li.classList.contains('pending') ? ' (pending)' : '')).join(', ');
        const publicRooms = [...document.querySelectorAll('#public-rooms li')].map((li) => li.textContent.replace(/\s+/g, ' ').trim()).join(', ');
        const roomError = document.getElementById('room-error');
        const dms = [...document.querySelectorAll('#dms li.dm')].map((li) => li.textContent.replace(/\s+/g, ' ').trim() + (li.classList.contains('shown') ? ' (shown)' : '')).join(', ');
        const nameError = document.getElementById('name-error');
        return [
          `status: ${status.dataset.state} "${status.textContent.trim()}" (${status.title})`,
          `address: ${location.href}`,
          `rooms: ${rooms}; public: ${publicRooms}; room error: ${roomError.hidden ? '-' : roomError.textContent}`,
          `direct messages: ${dms}; name: ${document.getElementById('name').value}; name error: ${nameError.hidden ? '-' : nameError.textContent}`,
          `typing: ${document.getElementById('typing').textContent}`,
          `users: ${users}`,
          `alerts: ${alerts}`,
          'messages:',
          ...items.slice(-20),
          'last frames:',
          ...frames,
        ].join('\n');
      });
    } catch (e) {
      snapshot = `(no snapshot: ${e.message})`;
    }
    throw new Error(`timed out after ${timeout} ms waiting for: ${description}\n${snapshot}`, { cause: err });
  }
}

export function waitForState(page, state, timeout = 15000) {
  return waitFor(
    page,
    `#status data-state=${state}`,
    (s) => document.getElementById('status').dataset.state === s,
    state,
    timeout,
  );
}

export function waitForMessage(page, text, timeout = 15000) {
  return waitFor(
    page,
    `a .message with text ${JSON.stringify(text)}`,
    (t) => [...document.querySelectorAll('#messages .message .text')].some((n) => n.textContent === t),
    text,
    timeout,
  );
}

export function waitForUsers(page, names, timeout = 15000) {
  return waitFor(
    page,
    `#users to list ${names.join(', ')}`,
    (want) => {
      const have = [...document.querySelectorAll('#users li')].map((li) => li.textContent.trim());
      return want.every((n) => have.includes(n));
    },
    names,
    timeout,
  );
}

/** What the page shows in #messages, as plain data. */
export function readMessages(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('#messages > li')].map((li) => ({
      kind: li.classList.contains('message') ? 'message' : li.classList.contains('notice') ? 'notice' : 'other',
      own: li.classList.contains('own'),
      id: li.dataset.id === undefined ? null : Number(li.dataset.id),
      epoch: li.dataset.epoch || null,
      name: li.querySelector('.author') ? li.querySelector('.author').textContent : null,
      text: li.querySelector('.text') ? li.querySelector('.text').textContent : li.textContent.trim(),
      className: li.className,
    })),
  );
}

// ---------------------------------------------------------------------------
// Rooms, as the page shows them

/** Waits until `room` is the room shown, the server has the page in it, and the address says so. */
export function waitForRoom(page, room, timeout = 15000) {
  return waitFor(
    page,
    `#${room} shown and joined, and in the address`,
    (want) => {
      const li = document.querySelector('#rooms li.shown');
      const hashOk = location.hash === `#${want}` || (location.hash === '' && want === 'general');
      return li !== null && li.dataset.room === want && !li.classList.contains('pending') && hashOk
        && document.getElementById('room-title').textContent === `#${want}`;
    },
    room,
    timeout,
  );
}

/** Types `raw` into the room field and presses Enter; waits until `room` is shown and joined. */
export async function joinRoomByName(page, raw, room = raw.toLowerCase()) {
  await page.locator('#room-input').fill(raw);
  await page.locator('#room-input').press('Enter');
  await waitForRoom(page, room);
}

/** Clicks a room in "your rooms" and waits until it is shown. */
export async function clickRoom(page, room) {
  await page.locator(`#rooms li[data-room="${room}"] .room-open`).click();
  await waitForRoom(page, room);
}

/** "Your rooms" as plain data: [{room, shown, pending, unread}]. */
export function readRooms(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('#rooms li')].map((li) => ({
      room: li.dataset.room,
      shown: li.classList.contains('shown'),
      pending: li.classList.contains('pending'),
      unread: li.querySelector('.unread') ? Number(li.querySelector('.unread').textContent) : 0,
      leavable: li.querySelector('.room-leave') !== null,
    })),
  );
}

/** The public room list as plain data: [{room, users}]. */
export function readPublicRooms(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('#public-rooms li.public-room')].map((li) => ({
      room: li.dataset.room,
      users: Number(li.querySelector('.count').textContent),
    })),
  );
}

// ---------------------------------------------------------------------------
// Private conversations and names, as the page shows them

/** "Direct messages" as plain data: [{name, user, shown, unread, self}]. */
export function readDms(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('#dms li.dm')].map((li) => ({
      name: li.dataset.name,
      user: li.dataset.user || null,
      shown: li.classList.contains('shown'),
      unread: li.querySelector('.unread') ? Number(li.querySelector('.unread').textContent) : 0,
      self: li.classList.contains('self'),
    })),
  );
}

/** Waits until the private conversation with `name` is shown, its history in and the composer usable. */
export function waitForDm(page, name, timeout = 15000) {
  return waitFor(
    page,
    `the private conversation with ${name} shown and loaded`,
    (want) => {
      const li = document.querySelector('#dms li.dm.shown');
      return li !== null && li.dataset.name === want && !li.classList.contains('pending') && li.dataset.user
        && document.getElementById('room-title').textContent === `@${want}`;
    },
    name,
    timeout,
  );
}

/** Clicks `name` in the users list: opens the private conversation with them. */
export async function clickUser(page, name) {
  await page.locator(`#users li[data-name="${name}"] .user-open`).click();
  await waitForDm(page, name);
}

/** Clicks the conversation with `name` in "Direct messages" and waits until it is shown. */
export async function clickDm(page, name) {
  await page.locator(`#dms li.dm[data-name="${name}"] .room-open`).click();
  await waitForDm(page, name);
}

/** Waits for a notice in the conversation shown whose text matches `pattern` (a RegExp source). */
export function waitForNotice(page, pattern, timeout = 15000) {
  return waitFor(
    page,
    `a notice matching /${pattern}/`,
    (p) => [...document.querySelectorAll('#messages .notice')].some((n) => new RegExp(p).test(n.textContent)),
    pattern,
    timeout,
  );
}

/** Waits until the page says our name is `name` (the field, and "you" in the users list when listed). */
export function waitForMyName(page, name, timeout = 15000) {
  return waitFor(
    page,
    `our name to be ${name}`,
    (want) => document.getElementById('name').value === want
      && [...document.querySelectorAll('#users li.me')].every((li) => li.dataset.name === want),
    name,
    timeout,
  );
}

/** The JSON frames the frames panel lists in one direction ('in' or 'out'), parsed; optionally of one type. */
export function readFrames(page, direction, type) {
  return page.evaluate(
    ([dir, want]) =>
      [...document.querySelectorAll(`#frame-list li.${dir} .f-body`)]
        .map((n) => {
          try {
            return JSON.parse(n.textContent);
          } catch {
            return null; // cut in the panel (over 2000 characters)
          }
        })
        .filter((f) => f && (want === undefined || f.type === want)),
    [direction, type],
  );
}

/**
 * The frames of `type` the page logged in `direction`, once there is at least one: the page is
 * `online` from its socket's open, before the server's first frame (the hello) has arrived.
 */
export async function waitForFrames(page, direction, type, timeout = 15000) {
  await waitFor(
    page,
    `a frame of type ${type} (${direction})`,
    ([dir, want]) =>
      [...document.querySelectorAll(`#frame-list li.${dir} .f-body`)].some((n) => {
        try {
          return JSON.parse(n.textContent).type === want;
        } catch {
          return false;
        }
      }),
    [direction, type],
    timeout,
  );
  return readFrames(page, direction, type);
}

export async function sendFromPage(page, text) {
  const input = page.locator('#message-input');
  await input.fill(text);
  await waitFor(page, '#send enabled', () => !document.getElementById('send').disabled);
  await input.press('Enter');
}

// ---------------------------------------------------------------------------
// What a message offers (edit, delete, react, reply), as the page shows it

/** The entry of the message whose text is exactly `text` (or "message deleted"), in the conversation shown. */
export function messageEntry(page, text) {
  const exact = new RegExp(`^${text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
  return page.locator('#messages li.message').filter({ has: page.locator(':scope > .line > .text', { hasText: exact }) });
}

/** Points at the message (as a user would, to show its actions) and clicks its action `label`. */
export async function messageAction(page, text, label) {
  const entry = messageEntry(page, text);
  await entry.hover();
  await entry.locator(':scope > .actions').getByRole('button', { name: label, exact: true }).click();
}

/** The parts of the message whose text is `text`: actions offered, "(edited)", quote, chips. */
export function readEntry(page, text) {
  return messageEntry(page, text).evaluate((li) => ({
    id: Number(li.dataset.id),
    own: li.classList.contains('own'),
    deleted: li.classList.contains('deleted'),
    text: li.querySelector(':scope > .line > .text').textContent,
    edited: li.querySelector('.edited') ? li.querySelector('.edited').textContent : null,
    editedTitle: li.querySelector('.edited') ? li.querySelector('.edited').title : null,
    actions: [...li.querySelectorAll(':scope > .actions button')].map((b) => b.getAttribute('aria-label')),
    quote: li.querySelector(':scope > .quote') ? li.querySelector(':scope > .quote').textContent : null,
    chips: [...li.querySelectorAll('.chip')].map((c) => ({
      emoji: c.querySelector('.chip-emoji').textContent,
      count: Number(c.querySelector('.chip-count').textContent),
      mine: c.getAttribute('aria-pressed') === 'true',
      title: c.title,
    })),
  }));
}

/** Waits until the message `text`'s chips read `want`, e.g. '🎉1' or '🎉2*' (* ours), space-separated; '' none. */
export function waitForChips(page, text, want, timeout = 15000) {
  return waitFor(
    page,
    `the chips of ${JSON.stringify(text)} to read ${JSON.stringify(want)}`,
    ([t, w]) => {
      const li = [...document.querySelectorAll('#messages li.message')].find((n) => n.querySelector(':scope > .line > .text')?.textContent === t);
      if (!li) return false;
      const chips = [...li.querySelectorAll('.chip')].map((c) =>
        `${c.querySelector('.chip-emoji').textContent}${c.querySelector('.chip-count').textContent}${c.getAttribute('aria-pressed') === 'true' ? '*' : ''}`);
      return chips.join(' ') === w;
    },
    [text, want],
    timeout,
  );
}

// ---------------------------------------------------------------------------
// The Wire panel

/** Opens the page as `name`, opens the Wire panel and switches it on; waits for the handshake. */
export async function openWithWire(context, url, name) {
  const page = await openChat(context, url, name);
  await waitForState(page, 'online');
  await page.locator('#wire summary').click();
  await page.locator('#wire-on').check();
  await waitForHandshakes(page, 1);
  return page;
}

export function waitForHandshakes(page, n) {
  return waitFor(page, `${n} handshake(s) in the Wire panel`, (want) =>
    document.querySelectorAll('#wire-list .wire-handshake').length >= want, n);
}

/** The page's own WebSocket: what the browser agreed to in its handshake (RFC 6455 §4.1). */
export function pageSocket(page) {
  return page.evaluate(async () => {
    const ws = (await import('/static/socket.js')).currentSocket();
    return { protocol: ws.protocol, extensions: ws.extensions, readyState: ws.readyState };
  });
}

// ---------------------------------------------------------------------------
// A raw WebSocket client (the `ws` package), standing in for another user

let rawClients = 0;

export async function rawClient(baseUrl, name, { timeoutMs = 10000, session } = {}) {
  const presented = session ? `&session=${encodeURIComponent(session)}` : '';
  const wsUrl = `${baseUrl.replace(/^http/, 'ws')}/ws?name=${encodeURIComponent(name)}${presented}`;
  // Each raw client from a loopback address of its own (127.0.3.x, 127.0.4.x, …): to the server's
  // per-address limits, a crowd of people, not one address making a hundred sessions.
  rawClients += 1;
  const localAddress = `127.0.${3 + Math.floor(rawClients / 250)}.${1 + (rawClients % 250)}`;
  const ws = new WebSocket(wsUrl, { rejectUnauthorized: false, localAddress });
  const frames = [];
  const waiters = new Set();
  ws.on('message', (data) => {
    let msg;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      msg = { type: '(not json)', raw: data.toString() };
    }
    frames.push(msg);
    for (const w of waiters) w();
  });
  const client = {
    ws,
    frames,
    /** Resolves with the first received frame (past or future) matching `pred`. */
    waitFor(description, pred, timeout = timeoutMs) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const hit = frames.find(pred);
          if (hit) {
            cleanup();
            resolve(hit);
          }
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`raw client ${name}: timed out after ${timeout} ms waiting for ${description}; got ${JSON.stringify(frames).slice(-1500)}`));
        }, timeout);
        const cleanup = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      });
    },
    /** Sends a chat message, to `room` when given (else the server's default room). */
    send(text, room) {
      ws.send(JSON.stringify(room === undefined ? { type: 'message', text } : { type: 'message', room, text }));
    },
    /** Sends and waits for the server's broadcast of it; resolves with that message. */
    async say(text, room) {
      const already = frames.length;
      client.send(text, room);
      return client.waitFor(
        `echo of ${JSON.stringify(text)}${room === undefined ? '' : ` in #${room}`}`,
        (f) => frames.indexOf(f) >= already && f.type === 'message' && f.text === text && (room === undefined || f.room === room),
      );
    },
    /** Joins a room; resolves with its history. */
    subscribe(room) {
      const already = frames.length;
      ws.send(JSON.stringify({ type: 'subscribe', room }));
      return client.waitFor(`history of #${room}`, (f) => frames.indexOf(f) >= already && f.type === 'history' && f.room === room);
    },
    typing(room) {
      ws.send(JSON.stringify({ type: 'typing', room }));
    },
    /** Sends a private message to the person called `to`. */
    dm(to, text) {
      ws.send(JSON.stringify({ type: 'message', to, text }));
    },
    close() {
      return new Promise((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        const timer = setTimeout(() => {
          ws.terminate();
          resolve();
        }, 3000);
        ws.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        ws.close(1000, 'bye');
      });
    },
  };
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`raw client ${name}: no connection within ${timeoutMs} ms`)), timeoutMs);
    ws.once('open', () => {
      clearTimeout(timer);
      resolve();
    });
    // Kept for the socket's whole life: an unhandled 'error' would crash the runner.
    ws.on('error', (err) => {
      clearTimeout(timer);
      client.error = err;
      reject(err);
    });
  });
  await client.waitFor('hello', (f) => f.type === 'hello');
  await client.waitFor('history', (f) => f.type === 'history');
  return client;
}

export const delay = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Runs `body` with a fresh server and browser context, and always cleans both up.
 * A context is one person (its tabs share the session in localStorage): `person()`
 * makes another context, watched into the same `problems`, for another person.
 */
export async function withServer(browser, serverOptions, contextOptions, body) {
  const server = await startServer(serverOptions);
  const { context, problems } = await newContext(browser, contextOptions);
  const contexts = [context];
  const person = async () => {
    const other = (await newContext(browser, contextOptions, problems)).context;
    contexts.push(other);
    return other;
  };
  const clients = [];
  try {
    await body({ server, context, problems, clients, person });
  } catch (err) {
    err.message += `\n--- server log (tail) ---\n${server.log.slice(-3000)}`;
    throw err;
  } finally {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(contexts.map((c) => c.close()));
    await stopServer(server);
  }
}
