//! How a function instance's process is started: its program, environment,
//! working directory and log pipe, in its own process group so that ending
//! the instance ends everything it started.
//!
//! Instances currently run as plain host processes; the server says so at
//! start-up. Namespaces, cgroups and seccomp belong here.

#![forbid(unsafe_code)]

use std::io::PipeWriter;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Everything needed to start one instance's process.
#[derive(Debug, Clone)]
pub struct ProcessSpec {
    /// The executable.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// The complete environment; nothing is inherited from rayo.
    pub env: Vec<(String, String)>,
    /// The working directory.
    pub cwd: PathBuf,
}

/// Builds the command for `spec`, with stdout and stderr both writing to
/// `log` and stdin closed, in a new process group.
pub fn command(spec: &ProcessSpec, log: &PipeWriter) -> std::io::Result<Command> {
    let mut command = Command::new(&spec.program);
    command
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log.try_clone()?))
        .process_group(0);
    Ok(command)
}
