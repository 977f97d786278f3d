//! Memory tricks, kept out of the reading path: the one module that may use `unsafe`.
//!
//! A learner can skip this file: nothing here changes what the server does, only what an idle
//! connection costs. `connection::serve` applies it at one point, around a connection's two
//! phases: [`http_phase`] runs the HTTP phase, [`reader_phase`] runs the session in place of
//! `Reader::run`; `main` calls [`without_thread_caches`] once at start. No layer below imports
//! it. Each trick is listed with what it buys; the figures of issue 25 are 5,000 idle plain
//! connections that read everything the server sends (`make bench`'s (c), default build,
//! distinct nicknames), and 2,000 over `wss://` ((c-tls)): 18.5 and 22.6 KiB per connection
//! before that three tricks (the first three rows), 11.7 and 15.8 KiB with them.
//!
//! | trick | where | idle connection without it |
//! |---|---|---|
//! | [`ReleaseWhenQuiet`]: give back the stack pages below the session's loop once the peer has been quiet for a second, and wait for it from the loop's own frame (a one-byte `peek`) instead of inside the receiver's read | [`reader_phase`]; the wait in `ws::reader` ("Waiting") | +4 KiB (stack: 12 KiB instead of 8: tungstenite's read path, before `ws::receive`, went 8.3 KiB below the top of the stack, the peek 7.2, and a thread's control block and TLS fill the first 4.6; with the receiver, 200 idle connections keep 8 KiB of stack each and wait 7.0 KiB below the top) |
//! | the read buffer at 256 bytes, not 2 KiB, and none while quiet | `READ_BUFFER_BYTES` and `Receiver::release` in `ws::receive` | +1.75 KiB (measured for the 256 bytes, with tungstenite's reader before `ws::receive`) |
//! | [`without_thread_caches`]: no glibc tcache (freed blocks a thread keeps for itself) | `main`, once | +1.0 KiB (12.7 KiB with one block kept per size, 12.0 with none, against 13.0: the rest of a connection's heap is its read buffer and receiver, its queue, the handshake the inspector keeps, the thread's own bookkeeping in glibc and std, and its entries in the broadcaster's tables) |
//! | the receiver on the heap, so the session's frames stay shallow | `Box` in `ws::upgrade::Upgraded` | +4 KiB (stack: 12 KiB instead of 8) |
//! | the request head read into a buffer whose first kilobyte is on the stack | `HeadBuffer` in `http::request` (HTTP's own buffer: it carries its figure there) | +1 KiB (a freed heap buffer stays cached by the thread's allocator) |
//! | [`on_a_thread_of_its_own`]: the HTTP phase of a `wss://` connection (the TLS handshake) on a short-lived thread, the session on the connection's | [`http_phase`] | +4.4 KiB over `wss://` (2,000 idle `wss://` connections, 22.3 KiB each without it, 18.0 KiB with it: the small blocks the handshake frees stay in the freeing thread's glibc tcache, and a thread's tcache goes back only when the thread ends). It costs a thread start, about 40 µs of server CPU per TLS connection (460 against 500 µs, noisy); plain connections would gain 0.25 KiB for 35 to 50 µs more (200 µs), so they do not use it |
//! | buffers of our own for TLS, empty while idle: rustls's unbuffered API | `net::tls_session` | +3.8 KiB over `wss://` (rustls's buffered connection keeps its incoming ciphertext buffer at 4 KiB for the connection's life; 26.0 against 22.3 KiB) |
//! | `sendmsg`'s kilobyte of iovecs kept out of single-frame writes | `#[inline(never)]` on `ws::outbound::plain::send_many` | +4 KiB once the connection has been pinged (stack: 12 KiB instead of 8, with `PING_INTERVAL_SECS=1`) |
//!
//! The rows after the first three were measured before issue 25, with 2,000 idle connections that
//! read only their first frames, on another machine (13.4 KiB per connection then).
//!
//! Tried and dropped, because they measured nothing: `#[inline(never)]` on the HTTP phase and on
//! the failure log; `MALLOC_ARENA_MAX=1` and `2` (fewer glibc arenas: 18.46 and 18.44 KiB against
//! 18.44). Replaced: giving the stack back right after the handler's first frames (the `hello`)
//! and before the session, which the session's first read then touched again.
//!
//! # Giving back the stack pages a connection touched
//!
//! A connection thread reserves [`CONNECTION_STACK_BYTES`] of stack, but memory is only spent on
//! the pages it touches, and a page once touched stays resident until the thread ends. The HTTP
//! phase (the TLS handshake, httparse's header array, building the `101` answer), the first
//! frames and the receiver's read path all run deeper than the session loop. So when the peer
//! falls quiet, [`release_unused_stack`] tells the kernel that the pages below the current frame
//! hold nothing (`madvise(MADV_DONTNEED)`): they are unmapped now and come back as zero pages
//! when a later call goes that deep again (the peer's next frame does, and the next quiet second
//! gives them back again). What stays: the thread's control block and TLS in one page, the
//! session loop in the next.
//!
//! [`CONNECTION_STACK_BYTES`]: crate::net::accept::CONNECTION_STACK_BYTES
#![allow(unsafe_code)]

