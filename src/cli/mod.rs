//! The client verbs of the command line: `requests`, `trace` and `replay` talk to a
//! gateway's request log over HTTP. Only this module prints to stdout.

#![allow(clippy::print_stdout)]

pub mod gateway;
pub mod replay;
pub mod requests;
pub mod table;
pub mod trace;

pub use gateway::Gateway;
