//! The store on disk against another account on the same machine (issue 22, findings 9 and 7):
//! `HISTORY_DIR` holds private messages in plain JSON, so it is `0700` and every file in it
//! `0600` whatever the umask, and a folder that is wider gets a warning at start.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::json;

use crate::support::{Server, fresh_dir};

#[test]
fn the_store_is_private_whatever_the_umask() {
    umask_022();
    let mut server = Server::start(&[]);
    let mut alice = server.joined("name=alice");
    let mut bob = server.joined("name=bob");
    alice.request(json!({"type": "message", "to": "bob", "text": "only for bob"}));
    assert_eq!(bob.next_of("message")["text"], "only for bob");
    alice.say("hello room");
    alice.next_of("message");
    let data = server.dir.join("data");
    assert_private(&data);

    // A repair at start rewrites the segment and moves the damaged bytes to a file of their own.
    server.kill();
    let segment = data.join("00000001.log");
    let mut bytes = fs::read(&segment).unwrap();
    bytes[10] ^= 0x20; // in the first record's payload, which is not the last
    fs::write(&segment, &bytes).unwrap();
    server.restart();
    assert!(server.log().contains("damaged"), "{}", server.log());
    let files = assert_private(&data);
    assert!(files.iter().any(|f| f.contains(".damaged-")), "{files:?}");
}

#[test]
fn a_store_folder_open_to_others_is_reported_at_start() {
    umask_022();
    let dir = fresh_dir();
    fs::create_dir(dir.join("data")).unwrap();
    fs::set_permissions(dir.join("data"), fs::Permissions::from_mode(0o755)).unwrap();
    let server = Server::start_in(dir, &[]);
    let log = server.log();
    let warning = log.lines().find(|l| l.contains("WARN") && l.contains("chmod 700"));
    let warning = warning.unwrap_or_else(|| panic!("no warning: {log}"));
    assert!(warning.contains("data") && warning.contains("755"), "{warning}");
    assert_eq!(mode(&server.dir.join("data")), 0o755, "the operator's folder is left as it is");
}

/// Checks that `dir` is `0700` and every file in it `0600`; returns their names.
pub fn assert_private(dir: &Path) -> Vec<String> {
    assert_eq!(mode(dir), 0o700, "{}", dir.display());
    let mut names = Vec::new();
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        assert_eq!(mode(&path), 0o600, "{}", path.display());
        names.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    assert!(names.iter().any(|n| n == "LOCK"), "{names:?}");
    names
}

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Sets the test process's umask, which the server inherits, to the usual `022`, under which a
/// file made without an explicit mode is readable by everyone. (The umask is the process's, but
/// every test here wants the same one.)
#[allow(unsafe_code)] // umask(2) has no safe wrapper in std; it cannot fail.
fn umask_022() {
    // SAFETY: umask only swaps the process's file mode creation mask.
    unsafe {
        libc::umask(0o022);
    }
}
