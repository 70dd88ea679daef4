//! SQLite implementation of rayo's store traits: functions, logs and the
//! schema migrations that keep them readable across versions.
//!
//! [`SqliteState`] is the one type; it implements
//! [`rayo_core::store::FunctionStore`], [`rayo_core::store::LogStore`],
//! [`rayo_core::store::InvocationQueue`], [`rayo_core::store::RuleStore`],
//! [`rayo_core::queue::QueueStore`],
//! [`rayo_core::event_source::EventSourceMappingStore`],
//! [`rayo_core::store::HttpTriggerStore`], [`rayo_core::store::LayerStore`],
//! [`rayo_core::s3::ObjectStore`], [`rayo_core::metrics::MetricsStore`] and
//! [`rayo_core::test_event::TestEventStore`].
//! All of rayo's SQL lives in this crate.

#![forbid(unsafe_code)]

mod db;
mod event_source_mappings;
mod functions;
mod http_triggers;
mod invocations;
mod layers;
mod log_writer;
mod logs;
mod metrics;
mod objects;
mod queues;
mod rules;
mod schema;
mod test_events;
mod versions;

pub use db::{SqliteState, StateError};
pub use schema::SCHEMA_VERSION;
