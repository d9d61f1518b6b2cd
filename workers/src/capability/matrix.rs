//! The capability matrix as Markdown: `docs/CAPABILITIES.md` is [`document`], whole, and a
//! test fails when the file and the tables differ (`switchyard capabilities --write
//! docs/CAPABILITIES.md` rewrites it).

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

/// The whole of `docs/CAPABILITIES.md`.
pub fn document() -> String {
    let mut s = String::from(
        "# Capability matrix\n\n\
<!-- Generated from the adapters' capability tables (workers/src/providers/*): do not edit.\n\
     Rewrite with `switchyard capabilities --write docs/CAPABILITIES.md`. -->\n\n\
What each adapter does with each OpenAI chat parameter. The worker checks every request\n\
against its target's table before the call, so this page is what runs:\n\n\
- **native**: the provider has the parameter; it is sent as is.\n\
- **translated**: sent in the provider's own form (the note says which).\n\
- **emulated**: done by the gateway (`n` as several calls whose choices are merged; usage is\n\
  summed, since each call is billed).\n\
- **passed through**: sent as is to an OpenAI-compatible API, which takes it or answers its\n\
  own 400 (the gateway passes that 400 on).\n\
- **dropped**: not sent, because it cannot change the answer (an end-user id, client\n\
  metadata), or the mock provider, which echoes.\n\
- **refused**: the request fails with a 400 `unsupported_parameter` whose `param` names the\n\
  field and whose message names the adapter, before anything reaches the provider. When the\n\
  route has a fallback, the next target gets the request.\n\n\
The `openai` column also covers every OpenAI-compatible preset (groq, mistral, deepseek,\n\
ollama, vllm, ...). Reasoning comes back in one shape from every provider:\n\
`reasoning_content`, `thinking_blocks` and Gemini's\n\
`tool_calls[].extra_content.google.thought_signature` (see docs/ARCHITECTURE.md,\n\
\"Reasoning and signatures\").\n\n",
    );
    s.push_str(&markdown(&tables()));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs/CAPABILITIES.md` is the tables' document, byte for byte.
    #[test]
    fn the_docs_matrix_is_generated_from_the_tables() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/CAPABILITIES.md");
        let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            on_disk == document(),
            "docs/CAPABILITIES.md differs from the adapters' tables; rewrite it with `cargo run -- capabilities --write docs/CAPABILITIES.md`"
        );
    }

    #[test]
    fn every_table_names_every_parameter() {
        for t in tables() {
            for p in Param::ALL {
                assert!(t.line(*p).is_some(), "{} says nothing of {:?}", t.kind, p);
            }
        }
    }
}