use std::sync::Arc;
use std::time::Instant;

use tungstenite::Bytes;

use crate::ws::outbound::Outbound;
use crate::ws::reader::{Close, End, Handler, Reader};

/// Starts the server again, once, in place (`execve` of `/proc/self/exe`, the same process id,
/// arguments and environment), with glibc's per-thread cache of freed blocks turned off
/// (`GLIBC_TUNABLES=glibc.malloc.tcache_count=0`), unless `GLIBC_TUNABLES` already sets it (as it
/// does in the process started so). glibc reads its tunables only when a program starts, so
/// there is no other way for a program to set this one for itself. Returns, doing nothing, when
/// it cannot (no `/proc`, or not glibc): the server then runs with the cache.
///
/// Why: each thread keeps up to seven freed blocks of every small size for its next
/// allocations, and a connection's thread frees blocks in its HTTP phase and its first frames
/// that nothing will reuse while it waits. Measured: -1.0 KiB per idle connection (5,000 idle
/// plain connections, 13.0 against 12.0 KiB), and no change in (a)'s CPU
/// (docs/benchmarks-history.md, "Issue 25"). The
/// setting is glibc's; whoever sets `GLIBC_TUNABLES` themselves decides it.
pub fn without_thread_caches() {
    if !cfg!(all(target_os = "linux", target_env = "gnu")) {
        return;
    }
    let tunables = std::env::var_os("GLIBC_TUNABLES").unwrap_or_default();
    let tunables = tunables.to_string_lossy();
    if tunables.contains(TCACHE_TUNABLE) {
        return;
    }
    let with = match tunables.is_empty() {
        true => format!("{TCACHE_TUNABLE}=0"),
        false => format!("{tunables}:{TCACHE_TUNABLE}=0"),
    };
    let mut args = std::env::args_os();
    let mut again = std::process::Command::new("/proc/self/exe");
    if let Some(name) = args.next() {
        std::os::unix::process::CommandExt::arg0(&mut again, name);
    }
    again.args(args).env("GLIBC_TUNABLES", with);
    // `exec` returns only when it failed; the server runs on as it is.
    let failed = std::os::unix::process::CommandExt::exec(&mut again);
    eprintln!(
        "websocketchat: running with glibc's thread caches (could not start again: {failed})"
    );
}

/// glibc's tunable for the number of freed blocks a thread keeps per size.
const TCACHE_TUNABLE: &str = "glibc.malloc.tcache_count";

/// Runs a connection's HTTP phase and returns what it returns: over TLS on a thread of its own
/// ([`on_a_thread_of_its_own`]), so that what the TLS handshake freed goes back when that thread
/// ends; a plain connection's here, where the gain would not pay for a thread.
pub fn http_phase<T: Send>(tls: bool, phase: impl FnOnce() -> T + Send) -> T {
    match tls {
        true => on_a_thread_of_its_own(phase),
        false => phase(),
    }
}

