//! Listing keys as S3 does: a prefix, keys rolled up into common prefixes
//! at a delimiter, a page size, and where the next page starts.

use rayo_core::s3::{ObjectMeta, ObjectQuery, ObjectStore};
use rayo_core::store::StoreError;

/// One page of a listing.
#[derive(Debug, Default)]
pub(crate) struct Page {
    pub(crate) objects: Vec<ObjectMeta>,
    pub(crate) common_prefixes: Vec<String>,
    pub(crate) is_truncated: bool,
    /// The last key or common prefix on the page (the V1 marker).
    pub(crate) last: Option<String>,
    /// Where the next page starts after (a key, or a common prefix followed
    /// by the greatest character, past every key under it).
    pub(crate) resume_after: Option<String>,
}

/// How many rows to read from the store at a time.
const BATCH: usize = 1000;

/// Lists `bucket` under `prefix`, after `after`, at most `max_keys` keys
/// and common prefixes together.
pub(crate) fn list(
    store: &dyn ObjectStore,
    bucket: &str,
    prefix: &str,
    delimiter: Option<&str>,
    after: Option<String>,
    max_keys: usize,
) -> Result<Page, StoreError> {
    let mut page = Page::default();
    let mut cursor = after;
    if max_keys == 0 {
        return Ok(page);
    }
    'pages: loop {
        let batch = store.list_objects(&ObjectQuery {
            bucket,
            prefix,
            after: cursor.as_deref(),
            limit: BATCH,
        })?;
        if batch.is_empty() {
            break;
        }
        let full_batch = batch.len() == BATCH;
        for object in batch {
            let common = delimiter.filter(|d| !d.is_empty()).and_then(|delimiter| {
                let rest = &object.key[prefix.len()..];
                rest.find(delimiter)
                    .map(|at| object.key[..prefix.len() + at + delimiter.len()].to_string())
            });
            let count = page.objects.len() + page.common_prefixes.len();
            match common {
                Some(common) => {
                    if count == max_keys {
                        page.is_truncated = true;
                        break 'pages;
                    }
                    // Skip every key under it: start the next read past them.
                    cursor = Some(format!("{common}\u{10FFFF}"));
                    page.last = Some(common.clone());
                    page.common_prefixes.push(common);
                    continue 'pages;
                }
                None => {
                    if count == max_keys {
                        page.is_truncated = true;
                        break 'pages;
                    }
                    cursor = Some(object.key.clone());
                    page.last = Some(object.key.clone());
                    page.objects.push(object);
                }
            }
        }
        if !full_batch {
            break;
        }
    }
    if page.is_truncated {
        page.resume_after = cursor;
    }
    Ok(page)
}
