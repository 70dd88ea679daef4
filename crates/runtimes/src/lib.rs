//! rayo-runtimes.
