//! Validating extraction of a deployment package into a staging directory.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{self, Cursor, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayo_core::store::PackageError;
use zip::ZipArchive;
use zip::result::ZipError;

use crate::code_store::PackageLimits;

/// Mode of an extracted file.
pub(crate) const FILE_MODE: u32 = 0o444;
/// Mode of an extracted file that had an execute bit.
pub(crate) const EXECUTABLE_MODE: u32 = 0o555;
/// Mode of an extracted directory.
pub(crate) const DIR_MODE: u32 = 0o555;

const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// Linux's `NAME_MAX`.
const COMPONENT_MAX_BYTES: usize = 255;
/// Longest path inside a package; leaves room for the store's own prefix
/// under Linux's 4096-byte `PATH_MAX`, and bounds the tree's depth.
const PATH_MAX_BYTES: usize = 2048;
/// Longest symlink target (Linux's `PATH_MAX` less the NUL).
const LINK_TARGET_MAX_BYTES: usize = 4095;
const COPY_BUFFER_BYTES: usize = 64 * 1024;

/// Unpacks `zip` into `dest`, an empty directory.
///
/// Directories below `dest` are left read-only; `dest` itself is left
/// writable so that it can be renamed to another parent (Linux requires write
/// permission on a directory to move it), and the caller sets it to
/// [`DIR_MODE`] afterwards. On error `dest` holds a partial tree the caller
/// must remove; its directories are still writable.
pub(crate) fn unpack(zip: &[u8], dest: &Path, limits: &PackageLimits) -> Result<(), PackageError> {
    let mut archive = ZipArchive::new(Cursor::new(zip)).map_err(|error| {
        PackageError::Malformed(format!("not a zip archive, or a truncated one: {error}"))
    })?;
    if archive.len() > limits.max_entries {
        return Err(PackageError::TooManyEntries {
            limit: limits.max_entries,
        });
    }
    if archive.has_duplicate_names() {
        return Err(PackageError::Malformed(
            "the archive lists the same entry name more than once".to_string(),
        ));
    }
    // The central directory's sizes may lie, so they only allow refusing
    // early; the bytes actually written are counted below.
    let mut declared_bytes: u64 = 0;
    for index in 0..archive.len() {
        let entry = archive
            .by_index_data(index)
            .map_err(|error| PackageError::Malformed(format!("entry {index}: {error}")))?;
        declared_bytes = declared_bytes.saturating_add(entry.size());
    }
    if declared_bytes > limits.unzipped_max_bytes {
        return Err(PackageError::TooLargeUnzipped {
            limit: limits.unzipped_max_bytes,
        });
    }

    let mut tree = Tree::new(dest);
    let mut budget = Budget {
        remaining_bytes: limits.unzipped_max_bytes,
        limit: limits.unzipped_max_bytes,
    };
    let mut buffer = vec![0u8; COPY_BUFFER_BYTES];
    for index in 0..archive.len() {
        let (name, unix_mode) = {
            let entry = archive
                .by_index_data(index)
                .map_err(|error| PackageError::Malformed(format!("entry {index}: {error}")))?;
            let name = entry.name().map_err(|error| {
                PackageError::Malformed(format!("entry {index} has an unreadable name: {error}"))
            })?;
            (name.into_owned(), entry.unix_mode())
        };
        let components = entry_components(&name)?;
        match EntryKind::of(&name, unix_mode) {
            EntryKind::Dir => tree.add_dir(&name, &components)?,
            EntryKind::File => {
                let mut entry = archive
                    .by_index(index)
                    .map_err(|error| entry_error(&name, error))?;
                let mut file = tree.create_file(&name, &components)?;
                loop {
                    let n_read = match entry.read(&mut buffer) {
                        Ok(0) => break,
                        Ok(n_read) => n_read,
                        Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                        Err(error) => return Err(corrupt(&name, error)),
                    };
                    budget.spend(n_read)?;
                    file.write_all(&buffer[..n_read])
                        .map_err(io_error(format_args!("writing '{name}'")))?;
                }
                let executable = unix_mode.is_some_and(|mode| mode & 0o111 != 0);
                let mode = if executable {
                    EXECUTABLE_MODE
                } else {
                    FILE_MODE
                };
                file.set_permissions(Permissions::from_mode(mode))
                    .map_err(io_error(format_args!("setting the mode of '{name}'")))?;
            }
            EntryKind::Symlink => {
                let mut entry = archive
                    .by_index(index)
                    .map_err(|error| entry_error(&name, error))?;
                let mut target = Vec::new();
                entry
                    .by_ref()
                    .take(LINK_TARGET_MAX_BYTES as u64 + 1)
                    .read_to_end(&mut target)
                    .map_err(|error| corrupt(&name, error))?;
                if target.len() > LINK_TARGET_MAX_BYTES {
                    return Err(PackageError::Malformed(format!(
                        "symlink '{name}' has a target longer than {LINK_TARGET_MAX_BYTES} bytes"
                    )));
                }
                budget.spend(target.len())?;
                check_link_target(&name, components.len().saturating_sub(1), &target)?;
                tree.create_symlink(&name, &components, OsStr::from_bytes(&target))?;
            }
        }
    }
    tree.seal()
}

