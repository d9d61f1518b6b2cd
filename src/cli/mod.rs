//! The client verbs of the command line: `requests`, `trace` and `replay` talk to a
//! gateway's request log over HTTP, `keys` to its admin API, `doctor` to its NATS. Only this module prints to stdout.

#![allow(clippy::print_stdout)]

pub mod batch;
pub mod doctor;
pub mod gateway;
pub mod keys;
pub mod replay;
pub mod requests;
pub mod table;
pub mod trace;

pub use gateway::Gateway;
