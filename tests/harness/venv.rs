//! The Python virtualenv the tests' clients run from: created once at
//! `<target>/rayo-test-venv` with the host's `python3 -m venv` and
//! `tests/requirements.txt`, then reused by every test and every run until
//! the requirements change.
//!
//! Tests run as parallel processes, so creation is guarded by a file lock and
//! finished by a stamp file holding the requirements' hash: a process that
//! finds the stamp current uses the venv as it is; one that does not
//! rebuilds it while holding the lock.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::process::run_with_deadline;
use crate::target_dir;

/// The pinned client versions.
const REQUIREMENTS: &str = include_str!("../requirements.txt");
/// Records which requirements the venv was built from.
const STAMP_FILE: &str = ".rayo-requirements-sha256";
/// pip downloads from the package index; this only bounds a hung install.
const INSTALL_DEADLINE: Duration = Duration::from_secs(900);

/// The shared virtualenv.
#[derive(Debug)]
pub struct Venv {
    dir: PathBuf,
}

impl Venv {
    /// The venv, created or updated on first use in this process.
    pub fn get() -> &'static Venv {
        static VENV: OnceLock<Venv> = OnceLock::new();
        VENV.get_or_init(|| {
            let dir = target_dir().join("rayo-test-venv");
            ensure_venv(&dir);
            Venv { dir }
        })
    }

    /// Its `bin/` directory, put first on `PATH` for servers and clients.
    pub fn bin_dir(&self) -> PathBuf {
        self.dir.join("bin")
    }

    /// Its Python interpreter.
    pub fn python(&self) -> PathBuf {
        self.bin_dir().join("python")
    }

    /// Its aws CLI (v1, from PyPI).
    pub fn aws(&self) -> PathBuf {
        self.bin_dir().join("aws")
    }

    /// Its `site-packages` directory.
    pub fn site_packages(&self) -> PathBuf {
        let lib = self.dir.join("lib");
        std::fs::read_dir(&lib)
            .unwrap_or_else(|error| panic!("reading {}: {error}", lib.display()))
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("site-packages"))
            .find(|path| path.is_dir())
            .unwrap_or_else(|| panic!("no lib/python3.*/site-packages in {}", self.dir.display()))
    }

    /// A directory holding `awslambdaric` and its dependencies, installed
    /// with `pip install --target` as a user would vendor them into a
    /// `provided` function's package. Built once per requirements version
    /// and shared, under a lock, since pip is slow.
    pub fn awslambdaric_target(&self) -> PathBuf {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let requirement = REQUIREMENTS
                .lines()
                .map(str::trim)
                .find(|line| line.starts_with("awslambdaric=="))
                .expect("requirements.txt pins awslambdaric");
            let dir = target_dir().join(format!(
                "rayo-test-awslambdaric-{}",
                requirement.trim_start_matches("awslambdaric==")
            ));
            let _lock = lock(&target_dir().join("rayo-test-awslambdaric.lock"));
            if dir.join(STAMP_FILE).is_file() {
                return dir;
            }
            let staging = dir.with_extension("partial");
            let _ = std::fs::remove_dir_all(&staging);
            let mut command = Command::new(self.python());
            command
                .args(["-m", "pip", "install", "--disable-pip-version-check"])
                .args(["--no-input", "--quiet", "--no-compile", "--target"])
                .arg(&staging)
                .arg(requirement);
            let output = run_with_deadline(&mut command, INSTALL_DEADLINE, "pip install --target");
            assert!(
                output.success(),
                "pip install --target {} failed:\n{}\n{}",
                staging.display(),
                output.stdout,
                output.stderr
            );
            std::fs::write(staging.join(STAMP_FILE), requirement).expect("writing the stamp");
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::rename(&staging, &dir).expect("moving the awslambdaric install into place");
            dir
        })
        .clone()
    }
}

/// The pandas release the layer tests vendor.
const PANDAS_REQUIREMENT: &str = "pandas==2.2.3";

