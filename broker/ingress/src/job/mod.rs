//! The job machinery every front door uses: a validated request becomes a [`Submission`],
//! is published once (idempotency claim, `received`, the job, `queued`), and comes to an
//! [`Outcome`] as its mode asks (accepted, finished, or streaming). The front doors only
//! parse their API's request and shape the answer (see [`crate::endpoint`]).
//!
//! - [`submission`]: mode, deadline, trace context, idempotency key, route
//! - [`idempotency`]: the key's claim, bound to route and body
//! - [`publish`]: claim, events, the job on JetStream
//! - [`outcome`]: waiting as the mode asks; `delivered`
//! - [`results`]: one results subscription per ingress, routed to waiting requests
//! - [`wait`]: a request's wait for its job; stored results and events
//! - [`guards`]: cancel on client disconnect, in-flight counts

pub mod guards;
pub mod idempotency;
pub mod outcome;
pub mod publish;
pub mod results;
pub mod submission;
pub mod wait;

pub use outcome::{delivered, missing_error, submit, Outcome};
pub use publish::{publish, Submitted};
pub use submission::Submission;
