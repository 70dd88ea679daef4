//! [`FsCodeStore`]: deployment packages kept by content hash under one directory.

use std::collections::HashSet;
use std::fs::{self, DirBuilder, File, OpenOptions, Permissions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayo_core::CodeRef;
use rayo_core::limits;
use rayo_core::store::{CodeStore, PackageError};
use sha2::{Digest, Sha256};

use crate::unzip::{self, DIR_MODE, FILE_MODE, io_error};

/// The version of the layout described in the crate documentation.
const LAYOUT_VERSION: &str = "1";
const LAYOUT_VERSION_FILE: &str = "layout-version";
const ZIPS_DIR: &str = "zips";
const UNPACKED_DIR: &str = "unpacked";
const TMP_DIR: &str = "tmp";
const MERGED_DIR: &str = "merged";

/// The sizes a deployment package must stay within.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PackageLimits {
    /// Largest zip accepted, in bytes.
    pub zipped_max_bytes: u64,
    /// Largest unzipped package (file contents and link targets), in bytes.
    pub unzipped_max_bytes: u64,
    /// Most entries (files, directories and links) in one zip.
    pub max_entries: usize,
}

impl Default for PackageLimits {
    /// Lambda's quotas.
    fn default() -> PackageLimits {
        PackageLimits {
            zipped_max_bytes: limits::ZIP_DIRECT_MAX_BYTES,
            unzipped_max_bytes: limits::UNZIPPED_MAX_BYTES,
            max_entries: limits::ZIP_MAX_ENTRIES,
        }
    }
}

/// A [`CodeStore`] on the local filesystem; see the crate documentation for
/// its layout and extraction rules.
///
/// One process owns a root at a time: opening the store empties its staging
/// directory. `remove_unreferenced` must not run while a package is being
/// put and not yet recorded by a function, or it may remove it.
#[derive(Debug)]
pub struct FsCodeStore {
    root: PathBuf,
    limits: PackageLimits,
}

impl FsCodeStore {
    /// Opens (creating if needed) the store under `root`, with Lambda's limits.
    pub fn open(root: PathBuf) -> io::Result<FsCodeStore> {
        FsCodeStore::with_limits(root, PackageLimits::default())
    }

    /// Opens (creating if needed) the store under `root`, with other limits.
    pub fn with_limits(root: PathBuf, limits: PackageLimits) -> io::Result<FsCodeStore> {
        fs::create_dir_all(&root)?;
        check_layout_version(&root)?;
        for dir in [ZIPS_DIR, UNPACKED_DIR, TMP_DIR, MERGED_DIR] {
            fs::create_dir_all(root.join(dir))?;
        }
        // Staging directories left by a crash; no put can be running yet.
        for entry in fs::read_dir(root.join(TMP_DIR))? {
            remove_tree(&entry?.path())?;
        }
        Ok(FsCodeStore { root, limits })
    }

    /// The directory the store owns.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The limits packages are checked against.
    pub fn limits(&self) -> PackageLimits {
        self.limits
    }

    fn zip_path(&self, sha256_hex: &str) -> PathBuf {
        self.root.join(ZIPS_DIR).join(format!("{sha256_hex}.zip"))
    }
}