impl Venv {
    /// A virtual environment of its own with pandas installed, made with
    /// the same interpreter as the shared one (so its `site-packages` is
    /// for the Python that runs functions), as a user would build a layer.
    /// Built once per pinned release and shared, under a lock.
    pub fn pandas_venv(&self) -> PathBuf {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let dir = target_dir().join(format!(
                "rayo-test-pandas-venv-{}",
                PANDAS_REQUIREMENT.trim_start_matches("pandas==")
            ));
            let _lock = lock(&target_dir().join("rayo-test-pandas-venv.lock"));
            if dir.join(STAMP_FILE).is_file() {
                return dir;
            }
            let _ = std::fs::remove_dir_all(&dir);
            let output = run_with_deadline(
                Command::new(self.python()).args(["-m", "venv"]).arg(&dir),
                Duration::from_secs(300),
                "python -m venv (pandas)",
            );
            assert!(
                output.success(),
                "creating {} failed:\n{}\n{}",
                dir.display(),
                output.stdout,
                output.stderr
            );
            let output = run_with_deadline(
                Command::new(dir.join("bin/python"))
                    .args(["-m", "pip", "install", "--disable-pip-version-check"])
                    .args(["--no-input", "--quiet", "--no-compile"])
                    .arg(PANDAS_REQUIREMENT),
                INSTALL_DEADLINE,
                "pip install pandas",
            );
            assert!(
                output.success(),
                "pip install {PANDAS_REQUIREMENT} into {} failed:\n{}\n{}",
                dir.display(),
                output.stdout,
                output.stderr
            );
            std::fs::write(dir.join(STAMP_FILE), PANDAS_REQUIREMENT).expect("writing the stamp");
            dir
        })
        .clone()
    }
}

/// Creates or refreshes the venv at `dir` unless its stamp is current.
fn ensure_venv(dir: &Path) {
    let parent = dir.parent().expect("the venv has a parent directory");
    std::fs::create_dir_all(parent).expect("creating the target directory");
    let _lock = lock(&parent.join("rayo-test-venv.lock"));
    let wanted = hex::encode(Sha256::digest(REQUIREMENTS.as_bytes()));
    let stamp = dir.join(STAMP_FILE);
    // `exists` follows the interpreter's symlink, so a venv whose base
    // Python went away is rebuilt too.
    let current = std::fs::read_to_string(&stamp).is_ok_and(|stamp| stamp.trim() == wanted);
    if current && dir.join("bin/python").exists() {
        return;
    }
    eprintln!(
        "rayo-tests: creating the Python environment at {} (once; later runs reuse it)",
        dir.display()
    );
    let _ = std::fs::remove_dir_all(dir);
    let host_python = std::env::var_os("RAYO_TEST_PYTHON").unwrap_or_else(|| "python3".into());
    let output = run_with_deadline(
        Command::new(&host_python).args(["-m", "venv"]).arg(dir),
        Duration::from_secs(300),
        "python3 -m venv",
    );
    assert!(
        output.success(),
        "`{} -m venv {}` failed (the tests need the host's Python 3 with venv):\n{}\n{}",
        host_python.to_string_lossy(),
        dir.display(),
        output.stdout,
        output.stderr
    );
    let requirements = Path::new(env!("CARGO_MANIFEST_DIR")).join("requirements.txt");
    let output = run_with_deadline(
        Command::new(dir.join("bin/python"))
            .args(["-m", "pip", "install", "--disable-pip-version-check"])
            .args(["--no-input", "--quiet", "-r"])
            .arg(&requirements),
        INSTALL_DEADLINE,
        "pip install -r tests/requirements.txt",
    );
    assert!(
        output.success(),
        "installing {} into {} failed:\n{}\n{}",
        requirements.display(),
        dir.display(),
        output.stdout,
        output.stderr
    );
    std::fs::write(&stamp, format!("{wanted}\n")).expect("writing the venv stamp");
}

/// Takes an exclusive lock on `path`, blocking; released when dropped.
fn lock(path: &Path) -> File {
    let file =
        File::create(path).unwrap_or_else(|error| panic!("opening {}: {error}", path.display()));
    file.lock()
        .unwrap_or_else(|error| panic!("locking {}: {error}", path.display()));
    file
}
