//! The checked-in JSON Schema files must match the Rust wire types.
//!
//! After changing a wire type, regenerate them with `switchyard schemas` (or run this test
//! with `SWITCHYARD_BLESS=1`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

#[test]
fn checked_in_schemas_match_the_code() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("json");
    let bless = std::env::var_os("SWITCHYARD_BLESS").is_some();
    let mut drift = Vec::new();
    for (name, schema) in switchyard_schemas::json_schemas() {
        let path = dir.join(&name);
        let want = serde_json::to_string_pretty(&schema).unwrap() + "\n";
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &want).unwrap();
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(have) if have == want => {}
            Ok(_) => drift.push(format!("{name} differs from the code")),
            Err(_) => drift.push(format!("{name} is missing")),
        }
    }
    assert!(
        drift.is_empty(),
        "schemas/json drifted: {drift:?}. Regenerate with `cargo run -- schemas` (or SWITCHYARD_BLESS=1 cargo test -p switchyard-schemas) and commit the files."
    );
}

#[test]
fn envelopes_round_trip_with_unknown_fields_kept() {
    let body = r#"{"model":"m","messages":[{"role":"user","content":"hi","x_msg":1}],"x_top":{"a":[1,2]}}"#;
    let req: switchyard_schemas::openai::ChatRequest = serde_json::from_str(body).unwrap();
    let back: serde_json::Value = serde_json::to_value(&req).unwrap();
    assert_eq!(back["x_top"], serde_json::json!({"a": [1, 2]}));
    assert_eq!(back["messages"][0]["x_msg"], 1);
}