impl CodeStore for FsCodeStore {
    fn put_package(&self, zip: &[u8]) -> Result<CodeRef, PackageError> {
        let size = zip.len() as u64;
        if size > self.limits.zipped_max_bytes {
            return Err(PackageError::TooLargeZipped {
                limit: self.limits.zipped_max_bytes,
            });
        }
        let sha256_hex = hex::encode(Sha256::digest(zip));
        let zip_path = self.zip_path(&sha256_hex);
        let unpacked_dir = self.unpacked_dir(&sha256_hex);
        let code_ref = CodeRef { sha256_hex, size };
        if unpacked_dir.is_dir() && zip_path.is_file() {
            return Ok(code_ref);
        }

        let staging = Staging::new(&self.root.join(TMP_DIR))?;
        let staged_tree = staging.path.join("tree");
        DirBuilder::new()
            .mode(0o700)
            .create(&staged_tree)
            .map_err(io_error(format_args!("creating {}", staged_tree.display())))?;
        unzip::unpack(zip, &staged_tree, &self.limits)?;
        let staged_zip = staging.path.join("package.zip");
        write_read_only(&staged_zip, zip)?;
        // One flush for the whole tree instead of an fsync per file: once the
        // unpacked directory is in place the package counts as stored, so
        // its content must be on disk before the renames.
        let staging_dir = File::open(&staging.path)
            .map_err(io_error(format_args!("opening {}", staging.path.display())))?;
        nix::unistd::syncfs(&staging_dir)
            .map_err(|errno| PackageError::Io(format!("syncing the staged package: {errno}")))?;

        fs::rename(&staged_zip, &zip_path).map_err(io_error(format_args!(
            "moving the zip to {}",
            zip_path.display()
        )))?;
        match fs::rename(&staged_tree, &unpacked_dir) {
            Ok(()) => {}
            // A concurrent put of the same bytes got there first.
            Err(_) if unpacked_dir.is_dir() => {}
            Err(error) => {
                return Err(PackageError::Io(format!(
                    "moving the package to {}: {error}",
                    unpacked_dir.display()
                )));
            }
        }
        fs::set_permissions(&unpacked_dir, Permissions::from_mode(DIR_MODE)).map_err(io_error(
            format_args!("setting the mode of {}", unpacked_dir.display()),
        ))?;
        for dir in [ZIPS_DIR, UNPACKED_DIR] {
            sync_dir(&self.root.join(dir))?;
        }
        Ok(code_ref)
    }

    fn read_package(&self, sha256_hex: &str) -> Result<Vec<u8>, PackageError> {
        if !is_sha256_hex(sha256_hex) {
            return Err(PackageError::Io(format!(
                "'{sha256_hex}' is not a package hash"
            )));
        }
        fs::read(self.zip_path(sha256_hex))
            .map_err(io_error(format_args!("reading package {sha256_hex}")))
    }

    fn unpacked_dir(&self, sha256_hex: &str) -> PathBuf {
        self.root.join(UNPACKED_DIR).join(sha256_hex)
    }

    fn remove_unreferenced(&self, referenced: &[String]) -> Result<usize, PackageError> {
        let referenced: HashSet<&str> = referenced.iter().map(String::as_str).collect();
        let mut removed = HashSet::new();
        // Merged layer trees are rebuilt on demand; none is in use while
        // packages are collected (at start), so all go.
        let merged = self.root.join(MERGED_DIR);
        for entry in
            fs::read_dir(&merged).map_err(io_error(format_args!("listing {}", merged.display())))?
        {
            let path = entry
                .map_err(io_error(format_args!("listing {}", merged.display())))?
                .path();
            remove_tree(&path).map_err(io_error(format_args!("removing {}", path.display())))?;
        }
        // Unpacked directories first: a package whose directory is gone no
        // longer counts as stored, so a crash in between leaves no half
        // package that looks whole.
        for (dir, suffix) in [(UNPACKED_DIR, ""), (ZIPS_DIR, ".zip")] {
            let dir = self.root.join(dir);
            let entries =
                fs::read_dir(&dir).map_err(io_error(format_args!("listing {}", dir.display())))?;
            for entry in entries {
                let entry = entry.map_err(io_error(format_args!("listing {}", dir.display())))?;
                let file_name = entry.file_name();
                let Some(sha256_hex) = file_name
                    .to_str()
                    .and_then(|name| name.strip_suffix(suffix))
                    .filter(|name| is_sha256_hex(name))
                else {
                    continue;
                };
                if referenced.contains(sha256_hex) {
                    continue;
                }
                let path = entry.path();
                remove_tree(&path)
                    .map_err(io_error(format_args!("removing {}", path.display())))?;
                removed.insert(sha256_hex.to_string());
            }
        }
        Ok(removed.len())
    }

