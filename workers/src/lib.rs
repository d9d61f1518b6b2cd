//! Switchyard's workers: provider adapters behind one trait, and the job execution loop.
//!
//! - [`provider`]: the [`Provider`] trait every adapter implements, and [`ProviderError`].
//! - [`providers`]: the adapters (one module each) and the registry built from config.
//! - [`worker`]: pulls jobs from JetStream, runs them through the pipeline, publishes
//!   results, chunks and events.

pub mod capability;
pub mod error;
pub mod provider;
pub mod providers;
pub mod worker;

pub use error::{ErrorKind, ProviderError, UpstreamError};
pub use provider::{CallCtx, ChunkStream, Provider};
pub use providers::Registry;