/// Runs `reader` with `handler` as `Reader::run` does, and gives back the stack pages the
/// connection touched each time its peer falls quiet ([`ReleaseWhenQuiet`]). Inlined, so that
/// the session runs no deeper than it would without it.
#[inline]
pub fn reader_phase(reader: Reader, handler: &mut dyn Handler) -> End {
    // The stack's bounds are read once, not at every quiet second.
    reader.run(&mut ReleaseWhenQuiet { handler, lowest: stack_lowest() })
}

/// A handler that gives back the stack pages below the session's loop when the peer falls quiet
/// ([`Handler::on_quiet`]): what the HTTP phase (the TLS handshake, httparse's header array), the
/// first frames (the chat's `hello`, encrypted with TLS) and the receiver's read path touched.
/// The session then waits with a shallow peek (`ws/reader.rs`, "Waiting"), so the pages stay
/// unused until the peer speaks again.
struct ReleaseWhenQuiet<'h> {
    handler: &'h mut dyn Handler,
    /// The lowest address of this thread's stack ([`stack_lowest`]); `None` where it cannot be read.
    lowest: Option<usize>,
}

impl Handler for ReleaseWhenQuiet<'_> {
    fn on_open(&mut self, out: &Arc<Outbound>) -> Result<(), Close> {
        self.handler.on_open(out)
    }

    fn on_text(&mut self, text: &str, out: &Arc<Outbound>) -> Result<(), Close> {
        self.handler.on_text(text, out)
    }

    fn on_binary(&mut self, data: Bytes, out: &Arc<Outbound>) -> Result<(), Close> {
        self.handler.on_binary(data, out)
    }

    fn on_close(&mut self, end: &End) {
        self.handler.on_close(end);
    }

    fn deadline(&self) -> Option<(Instant, Close)> {
        self.handler.deadline()
    }

    fn on_quiet(&mut self) {
        self.handler.on_quiet();
        if let Some(lowest) = self.lowest {
            release_unused_stack(lowest);
        }
    }
}

/// Runs `phase` on a thread of its own and returns what it returns: what the phase freed stays
/// cached by that thread's allocator (glibc's tcache keeps up to 7 freed blocks of every small
/// size per thread) only until the thread ends, which gives it all back. The TLS handshake frees
/// about 6 KiB of small blocks; on the connection's own thread they would stay cached for the
/// connection's life. Runs `phase` here when no thread can be started.
fn on_a_thread_of_its_own<T: Send>(phase: impl FnOnce() -> T + Send) -> T {
    let phase = std::sync::Mutex::new(Some(phase));
    let run = || {
        let taken = phase.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
        taken.map(|phase| phase())
    };
    let current = std::thread::current();
    let done = std::thread::scope(|scope| {
        let mut builder = std::thread::Builder::new().stack_size(PHASE_STACK_BYTES);
        if let Some(name) = current.name() {
            builder = builder.name(name.to_string());
        }
        match builder.spawn_scoped(scope, run) {
            Ok(thread) => thread.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => None,
        }
    });
    done.unwrap_or_else(|| run().expect("the phase runs once"))
}

/// Unmaps this thread's stack pages below the caller's frame (less [`MARGIN`]), down to `lowest`,
/// the stack's lowest address ([`stack_lowest`]).
#[inline(never)]
fn release_unused_stack(lowest: usize) {
    let here = 0u8;
    let here = std::hint::black_box(&here) as *const u8 as usize;
    let page = page_size();
    let end = here.saturating_sub(MARGIN) & !(page - 1);
    if end <= lowest {
        return;
    }
    // SAFETY: [lowest, end) is this thread's own stack, below every live frame: the frames above
    // `here` are the callers', and the ones this call makes (madvise's wrapper) stay within MARGIN
    // of it. Nothing points into dead stack, so its contents may become zeros.
    let rc =
        unsafe { libc::madvise(lowest as *mut libc::c_void, end - lowest, libc::MADV_DONTNEED) };
    if rc != 0 {
        log::debug!("madvise of the unused stack failed: {}", std::io::Error::last_os_error());
    }
}

