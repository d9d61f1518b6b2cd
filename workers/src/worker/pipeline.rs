//! Pipeline stages around the upstream call: the slot for caches, budgets and guards.

use futures::future::BoxFuture;
use schemas::{Job, JobResult};

/// What a job came to.
pub type Outcome = JobResult;

/// A step of the worker pipeline. `before` may answer the job without calling upstream
/// (a cache hit, a budget refusal); `after` sees every outcome (cache store, cost).
pub trait Stage: Send + Sync {
    /// Runs before the upstream call; `Some` ends the job with that outcome.
    fn before<'a>(&'a self, job: &'a Job) -> BoxFuture<'a, Option<Outcome>>;
    /// Runs after the job has an outcome.
    fn after<'a>(&'a self, job: &'a Job, outcome: &'a Outcome) -> BoxFuture<'a, ()>;
}
