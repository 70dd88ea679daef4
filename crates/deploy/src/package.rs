//! Deployment packages: the service's files chosen by `package.patterns`,
//! zipped the same way every time (sorted entries, fixed times and modes) so
//! that unchanged code has an unchanged SHA-256 and needs no upload; and
//! Python requirements installed with pip into a directory cached by the
//! hash of `requirements.txt` and the Python version.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

/// Packaging failed.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    /// Reading the project or writing the cache.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// Writing the zip.
    #[error("writing the package: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// pip failed.
    #[error("pip install -r {requirements} failed ({status}):\n{output}")]
    Pip {
        /// The requirements file.
        requirements: String,
        /// pip's exit status.
        status: String,
        /// What it printed.
        output: String,
    },
}

/// Files left out unless a pattern includes them again: what the Framework
/// leaves out, Python's caches and virtualenvs, and the configuration itself
/// (so that a change of configuration alone changes no code).
const DEFAULT_EXCLUDES: &[&str] = &[
    "!serverless.yml",
    "!serverless.yaml",
    "!.git/**",
    "!.gitignore",
    "!.DS_Store",
    "!.serverless/**",
    "!.serverless_plugins/**",
    "!**/__pycache__/**",
    "!**/*.pyc",
    "!node_modules/**",
    "!.venv/**",
    "!venv/**",
];

/// The files of `dir` (relative paths, sorted) that `patterns` keep: all by
/// default, then each pattern in order includes what it matches, or with a
/// leading `!` excludes it.
pub fn select_files(dir: &Path, patterns: &[String]) -> Result<Vec<PathBuf>, PackageError> {
    let mut all = Vec::new();
    walk(dir, Path::new(""), &mut all)?;
    all.sort();
    let patterns: Vec<&str> = DEFAULT_EXCLUDES
        .iter()
        .copied()
        .chain(patterns.iter().map(String::as_str))
        .collect();
    Ok(all
        .into_iter()
        .filter(|file| {
            let text = file.to_string_lossy().replace('\\', "/");
            let mut keep = true;
            for pattern in &patterns {
                let (negated, glob) = match pattern.strip_prefix('!') {
                    Some(glob) => (true, glob),
                    None => (false, *pattern),
                };
                let glob = glob.trim_start_matches("./");
                if glob_matches(glob, &text) || glob_matches(&format!("{glob}/**"), &text) {
                    keep = !negated;
                }
            }
            keep
        })
        .collect())
}

fn walk(root: &Path, relative: &Path, out: &mut Vec<PathBuf>) -> Result<(), PackageError> {
    let dir = root.join(relative);
    let entries = std::fs::read_dir(&dir).map_err(|source| PackageError::Io {
        path: dir.clone(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| PackageError::Io {
            path: dir.clone(),
            source,
        })?;
        let file_type = entry.file_type().map_err(|source| PackageError::Io {
            path: entry.path(),
            source,
        })?;
        let child = relative.join(entry.file_name());
        if file_type.is_dir() {
            walk(root, &child, out)?;
        } else if file_type.is_file() {
            out.push(child);
        }
    }
    Ok(())
}

/// Shell-style glob over `/`-separated paths: `**` spans directories, `*`
/// and `?` stay within one.
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    fn matches(pattern: &[u8], path: &[u8]) -> bool {
        match pattern.first() {
            None => path.is_empty(),
            Some(b'*') if pattern.get(1) == Some(&b'*') => {
                let mut rest = &pattern[2..];
                if rest.first() == Some(&b'/') {
                    rest = &rest[1..];
                    // `**/` also matches no directory at all.
                    if matches(rest, path) {
                        return true;
                    }
                }
                (0..=path.len()).any(|i| {
                    (i == 0 || path[i - 1] == b'/' || rest.is_empty()) && matches(rest, &path[i..])
                })
            }
            Some(b'*') => (0..=path.len())
                .take_while(|&i| i == 0 || path[i - 1] != b'/')
                .any(|i| matches(&pattern[1..], &path[i..])),
            Some(b'?') => !path.is_empty() && path[0] != b'/' && matches(&pattern[1..], &path[1..]),
            Some(&c) => path.first() == Some(&c) && matches(&pattern[1..], &path[1..]),
        }
    }
    matches(pattern.as_bytes(), path.as_bytes())
}

/// What goes in a zip: archive path → file on disk.
pub type Contents = BTreeMap<String, PathBuf>;

/// The files under `dir` that `patterns` keep, at their relative paths
/// under `prefix`.
pub fn contents(dir: &Path, patterns: &[String], prefix: &str) -> Result<Contents, PackageError> {
    Ok(select_files(dir, patterns)?
        .into_iter()
        .map(|file| {
            let name = format!("{prefix}{}", file.to_string_lossy().replace('\\', "/"));
            (name, dir.join(file))
        })
        .collect())
}

/// Every file under `dir` (no patterns but the default exclusions), under `prefix`.
pub fn all_contents(dir: &Path, prefix: &str) -> Result<Contents, PackageError> {
    contents(dir, &[], prefix)
}

