//! SQLite implementation of rayo's store traits: functions, logs and the
//! schema migrations that keep them readable across versions.
//!
//! [`SqliteState`] is the one type; it implements
//! [`rayo_core::store::FunctionStore`], [`rayo_core::store::LogStore`],
//! [`rayo_core::store::InvocationQueue`] and [`rayo_core::store::RuleStore`].
//! All of rayo's SQL lives in this crate.

#![forbid(unsafe_code)]

mod db;
mod functions;
mod invocations;
mod logs;
mod queues;
mod rules;
mod schema;

pub use db::{SqliteState, StateError};
pub use schema::SCHEMA_VERSION;
