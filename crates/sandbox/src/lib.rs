//! rayo-sandbox.
