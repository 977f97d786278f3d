// Several browsers behind one address (an office behind NAT, a family) open the page at the same
// moment, over https with the default limits: every one loads every module and joins the chat.
// The page is two dozen ES modules; a browser opens up to 6 connections to a host, and
// MAX_HANDSHAKES_PER_ADDRESS (16) counts the ones in their TLS handshake. Kept-alive connections
// (src/http/keep_alive.rs) carry the modules after their handshake, and the connections past the
// address's handshakes wait for one (src/net/handshake_queue.rs) instead of being closed.
// Run with `bash tests/browser/run.sh`; CROWD_BROWSERS=N tries another crowd (default 8).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import {
  launchBrowser,
  newContext,
  startServer,
  stopServer,
  waitForState,
  consoleProblems,
  withServerLog,
} from './lib.mjs';

const BROWSERS = Number(process.env.CROWD_BROWSERS || 8);
const TEST_TIMEOUT = 120000;

describe('a crowd behind one address', () => {
  let browser;
  before(async () => {
    browser = await launchBrowser();
  });
  after(async () => {
    await browser?.close();
  });

  test(`${BROWSERS} browsers from one address open the page at once over https, and all join`, { timeout: TEST_TIMEOUT }, async () => {
    const server = await startServer({ tls: true });
    const problems = { console: [], pageErrors: [], dialogs: [] };
    const contexts = [];
    try {
      // One context each: its own connection pool, as separate browsers have.
      const pages = [];
      const failed = [];
      for (let i = 0; i < BROWSERS; i += 1) {
        const { context } = await newContext(browser, {}, problems);
        contexts.push(context);
        const page = await context.newPage();
        page.on('requestfailed', (r) => failed.push(`page ${i}: ${r.url()} ${r.failure()?.errorText}`));
        pages.push(page);
      }
      // All at the same moment.
      await Promise.all(pages.map((page, i) => page.goto(`${server.url}/?name=crowd${i}`)));
      const joined = await Promise.allSettled(pages.map((page) => waitForState(page, 'online', 30000)));
      const left = joined.map((r, i) => (r.status === 'rejected' ? i : null)).filter((i) => i !== null);
      const metrics = await get(`${server.url}/metrics`);
      const refused = /handshakes_refused_total\{reason="handshakes_per_address"\} (\d+)/.exec(metrics)?.[1];
      console.log(`${BROWSERS} browsers: ${BROWSERS - left.length} joined, ${failed.length} requests failed, `
        + `${refused} connections closed for MAX_HANDSHAKES_PER_ADDRESS`);
      assert.deepEqual(failed, [], 'requests the server refused');
      assert.deepEqual(left, [], `pages that never joined, of ${BROWSERS}`);
      assert.deepEqual(consoleProblems(problems), [], 'console errors or uncaught exceptions');
    } catch (err) {
      throw withServerLog(err, server);
    } finally {
      await Promise.all(contexts.map((c) => c.close()));
      await stopServer(server);
    }
  });
});

/** The body of an https GET, trusting the server's own certificate. */
function get(url) {
  return new Promise((resolve, reject) => {
    https.get(url, { rejectUnauthorized: false, headers: { Connection: 'close' } }, (res) => {
      let body = '';
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}
