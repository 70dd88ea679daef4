//! Which runtimes this host can run, and how to start each.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::str::FromStr;

use rayo_core::Runtime;
use rayo_core::runtime::PYTHON_MINORS;
use thiserror::Error;

use crate::python::{BOOTSTRAP_PY, ZYGOTE_PY};

/// A Python interpreter found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonInterpreter {
    /// Minor version: 11 for Python 3.11.
    pub minor: u8,
    /// Full version, such as `3.11.7`.
    pub version: String,
    /// Absolute path of the executable.
    pub executable: PathBuf,
    /// Whether `import boto3` works with this interpreter as installed.
    pub has_boto3: bool,
    /// The directories the interpreter needs (its prefix, a virtualenv's base
    /// installation, the real location of its executable): a sandbox shows
    /// them read-only at the same paths.
    pub install_dirs: Vec<PathBuf>,
}

/// What to do when a function asks for a Python version the host lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PythonFallback {
    /// Refuse such functions at CreateFunction (the default).
    Refuse,
    /// Run them on the newest installed interpreter.
    Newest,
    /// Run them on this installed minor version.
    Minor(u8),
}

impl FromStr for PythonFallback {
    type Err = String;

    fn from_str(s: &str) -> Result<PythonFallback, String> {
        match s {
            "refuse" | "none" => Ok(PythonFallback::Refuse),
            "newest" => Ok(PythonFallback::Newest),
            _ => {
                let minor = s
                    .strip_prefix("python")
                    .unwrap_or(s)
                    .strip_prefix("3.")
                    .and_then(|m| m.parse::<u8>().ok())
                    .ok_or_else(|| {
                        format!("expected 'refuse', 'newest' or a version such as 3.11, got '{s}'")
                    })?;
                Ok(PythonFallback::Minor(minor))
            }
        }
    }
}

/// A runtime the host cannot run.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum RuntimeUnavailable {
    /// The Python version is not installed and no fallback applies.
    #[error(
        "The runtime parameter of {runtime} is not available on this rayo host: installed Python interpreters are [{installed}]. Install {runtime}, or start rayo with --python-fallback newest (or a version such as 3.11) to run {runtime} functions on an installed interpreter"
    )]
    PythonNotInstalled {
        /// The runtime asked for.
        runtime: Runtime,
        /// The installed versions, comma-separated.
        installed: String,
    },
    /// No Python at all, needed even by provided runtimes' tooling here.
    #[error("no Python 3 interpreter was found on this host's PATH")]
    NoPython,
}

/// How to start an instance of a function's runtime.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Launch {
    /// Run `bootstrap.py` with this interpreter.
    Python {
        /// The interpreter.
        interpreter: PythonInterpreter,
        /// The built-in bootstrap script.
        bootstrap: PathBuf,
        /// The version asked for, when a different one runs it.
        substituted_for: Option<Runtime>,
        /// Extra directories for `sys.path` (where boto3 lives).
        extra_paths: Vec<PathBuf>,
    },
    /// Run the package's own `bootstrap` executable.
    Provided {
        /// The interpreter whose directory leads `PATH`, when there is one.
        default_python: Option<PythonInterpreter>,
    },
}

/// The runtimes this host offers.
#[derive(Debug, Clone)]
pub struct RuntimeCatalog {
    pythons: BTreeMap<u8, PythonInterpreter>,
    fallback: PythonFallback,
    bootstrap_py: PathBuf,
    zygote_py: PathBuf,
    support_dir: PathBuf,
}

impl RuntimeCatalog {
    /// Finds the host's Python interpreters on `PATH` and writes the built-in
    /// bootstrap under `runtime_dir`.
    pub fn discover(
        runtime_dir: &Path,
        fallback: PythonFallback,
    ) -> std::io::Result<RuntimeCatalog> {
        // Each probe starts an interpreter; run them side by side.
        let probes: Vec<_> = PYTHON_MINORS
            .map(|minor| {
                (
                    minor,
                    std::thread::spawn(move || probe_python(&format!("python3.{minor}"))),
                )
            })
            .collect();
        let mut pythons = BTreeMap::new();
        for (minor, probe) in probes {
            if let Ok(Some(interpreter)) = probe.join()
                && interpreter.minor == minor
            {
                pythons.insert(minor, interpreter);
            }
        }
        if pythons.is_empty()
            && let Some(interpreter) = probe_python("python3")
        {
            pythons.insert(interpreter.minor, interpreter);
        }
        Self::with_interpreters(runtime_dir, pythons.into_values().collect(), fallback)
    }

