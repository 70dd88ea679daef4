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

#[cfg(test)]
mod tests {
    use rayo_core::s3::{Bucket, NotificationConfiguration, ObjectMeta, StoredHeaders};
    use rayo_state::SqliteState;

    use super::*;

    const KEYS: &[&str] = &["a", "a/b", "a/c/d", "b", "b/x", "c", "photos/1", "photos/2"];

    fn store() -> SqliteState {
        let state = SqliteState::open_in_memory().unwrap();
        state
            .create_bucket(&Bucket {
                name: "b".to_string(),
                created_ms: 0,
                notification: NotificationConfiguration::default(),
            })
            .unwrap();
        for key in KEYS {
            let object = ObjectMeta {
                bucket: "b".to_string(),
                key: key.to_string(),
                body_id: key.to_string(),
                size: 0,
                etag: String::new(),
                last_modified_ms: 0,
                headers: StoredHeaders::default(),
                parts_count: None,
            };
            state.put_object(&object, &[]).unwrap();
        }
        state
    }

    /// Lists every page of `max_keys`; each page as its keys, then its
    /// common prefixes marked with `+`.
    fn check(prefix: &str, delimiter: Option<&str>, max_keys: usize, expected: &[&[&str]]) {
        let store = store();
        let mut pages = Vec::new();
        let mut after = None;
        loop {
            let page = list(&store, "b", prefix, delimiter, after, max_keys).unwrap();
            let mut entries: Vec<String> = page.objects.iter().map(|o| o.key.clone()).collect();
            entries.extend(page.common_prefixes.iter().map(|p| format!("+{p}")));
            pages.push(entries);
            if !page.is_truncated {
                break;
            }
            after = page.resume_after;
        }
        let expected: Vec<Vec<String>> = expected
            .iter()
            .map(|page| page.iter().map(|s| s.to_string()).collect())
            .collect();
        assert_eq!(pages, expected, "{prefix:?} {delimiter:?} {max_keys}");
    }

    #[test]
    fn listings() {
        check("", None, 1000, &[KEYS]);
        check(
            "",
            None,
            3,
            &[
                &["a", "a/b", "a/c/d"],
                &["b", "b/x", "c"],
                &["photos/1", "photos/2"],
            ],
        );
        check(
            "",
            Some("/"),
            1000,
            &[&["a", "b", "c", "+a/", "+b/", "+photos/"]],
        );
        check(
            "",
            Some("/"),
            2,
            &[&["a", "+a/"], &["b", "+b/"], &["c", "+photos/"]],
        );
        check("a/", Some("/"), 1000, &[&["a/b", "+a/c/"]]);
        check("photos/", None, 1, &[&["photos/1"], &["photos/2"]]);
        check("zzz", Some("/"), 10, &[&[]]);
        check(
            "",
            Some("/"),
            6,
            &[&["a", "b", "c", "+a/", "+b/", "+photos/"]],
        );
    }
}
