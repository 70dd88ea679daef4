//! Serverless Framework projects for rayo: `serverless.yml` read with the
//! line of every value (`yaml`), the Framework's variables (`variables`), the
//! service it describes with the Framework's resource names (`config`), and
//! deployment packages (`package`). The `rayo` binary's `deploy`, `remove`,
//! `info` and `dev` commands apply a `Service` through rayo's public APIs.

#![forbid(unsafe_code)]

pub mod config;
pub mod package;
pub mod variables;
pub mod yaml;

pub use config::{ConfigError, Event, Function, Layer, LayerRef, Queue, QueueRef, Service};
pub use variables::Options;
