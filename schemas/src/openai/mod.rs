//! The OpenAI-compatible HTTP API, typed. Every struct keeps unknown fields in `extra`
//! (`#[serde(flatten)]`) so that provider-specific parameters pass through untouched.

mod chat;
mod chunk;
mod embeddings;
mod error;
mod models;
mod reasoning;

pub use chat::*;
pub use chunk::*;
pub use embeddings::*;
pub use error::*;
pub use models::*;
pub use reasoning::*;

/// Unknown fields, kept in order of appearance.
pub type Extra = serde_json::Map<String, serde_json::Value>;
