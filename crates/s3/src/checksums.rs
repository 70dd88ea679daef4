//! The additional checksums a client sends with an upload (CRC32, CRC32C,
//! CRC64NVME, SHA-1, SHA-256), as headers or, in aws-chunked bodies, as
//! trailers named by `x-amz-trailer`: computed while the body streams in,
//! and compared once it has.

use http::HeaderMap;
use s3s::checksum::ChecksumHasher;
use s3s::dto::Checksum;
use s3s::{S3Error, S3ErrorCode, S3Result, TrailingHeaders};

/// The checksums one upload asks to have verified.
#[derive(Default)]
pub(crate) struct Checksums {
    hasher: ChecksumHasher,
    sent: Checksum,
}

impl std::fmt::Debug for Checksums {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checksums")
            .field("sent", &self.sent)
            .finish_non_exhaustive()
    }
}

/// The algorithms, by header name.
const ALGORITHMS: [&str; 5] = [
    "x-amz-checksum-crc32",
    "x-amz-checksum-crc32c",
    "x-amz-checksum-crc64nvme",
    "x-amz-checksum-sha1",
    "x-amz-checksum-sha256",
];

impl Checksums {
    /// The checksums sent as headers (`sent`) or announced as trailers.
    pub(crate) fn requested(headers: &HeaderMap, sent: Checksum) -> Checksums {
        let trailers: Vec<String> = headers
            .get_all("x-amz-trailer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|name| name.trim().to_ascii_lowercase())
            .collect();
        let wanted =
            |index: usize, sent: bool| sent || trailers.iter().any(|t| t == ALGORITHMS[index]);
        let mut hasher = ChecksumHasher::default();
        if wanted(0, sent.checksum_crc32.is_some()) {
            hasher.crc32 = Some(Default::default());
        }
        if wanted(1, sent.checksum_crc32c.is_some()) {
            hasher.crc32c = Some(Default::default());
        }
        if wanted(2, sent.checksum_crc64nvme.is_some()) {
            hasher.crc64nvme = Some(Default::default());
        }
        if wanted(3, sent.checksum_sha1.is_some()) {
            hasher.sha1 = Some(Default::default());
        }
        if wanted(4, sent.checksum_sha256.is_some()) {
            hasher.sha256 = Some(Default::default());
        }
        Checksums { hasher, sent }
    }

    /// Adds body bytes.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
    }

    /// Compares what was sent (headers, then trailers) with what the body
    /// gave; returns the computed checksums, or S3's `BadDigest`.
    pub(crate) fn verify(self, trailers: Option<&TrailingHeaders>) -> S3Result<Checksum> {
        let computed = self.hasher.finalize();
        let trailer = |name: &str| {
            trailers
                .and_then(|t| {
                    t.read(|map| {
                        map.get(name)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string)
                    })
                })
                .flatten()
        };
        let pairs = [
            (
                "CRC32",
                &self.sent.checksum_crc32,
                &computed.checksum_crc32,
                ALGORITHMS[0],
            ),
            (
                "CRC32C",
                &self.sent.checksum_crc32c,
                &computed.checksum_crc32c,
                ALGORITHMS[1],
            ),
            (
                "CRC64NVME",
                &self.sent.checksum_crc64nvme,
                &computed.checksum_crc64nvme,
                ALGORITHMS[2],
            ),
            (
                "SHA1",
                &self.sent.checksum_sha1,
                &computed.checksum_sha1,
                ALGORITHMS[3],
            ),
            (
                "SHA256",
                &self.sent.checksum_sha256,
                &computed.checksum_sha256,
                ALGORITHMS[4],
            ),
        ];
        for (label, sent, computed, header) in pairs {
            let Some(computed) = computed else { continue };
            let sent = sent.clone().or_else(|| trailer(header));
            if let Some(sent) = sent
                && sent.trim() != computed
            {
                return Err(S3Error::with_message(
                    S3ErrorCode::BadDigest,
                    format!("The {label} you specified did not match the calculated checksum."),
                ));
            }
        }
        Ok(computed)
    }
}
