//! Object bodies under the data directory: [`FsObjectBodies`] implements
//! `rayo_core::s3::ObjectBodyStore`.
//!
//! ```text
//! root/                 (<data-dir>/objects)
//!   layout-version      "1"
//!   bodies/<uuid>       a committed body, never changed
//!   tmp/<uuid>          a body being written; emptied when opened
//! ```
//!
//! A body is written to `tmp/`, fsynced, renamed into `bodies/` and the
//! directory fsynced, so a body whose row is committed is on disk. Bodies
//! are immutable, so a copy is a hard link.

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use rayo_core::s3::{BodyWriter, ObjectBodyStore};
use rayo_core::store::StoreError;

const LAYOUT_VERSION: &str = "1";

/// Object bodies in a directory.
#[derive(Debug)]
pub struct FsObjectBodies {
    bodies: PathBuf,
    tmp: PathBuf,
}

impl FsObjectBodies {
    /// Opens (creating) the store at `root`, emptying its staging directory.
    pub fn open(root: PathBuf) -> std::io::Result<FsObjectBodies> {
        let bodies = root.join("bodies");
        let tmp = root.join("tmp");
        fs::create_dir_all(&bodies)?;
        let _ = fs::remove_dir_all(&tmp);
        fs::create_dir_all(&tmp)?;
        let version = root.join("layout-version");
        match fs::read_to_string(&version) {
            Ok(found) if found.trim() != LAYOUT_VERSION => {
                return Err(std::io::Error::other(format!(
                    "{} has object layout version {}, this rayo knows {LAYOUT_VERSION}",
                    root.display(),
                    found.trim()
                )));
            }
            Ok(_) => {}
            Err(_) => fs::write(&version, LAYOUT_VERSION)?,
        }
        Ok(FsObjectBodies { bodies, tmp })
    }
}

impl ObjectBodyStore for FsObjectBodies {
    fn create(&self) -> Result<Box<dyn BodyWriter>, StoreError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let staging = self.tmp.join(&id);
        let file = File::create(&staging).map_err(store_error)?;
        Ok(Box::new(FsBodyWriter {
            id,
            file,
            staging,
            bodies: self.bodies.clone(),
            size: 0,
            md5: Md5::new(),
        }))
    }

    fn path(&self, body_id: &str) -> PathBuf {
        self.bodies.join(body_id)
    }

    fn duplicate(&self, body_id: &str) -> Result<String, StoreError> {
        let id = uuid::Uuid::new_v4().simple().to_string();
        let target = self.bodies.join(&id);
        if fs::hard_link(self.path(body_id), &target).is_err() {
            let staging = self.tmp.join(&id);
            fs::copy(self.path(body_id), &staging).map_err(store_error)?;
            File::open(&staging)
                .and_then(|f| f.sync_all())
                .map_err(store_error)?;
            fs::rename(&staging, &target).map_err(store_error)?;
        }
        sync_dir(&self.bodies)?;
        Ok(id)
    }

    fn remove(&self, body_id: &str) {
        if let Err(error) = fs::remove_file(self.path(body_id))
            && error.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(body_id, %error, "removing an object body failed");
        }
    }

    fn remove_unreferenced(&self, referenced: &BTreeSet<String>) -> Result<usize, StoreError> {
        let mut removed = 0;
        for entry in fs::read_dir(&self.bodies).map_err(store_error)? {
            let entry = entry.map_err(store_error)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !referenced.contains(&name) {
                self.remove(&name);
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// A body being written to the staging directory.
#[derive(Debug)]
struct FsBodyWriter {
    id: String,
    file: File,
    staging: PathBuf,
    bodies: PathBuf,
    size: u64,
    md5: Md5,
}

impl BodyWriter for FsBodyWriter {
    fn write(&mut self, bytes: &[u8]) -> Result<(), StoreError> {
        self.md5.update(bytes);
        self.size += bytes.len() as u64;
        self.file.write_all(bytes).map_err(store_error)
    }

    fn commit(mut self: Box<Self>) -> Result<(String, u64, [u8; 16]), StoreError> {
        self.file.sync_all().map_err(store_error)?;
        fs::rename(&self.staging, self.bodies.join(&self.id)).map_err(store_error)?;
        sync_dir(&self.bodies)?;
        let md5 = std::mem::take(&mut self.md5).finalize().into();
        Ok((std::mem::take(&mut self.id), self.size, md5))
    }
}

impl Drop for FsBodyWriter {
    fn drop(&mut self) {
        // An abandoned body (a failed or cancelled upload) leaves nothing;
        // after a commit the staging name is already gone.
        let _ = fs::remove_file(&self.staging);
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|dir| dir.sync_all())
        .map_err(store_error)
}

fn store_error(error: std::io::Error) -> StoreError {
    StoreError::Backend(format!("object body: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_written_once_and_linked_for_copies() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsObjectBodies::open(dir.path().join("objects")).unwrap();
        let mut writer = store.create().unwrap();
        writer.write(b"ab").unwrap();
        writer.write(b"c").unwrap();
        let (id, size, md5) = writer.commit().unwrap();
        assert_eq!(size, 3);
        assert_eq!(hex::encode(md5), "900150983cd24fb0d6963f7d28e17f72");
        assert_eq!(fs::read(store.path(&id)).unwrap(), b"abc");
        let copy = store.duplicate(&id).unwrap();
        store.remove(&id);
        assert_eq!(fs::read(store.path(&copy)).unwrap(), b"abc");
        let abandoned = store.create().unwrap();
        drop(abandoned);
        assert_eq!(
            fs::read_dir(dir.path().join("objects/tmp"))
                .unwrap()
                .count(),
            0
        );
        let removed = store.remove_unreferenced(&BTreeSet::new()).unwrap();
        assert_eq!(removed, 1);
    }
}
