//! One process per data dir: `serve` (its managed nats-server's store) and the auditor (its
//! sled store) take a lock file there first, so a second one says who holds it instead of
//! starting a second nats-server on the same store and failing later.

use anyhow::bail;
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// A held lock; released when dropped (or when the process dies).
#[derive(Debug)]
pub struct DirLock {
    _file: File,
    path: PathBuf,
}

impl DirLock {
    /// Locks `dir` (creating it), writing this process's pid into `dir/switchyard.lock`.
    pub fn acquire(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::anyhow!(
                "cannot create {}: {e}; check the path (--data-dir, nats.data_dir) and its permissions",
                dir.display()
            )
        })?;
        let path = dir.join("switchyard.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("cannot open {}: {e}", path.display()))?;
        if file.try_lock().is_err() {
            let mut pid = String::new();
            let _ = file.read_to_string(&mut pid);
            let pid = pid.trim();
            let who = if pid.is_empty() {
                String::new()
            } else {
                format!(" (pid {pid})")
            };
            bail!(
                "another switchyard is running{who} on {}; stop it or use --data-dir",
                dir.display()
            );
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "{}", std::process::id())?;
        file.flush()?;
        Ok(Self { _file: file, path })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = DirLock::acquire(dir.path()).unwrap();
        let e = DirLock::acquire(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains(&format!(
                "another switchyard is running (pid {})",
                std::process::id()
            )) && e.contains("--data-dir"),
            "{e}"
        );
        drop(held);
        assert!(
            DirLock::acquire(dir.path()).is_ok(),
            "free again once released"
        );
    }
}
