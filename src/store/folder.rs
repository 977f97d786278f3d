//! The store's folder is the server's alone: it holds private messages in plain JSON.
//!
//! The folder is made `0700` and every file in it `0600` (segments, `LOCK`, compacted and
//! repaired segments, damaged bytes moved aside), the mode given when each is created
//! (`mkdir(2)` and `open(2)` with `O_CREAT`), so the umask can only narrow it: with the usual
//! `022`, files would otherwise be `0644` and readable by every account on the machine. A folder
//! that already exists is left as it is, but one that others may enter gets a warning at start
//! ([`too_open`]), with the command that closes it.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Makes `dir` (and any missing parent) with mode `0700`; an existing folder is left as it is.
pub fn create(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(FOLDER_MODE).create(dir)
}

/// Options that make a file `0600` when they create it.
pub fn options() -> OpenOptions {
    let mut options = OpenOptions::new();
    options.mode(FILE_MODE);
    options
}

/// Creates (or empties) `path` for writing, `0600`: `File::create`, private.
pub fn create_file(path: &Path) -> io::Result<File> {
    options().write(true).create(true).truncate(true).open(path)
}

/// The mode of `dir` when others (its group, or anyone) may enter or read it.
pub fn too_open(dir: &Path) -> Option<u32> {
    let mode = fs::metadata(dir).ok()?.permissions().mode() & 0o7777;
    (mode & 0o077 != 0).then_some(mode)
}

/// The folder's mode: its owner only.
const FOLDER_MODE: u32 = 0o700;

/// Every file's mode: its owner may read and write it.
const FILE_MODE: u32 = 0o600;

/// Makes a folder's entries (a new or renamed file) durable.
pub(super) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Replaces the file at `path` with `bytes` in one step a crash cannot split: a temporary file
/// beside it (`.log.tmp`), written and synced, renamed over it, then the folder synced. A write
/// that fails leaves no temporary file behind.
pub(super) fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temporary = path.with_extension("log.tmp");
    let written = (|| {
        let mut file = create_file(&temporary)?;
        file.write_all(bytes)?;
        file.sync_data()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&temporary);
        return Err(e);
    }
    fs::rename(&temporary, path)?;
    match path.parent() {
        Some(dir) => sync_dir(dir),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_it_makes_is_private_and_a_wider_folder_is_reported() {
        let dir = std::env::temp_dir().join(format!("wschat-folder-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        create(&dir.join("data")).unwrap();
        let mode = |path: &Path| fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir.join("data")), 0o700);
        assert_eq!(too_open(&dir.join("data")), None);
        create_file(&dir.join("data/LOCK")).unwrap();
        assert_eq!(mode(&dir.join("data/LOCK")), 0o600);
        fs::set_permissions(dir.join("data"), fs::Permissions::from_mode(0o755)).unwrap();
        create(&dir.join("data")).unwrap();
        assert_eq!(too_open(&dir.join("data")), Some(0o755), "left as it was, and reported");
        fs::remove_dir_all(&dir).unwrap();
    }
}
