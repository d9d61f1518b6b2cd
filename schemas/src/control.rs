//! Request-reply messages on the control subjects.

use crate::openai::{ErrorBody, Model};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A worker's answer on `sy.control.models.<provider>`: the provider's live models, or why
/// they cannot be listed.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
pub struct ModelsReply {
    /// The models (`owned_by` = the provider name); empty on error.
    #[serde(default)]
    pub data: Vec<Model>,
    /// Why listing failed (`code` is the error class, e.g. `unsupported`, `auth`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}
