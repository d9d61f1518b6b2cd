//! `Nats-Msg-Id`s: JetStream drops a second message with the same id within the stream's
//! duplicate window, which is what makes publishing a job, a fallback hop, a result or a dead
//! letter safe to retry. Every process derives them here, so they cannot drift apart.

/// The header JetStream deduplicates on.
pub const HEADER: &str = "Nats-Msg-Id";

/// A job's message on `sy.jobs.<provider>`: the job id for its first target, `<id>-hop<n>`
/// when a fallback republishes it for target `n`.
pub fn job(id: &str, hop: u32) -> String {
    if hop == 0 {
        id.to_string()
    } else {
        format!("{id}-hop{hop}")
    }
}

/// A job's result on `sy.results.<id>`: one per job, whichever delivery finishes it.
pub fn result(id: &str) -> String {
    format!("result-{id}")
}

/// A job's final event (`completed`, `failed`, `cancelled`) on `sy.events.<id>`: one per
/// job, though a redelivery after a crash sends it again.
pub fn final_event(id: &str) -> String {
    format!("final-{id}")
}

/// A batch job's output line on `sy.batchresults.<batch>.ok|err`.
pub fn batch_line(id: &str) -> String {
    format!("br-{id}")
}

/// A job's copy on `sy.dead.<provider>`.
pub fn dead(id: &str) -> String {
    format!("dead-{id}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_distinct_per_purpose() {
        assert_eq!(super::job("j", 0), "j");
        assert_eq!(super::job("j", 2), "j-hop2");
        assert_eq!(super::result("j"), "result-j");
        assert_eq!(super::dead("j"), "dead-j");
        assert_eq!(super::final_event("j"), "final-j");
        assert_eq!(super::batch_line("j"), "br-j");
    }
}
