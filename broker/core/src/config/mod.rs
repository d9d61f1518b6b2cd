//! Configuration: one TOML file with `${ENV}` interpolation, `SWITCHYARD_*` overrides, and
//! providers registered from their usual API-key env vars.

mod env;
mod load;
pub mod presets;
mod types;

pub use env::{KNOWN_ENDPOINT_PROVIDER_ENV, KNOWN_PROVIDER_ENV};
pub use load::ConfigError;
pub use types::*;