    fn merged_layers(&self, sha256_hexes: &[String]) -> Result<PathBuf, PackageError> {
        for sha256_hex in sha256_hexes {
            if !is_sha256_hex(sha256_hex) || !self.unpacked_dir(sha256_hex).is_dir() {
                return Err(PackageError::Io(format!(
                    "layer package {sha256_hex} is not stored"
                )));
            }
        }
        // One layer needs no merging.
        if let [only] = sha256_hexes {
            return Ok(self.unpacked_dir(only));
        }
        let key = hex::encode(Sha256::digest(sha256_hexes.join(",").as_bytes()));
        let merged_dir = self.root.join(MERGED_DIR).join(&key);
        if merged_dir.is_dir() {
            return Ok(merged_dir);
        }
        let staging = Staging::new(&self.root.join(TMP_DIR))?;
        let staged_tree = staging.path.join("tree");
        DirBuilder::new()
            .mode(0o700)
            .create(&staged_tree)
            .map_err(io_error(format_args!("creating {}", staged_tree.display())))?;
        for sha256_hex in sha256_hexes {
            overlay(&self.unpacked_dir(sha256_hex), &staged_tree)
                .map_err(io_error(format_args!("merging layer {sha256_hex}")))?;
        }
        seal(&staged_tree).map_err(io_error(format_args!("sealing merged layers {key}")))?;
        match fs::rename(&staged_tree, &merged_dir) {
            Ok(()) => {}
            // A concurrent merge of the same list got there first.
            Err(_) if merged_dir.is_dir() => {}
            Err(error) => {
                return Err(PackageError::Io(format!(
                    "moving merged layers to {}: {error}",
                    merged_dir.display()
                )));
            }
        }
        Ok(merged_dir)
    }
}

/// Copies the tree under `source` over `dest`, a file of `source`
/// replacing whatever `dest` had at its path. Files are hard links: both
/// trees are read-only, so they can share them.
fn overlay(source: &Path, dest: &Path) -> io::Result<()> {
    let mut pending = vec![(source.to_path_buf(), dest.to_path_buf())];
    while let Some((from_dir, to_dir)) = pending.pop() {
        for entry in fs::read_dir(&from_dir)? {
            let entry = entry?;
            let from = entry.path();
            let to = to_dir.join(entry.file_name());
            let file_type = entry.file_type()?;
            let existing = fs::symlink_metadata(&to).ok();
            if file_type.is_dir() {
                match existing {
                    Some(metadata) if metadata.is_dir() => {}
                    Some(_) => {
                        fs::remove_file(&to)?;
                        DirBuilder::new().mode(0o700).create(&to)?;
                    }
                    None => DirBuilder::new().mode(0o700).create(&to)?,
                }
                pending.push((from, to));
                continue;
            }
            match existing {
                Some(metadata) if metadata.is_dir() => remove_tree(&to)?,
                Some(_) => fs::remove_file(&to)?,
                None => {}
            }
            if file_type.is_symlink() {
                std::os::unix::fs::symlink(fs::read_link(&from)?, &to)?;
            } else {
                fs::hard_link(&from, &to)?;
            }
        }
    }
    Ok(())
}

/// Makes every directory of a merged tree read-only, as unpacked ones are.
fn seal(root: &Path) -> io::Result<()> {
    let mut dirs = vec![root.to_path_buf()];
    let mut index = 0;
    while index < dirs.len() {
        for entry in fs::read_dir(&dirs[index])? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                dirs.push(entry.path());
            }
        }
        index += 1;
    }
    for dir in dirs.iter().rev() {
        fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))?;
    }
    Ok(())
}

/// A staging directory under `tmp/`, removed with its content when dropped.
#[derive(Debug)]
struct Staging {
    path: PathBuf,
}

impl Staging {
    fn new(tmp: &Path) -> Result<Staging, PackageError> {
        let dir = tempfile::Builder::new()
            .prefix("put-")
            .tempdir_in(tmp)
            .map_err(io_error(format_args!(
                "creating a staging directory in {}",
                tmp.display()
            )))?;
        Ok(Staging { path: dir.keep() })
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Err(error) = remove_tree(&self.path) {
            // The next open empties tmp/ anyway.
            tracing::warn!(path = %self.path.display(), %error, "removing a staging directory failed");
        }
    }
}

/// Reads or writes the layout version, refusing a root laid out otherwise.
fn check_layout_version(root: &Path) -> io::Result<()> {
    let path = root.join(LAYOUT_VERSION_FILE);
    match fs::read_to_string(&path) {
        Ok(version) if version.trim() == LAYOUT_VERSION => Ok(()),
        Ok(version) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} has code store layout version {:?}; this rayo reads version {LAYOUT_VERSION}",
                root.display(),
                version.trim()
            ),
        )),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            fs::write(&path, format!("{LAYOUT_VERSION}\n"))
        }
        Err(error) => Err(error),
    }
}

