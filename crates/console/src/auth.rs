//! Who may use the console: access keys with a role, and the sessions a
//! sign-in opens (an HttpOnly, SameSite=Strict cookie plus a per-session
//! token every mutating request repeats in a header).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rand::RngCore;

/// How long a session lasts after sign-in.
const SESSION_LIFETIME: Duration = Duration::from_secs(12 * 60 * 60);
/// At most this many sessions are kept; the oldest go first.
const MAX_SESSIONS: usize = 10_000;

/// What a signed-in user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything.
    Admin,
    /// Look, never change: every mutating request is refused.
    ReadOnly,
}

impl Role {
    /// The name the console shows.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::ReadOnly => "read-only",
        }
    }
}

/// The access keys that can sign in to the console.
#[derive(Clone, Default)]
pub struct ConsoleCredentials {
    keys: Vec<(String, String, Role)>,
}

impl std::fmt::Debug for ConsoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Secrets stay out of logs.
        f.debug_list()
            .entries(self.keys.iter().map(|(key, _, role)| (key, role)))
            .finish()
    }
}

impl ConsoleCredentials {
    /// Parses `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:read-only]` items.
    pub fn parse<'a>(
        items: impl IntoIterator<Item = &'a str>,
    ) -> Result<ConsoleCredentials, String> {
        let mut keys = Vec::new();
        for item in items {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            let mut parts = item.splitn(3, ':');
            let (Some(key), Some(secret)) = (parts.next(), parts.next()) else {
                return Err(format!(
                    "'{item}' is not ACCESS_KEY_ID:SECRET_ACCESS_KEY[:read-only]"
                ));
            };
            let role = match parts.next() {
                None | Some("admin") => Role::Admin,
                Some("read-only") => Role::ReadOnly,
                Some(other) => {
                    return Err(format!(
                        "unknown role '{other}' for access key '{key}': use read-only or admin"
                    ));
                }
            };
            if key.is_empty() || secret.is_empty() {
                return Err(format!(
                    "'{item}' has an empty access key id or secret access key"
                ));
            }
            if keys.iter().any(|(k, _, _)| k == key) {
                return Err(format!("access key '{key}' is listed twice"));
            }
            keys.push((key.to_string(), secret.to_string(), role));
        }
        if keys.is_empty() {
            return Err("no access keys given".to_string());
        }
        Ok(ConsoleCredentials { keys })
    }

    /// The role of a key whose secret matches.
    pub fn check(&self, access_key_id: &str, secret_access_key: &str) -> Option<Role> {
        let mut found = None;
        for (key, secret, role) in &self.keys {
            // Every secret is compared in full, so timing tells nothing.
            let secret_matches = constant_time_eq(secret.as_bytes(), secret_access_key.as_bytes());
            if key == access_key_id && secret_matches {
                found = Some(*role);
            }
        }
        found
    }
}

/// One signed-in browser.
#[derive(Debug, Clone)]
pub(crate) struct Session {
    pub(crate) role: Role,
    pub(crate) csrf_token: String,
    pub(crate) access_key_id: Option<String>,
    expires: Instant,
}

/// The open sessions, by cookie value.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_id: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    /// Opens a session; returns its cookie value and the session.
    pub(crate) fn open(&self, role: Role, access_key_id: Option<String>) -> (String, Session) {
        let id = random_token();
        let session = Session {
            role,
            csrf_token: random_token(),
            access_key_id,
            expires: Instant::now() + SESSION_LIFETIME,
        };
        let mut by_id = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        by_id.retain(|_, s| s.expires > now);
        if by_id.len() >= MAX_SESSIONS
            && let Some(oldest) = by_id
                .iter()
                .min_by_key(|(_, s)| s.expires)
                .map(|(id, _)| id.clone())
        {
            by_id.remove(&oldest);
        }
        by_id.insert(id.clone(), session.clone());
        (id, session)
    }

    /// The live session with this cookie value.
    pub(crate) fn get(&self, id: &str) -> Option<Session> {
        let by_id = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        by_id
            .get(id)
            .filter(|s| s.expires > Instant::now())
            .cloned()
    }

    /// Ends a session.
    pub(crate) fn close(&self, id: &str) {
        let mut by_id = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        by_id.remove(id);
    }
}

/// 32 random bytes from a cryptographically secure generator (seeded by
/// the OS), as hex.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// Compares two byte strings in time that depends only on their lengths.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_check() {
        let credentials =
            ConsoleCredentials::parse(["admin:s3cret", " viewer:look:read-only "]).unwrap();
        assert_eq!(credentials.check("admin", "s3cret"), Some(Role::Admin));
        assert_eq!(credentials.check("viewer", "look"), Some(Role::ReadOnly));
        assert_eq!(credentials.check("admin", "look"), None);
        assert_eq!(credentials.check("nobody", "s3cret"), None);
        assert!(!format!("{credentials:?}").contains("s3cret"));
        for bad in [
            &["a"][..],
            &["a:"],
            &[":b"],
            &["a:b:owner"],
            &["a:b", "a:c"],
            &[],
        ] {
            assert!(
                ConsoleCredentials::parse(bad.iter().copied()).is_err(),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn sessions_open_get_close() {
        let sessions = Sessions::default();
        let (id, session) = sessions.open(Role::ReadOnly, Some("viewer".into()));
        assert_eq!(session.csrf_token.len(), 64);
        assert_eq!(sessions.get(&id).unwrap().role, Role::ReadOnly);
        sessions.close(&id);
        assert!(sessions.get(&id).is_none());
    }
}
