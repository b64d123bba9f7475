//! The sled backend (placeholder).
/// Configuration.
pub struct SledConfig;
/// Store.
pub struct SledStore;
