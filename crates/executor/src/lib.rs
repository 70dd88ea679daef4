//! rayo-executor.
