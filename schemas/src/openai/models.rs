//! `GET /v1/models`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One model.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Model {
    /// The name to put in `model`.
    pub id: String,
    /// `model`.
    pub object: String,
    /// Unix seconds.
    pub created: u64,
    /// The provider that serves it.
    pub owned_by: String,
}

/// The list.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ModelList {
    /// `list`.
    pub object: String,
    /// The models.
    pub data: Vec<Model>,
}
