//! Switchyard's broker side: configuration, the NATS topology, and the HTTP ingress.
//!
//! The ingress turns OpenAI-compatible HTTP requests into [`schemas::Job`] envelopes on
//! JetStream and relays results and chunks back; the workers (the `switchyard-workers`
//! crate) execute the jobs.

pub mod auditor;
pub mod config;
pub mod error;
pub mod events;
pub mod health;
pub mod ingress;
pub mod nats;
pub mod routing;
pub mod telemetry;

pub use config::Config;
pub use error::GatewayError;
