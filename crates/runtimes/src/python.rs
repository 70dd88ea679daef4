//! The built-in Python runtime's bootstrap, embedded at build time.

/// The source of `bootstrap.py`, the Runtime API client that loads a Python
/// handler and serves its invocations.
pub const BOOTSTRAP_PY: &str = include_str!("../python/bootstrap.py");
