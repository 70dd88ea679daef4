//! rayo-api.