    /// A catalog of the given interpreters; writes the bootstrap and the
    /// zygote under `runtime_dir`.
    pub fn with_interpreters(
        runtime_dir: &Path,
        interpreters: Vec<PythonInterpreter>,
        fallback: PythonFallback,
    ) -> std::io::Result<RuntimeCatalog> {
        let python_dir = runtime_dir.join("python");
        std::fs::create_dir_all(&python_dir)?;
        let bootstrap_py = write_if_changed(&python_dir, "bootstrap.py", BOOTSTRAP_PY)?;
        let zygote_py = write_if_changed(&python_dir, "zygote.py", ZYGOTE_PY)?;
        Ok(RuntimeCatalog {
            pythons: interpreters.into_iter().map(|i| (i.minor, i)).collect(),
            fallback,
            bootstrap_py,
            zygote_py,
            support_dir: runtime_dir.join("site-packages"),
            // `runtime_dir()` relies on this layout.
        })
    }

    /// The directory holding the built-in runtime's files (the bootstrap and
    /// the packages rayo adds); a sandbox shows it at `/var/runtime`.
    pub fn runtime_dir(&self) -> &Path {
        self.bootstrap_py
            .parent()
            .and_then(Path::parent)
            .expect("the bootstrap lives in <runtime dir>/python/")
    }

    /// The built-in zygote script, which runs as root on the host (never
    /// inside a sandbox).
    pub fn zygote_py(&self) -> &Path {
        &self.zygote_py
    }

    /// The interpreters found.
    pub fn interpreters(&self) -> impl Iterator<Item = &PythonInterpreter> {
        self.pythons.values()
    }

    /// Where rayo keeps packages it adds for functions (boto3), per minor version.
    pub fn support_site_packages(&self, minor: u8) -> PathBuf {
        self.support_dir.join(format!("python3.{minor}"))
    }

