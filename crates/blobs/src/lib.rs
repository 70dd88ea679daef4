//! rayo-blobs.
