//! Language runtimes: the built-in Python bootstrap and its zygote (real
//! `.py` files, embedded in the binary and written under the data directory
//! at start-up),
//! the discovery of the host's Python interpreters, and how a function's
//! runtime maps onto a process to start.

#![forbid(unsafe_code)]

mod catalog;
mod python;

pub use catalog::{Launch, PythonFallback, PythonInterpreter, RuntimeCatalog, RuntimeUnavailable};
pub use python::{BOOTSTRAP_PY, ZYGOTE_PY};