    /// Installs boto3 for an interpreter that lacks it, as Lambda's Python
    /// runtimes include it: `pip install --target` into rayo's support
    /// directory, staged and renamed so that a failed install leaves nothing.
    /// Returns false when nothing was needed.
    pub fn provision_boto3(&self, interpreter: &PythonInterpreter) -> std::io::Result<bool> {
        let target = self.support_site_packages(interpreter.minor);
        if interpreter.has_boto3 || target.join("boto3").is_dir() {
            return Ok(false);
        }
        let staging = target.with_extension("partial");
        let _ = std::fs::remove_dir_all(&staging);
        std::fs::create_dir_all(&staging)?;
        let output = Command::new(&interpreter.executable)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(["--no-input", "--target"])
            .arg(&staging)
            .arg("boto3")
            .output()?;
        if !output.status.success() {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(std::io::Error::other(format!(
                "pip install boto3 failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        let _ = std::fs::remove_dir_all(&target);
        std::fs::rename(&staging, &target)?;
        Ok(true)
    }

    /// How to start `runtime`, or why this host cannot.
    pub fn resolve(&self, runtime: Runtime) -> Result<Launch, RuntimeUnavailable> {
        match runtime {
            Runtime::Python { minor } => {
                let (interpreter, substituted_for) = match self.pythons.get(&minor) {
                    Some(interpreter) => (interpreter.clone(), None),
                    None => (self.fallback_for(runtime)?.clone(), Some(runtime)),
                };
                let support = self.support_site_packages(interpreter.minor);
                let extra_paths = if support.is_dir() {
                    vec![support]
                } else {
                    Vec::new()
                };
                Ok(Launch::Python {
                    interpreter,
                    bootstrap: self.bootstrap_py.clone(),
                    substituted_for,
                    extra_paths,
                })
            }
            Runtime::ProvidedAl2023 | Runtime::ProvidedAl2 | Runtime::Provided => {
                Ok(Launch::Provided {
                    default_python: self.pythons.values().next_back().cloned(),
                })
            }
        }
    }

    fn fallback_for(&self, runtime: Runtime) -> Result<&PythonInterpreter, RuntimeUnavailable> {
        let unavailable = || RuntimeUnavailable::PythonNotInstalled {
            runtime,
            installed: self
                .pythons
                .keys()
                .map(|minor| format!("python3.{minor}"))
                .collect::<Vec<_>>()
                .join(", "),
        };
        match self.fallback {
            PythonFallback::Refuse => Err(unavailable()),
            PythonFallback::Newest => self.pythons.values().next_back().ok_or(unavailable()),
            PythonFallback::Minor(minor) => self.pythons.get(&minor).ok_or(unavailable()),
        }
    }
}

impl fmt::Display for PythonInterpreter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Python {} ({})", self.version, self.executable.display())
    }
}

/// Writes `content` to `dir/name` unless it is there already; rewritten on
/// every start so that an upgraded binary never runs a stale copy.
fn write_if_changed(dir: &Path, name: &str, content: &str) -> std::io::Result<PathBuf> {
    let path = dir.join(name);
    if std::fs::read_to_string(&path).ok().as_deref() != Some(content) {
        let staging = dir.join(format!(".{name}.new"));
        std::fs::write(&staging, content)?;
        std::fs::rename(&staging, &path)?;
    }
    Ok(path)
}

/// Runs `program` to learn its version and whether boto3 imports; `None` when
/// it is missing or is not a working interpreter (pyenv shims for versions
/// that are not selected exit with an error).
fn probe_python(program: &str) -> Option<PythonInterpreter> {
    const PROBE: &str = "import os, sys, importlib.util as u\nprint(sys.executable)\nprint('%d.%d.%d' % sys.version_info[:3])\nprint(u.find_spec('boto3') is not None)\nprint(sys.prefix)\nprint(sys.base_prefix)\nprint(os.path.dirname(os.path.realpath(sys.executable)))";
    let output = Command::new(program)
        .args(["-I", "-c", PROBE])
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    let stdout = String::from_utf8(output.stdout).ok()?;
    let mut lines = stdout.lines();
    let executable = PathBuf::from(lines.next()?);
    let version = lines.next()?.to_string();
    let has_boto3 = lines.next()? == "True";
    let mut install_dirs: Vec<PathBuf> = lines
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .collect();
    install_dirs.sort();
    install_dirs.dedup();
    let minor = version.split('.').nth(1)?.parse().ok()?;
    if version.split('.').next()? != "3" || !executable.is_absolute() {
        return None;
    }
    Some(PythonInterpreter {
        minor,
        version,
        executable,
        has_boto3,
        install_dirs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interpreter(minor: u8) -> PythonInterpreter {
        PythonInterpreter {
            minor,
            version: format!("3.{minor}.0"),
            executable: PathBuf::from(format!("/usr/bin/python3.{minor}")),
            has_boto3: true,
            install_dirs: vec![PathBuf::from("/usr")],
        }
    }

    fn resolved_minor(fallback: PythonFallback, asked: u8) -> Result<(u8, bool), String> {
        let dir = tempfile::tempdir().expect("temp dir");
        let catalog = RuntimeCatalog::with_interpreters(
            dir.path(),
            vec![interpreter(10), interpreter(11)],
            fallback,
        )
        .expect("catalog");
        match catalog.resolve(Runtime::Python { minor: asked }) {
            Ok(Launch::Python {
                interpreter,
                substituted_for,
                ..
            }) => Ok((interpreter.minor, substituted_for.is_some())),
            Ok(other) => Err(format!("unexpected {other:?}")),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn resolves_python_versions() {
        assert_eq!(resolved_minor(PythonFallback::Refuse, 11), Ok((11, false)));
        assert!(
            resolved_minor(PythonFallback::Refuse, 12)
                .unwrap_err()
                .contains("installed Python interpreters are [python3.10, python3.11]")
        );
        assert_eq!(resolved_minor(PythonFallback::Newest, 12), Ok((11, true)));
        assert_eq!(
            resolved_minor(PythonFallback::Minor(10), 13),
            Ok((10, true))
        );
        assert!(resolved_minor(PythonFallback::Minor(9), 13).is_err());
    }

    #[test]
    fn parses_fallback() {
        assert_eq!("newest".parse(), Ok(PythonFallback::Newest));
        assert_eq!("3.11".parse(), Ok(PythonFallback::Minor(11)));
        assert_eq!("python3.11".parse(), Ok(PythonFallback::Minor(11)));
        assert!("eleven".parse::<PythonFallback>().is_err());
    }
}
