//! Virtual-host-style addressing: which `Host` names a bucket.

use std::borrow::Cow;

use s3s::S3Result;
use s3s::host::{S3Host, VirtualHost};

/// The bucket a `Host` header names, if any: `<bucket>.s3.localhost`,
/// `<bucket>.localhost` (what boto3's virtual addressing makes of
/// `http://localhost:4566`), and `<bucket>.s3.<anything>`, with or without
/// a port. Every other host (an IP address, `localhost`, `s3.localhost`) is
/// path-style.
pub(crate) fn bucket_of_host(host: &str) -> Option<&str> {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.strip_suffix('.').unwrap_or(name);
    let bucket = if let Some(rest) = name.strip_suffix(".localhost") {
        rest.strip_suffix(".s3").unwrap_or(rest)
    } else {
        let (bucket, _) = name.split_once(".s3.")?;
        bucket
    };
    (!bucket.is_empty() && bucket != "s3").then_some(bucket)
}

/// `s3s`'s view of [`bucket_of_host`].
#[derive(Debug)]
pub(crate) struct RayoHost;

impl S3Host for RayoHost {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let domain = VirtualHost::new(Cow::Borrowed(host));
        Ok(match bucket_of_host(host) {
            Some(bucket) => domain.with_bucket(Cow::Owned(bucket.to_ascii_lowercase())),
            None => domain,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(host: &str, bucket: Option<&str>) {
        assert_eq!(bucket_of_host(host), bucket, "{host}");
    }

    #[test]
    fn hosts() {
        check("localhost:4566", None);
        check("127.0.0.1:4566", None);
        check("s3.localhost:4566", None);
        check("photos.localhost:4566", Some("photos"));
        check("photos.s3.localhost:4566", Some("photos"));
        check("my.photos.s3.localhost", Some("my.photos"));
        check("photos.s3.us-east-1.example.com", Some("photos"));
        check("example.com", None);
    }
}
