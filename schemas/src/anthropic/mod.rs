//! The Anthropic Messages API (`POST /v1/messages`), typed.
//!
//! Shared by the `anthropic` adapter (which speaks it upstream) and the Anthropic-compatible
//! front door of the ingress (which speaks it to clients). As with [`crate::openai`], every
//! struct keeps unknown fields in `extra` so they survive a round trip.

mod content;
mod error;
mod request;
mod response;
mod stream;

pub use content::*;
pub use error::*;
pub use request::*;
pub use response::*;
pub use stream::*;

/// Unknown fields, kept in order of appearance.
pub type Extra = serde_json::Map<String, serde_json::Value>;

/// The `anthropic-version` this crate's types follow.
pub const API_VERSION: &str = "2023-06-01";
