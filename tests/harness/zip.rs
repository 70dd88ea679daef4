//! Building deployment packages in memory.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;

/// One entry of a zip built by [`build_zip`].
#[derive(Debug, Clone, Copy)]
pub enum ZipEntry<'a> {
    /// A regular file with its content and unix mode (such as `0o755`).
    File(&'a str, &'a [u8], u32),
    /// A symbolic link and its target.
    Symlink(&'a str, &'a str),
}

/// A deflated zip of `entries`, in order, with their unix modes.
pub fn build_zip(entries: &[ZipEntry<'_>]) -> Vec<u8> {
    let mut writer = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for entry in entries {
        match *entry {
            ZipEntry::File(name, content, mode) => {
                let options = SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated)
                    .unix_permissions(mode);
                writer
                    .start_file(name, options)
                    .expect("writing to memory cannot fail");
                writer
                    .write_all(content)
                    .expect("writing to memory cannot fail");
            }
            ZipEntry::Symlink(name, target) => {
                writer
                    .add_symlink(name, target, SimpleFileOptions::default())
                    .expect("writing to memory cannot fail");
            }
        }
    }
    writer
        .finish()
        .expect("writing to memory cannot fail")
        .into_inner()
}
