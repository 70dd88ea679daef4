//! Domain types shared by every rayo crate: functions, runtimes, ARNs, limits,
//! log records and the store traits that `state` and `blobs` implement.
//!
//! This crate does no I/O. Wire shapes (AWS JSON) live at the edge, in `api`.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod arn;
pub mod credentials;
pub mod event_source;
pub mod function;
pub mod http_trigger;
pub mod invocation;
pub mod limits;
pub mod logs;
pub mod metrics;
pub mod queue;
pub mod rule;
pub mod runtime;
pub mod s3;
pub mod schedule;
pub mod store;
pub mod test_event;
pub mod validation;
pub mod version;

pub use arn::{FunctionRef, Region};
pub use credentials::Credentials;
pub use function::{
    Architecture, CodeRef, EventInvokeConfig, FunctionConfig, FunctionRecord, LATEST, LayerRef,
    PolicyStatement,
};
pub use runtime::Runtime;