fn write_read_only(path: &Path, content: &[u8]) -> Result<(), PackageError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(io_error(format_args!("creating {}", path.display())))?;
    file.write_all(content)
        .map_err(io_error(format_args!("writing {}", path.display())))
}

fn sync_dir(dir: &Path) -> Result<(), PackageError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error(format_args!("syncing {}", dir.display())))
}

fn is_sha256_hex(name: &str) -> bool {
    name.len() == 64
        && name
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// Removes a file, symlink or directory tree, making read-only directories
/// writable first; a missing path is not an error.
fn remove_tree(path: &Path) -> io::Result<()> {
    let metadata = match fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(error),
    };
    if !metadata.is_dir() {
        return fs::remove_file(path);
    }
    // Iterative, so a deep tree cannot exhaust the stack.
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        fs::set_permissions(&dir, Permissions::from_mode(0o700))?;
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                pending.push(entry.path());
            }
        }
    }
    fs::remove_dir_all(path)
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;
    use std::os::unix::fs::MetadataExt;

    use tempfile::TempDir;
    use zip::write::SimpleFileOptions;
    use zip::{CompressionMethod, System, ZipWriter};

    use super::*;

    /// One entry of a test zip.
    enum Item<'a> {
        File(&'a str, u32, &'a [u8]),
        Dir(&'a str),
        Link(&'a str, &'a str),
        /// A file without unix mode, as Windows tools write it.
        DosFile(&'a str, &'a [u8]),
    }

    fn build_zip(items: &[Item<'_>]) -> Vec<u8> {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
        for item in items {
            match item {
                Item::File(name, mode, content) => {
                    writer
                        .start_file(*name, options.unix_permissions(*mode))
                        .unwrap();
                    writer.write_all(content).unwrap();
                }
                Item::Dir(name) => writer.add_directory(*name, options).unwrap(),
                Item::Link(name, target) => writer.add_symlink(*name, *target, options).unwrap(),
                Item::DosFile(name, content) => {
                    let options = options.system(System::Dos).external_attributes(0x20);
                    writer.start_file(*name, options).unwrap();
                    writer.write_all(content).unwrap();
                }
            }
        }
        writer.finish().unwrap().into_inner()
    }

    /// A store in a temporary directory, removed even when read-only.
    struct TestStore {
        dir: TempDir,
        store: FsCodeStore,
    }

    impl TestStore {
        fn new() -> TestStore {
            TestStore::with_limits(PackageLimits::default())
        }

        fn with_limits(limits: PackageLimits) -> TestStore {
            let dir = TempDir::new().unwrap();
            let store = FsCodeStore::with_limits(dir.path().join("code"), limits).unwrap();
            TestStore { dir, store }
        }

        fn subdir_is_empty(&self, name: &str) -> bool {
            fs::read_dir(self.store.root().join(name))
                .unwrap()
                .next()
                .is_none()
        }

        /// Puts a zip that must be refused, and checks it left no trace.
        fn refuse(&self, zip: &[u8]) -> PackageError {
            let error = self
                .store
                .put_package(zip)
                .expect_err("the package should be refused");
            for name in [ZIPS_DIR, UNPACKED_DIR, TMP_DIR] {
                assert!(
                    self.subdir_is_empty(name),
                    "{name}/ not empty after {error}"
                );
            }
            error
        }
    }

    impl Drop for TestStore {
        fn drop(&mut self) {
            remove_tree(self.dir.path()).unwrap();
        }
    }

    fn mode_of(path: &Path) -> u32 {
        fs::symlink_metadata(path).unwrap().mode() & 0o7777
    }

    #[test]
    fn stores_and_unpacks_a_package() {
        let test = TestStore::new();
        let zip = build_zip(&[
            Item::File("bootstrap", 0o755, b"#!/bin/sh\necho hi\n"),
            Item::Dir("src/"),
            Item::File("src/app.py", 0o644, b"def handler(e, c): return e\n"),
            Item::File("lib/deep/libfoo.so.1", 0o644, b"\x7fELF"),
            Item::Link("lib/deep/libfoo.so", "libfoo.so.1"),
            Item::Link("lib/deep/root", "../.."),
            Item::Link("here", "."),
            Item::DosFile("windows.txt", b"from windows"),
            // A directory listed after its files.
            Item::Dir("lib/"),
        ]);
        let code_ref = test.store.put_package(&zip).unwrap();
        assert_eq!(code_ref.sha256_hex, hex::encode(Sha256::digest(&zip)));
        assert_eq!(code_ref.size, zip.len() as u64);

        let dir = test.store.unpacked_dir(&code_ref.sha256_hex);
        assert_eq!(
            dir,
            test.store
                .root()
                .join("unpacked")
                .join(&code_ref.sha256_hex)
        );
        assert_eq!(
            fs::read(dir.join("bootstrap")).unwrap(),
            b"#!/bin/sh\necho hi\n"
        );
        assert_eq!(
            fs::read_to_string(dir.join("src/app.py")).unwrap(),
            "def handler(e, c): return e\n"
        );
        assert_eq!(mode_of(&dir.join("bootstrap")), 0o555);
        assert_eq!(mode_of(&dir.join("src/app.py")), 0o444);
        assert_eq!(mode_of(&dir.join("windows.txt")), 0o444);
        for sub_dir in ["", "src", "lib", "lib/deep"] {
            assert_eq!(mode_of(&dir.join(sub_dir)), 0o555, "{sub_dir}");
        }
        assert_eq!(
            fs::read_link(dir.join("lib/deep/libfoo.so")).unwrap(),
            Path::new("libfoo.so.1")
        );
        assert_eq!(
            fs::read(dir.join("lib/deep/libfoo.so")).unwrap(),
            b"\x7fELF"
        );
        assert!(dir.join("lib/deep/root/bootstrap").is_file());
        assert!(dir.join("here/src/app.py").is_file());

        assert_eq!(test.store.read_package(&code_ref.sha256_hex).unwrap(), zip);
        let zip_path = test
            .store
            .root()
            .join("zips")
            .join(format!("{}.zip", code_ref.sha256_hex));
        assert_eq!(mode_of(&zip_path), 0o444);
        assert!(test.subdir_is_empty(TMP_DIR));
    }

    #[test]
    fn layers_merge_in_order_later_files_winning() {
        let test = TestStore::new();
        let first = test
            .store
            .put_package(&build_zip(&[
                Item::File("python/shared.py", 0o644, b"first"),
                Item::File("python/only_first.py", 0o644, b"1"),
                Item::File("python/becomes_dir", 0o644, b"file"),
            ]))
            .unwrap();
        let second = test
            .store
            .put_package(&build_zip(&[
                Item::File("python/shared.py", 0o644, b"second"),
                Item::File("python/becomes_dir/inner.py", 0o644, b"2"),
                Item::Link("python/link.py", "shared.py"),
            ]))
            .unwrap();
        let shas = vec![first.sha256_hex.clone(), second.sha256_hex.clone()];
        let merged = test.store.merged_layers(&shas).unwrap();
        let read = |path: &str| fs::read_to_string(merged.join(path)).unwrap();
        assert_eq!(read("python/shared.py"), "second");
        assert_eq!(read("python/only_first.py"), "1");
        assert_eq!(read("python/becomes_dir/inner.py"), "2");
        assert_eq!(read("python/link.py"), "second");
        assert_eq!(
            fs::metadata(merged.join("python")).unwrap().mode() & 0o777,
            DIR_MODE
        );
        // Built once; the other order is another tree.
        assert_eq!(test.store.merged_layers(&shas).unwrap(), merged);
        let reversed = vec![second.sha256_hex.clone(), first.sha256_hex.clone()];
        let other = test.store.merged_layers(&reversed).unwrap();
        assert_eq!(
            fs::read_to_string(other.join("python/shared.py")).unwrap(),
            "first"
        );
        // A single layer is its own unpacked tree.
        assert_eq!(
            test.store
                .merged_layers(std::slice::from_ref(&first.sha256_hex))
                .unwrap(),
            test.store.unpacked_dir(&first.sha256_hex)
        );
        assert!(test.store.merged_layers(&["ab".repeat(32)]).is_err());
        test.store.remove_unreferenced(&shas).unwrap();
        assert!(!merged.exists());
        assert!(test.subdir_is_empty(TMP_DIR));
    }

    #[test]
    fn storing_twice_is_a_no_op() {
        let test = TestStore::new();
        let zip = build_zip(&[Item::File("index.py", 0o644, b"x = 1\n")]);
        let first = test.store.put_package(&zip).unwrap();
        let dir = test.store.unpacked_dir(&first.sha256_hex);
        let inode = fs::metadata(&dir).unwrap().ino();
        let second = test.store.put_package(&zip).unwrap();
        assert_eq!(first, second);
        assert_eq!(fs::metadata(&dir).unwrap().ino(), inode);
        assert!(test.subdir_is_empty(TMP_DIR));
    }

    #[test]
    fn an_empty_zip_is_an_empty_package() {
        let test = TestStore::new();
        let code_ref = test.store.put_package(&build_zip(&[])).unwrap();
        let dir = test.store.unpacked_dir(&code_ref.sha256_hex);
        assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    }

    #[test]
    fn refuses_names_escaping_the_root() {
        let test = TestStore::new();
        for name in [
            "../evil",
            "a/../../evil",
            "/etc/evil",
            "..\\evil",
            "C:\\evil",
            "C:/evil",
        ] {
            let zip = build_zip(&[
                Item::File("ok", 0o644, b"ok"),
                Item::File(name, 0o644, b"x"),
            ]);
            match test.refuse(&zip) {
                PackageError::EscapesRoot(entry) => assert_eq!(entry, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_links_escaping_the_root() {
        let test = TestStore::new();
        for (name, target) in [
            ("link", "../outside"),
            ("dir/link", "../../outside"),
            ("link", "/etc/passwd"),
            ("dir/link", "sub/../../x"),
        ] {
            let zip = build_zip(&[Item::Dir("dir/"), Item::Link(name, target)]);
            match test.refuse(&zip) {
                PackageError::LinkEscapes(entry) => assert_eq!(entry, name),
                other => panic!("{name} -> {target}: {other:?}"),
            }
        }
    }

    #[test]
    fn refuses_writing_through_a_link() {
        let test = TestStore::new();
        for link_target in [".", "sub"] {
            let zip = build_zip(&[
                Item::Dir("sub/"),
                Item::Link("link", link_target),
                Item::File("link/file", 0o644, b"x"),
            ]);
            match test.refuse(&zip) {
                PackageError::EscapesRoot(entry) => assert_eq!(entry, "link/file"),
                other => panic!("link -> {link_target}: {other:?}"),
            }
        }
        // A directory entry through a link is refused the same way.
        let zip = build_zip(&[Item::Link("link", "."), Item::Dir("link/sub/")]);
        assert!(matches!(test.refuse(&zip), PackageError::EscapesRoot(_)));
    }

    #[test]
    fn refuses_duplicates_and_conflicts() {
        let test = TestStore::new();
        for items in [
            vec![Item::File("a", 0o644, b"1"), Item::File("./a", 0o644, b"2")],
            vec![Item::File("a", 0o644, b"1"), Item::Link("dir/../a", "b")],
            vec![Item::File("a", 0o644, b"1"), Item::Dir("a/")],
            vec![Item::File("a", 0o644, b"1"), Item::File("a/b", 0o644, b"2")],
            vec![Item::Link("a", "b"), Item::Dir("a/")],
        ] {
            let error = test.refuse(&build_zip(&items));
            assert!(matches!(error, PackageError::Malformed(_)), "{error:?}");
        }
    }

    #[test]
    fn refuses_zip_bombs() {
        let test = TestStore::with_limits(PackageLimits {
            unzipped_max_bytes: 1000,
            ..PackageLimits::default()
        });
        let zeros = vec![0u8; 1 << 20];
        let zip = build_zip(&[Item::File("zeros", 0o644, &zeros)]);
        assert!(zip.len() < 10_000, "deflate should shrink zeros");
        assert!(matches!(
            test.refuse(&zip),
            PackageError::TooLargeUnzipped { limit: 1000 }
        ));
        // Many entries each under the limit, together over it.
        let chunk = vec![b'x'; 400];
        let zip = build_zip(&[
            Item::File("a", 0o644, &chunk),
            Item::File("b", 0o644, &chunk),
            Item::File("c", 0o644, &chunk),
        ]);
        assert!(matches!(
            test.refuse(&zip),
            PackageError::TooLargeUnzipped { limit: 1000 }
        ));
        // Exactly at the limit is fine.
        let zip = build_zip(&[Item::File("a", 0o644, &[b'x'; 1000])]);
        test.store.put_package(&zip).unwrap();
    }

    #[test]
    fn refuses_a_declared_size_that_lies() {
        let test = TestStore::with_limits(PackageLimits {
            unzipped_max_bytes: 1000,
            ..PackageLimits::default()
        });
        let zip = build_zip(&[Item::File("zeros", 0o644, &[0u8; 100_000])]);
        // Declare 10 bytes in the central directory and the local header.
        let zip = patch_u32(&zip, b"PK\x01\x02", 24, 10);
        let zip = patch_u32(&zip, b"PK\x03\x04", 22, 10);
        let error = test.refuse(&zip);
        assert!(
            matches!(
                error,
                PackageError::Malformed(_) | PackageError::TooLargeUnzipped { .. }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn refuses_too_many_entries() {
        let test = TestStore::with_limits(PackageLimits {
            max_entries: 3,
            ..PackageLimits::default()
        });
        let zip = build_zip(&[
            Item::Dir("d/"),
            Item::File("d/a", 0o644, b"a"),
            Item::File("d/b", 0o644, b"b"),
            Item::File("d/c", 0o644, b"c"),
        ]);
        assert!(matches!(
            test.refuse(&zip),
            PackageError::TooManyEntries { limit: 3 }
        ));
    }

    #[test]
    fn refuses_too_large_zips() {
        let test = TestStore::with_limits(PackageLimits {
            zipped_max_bytes: 100,
            ..PackageLimits::default()
        });
        let zip = build_zip(&[Item::File("a", 0o644, &[7u8; 1000])]);
        assert!(zip.len() > 100);
        assert!(matches!(
            test.refuse(&zip),
            PackageError::TooLargeZipped { limit: 100 }
        ));
    }

    #[test]
    fn refuses_malformed_archives() {
        let test = TestStore::new();
        let zip = build_zip(&[
            Item::File("bootstrap", 0o755, b"#!/bin/sh\n"),
            Item::File("data", 0o644, &[b'y'; 5000]),
        ]);
        let truncated = &zip[..zip.len() / 2];
        let mut corrupted = zip.clone();
        // Flip a byte of the second entry's compressed data.
        let header_at = find(&zip, b"PK\x03\x04", 1);
        let name_len = u16::from_le_bytes([zip[header_at + 26], zip[header_at + 27]]);
        let extra_len = u16::from_le_bytes([zip[header_at + 28], zip[header_at + 29]]);
        let data_at = header_at + 30 + usize::from(name_len) + usize::from(extra_len) + 2;
        corrupted[data_at] ^= 0xff;
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("empty", Vec::new()),
            (
                "garbage",
                b"this is not a zip file at all, just some bytes".repeat(20),
            ),
            ("truncated", truncated.to_vec()),
            ("corrupted", corrupted),
            ("bzip2", {
                let zip = build_zip(&[Item::File("a", 0o644, b"a")]);
                let zip = patch_u16(&zip, b"PK\x01\x02", 10, 12);
                patch_u16(&zip, b"PK\x03\x04", 8, 12)
            }),
            ("encrypted", {
                let zip = build_zip(&[Item::File("a", 0o644, b"a")]);
                let zip = patch_u16(&zip, b"PK\x01\x02", 8, 1);
                patch_u16(&zip, b"PK\x03\x04", 6, 1)
            }),
            ("duplicate", {
                let zip = build_zip(&[
                    Item::File("dupA", 0o644, b"1"),
                    Item::File("dupB", 0o644, b"2"),
                ]);
                replace_all(&zip, b"dupB", b"dupA")
            }),
        ];
        for (case, zip) in cases {
            let reason = match test.refuse(&zip) {
                PackageError::Malformed(reason) => reason,
                other => panic!("{case}: {other:?}"),
            };
            let expected = match case {
                "bzip2" => "compression method 12",
                "encrypted" => "encrypted",
                "duplicate" => "same entry name",
                "corrupted" => "cannot be decompressed",
                _ => "not a zip archive",
            };
            assert!(reason.contains(expected), "{case}: {reason}");
        }
    }

    #[test]
    fn removes_unreferenced_packages() {
        let test = TestStore::new();
        let kept = test
            .store
            .put_package(&build_zip(&[Item::File("a", 0o644, b"kept")]))
            .unwrap();
        let dropped = test
            .store
            .put_package(&build_zip(&[
                Item::Dir("ro/"),
                Item::File("ro/b", 0o755, b"dropped"),
            ]))
            .unwrap();
        let removed = test
            .store
            .remove_unreferenced(std::slice::from_ref(&kept.sha256_hex))
            .unwrap();
        assert_eq!(removed, 1);
        assert!(test.store.unpacked_dir(&kept.sha256_hex).is_dir());
        assert!(test.store.read_package(&kept.sha256_hex).is_ok());
        assert!(!test.store.unpacked_dir(&dropped.sha256_hex).exists());
        assert!(matches!(
            test.store.read_package(&dropped.sha256_hex),
            Err(PackageError::Io(_))
        ));
        assert_eq!(test.store.remove_unreferenced(&[]).unwrap(), 1);
        assert!(test.subdir_is_empty(ZIPS_DIR));
        assert!(test.subdir_is_empty(UNPACKED_DIR));
    }

    #[test]
    fn read_package_checks_the_hash() {
        let test = TestStore::new();
        assert!(matches!(
            test.store.read_package("../../etc/passwd"),
            Err(PackageError::Io(_))
        ));
        assert!(matches!(
            test.store.read_package(&"0".repeat(64)),
            Err(PackageError::Io(_))
        ));
    }

    #[test]
    fn open_empties_tmp_and_checks_the_layout_version() {
        let test = TestStore::new();
        let root = test.store.root().to_path_buf();
        let leftover = root.join("tmp/put-crashed/tree/sub");
        fs::create_dir_all(&leftover).unwrap();
        fs::write(leftover.join("file"), "x").unwrap();
        fs::set_permissions(&leftover, Permissions::from_mode(0o555)).unwrap();
        FsCodeStore::open(root.clone()).unwrap();
        assert!(test.subdir_is_empty(TMP_DIR));

        fs::write(root.join(LAYOUT_VERSION_FILE), "2\n").unwrap();
        let error = FsCodeStore::open(root).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
    }

    /// The offset of the `nth` occurrence of `needle`.
    fn find(haystack: &[u8], needle: &[u8], nth: usize) -> usize {
        haystack
            .windows(needle.len())
            .enumerate()
            .filter(|(_, window)| *window == needle)
            .nth(nth)
            .expect("signature present")
            .0
    }

    fn replace_all(zip: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
        let mut replaced = zip.to_vec();
        for start in 0..zip.len().saturating_sub(from.len() - 1) {
            if &zip[start..start + from.len()] == from {
                replaced[start..start + to.len()].copy_from_slice(to);
            }
        }
        replaced
    }

    /// Overwrites the little-endian field at `offset` after every `signature`.
    fn patch_u32(zip: &[u8], signature: &[u8], offset: usize, value: u32) -> Vec<u8> {
        patch(zip, signature, offset, &value.to_le_bytes())
    }

    fn patch_u16(zip: &[u8], signature: &[u8], offset: usize, value: u16) -> Vec<u8> {
        patch(zip, signature, offset, &value.to_le_bytes())
    }

    fn patch(zip: &[u8], signature: &[u8], offset: usize, bytes: &[u8]) -> Vec<u8> {
        let mut patched = zip.to_vec();
        let starts: Vec<usize> = zip
            .windows(signature.len())
            .enumerate()
            .filter(|(_, window)| *window == signature)
            .map(|(start, _)| start)
            .collect();
        for start in starts {
            patched[start + offset..start + offset + bytes.len()].copy_from_slice(bytes);
        }
        patched
    }
}
