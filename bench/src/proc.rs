//! The server's memory and CPU from /proc (Linux).

use std::fs;

/// Resident set size in KiB (`VmRSS` of /proc/PID/status).
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

/// The process's own resident set size in KiB.
pub fn own_rss_kib() -> Option<u64> {
    status_field(std::process::id(), "VmRSS:")
}

/// `MemAvailable` of /proc/meminfo in KiB: the machine's memory that could be given out without
/// swapping. Unlike RSS it also falls with kernel memory: thread stacks, socket buffers, the
/// socket and file structures.
pub fn mem_available_kib() -> Option<u64> {
    meminfo_kib("MemAvailable:")
}

/// A field of /proc/meminfo in KiB, e.g. `KernelStack:`, `SUnreclaim:`, `PageTables:`.
pub fn meminfo_kib(field: &str) -> Option<u64> {
    let meminfo = fs::read_to_string("/proc/meminfo").ok()?;
    let line = meminfo.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// The kernel memory that grows with threads and sockets: `KernelStack` (every thread's kernel
/// stack), `SUnreclaim` (slab: task, socket, file and dentry structures) and `PageTables`, in KiB.
pub fn kernel_kib() -> Option<u64> {
    Some(meminfo_kib("KernelStack:")? + meminfo_kib("SUnreclaim:")? + meminfo_kib("PageTables:")?)
}

/// The pages all TCP sockets of the machine hold in buffers (`TCP: ... mem N` of
/// /proc/net/sockstat).
pub fn tcp_mem_pages() -> Option<u64> {
    let sockstat = fs::read_to_string("/proc/net/sockstat").ok()?;
    let line = sockstat.lines().find(|l| l.starts_with("TCP:"))?;
    let mut words = line.split_whitespace();
    while let Some(w) = words.next() {
        if w == "mem" {
            return words.next()?.parse().ok();
        }
    }
    None
}

/// Threads of the process.
pub fn threads(pid: u32) -> Option<u64> {
    status_field(pid, "Threads:")
}

fn status_field(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line[field.len()..].split_whitespace().next()?.parse().ok()
}

/// utime + stime of a /proc/.../stat file, in clock ticks.
fn stat_ticks(path: &str) -> Option<u64> {
    let stat = fs::read_to_string(path).ok()?;
    // The command name may contain spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // After the name: state(3) ... utime(14) stime(15), so indexes 11 and 12 here.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions; it only reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// CPU seconds (user + system) a process has used.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    Some(stat_ticks(&format!("/proc/{pid}/stat"))? as f64 / ticks_per_second())
}

/// CPU seconds used by this process.
pub fn own_cpu_seconds() -> f64 {
    stat_ticks("/proc/self/stat").map_or(0.0, |t| t as f64 / ticks_per_second())
}

/// CPU seconds used by the threads of `pid` whose name is `name` (e.g. `broadcaster`).
pub fn thread_cpu_seconds(pid: u32, name: &str) -> Option<f64> {
    let mut total = None;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let dir = task.path();
        let comm = fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            let ticks = stat_ticks(&dir.join("stat").to_string_lossy())?;
            *total.get_or_insert(0) += ticks;
        }
    }
    Some(total? as f64 / ticks_per_second())
}

/// Seconds the threads of `pid` named `name` spent ready to run but waiting for a CPU: the second
/// field of `/proc/PID/task/TID/schedstat` (nanoseconds). On a core of its own a thread waits only
/// for other work on that core: other processes, or the kernel's.
pub fn thread_wait_seconds(pid: u32, name: &str) -> Option<f64> {
    let mut total = None;
    for task in fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten() {
        let dir = task.path();
        let comm = fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() == name {
            let schedstat = fs::read_to_string(dir.join("schedstat")).ok()?;
            let waited: u64 = schedstat.split_whitespace().nth(1)?.parse().ok()?;
            *total.get_or_insert(0) += waited;
        }
    }
    Some(total? as f64 / 1e9)
}

/// Raises this process's open-file limit to its hard limit; returns the limit now in force.
pub fn raise_open_files() -> u64 {
    rlimit::increase_nofile_limit(u64::MAX).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_process() {
        let pid = std::process::id();
        assert!(rss_kib(pid).unwrap() > 0);
        assert!(threads(pid).unwrap() >= 1);
        assert!(cpu_seconds(pid).unwrap() >= 0.0);
        assert!(own_rss_kib().unwrap() > 0);
        assert!(mem_available_kib().unwrap() > 0);
        assert!(kernel_kib().unwrap() > 0);
        let main = fs::read_to_string("/proc/self/comm").unwrap();
        assert!(thread_wait_seconds(pid, main.trim_end()).unwrap() >= 0.0);
    }
}
