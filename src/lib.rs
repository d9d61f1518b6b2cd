//! The `switchyard` binary's library: role wiring and the managed local nats-server.
//!
//! `switchyard serve` runs every role in one process; `switchyard ingress` and
//! `switchyard worker` run one role against a shared NATS.

pub mod config;
pub mod lock;
pub mod managed_nats;
pub mod roles;

pub use roles::{start, Roles, Running};
