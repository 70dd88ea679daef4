//! One module per subcommand.

pub(crate) mod create;
pub(crate) mod deploy;
pub(crate) mod dev;
pub(crate) mod function;
pub(crate) mod info;
pub(crate) mod invoke;
pub(crate) mod logs;
pub(crate) mod remove;
pub(crate) mod server;

/// Exit code for failures of rayo itself or of the request.
pub(crate) const EXIT_FAILURE: u8 = 1;
/// Exit code when the server cannot be reached.
pub(crate) const EXIT_UNREACHABLE: u8 = 2;
/// Exit code when an invoked function reported an error.
pub(crate) const EXIT_FUNCTION_ERROR: u8 = 3;
