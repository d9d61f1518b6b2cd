//! What every Switchyard role runs on: configuration, the NATS connection and JetStream
//! topology, lifecycle events, telemetry, and the request log's query protocol.
//!
//! The roles are crates of their own on top of this one: `switchyard-ingress` (the HTTP
//! API), `switchyard-workers` (provider adapters and job execution) and `switchyard-auditor`
//! (the request log's store), so each role links only what it runs.

pub mod access;
pub mod audit;
pub mod cache;
pub mod config;
pub mod events;
pub mod nats;
pub mod telemetry;

pub use config::Config;
