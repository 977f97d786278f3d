// What the page remembers between visits, in localStorage under one prefix, `wschat.`:
//   wschat.session  the server's session secret (hello.session): shared by every tab, so every
//                   tab of one browser is one person; it never goes into a URL
//   wschat.name     the nickname to ask for when the server no longer knows the session
// Storage may be unavailable (private mode, blocked cookies): then nothing is remembered and
// nothing fails.

const PREFIX = 'wschat.';

/** Keys the page once used, and the key each is kept under now. */
const OLD_KEYS = { 'websocketchat.name': 'name' };

/** The remembered value of `key` ('session', 'name'), or null. */
export function remembered(key) {
  try {
    return window.localStorage.getItem(PREFIX + key);
  } catch (_) {
    return null;
  }
}

/** Remembers `value` under `key`; null or '' forgets it. */
export function remember(key, value) {
  try {
    if (value) window.localStorage.setItem(PREFIX + key, value);
    else window.localStorage.removeItem(PREFIX + key);
  } catch (_) {
    /* storage unavailable (private mode): the name is just not remembered */
  }
}

/**
 * Moves what older pages stored under other spellings to the prefix, once: a returning user
 * keeps their name. A value already under the new key wins (another tab got there first).
 */
export function migrateOldKeys() {
  try {
    const storage = window.localStorage;
    for (const [oldKey, key] of Object.entries(OLD_KEYS)) {
      const value = storage.getItem(oldKey);
      if (value === null) continue;
      if (storage.getItem(PREFIX + key) === null) storage.setItem(PREFIX + key, value);
      storage.removeItem(oldKey);
    }
  } catch (_) {
    /* storage unavailable: nothing to move */
  }
}
