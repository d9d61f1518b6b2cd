//! A circuit breaker per target (`provider/model`, with the provider's policy): opens on
//! consecutive failures or a high error rate, lets one half-open probe through after
//! `open_ms`, and publishes its state changes to the `sy_circuits` KV bucket so ingresses
//! route around open circuits and `/ready` shows them. A failing model does not trip the
//! healthy models of the same provider.

use crate::error::ErrorKind;
use broker::config::CircuitPolicy;
use schemas::{CircuitState, Target};
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Debug)]
struct Breaker {
    policy: CircuitPolicy,
    state: CircuitState,
    consecutive: u32,
    window: VecDeque<bool>,
    opened: Option<Instant>,
    probing: bool,
}

impl Breaker {
    fn new(policy: CircuitPolicy) -> Self {
        Self {
            policy,
            state: CircuitState::Closed,
            consecutive: 0,
            window: VecDeque::new(),
            opened: None,
            probing: false,
        }
    }

    fn allow(&mut self, now: Instant) -> (bool, Option<CircuitState>) {
        match self.state {
            CircuitState::Closed => (true, None),
            CircuitState::Open => {
                let elapsed = self
                    .opened
                    .map(|o| now.duration_since(o))
                    .unwrap_or_default();
                if elapsed >= Duration::from_millis(self.policy.open_ms) {
                    self.state = CircuitState::HalfOpen;
                    self.probing = true;
                    (true, Some(CircuitState::HalfOpen))
                } else {
                    (false, None)
                }
            }
            CircuitState::HalfOpen if !self.probing => {
                self.probing = true;
                (true, None)
            }
            CircuitState::HalfOpen => (false, None),
        }
    }

    fn record(&mut self, ok: bool, now: Instant) -> Option<CircuitState> {
        self.window.push_back(ok);
        while self.window.len() > self.policy.window.max(1) as usize {
            self.window.pop_front();
        }
        self.consecutive = if ok { 0 } else { self.consecutive + 1 };
        let before = self.state;
        match (self.state, ok) {
            (CircuitState::HalfOpen, true) => {
                self.state = CircuitState::Closed;
                self.window.clear();
                self.probing = false;
            }
            (CircuitState::HalfOpen, false) => self.open(now),
            (CircuitState::Closed, false) => {
                let failures = self.window.iter().filter(|o| !**o).count() as f64;
                let calls = self.window.len() as u32;
                let rate_trips = calls >= self.policy.min_calls
                    && failures / calls as f64 >= self.policy.error_rate;
                if self.consecutive >= self.policy.consecutive_failures || rate_trips {
                    self.open(now);
                }
            }
            _ => {}
        }
        (self.state != before).then_some(self.state)
    }

    fn open(&mut self, now: Instant) {
        self.state = CircuitState::Open;
        self.opened = Some(now);
        self.probing = false;
    }
}

/// Whether an error says something about the target's health (not about the request).
pub fn counts_against_target(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::Server
            | ErrorKind::Network
            | ErrorKind::Timeout
            | ErrorKind::Overloaded
            | ErrorKind::Decode
            | ErrorKind::Auth
            | ErrorKind::Permission
    )
}

/// The breakers of every provider this worker serves.
#[derive(Debug, Default)]
pub struct Breakers {
    policies: HashMap<String, CircuitPolicy>,
    state: Mutex<HashMap<String, Breaker>>,
}

impl Breakers {
    /// Breakers with each provider's policy.
    pub fn new(policies: HashMap<String, CircuitPolicy>) -> Self {
        Self {
            policies,
            state: Mutex::new(HashMap::new()),
        }
    }

    fn with<T>(&self, target: &Target, f: impl FnOnce(&mut Breaker) -> T) -> T {
        let mut map = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let b = map.entry(target.qualified()).or_insert_with(|| {
            Breaker::new(
                self.policies
                    .get(&target.provider)
                    .cloned()
                    .unwrap_or_default(),
            )
        });
        f(b)
    }

    /// Whether a call may go out now; the second value is a state change to publish.
    pub fn allow(&self, target: &Target) -> (bool, Option<CircuitState>) {
        self.with(target, |b| b.allow(Instant::now()))
    }

    /// Records a call's outcome; returns the new state when it changed.
    pub fn record(&self, target: &Target, ok: bool) -> Option<CircuitState> {
        self.with(target, |b| b.record(ok, Instant::now()))
    }

    /// The current state.
    pub fn state(&self, target: &Target) -> CircuitState {
        self.with(target, |b| b.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> CircuitPolicy {
        CircuitPolicy {
            consecutive_failures: 3,
            error_rate: 0.5,
            window: 10,
            min_calls: 6,
            open_ms: 50,
        }
    }

    #[test]
    fn opens_after_consecutive_failures_then_probes() {
        let mut b = Breaker::new(policy());
        let t0 = Instant::now();
        assert_eq!(b.record(false, t0), None);
        assert_eq!(b.record(false, t0), None);
        assert_eq!(b.record(false, t0), Some(CircuitState::Open));
        assert!(!b.allow(t0).0, "open refuses");
        let later = t0 + Duration::from_millis(60);
        assert_eq!(b.allow(later), (true, Some(CircuitState::HalfOpen)));
        assert!(!b.allow(later).0, "only one probe at a time");
        assert_eq!(b.record(true, later), Some(CircuitState::Closed));
        assert!(b.allow(later).0);
    }

    #[test]
    fn failed_probe_reopens_and_error_rate_trips() {
        let mut b = Breaker::new(policy());
        let t0 = Instant::now();
        for ok in [true, false, true, false, true, false, false] {
            b.record(ok, t0);
        }
        assert_eq!(b.state, CircuitState::Open, "4 of 7 failed: over 50%");
        let later = t0 + Duration::from_millis(60);
        assert!(b.allow(later).0);
        assert_eq!(b.record(false, later), Some(CircuitState::Open));
    }
}
