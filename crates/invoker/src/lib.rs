//! rayo-invoker.
