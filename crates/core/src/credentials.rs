//! Which access keys sign requests: SigV4 needs the secret to verify a
//! signature, so the APIs that verify signatures (S3, `AWS_IAM` function
//! URLs) share one list of keys and their secrets.

use std::collections::BTreeMap;

/// Access keys and their secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    keys: BTreeMap<String, String>,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("access_keys", &self.keys.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Credentials {
    /// The keys from `KEY:SECRET` pairs (the secret may itself hold `:`);
    /// the error names a malformed pair.
    pub fn parse<'a>(pairs: impl IntoIterator<Item = &'a str>) -> Result<Credentials, String> {
        let mut keys = BTreeMap::new();
        for pair in pairs {
            let Some((key, secret)) = pair.split_once(':') else {
                return Err(format!("'{pair}' is not ACCESS_KEY_ID:SECRET_ACCESS_KEY"));
            };
            if key.is_empty() || secret.is_empty() {
                return Err(format!("'{pair}' has an empty key or secret"));
            }
            keys.insert(key.to_string(), secret.to_string());
        }
        Ok(Credentials { keys })
    }

    /// The secret of `access_key`, if it is one of the keys.
    pub fn secret(&self, access_key: &str) -> Option<&str> {
        self.keys.get(access_key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_parse() {
        let credentials = Credentials::parse(["test:test", "AKID:s:e:c"]).unwrap();
        assert_eq!(credentials.secret("test"), Some("test"));
        assert_eq!(credentials.secret("AKID"), Some("s:e:c"));
        assert_eq!(credentials.secret("other"), None);
        assert!(Credentials::parse(["nocolon"]).is_err());
        assert!(Credentials::parse([":secret"]).is_err());
    }
}
