#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! End-to-end tests: a real nats-server, the gateway, and a local mock upstream that speaks
//! the OpenAI wire format.

mod harness;
mod upstream;

mod audit;
mod chat;
mod errors;
mod jobs;
mod replay;
mod stream;
mod workers;
