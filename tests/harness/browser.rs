//! A real browser for the console's tests: Debian's Chromium
//! (`/usr/bin/chromium`, or `RAYO_CHROMIUM`) driven by `playwright-core`
//! from npm, installed once under `<target>/rayo-test-playwright` from the
//! committed `tests/console/package-lock.json` and reinstalled when the lock
//! changes. The scenarios are `tests/console/console.cjs`; screenshots of
//! every step go to `<target>/console-screenshots/`.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::process::run_with_deadline;
use crate::target_dir;

const PACKAGE_JSON: &str = include_str!("../console/package.json");
const PACKAGE_LOCK: &str = include_str!("../console/package-lock.json");
const STAMP_FILE: &str = ".rayo-package-lock-sha256";
/// npm downloads from the registry; this only bounds a hung install.
const INSTALL_DEADLINE: Duration = Duration::from_secs(600);
/// A scenario waits for conditions, never for time; this only bounds a hang.
const SCENARIO_DEADLINE: Duration = Duration::from_secs(600);

/// What a browser scenario saw.
#[derive(Debug)]
pub struct BrowserRun {
    /// Whether every check in the scenario passed.
    pub success: bool,
    /// The scenario's findings (its last stdout line, as JSON).
    pub seen: serde_json::Value,
    /// Its stderr: the failed check and its stack.
    pub stderr: String,
}

/// Runs `scenario` of `tests/console/console.cjs` against `base_url`.
pub fn run_browser_scenario(
    scenario: &str,
    base_url: &str,
    options: &serde_json::Value,
) -> BrowserRun {
    let node_modules = playwright_dir().join("node_modules");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("console/console.cjs");
    let mut command = Command::new("node");
    command
        .arg(&script)
        .arg(scenario)
        .arg(base_url)
        .arg(screenshot_dir())
        .arg(options.to_string())
        .env("NODE_PATH", &node_modules)
        .env("RAYO_CHROMIUM", chromium());
    let output = run_with_deadline(&mut command, SCENARIO_DEADLINE, "the browser scenario");
    let seen = output
        .stdout
        .lines()
        .rev()
        .find_map(|line| serde_json::from_str(line).ok())
        .unwrap_or(serde_json::Value::Null);
    BrowserRun {
        success: output.success(),
        seen,
        stderr: output.stderr,
    }
}

/// Where the scenarios' screenshots go.
pub fn screenshot_dir() -> PathBuf {
    target_dir().join("console-screenshots")
}

/// The Chromium the scenarios drive.
pub fn chromium() -> PathBuf {
    let path = std::env::var_os("RAYO_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    assert!(
        path.is_file(),
        "the console tests need Chromium at {} (or RAYO_CHROMIUM): on Debian, \
         `apt-get install chromium` (.ci/run does)",
        path.display()
    );
    path
}

/// The directory holding `node_modules/playwright-core`, installed on first use.
fn playwright_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = target_dir().join("rayo-test-playwright");
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|error| panic!("creating {}: {error}", dir.display()));
        // Tests run as parallel processes: one installs, the others wait.
        let lock_path = target_dir().join("rayo-test-playwright.lock");
        let lock = File::create(&lock_path)
            .unwrap_or_else(|error| panic!("opening {}: {error}", lock_path.display()));
        lock.lock()
            .unwrap_or_else(|error| panic!("locking {}: {error}", lock_path.display()));
        let hash = hex::encode(Sha256::digest(PACKAGE_LOCK.as_bytes()));
        let stamp = dir.join(STAMP_FILE);
        let current = std::fs::read_to_string(&stamp).is_ok_and(|s| s.trim() == hash);
        if !current {
            std::fs::write(dir.join("package.json"), PACKAGE_JSON).expect("writing package.json");
            std::fs::write(dir.join("package-lock.json"), PACKAGE_LOCK)
                .expect("writing package-lock.json");
            let mut npm = Command::new("npm");
            npm.args(["ci", "--no-audit", "--no-fund", "--ignore-scripts"])
                .current_dir(&dir);
            let output = run_with_deadline(&mut npm, INSTALL_DEADLINE, "npm ci (playwright-core)");
            assert!(
                output.success(),
                "installing playwright-core failed (Node 20 and npm are needed):\n{}",
                output.stderr
            );
            std::fs::write(&stamp, &hash).expect("writing the stamp file");
        }
        dir
    })
    .clone()
}
