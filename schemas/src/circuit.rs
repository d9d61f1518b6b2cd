//! The circuit record: what a worker writes to the `sy_circuits` KV bucket when a target's
//! circuit breaker changes state, and every ingress reads to route around open circuits.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The state of a circuit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Calls flow.
    Closed,
    /// Calls are refused until the open period ends.
    Open,
    /// One probe call is allowed; its outcome closes or reopens the circuit.
    HalfOpen,
}

impl CircuitState {
    /// The snake_case name (`closed`, `open`, `half_open`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

/// One target's circuit, stored under [`CircuitRecord::key`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct CircuitRecord {
    /// The target, `provider/model`.
    pub target: String,
    /// The state.
    pub state: CircuitState,
    /// The worker node that changed it.
    pub node: String,
    /// When (ms since the epoch).
    pub ts_ms: u64,
    /// For an open circuit: when its open period ends and the worker lets a probe through.
    /// A reader treats the circuit as open only until then, so a circuit whose worker died
    /// is not routed around forever. Records written before this field existed are open
    /// for [`CircuitRecord::LEGACY_OPEN_MS`] after `ts_ms`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_until_ms: Option<u64>,
}

impl CircuitRecord {
    /// How long a record without `open_until_ms` counts as open.
    pub const LEGACY_OPEN_MS: u64 = 30_000;

    /// The KV key of a target: KV keys allow `[-/_=.a-zA-Z0-9]`, other characters become
    /// `_` (the record carries the exact target).
    pub fn key(target: &str) -> String {
        target
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-/_=.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect()
    }

    /// Whether calls to the target are refused at `now_ms`.
    pub fn is_open_at(&self, now_ms: u64) -> bool {
        self.state == CircuitState::Open
            && now_ms
                < self
                    .open_until_ms
                    .unwrap_or(self.ts_ms + Self::LEGACY_OPEN_MS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_open_circuit_expires_at_its_end_of_open_period() {
        let mut r = CircuitRecord {
            target: "p/m".into(),
            state: CircuitState::Open,
            node: "w".into(),
            ts_ms: 1_000,
            open_until_ms: Some(5_000),
        };
        assert!(r.is_open_at(4_999));
        assert!(
            !r.is_open_at(5_000),
            "its worker may be gone: no longer trusted"
        );
        r.open_until_ms = None;
        assert!(r.is_open_at(1_000 + CircuitRecord::LEGACY_OPEN_MS - 1));
        assert!(!r.is_open_at(1_000 + CircuitRecord::LEGACY_OPEN_MS));
        r.state = CircuitState::HalfOpen;
        assert!(!r.is_open_at(1_001));
        assert_eq!(CircuitRecord::key("p/m:1 x"), "p/m_1_x");
    }
}
