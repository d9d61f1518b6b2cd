//! The shared test list every provider adapter runs, against a local mock upstream that
//! speaks that provider's documented wire format.
//!
//! Each adapter has a fixture module that starts its mock upstream and builds the adapter
//! pointed at it. The upstream picks its behaviour from the model name:
//!
//! | model | the mock upstream answers |
//! |---|---|
//! | `text` | a text answer `upstream says: <last user text>` with usage |
//! | `tool` | a call of `get_weather` with `{"city":"Paris"}` (streamed: arguments split over chunks) |
//! | `error-<status>` | that status with the provider's error body (429 with `retry-after: 1`) |
//! | `cut` | a stream that stops mid-way, without its end event |
//! | `text-cached` | like `text`, with 3 cached prompt tokens in the provider's usage shape |
//! | `overloaded` | the provider's "overloaded" answer (Anthropic 529, others 503 with their overloaded code) |
//! | `context-length` | the provider's native "prompt too long" error |
//! | `content-filter` | the provider's native content-filter answer (an error or a filtered finish) |
//! | `embed` | one embedding per input |
//!
//! [`conformance!`] generates the same tests for each fixture, so a capability an adapter
//! lacks shows up as a failing (or explicitly `unsupported`) test rather than a forgotten one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
#[macro_use]
mod suite;
#[macro_use]
mod fidelity;

mod fixtures;
