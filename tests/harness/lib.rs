//! The end-to-end harness: a real `rayo server` on port 0 in a temporary data
//! directory, driven by real clients (boto3, the aws CLI, `rayo` itself) from
//! a Python virtualenv shared by every test and every run.
//!
//! A test starts a [`Server`], runs Python snippets against it with
//! [`Server::python`] (they assert with plain `assert` and may print JSON for
//! the Rust side), or the aws CLI with [`Server::aws`], and the server is
//! killed when the `Server` is dropped. Nothing here sleeps for a fixed time:
//! every wait is for a condition, with a generous deadline as a safety net.

#![forbid(unsafe_code)]

mod browser;
mod process;
mod server;
mod venv;
mod zip;

use std::path::PathBuf;

pub use browser::{BrowserRun, chromium, run_browser_scenario, screenshot_dir};
pub use process::{CommandOutput, run_with_deadline};
pub use server::{AwsCliError, PythonChild, Server};
pub use venv::Venv;
pub use zip::{ZipEntry, build_zip};

/// The `rayo` binary the tests run: `target/debug/rayo` next to the test
/// executable's `deps/` directory, or `RAYO_BIN` when set.
pub fn rayo_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("RAYO_BIN") {
        return PathBuf::from(path);
    }
    let profile_dir = profile_dir();
    let binary = profile_dir.join("rayo");
    assert!(
        binary.is_file(),
        "the rayo binary is missing at {}: build it first with `cargo build -p rayo` \
         (the end-to-end tests run the real binary)",
        binary.display()
    );
    binary
}

/// The cargo target directory the tests were built in (`target/`), where
/// the shared Python environment and other caches live.
pub fn target_dir() -> PathBuf {
    profile_dir()
        .parent()
        .expect("the profile directory is inside the target directory")
        .to_path_buf()
}

/// `target/debug`: the test executable is `target/debug/deps/e2e-<hash>`.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable knows its path");
    let deps = exe
        .parent()
        .expect("the test executable lives in a directory");
    let dir = if deps.file_name().is_some_and(|name| name == "deps") {
        deps.parent().expect("deps/ has a parent")
    } else {
        deps
    };
    dir.to_path_buf()
}
