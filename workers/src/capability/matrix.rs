//! The capability matrix as Markdown: the body of `docs/CAPABILITIES.md`.

use super::{Capabilities, Param, Support};
use crate::providers;

/// Every adapter kind's table, in the matrix's column order.
pub fn tables() -> Vec<&'static Capabilities> {
    vec![
        &providers::openai::CAPABILITIES,
        &providers::azure::CAPABILITIES,
        &providers::anthropic::CAPABILITIES,
        &providers::gemini::CAPABILITIES,
        &providers::bedrock::CAPABILITIES,
        &providers::mock::CAPABILITIES,
    ]
}

/// The matrix of the tables, as Markdown: one row per parameter, one column per adapter
/// kind; each cell says what the adapter does, with its note in brackets.
pub fn markdown(tables: &[&Capabilities]) -> String {
    let mut s = String::new();
    s.push_str("| parameter |");
    for t in tables {
        s.push_str(&format!(" `{}` |", t.kind));
    }
    s.push_str("\n|---|");
    for _ in tables {
        s.push_str("---|");
    }
    s.push('\n');
    for p in Param::ALL {
        s.push_str(&format!("| {} |", p.label()));
        for t in tables {
            let cell = match t.line(*p) {
                Some(c) if c.note.is_empty() => c.support.as_str().to_string(),
                Some(c) => format!("{} ({})", c.support.as_str(), c.note),
                None => Support::Refused.as_str().to_string(),
            };
            s.push_str(&format!(" {cell} |"));
        }
        s.push('\n');
    }
    s
}
