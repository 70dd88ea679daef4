//! Code packages and object bodies under the data directory:
//! [`FsCodeStore`] implements `rayo_core::store::CodeStore` and
//! [`FsObjectBodies`] `rayo_core::s3::ObjectBodyStore` on the local
//! filesystem.
//!
//! # Layout
//!
//! The store owns one directory, its root (the `rayo` binary passes
//! `<data-dir>/code`):
//!
//! ```text
//! root/
//!   layout-version        "1": the version of this layout
//!   zips/<sha256>.zip     the zip as uploaded, 0444
//!   unpacked/<sha256>/    the extracted tree: files 0444, executables 0555,
//!                         directories 0555, symlinks as symlinks
//!   merged/<sha256>/      several layers merged in order (a later layer's
//!                         files replace an earlier one's), named by the
//!                         hash of their comma-joined hashes; files are
//!                         hard links into unpacked/
//!   tmp/                  staging; emptied when the store is opened
//! ```
//!
//! `<sha256>` is the lowercase hex SHA-256 of the zip bytes, the
//! `CodeRef::sha256_hex` functions refer to. A package is stored once its
//! unpacked directory exists; the zip is renamed into place just before it.
//!
//! # Extraction rules
//!
//! A package is unpacked into `tmp/` first and renamed into place only once
//! every entry passed; any refusal or error removes the staging directory, so
//! a refused package leaves no trace. The rules:
//!
//! - Entry names use `/` and, as Info-ZIP's `unzip` accepts, `\` as
//!   separators. `.` components are dropped and `..` removes the previous
//!   component; a name that is absolute, starts with a drive letter (`C:`),
//!   contains NUL or climbs above the root is refused
//!   (`PackageError::EscapesRoot`).
//! - Symlinks (unix mode `S_IFLNK`; the entry's content is the target) are
//!   created as symlinks. The target must be relative, and its `..`
//!   components must all come first and not climb above the root from the
//!   link's directory (`PackageError::LinkEscapes`). Forbidding `..` after a
//!   name keeps the check sound whatever the other entries are: `a/..` would
//!   follow `a` if a later entry made it a symlink.
//! - No entry is written through a symlink: an entry whose parent path
//!   contains a symlink created earlier is refused (`EscapesRoot`).
//! - Duplicate names are refused (`PackageError::Malformed`), whether the
//!   archive repeats a name or two names mean the same path (`a` and `./a`).
//!   A directory entry for a directory that already exists is accepted, since
//!   many tools list directories after their files.
//! - Sizes: the zip may be at most `zipped_max_bytes`, the package at most
//!   `max_entries` entries and `unzipped_max_bytes` bytes. The unzipped size
//!   is the bytes the decompressor actually produces (files and link
//!   targets), counted as they are written; declared sizes only allow an
//!   early refusal.
//! - Modes: a file with any execute bit in its unix mode becomes 0555, any
//!   other file 0444 (also files from tools that record no unix mode);
//!   directories are 0555 whatever the zip says. Owners and special bits are
//!   never restored.
//! - Stored and deflated entries are supported; encrypted entries, other
//!   compression methods, CRC mismatches and truncated or unreadable
//!   archives are `PackageError::Malformed` with the reason.
//!
//! The store is Unix-only: it relies on unix modes and symlinks.

#![forbid(unsafe_code)]

mod code_store;
mod object_bodies;
mod unzip;

pub use code_store::{FsCodeStore, PackageLimits};
pub use object_bodies::FsObjectBodies;