/// The unzipped bytes a package may still produce.
#[derive(Debug)]
struct Budget {
    remaining_bytes: u64,
    limit: u64,
}

impl Budget {
    fn spend(&mut self, n_bytes: usize) -> Result<(), PackageError> {
        self.remaining_bytes = self
            .remaining_bytes
            .checked_sub(n_bytes as u64)
            .ok_or(PackageError::TooLargeUnzipped { limit: self.limit })?;
        Ok(())
    }
}

/// What an entry creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Dir,
    File,
    Symlink,
}

impl EntryKind {
    fn of(name: &str, unix_mode: Option<u32>) -> EntryKind {
        let file_type = unix_mode.map(|mode| mode & S_IFMT);
        if name.ends_with(['/', '\\']) || file_type == Some(S_IFDIR) {
            EntryKind::Dir
        } else if file_type == Some(S_IFLNK) {
            EntryKind::Symlink
        } else {
            EntryKind::File
        }
    }
}

/// What already exists at a path in the tree being built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Dir,
    File,
    Symlink,
}

/// The tree being extracted, with what every path in it is.
///
/// Only paths recorded here are ever created or opened, so the filesystem
/// never surprises the extraction with a symlink it did not check.
#[derive(Debug)]
struct Tree<'a> {
    dest: &'a Path,
    nodes: HashMap<String, Node>,
    /// Directories created, to make read-only at the end.
    dirs: Vec<PathBuf>,
}

