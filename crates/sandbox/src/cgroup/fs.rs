//! File operations shared by both cgroup versions.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::limits::parse_pids;

/// How long ending processes and removing a cgroup may take.
const PATIENCE: Duration = Duration::from_secs(2);

/// Writes `value` to the cgroup file `dir/name`, saying which on failure.
pub(crate) fn write(dir: &Path, name: &str, value: &str) -> io::Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, value).map_err(|error| {
        io::Error::new(
            error.kind(),
            format!("writing {value:?} to {}: {error}", path.display()),
        )
    })
}

/// Reads the number in the cgroup file `dir/name`.
pub(crate) fn read_u64(dir: &Path, name: &str) -> io::Result<u64> {
    let path = dir.join(name);
    let text = std::fs::read_to_string(&path)?;
    text.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: not a number: {text:?}", path.display()),
        )
    })
}

/// A counter file read again and again (an instance's peak memory after
/// every invocation): opened on first read and kept open, each read one
/// `pread` from its start, where the kernel renders the value afresh.
#[derive(Debug)]
pub(crate) struct CounterFile {
    /// The files to try, in order: the first that opens is kept.
    paths: Vec<PathBuf>,
    file: OnceLock<Option<File>>,
}

impl CounterFile {
    pub(crate) fn new(paths: Vec<PathBuf>) -> CounterFile {
        CounterFile {
            paths,
            file: OnceLock::new(),
        }
    }

    /// The number the file holds now.
    pub(crate) fn read(&self) -> io::Result<u64> {
        let file = self
            .file
            .get_or_init(|| self.paths.iter().find_map(|path| File::open(path).ok()));
        let Some(file) = file else {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("none of {:?} can be opened", self.paths),
            ));
        };
        let mut buffer = [0u8; 32];
        let n_read = file.read_at(&mut buffer, 0)?;
        let text = std::str::from_utf8(&buffer[..n_read]).unwrap_or_default();
        text.trim().parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{:?}: not a number: {text:?}", self.paths),
            )
        })
    }
}

/// The processes listed in `dir/cgroup.procs`; none when the cgroup is gone.
pub(crate) fn pids(dir: &Path) -> io::Result<Vec<i32>> {
    match std::fs::read_to_string(dir.join("cgroup.procs")) {
        Ok(text) => Ok(parse_pids(&text)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(error) => Err(error),
    }
}

/// Sends SIGKILL to every process in `dir` until none is left. A process
/// forked meanwhile shows up in the next round; one with a fatal signal
/// pending cannot fork.
pub(crate) fn kill_until_empty(dir: &Path) -> io::Result<()> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let pids = pids(dir)?;
        if pids.is_empty() {
            return Ok(());
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("processes remain in {}", dir.display()),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until `dir` lists no process.
pub(crate) fn wait_until_empty(dir: &Path) -> io::Result<()> {
    let deadline = Instant::now() + PATIENCE;
    while !pids(dir)?.is_empty() {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("processes remain in {}", dir.display()),
            ));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Removes the cgroup directory `dir`, retrying while its last processes
/// finish exiting; a cgroup already gone is fine.
pub(crate) fn remove_dir(dir: &Path) -> io::Result<()> {
    let deadline = Instant::now() + PATIENCE;
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error)
                if error.raw_os_error() == Some(libc::EBUSY) && Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(1));
            }
            Err(error) => {
                return Err(io::Error::new(
                    error.kind(),
                    format!("removing {}: {error}", dir.display()),
                ));
            }
        }
    }
}

/// Creates `dir` and its parents; an existing one is fine.
pub(crate) fn create_parent(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir).map_err(|error| {
        io::Error::new(error.kind(), format!("creating {}: {error}", dir.display()))
    })
}

/// Creates the instance's own directory, which must not exist yet.
pub(crate) fn create_own(dir: &Path) -> io::Result<()> {
    std::fs::create_dir(dir).map_err(|error| {
        io::Error::new(error.kind(), format!("creating {}: {error}", dir.display()))
    })
}

/// Removes the empty directories under `parent` in each of `mounts` last
/// changed more than `min_age` ago; returns how many went.
pub(crate) fn remove_stale(mounts: &[&Path], parent: &Path, min_age: Duration) -> usize {
    let mut n_removed = 0;
    let mut seen = Vec::new();
    for mount in mounts {
        let dir = mount.join(parent);
        if seen.contains(&dir) {
            continue;
        }
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let old_enough = entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .ok()
                .and_then(|modified| modified.elapsed().ok())
                .is_some_and(|age| age > min_age);
            let empty = pids(&path).is_ok_and(|pids| pids.is_empty());
            if path.is_dir() && old_enough && empty && std::fs::remove_dir(&path).is_ok() {
                n_removed += 1;
            }
        }
        seen.push(dir);
    }
    n_removed
}