/// The lowest usable address of this thread's stack (above the guard page), page-aligned.
#[cfg(target_os = "linux")]
fn stack_lowest() -> Option<usize> {
    // SAFETY: `attr` is initialized by pthread_getattr_np before it is read, and destroyed once.
    unsafe {
        let mut attr: libc::pthread_attr_t = std::mem::zeroed();
        if libc::pthread_getattr_np(libc::pthread_self(), &mut attr) != 0 {
            return None;
        }
        let mut addr: *mut libc::c_void = std::ptr::null_mut();
        let mut size: libc::size_t = 0;
        let rc = libc::pthread_attr_getstack(&attr, &mut addr, &mut size);
        libc::pthread_attr_destroy(&mut attr);
        (rc == 0 && !addr.is_null()).then_some(addr as usize)
    }
}

#[cfg(not(target_os = "linux"))]
fn stack_lowest() -> Option<usize> {
    None
}

fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).ok().filter(|s| s.is_power_of_two()).unwrap_or(4096)
}

/// The stack of a thread [`on_a_thread_of_its_own`] starts: a connection thread's.
const PHASE_STACK_BYTES: usize = crate::net::accept::CONNECTION_STACK_BYTES;
/// Stack kept below the caller's frame: room for the rest of this function's own frame and the
/// `madvise` wrapper it calls (a system call instruction, no stack of its own). Small on
/// purpose: the idle session waits about 7.2 KiB below the top of its stack and releases from a
/// few frames deeper, so a margin of a kilobyte would keep a third page.
const MARGIN: usize = 256;

#[cfg(test)]
mod tests {
    use super::*;

    /// Touches `depth` bytes of stack and returns a value that depends on all of them.
    #[inline(never)]
    fn deep(depth: usize) -> u64 {
        let mut block = [0u8; 4096];
        for (i, b) in block.iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let below = if depth > 4096 { deep(depth - 4096) } else { 0 };
        std::hint::black_box(&block).iter().map(|&b| u64::from(b)).sum::<u64>() + below
    }

    /// Pages of this thread's stack resident in memory (mincore(2)), from the lowest up to `top`.
    fn resident_pages(top: usize) -> usize {
        let lowest = stack_lowest().expect("the stack's bounds on Linux");
        let page = page_size();
        let pages = (top - lowest) / page;
        let mut map = vec![0u8; pages];
        // SAFETY: `map` has one byte per page of the range, which is mapped (our own stack).
        let rc =
            unsafe { libc::mincore(lowest as *mut libc::c_void, pages * page, map.as_mut_ptr()) };
        assert_eq!(rc, 0, "mincore: {}", std::io::Error::last_os_error());
        map.iter().filter(|&&b| b & 1 == 1).count()
    }

    #[test]
    fn a_phase_runs_on_a_thread_of_its_own_with_the_same_name_and_returns_its_result() {
        std::thread::Builder::new()
            .name("conn-7".to_string())
            .spawn(|| {
                let here = std::thread::current().id();
                let borrowed = String::from("request");
                let (id, name, len) = on_a_thread_of_its_own(|| {
                    let current = std::thread::current();
                    (current.id(), current.name().map(String::from), borrowed.len())
                });
                assert_ne!(id, here);
                assert_eq!(name.as_deref(), Some("conn-7"));
                assert_eq!(len, 7);
            })
            .unwrap()
            .join()
            .unwrap();
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn deep_pages_go_back_and_the_thread_runs_on() {
        std::thread::Builder::new()
            .stack_size(256 * 1024)
            .spawn(|| {
                let here = 0u8;
                let top = (std::hint::black_box(&here) as *const u8 as usize) & !(page_size() - 1);
                let sum = deep(128 * 1024);
                let before = resident_pages(top);
                assert!(before >= 32, "128 KiB of frames were touched: {before} pages");
                release_unused_stack(stack_lowest().unwrap());
                let after = resident_pages(top);
                assert!(after <= 1, "{after} pages below this frame still resident");
                // The released pages come back as fresh ones: the same work gives the same sum.
                assert_eq!(deep(128 * 1024), sum);
                assert!(resident_pages(top) >= 32);
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
