//! rayo-state.
