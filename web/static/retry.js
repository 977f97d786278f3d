// The page's second script: if app.js could not be loaded, it is loaded again.
//
// Every module is its own request, and the server answers each with `Connection: close`, so a
// page load opens one connection per module. One refused on the way (a busy server, or several
// browsers behind one address past MAX_HANDSHAKES_PER_ADDRESS) fails the whole module graph and
// the page would never start. Module scripts run in document order, so by the time this one runs
// app.js has run or failed. `import('./app.js')` then either returns the module that already ran
// (it is never run twice) or fetches what failed again, as browsers do for a failed dynamic
// import; a few tries, further apart each time and at a random point (several pages refused at
// once do not all come back at once), before the status says to reload.

const RETRY_MS = [300, 1000, 2000, 4000]; // the mean wait before each new try

load(0);

function load(attempt) {
  import('./app.js').catch(() => {
    if (attempt < RETRY_MS.length) setTimeout(() => load(attempt + 1), RETRY_MS[attempt] * (0.5 + Math.random()));
    else giveUp();
  });
}

function giveUp() {
  document.getElementById('status').dataset.state = 'offline';
  document.getElementById('status-text').textContent = 'Offline: the page did not load; reload it';
}