/// A zip of `contents` whose bytes depend only on the names, contents and
/// executable bits of the files; with the SHA-256 of those bytes (base64,
/// as Lambda's `CodeSha256`).
pub fn zip(contents: &Contents) -> Result<(Vec<u8>, String), PackageError> {
    use std::os::unix::fs::PermissionsExt;

    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, path) in contents {
        let data = std::fs::read(path).map_err(|source| PackageError::Io {
            path: path.clone(),
            source,
        })?;
        let executable = std::fs::metadata(path)
            .map(|m| m.permissions().mode() & 0o111 != 0)
            .unwrap_or(false);
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(if executable { 0o755 } else { 0o644 });
        writer.start_file(name.as_str(), options)?;
        writer.write_all(&data).map_err(|source| PackageError::Io {
            path: path.clone(),
            source,
        })?;
    }
    let bytes = writer.finish()?.into_inner();
    let sha = code_sha256(&bytes);
    Ok((bytes, sha))
}

/// Lambda's `CodeSha256`: base64 of the package's SHA-256.
pub fn code_sha256(bytes: &[u8]) -> String {
    base64_encode(&Sha256::digest(bytes))
}

fn base64_encode(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Installs `requirements` for `runtime` (`python3.X`) into a directory
/// under `cache_dir` named by the hash of the file and the runtime, unless
/// it is there already; returns it and whether it was cached.
pub fn install_requirements(
    requirements: &Path,
    runtime: &str,
    cache_dir: &Path,
) -> Result<(PathBuf, bool), PackageError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| PackageError::Io { path, source }
    };
    // Absolute, since pip runs in the project's directory.
    let requirements = &std::fs::canonicalize(requirements).map_err(io(requirements))?;
    std::fs::create_dir_all(cache_dir).map_err(io(cache_dir))?;
    let cache_dir = &std::fs::canonicalize(cache_dir).map_err(io(cache_dir))?;
    let text = std::fs::read(requirements).map_err(|source| PackageError::Io {
        path: requirements.to_path_buf(),
        source,
    })?;
    let mut hasher = Sha256::new();
    hasher.update(runtime.as_bytes());
    hasher.update([0]);
    hasher.update(&text);
    let key = hex::encode(&hasher.finalize()[..12]);
    let target = cache_dir.join(format!("requirements-{runtime}-{key}"));
    if target.join(".complete").is_file() {
        return Ok((target, true));
    }
    let staging = cache_dir.join(format!(".staging-{key}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    std::fs::create_dir_all(&staging).map_err(io(&staging))?;
    let version = runtime.trim_start_matches("python");
    // The runtime's own interpreter when the host has it; otherwise any
    // pip, told which Python the wheels are for.
    let interpreter = format!("python{version}");
    let has_interpreter = Command::new(&interpreter)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut command = Command::new(if has_interpreter {
        interpreter.as_str()
    } else {
        "python3"
    });
    command.args([
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "-q",
        "-r",
    ]);
    command.arg(requirements).arg("-t").arg(&staging);
    // Relative paths in the requirements (`./wheels/x.whl`) are the project's.
    if let Some(dir) = requirements.parent().filter(|d| !d.as_os_str().is_empty()) {
        command.current_dir(dir);
    }
    if !has_interpreter {
        command.args([
            "--python-version",
            version,
            "--only-binary=:all:",
            "--platform",
            "manylinux2014_x86_64",
            "--implementation",
            "cp",
        ]);
    }
    let output = command.output().map_err(io(Path::new("python3")))?;
    if !output.status.success() {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(PackageError::Pip {
            requirements: requirements.display().to_string(),
            status: output.status.to_string(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    std::fs::write(staging.join(".complete"), b"").map_err(io(&staging))?;
    let _ = std::fs::remove_dir_all(&target);
    std::fs::rename(&staging, &target).map_err(io(&target))?;
    Ok((target, false))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        let check = |pattern: &str, path: &str, expected: bool| {
            assert_eq!(glob_matches(pattern, path), expected, "{pattern} vs {path}");
        };
        check("*.py", "handler.py", true);
        check("*.py", "src/handler.py", false);
        check("**/*.py", "src/handler.py", true);
        check("**/*.py", "handler.py", true);
        check("src/**", "src/a/b.txt", true);
        check("src/**", "srcx/a", false);
        check("node_modules/**", "node_modules/x/y.js", true);
        check("**/__pycache__/**", "a/__pycache__/x.pyc", true);
        check("**/__pycache__/**", "__pycache__/x.pyc", true);
        check("tests/*", "tests/a.py", true);
        check("tests/*", "tests/a/b.py", false);
        check("?.txt", "a.txt", true);
        check("README.md", "README.md", true);
    }

    #[test]
    fn patterns_and_stable_zips() {
        let dir = std::env::temp_dir().join(format!("rayo-deploy-pkg-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        for file in [
            "handler.py",
            "lib/util.py",
            "tests/test_x.py",
            ".git/HEAD",
            "notes.md",
        ] {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
            std::fs::write(&path, file).expect("write");
        }
        let patterns = vec!["!tests/**".to_string(), "!*.md".to_string()];
        let files = select_files(&dir, &patterns).expect("selects");
        assert_eq!(
            files,
            [PathBuf::from("handler.py"), PathBuf::from("lib/util.py")]
        );
        let contents = contents(&dir, &patterns, "").expect("contents");
        let (first, sha) = zip(&contents).expect("zips");
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::fs::write(dir.join("handler.py"), "handler.py").expect("touch");
        let (second, same_sha) = zip(&contents).expect("zips");
        assert_eq!(first, second);
        assert_eq!(sha, same_sha);
        std::fs::write(dir.join("handler.py"), "changed").expect("edit");
        let (_, changed) = zip(&contents).expect("zips");
        assert_ne!(sha, changed);
        assert_eq!(
            code_sha256(b""),
            "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