impl<'a> Tree<'a> {
    fn new(dest: &'a Path) -> Tree<'a> {
        Tree {
            dest,
            nodes: HashMap::new(),
            dirs: Vec::new(),
        }
    }

    fn add_dir(&mut self, name: &str, components: &[&str]) -> Result<(), PackageError> {
        if components.is_empty() {
            // The root itself, as in `./`.
            return Ok(());
        }
        self.create_parents(name, components)?;
        let key = components.join("/");
        match self.nodes.get(&key) {
            Some(Node::Dir) => Ok(()),
            Some(_) => Err(duplicate(name)),
            None => self.create_dir(name, key),
        }
    }

    fn create_file(&mut self, name: &str, components: &[&str]) -> Result<fs::File, PackageError> {
        let key = self.claim_leaf(name, components, Node::File)?;
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(self.dest.join(key))
            .map_err(io_error(format_args!("creating '{name}'")))
    }

    fn create_symlink(
        &mut self,
        name: &str,
        components: &[&str],
        target: &OsStr,
    ) -> Result<(), PackageError> {
        let key = self.claim_leaf(name, components, Node::Symlink)?;
        std::os::unix::fs::symlink(target, self.dest.join(key))
            .map_err(io_error(format_args!("creating symlink '{name}'")))
    }

    /// Makes every directory created read-only, deepest first.
    fn seal(self) -> Result<(), PackageError> {
        for dir in self.dirs.iter().rev() {
            fs::set_permissions(dir, Permissions::from_mode(DIR_MODE)).map_err(io_error(
                format_args!("setting the mode of {}", dir.display()),
            ))?;
        }
        Ok(())
    }

    /// Records a file or symlink at `components`, creating its parents.
    fn claim_leaf(
        &mut self,
        name: &str,
        components: &[&str],
        node: Node,
    ) -> Result<String, PackageError> {
        if components.is_empty() {
            return Err(PackageError::Malformed(format!(
                "entry '{name}' has no file name"
            )));
        }
        self.create_parents(name, components)?;
        let key = components.join("/");
        if self.nodes.contains_key(&key) {
            return Err(duplicate(name));
        }
        self.nodes.insert(key.clone(), node);
        Ok(key)
    }

    fn create_parents(&mut self, name: &str, components: &[&str]) -> Result<(), PackageError> {
        for depth in 1..components.len() {
            let key = components[..depth].join("/");
            match self.nodes.get(&key) {
                Some(Node::Dir) => {}
                // Writing below a symlink would write wherever it points.
                Some(Node::Symlink) => return Err(PackageError::EscapesRoot(name.to_string())),
                Some(Node::File) => {
                    return Err(PackageError::Malformed(format!(
                        "entry '{name}' needs '{key}' to be a directory, but it is a file"
                    )));
                }
                None => self.create_dir(name, key)?,
            }
        }
        Ok(())
    }

    fn create_dir(&mut self, name: &str, key: String) -> Result<(), PackageError> {
        let path = self.dest.join(&key);
        DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(io_error(format_args!("creating the directory of '{name}'")))?;
        self.nodes.insert(key, Node::Dir);
        self.dirs.push(path);
        Ok(())
    }
}

/// Splits an entry name into the normal components of its path in the tree.
fn entry_components(name: &str) -> Result<Vec<&str>, PackageError> {
    let escapes = || PackageError::EscapesRoot(name.to_string());
    if name.contains('\0') || name.starts_with(['/', '\\']) {
        return Err(escapes());
    }
    let mut raw_components = name.split(['/', '\\']);
    let first = raw_components.clone().next().unwrap_or_default().as_bytes();
    if first.len() >= 2 && first[0].is_ascii_alphabetic() && first[1] == b':' {
        return Err(escapes());
    }
    let mut components = Vec::new();
    for component in raw_components.by_ref() {
        match component {
            "" | "." => {}
            ".." => {
                components.pop().ok_or_else(escapes)?;
            }
            _ if component.len() > COMPONENT_MAX_BYTES => {
                return Err(PackageError::Malformed(format!(
                    "entry '{name}' has a path component longer than {COMPONENT_MAX_BYTES} bytes"
                )));
            }
            _ => components.push(component),
        }
    }
    let path_len = components.iter().map(|c| c.len() + 1).sum::<usize>();
    if path_len > PATH_MAX_BYTES {
        return Err(PackageError::Malformed(format!(
            "entry '{name}' has a path longer than {PATH_MAX_BYTES} bytes"
        )));
    }
    Ok(components)
}

/// Checks that a symlink at depth `link_depth` (the number of directories
/// between the root and the link) points inside the root.
fn check_link_target(name: &str, link_depth: usize, target: &[u8]) -> Result<(), PackageError> {
    if target.is_empty() || target.contains(&0) {
        return Err(PackageError::Malformed(format!(
            "symlink '{name}' has an empty target or one containing NUL"
        )));
    }
    let escapes = || PackageError::LinkEscapes(name.to_string());
    if target.starts_with(b"/") {
        return Err(escapes());
    }
    let mut n_parents = 0;
    let mut seen_name = false;
    for component in target.split(|&byte| byte == b'/') {
        match component {
            b"" | b"." => {}
            b".." if seen_name => return Err(escapes()),
            b".." => n_parents += 1,
            _ => seen_name = true,
        }
    }
    if n_parents > link_depth {
        return Err(escapes());
    }
    Ok(())
}

fn entry_error(name: &str, error: ZipError) -> PackageError {
    let reason = match error {
        ZipError::UnsupportedArchive(message) if message == ZipError::PASSWORD_REQUIRED => {
            format!("entry '{name}' is encrypted, which is not supported")
        }
        ZipError::CompressionMethodNotSupported(method) => format!(
            "entry '{name}' uses compression method {method}; only stored (0) and deflate (8) are supported"
        ),
        other => format!("entry '{name}': {other}"),
    };
    PackageError::Malformed(reason)
}

/// A read error from the decompressor: the zip crate reports some of its own
/// errors (such as an unsupported method) only once reading starts.
fn corrupt(name: &str, error: io::Error) -> PackageError {
    if error.get_ref().is_some_and(|inner| inner.is::<ZipError>()) {
        let inner = error
            .into_inner()
            .expect("checked above")
            .downcast::<ZipError>()
            .expect("checked above");
        return entry_error(name, *inner);
    }
    PackageError::Malformed(format!("entry '{name}' cannot be decompressed: {error}"))
}

fn duplicate(name: &str) -> PackageError {
    PackageError::Malformed(format!(
        "entry '{name}' names a path the archive already holds"
    ))
}

/// Turns an I/O error into [`PackageError::Io`] with what was being done.
pub(crate) fn io_error(
    context: std::fmt::Arguments<'_>,
) -> impl FnOnce(io::Error) -> PackageError + '_ {
    move |error| PackageError::Io(format!("{context}: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_components(name: &str, expected: Result<&str, &str>) {
        let actual = match entry_components(name) {
            Ok(components) => Ok(components.join("/")),
            Err(PackageError::EscapesRoot(_)) => Err("escapes"),
            Err(PackageError::Malformed(_)) => Err("malformed"),
            Err(other) => panic!("unexpected error for {name:?}: {other}"),
        };
        assert_eq!(actual.as_deref().map_err(|e| *e), expected, "name {name:?}");
    }

    #[test]
    fn entry_names() {
        check_components("bootstrap", Ok("bootstrap"));
        check_components("src/app.py", Ok("src/app.py"));
        check_components("src/", Ok("src"));
        check_components("./src//app.py", Ok("src/app.py"));
        check_components("src\\app.py", Ok("src/app.py"));
        check_components("src/../app.py", Ok("app.py"));
        check_components(".", Ok(""));
        check_components("ab:c", Ok("ab:c"));
        check_components("dir/C:/x", Ok("dir/C:/x"));
        check_components("../x", Err("escapes"));
        check_components("a/../../x", Err("escapes"));
        check_components("..\\x", Err("escapes"));
        check_components("/etc/passwd", Err("escapes"));
        check_components("\\x", Err("escapes"));
        check_components("C:\\x", Err("escapes"));
        check_components("c:x", Err("escapes"));
        check_components("a\0b", Err("escapes"));
        check_components(&"a".repeat(256), Err("malformed"));
        check_components(&"a/".repeat(1025), Err("malformed"));
    }

    fn check_link(depth: usize, target: &str, expected: Result<(), &str>) {
        let actual = match check_link_target("link", depth, target.as_bytes()) {
            Ok(()) => Ok(()),
            Err(PackageError::LinkEscapes(_)) => Err("escapes"),
            Err(PackageError::Malformed(_)) => Err("malformed"),
            Err(other) => panic!("unexpected error for {target:?}: {other}"),
        };
        assert_eq!(actual, expected, "target {target:?} at depth {depth}");
    }

    #[test]
    fn link_targets() {
        check_link(0, ".", Ok(()));
        check_link(0, "lib/libfoo.so.1", Ok(()));
        check_link(0, "./bin/", Ok(()));
        check_link(1, "..", Ok(()));
        check_link(2, "../../lib/x", Ok(()));
        check_link(2, "./.././../x", Ok(()));
        check_link(0, "..", Err("escapes"));
        check_link(1, "../../x", Err("escapes"));
        check_link(0, "/etc/passwd", Err("escapes"));
        check_link(3, "a/../x", Err("escapes"));
        check_link(0, "", Err("malformed"));
        check_link(0, "a\0b", Err("malformed"));
    }

    #[test]
    fn budget_counts_bytes_written() {
        let mut budget = Budget {
            remaining_bytes: 10,
            limit: 10,
        };
        budget.spend(4).unwrap();
        budget.spend(6).unwrap();
        budget.spend(0).unwrap();
        assert!(matches!(
            budget.spend(1),
            Err(PackageError::TooLargeUnzipped { limit: 10 })
        ));
    }

    #[test]
    fn entry_kinds() {
        assert_eq!(EntryKind::of("dir/", None), EntryKind::Dir);
        assert_eq!(EntryKind::of("dir", Some(0o040_755)), EntryKind::Dir);
        assert_eq!(EntryKind::of("link", Some(0o120_777)), EntryKind::Symlink);
        assert_eq!(EntryKind::of("file", Some(0o100_644)), EntryKind::File);
        assert_eq!(EntryKind::of("file", None), EntryKind::File);
        // A socket's type bits overlap a symlink's; only the whole type counts.
        assert_eq!(EntryKind::of("sock", Some(0o140_777)), EntryKind::File);
    }
}
