//! Gives `s3s` the secrets of the access keys whose signatures verify.

use rayo_core::Credentials;
use s3s::S3Result;
use s3s::auth::{S3Auth, SecretKey};

/// Gives `s3s` the secret of a known access key.
#[derive(Debug)]
pub(crate) struct RayoAuth(pub(crate) Credentials);

#[async_trait::async_trait]
impl S3Auth for RayoAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.secret(access_key) {
            Some(secret) => Ok(SecretKey::from(secret)),
            None => Err(s3s::s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}
