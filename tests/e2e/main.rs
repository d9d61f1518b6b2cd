#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout
)]
//! End-to-end tests: a real nats-server, the gateway, and a local mock upstream that speaks
//! the OpenAI wire format.

mod abuse;
mod harness;
mod upstream;

mod audit;
mod auth;
mod batches;
mod cache;
mod chaos;
mod chat;
mod clocks;
mod cluster;
mod deploy;
mod doctor;
mod embeddings;
mod errors;
mod failover;
mod faults;
mod fidelity;
mod idempotency;
mod jobs;
mod messages;
mod models;
mod nats_auth;
mod nats_tls;
mod partitions;
mod reliability;
mod replay;
mod schemathesis;
mod sdk;
mod secrets;
mod serve;
mod stream;
mod telemetry;
mod ui;
mod workers;
