//! Serverless Framework projects applied through rayo's public APIs: the
//! shared parts of `rayo deploy`, `remove`, `info`, `invoke -f`, `logs -f`
//! and `dev`. The configuration itself is read by `rayo-deploy`.

pub(crate) mod api;
pub(crate) mod apply;
pub(crate) mod artifacts;
pub(crate) mod info;
pub(crate) mod project;
pub(crate) mod s3;
