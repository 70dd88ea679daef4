//! The built-in Python runtime's bootstrap and zygote, embedded at build time.

/// The source of `bootstrap.py`, the Runtime API client that loads a Python
/// handler and serves its invocations.
pub const BOOTSTRAP_PY: &str = include_str!("../python/bootstrap.py");

/// The source of `zygote.py`, the pre-initialized interpreter that forks
/// sandboxed instances of the Python runtime (see the executor's zygotes).
pub const ZYGOTE_PY: &str = include_str!("../python/zygote.py");
