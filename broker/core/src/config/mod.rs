//! Configuration: one TOML file with `${ENV}` interpolation and `SWITCHYARD_*` overrides.
//! Which providers the environment names is the workers' catalogue's business
//! (`switchyard_workers::providers::catalog`), applied by the binary after loading.

mod access;
mod cache;
mod env;
mod load;
mod types;

pub use access::{AuthConfig, Price, Prices};
pub use cache::{CacheBackend, CacheConfig, CacheOverride, SemanticConfig};
pub use load::ConfigError;
pub use types::*;
