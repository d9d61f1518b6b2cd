//! JSON Schema -> the OpenAPI subset Gemini accepts.
//!
//! Gemini rejects a request whose schema carries a field it does not know
//! (`additionalProperties`, `$schema`, `strict`, `$id`, ...), so only the documented
//! `Schema` fields are kept; property names under `properties` are the caller's and kept.
//! A `type` list with `null` becomes `nullable: true`, `const` becomes a one-value `enum`.

use serde_json::{Map, Value};

const KEEP: &[&str] = &[
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
];

/// The cleaned copy of a schema.
pub fn clean_schema(schema: &Value) -> Value {
    let Value::Object(obj) = schema else {
        return schema.clone();
    };
    let mut out = Map::new();
    for (k, v) in obj {
        match k.as_str() {
            "properties" => {
                let props = v.as_object().map(|p| {
                    p.iter()
                        .map(|(name, s)| (name.clone(), clean_schema(s)))
                        .collect::<Map<_, _>>()
                });
                out.insert(k.clone(), props.map(Value::Object).unwrap_or(Value::Null));
            }
            "items" => {
                out.insert(k.clone(), clean_schema(v));
            }
            "anyOf" | "oneOf" => {
                let list = v.as_array().map(|a| a.iter().map(clean_schema).collect());
                out.insert(
                    "anyOf".into(),
                    list.map(Value::Array).unwrap_or(Value::Null),
                );
            }
            "type" => match v {
                Value::Array(types) => {
                    let non_null: Vec<&Value> = types.iter().filter(|t| *t != "null").collect();
                    if non_null.len() < types.len() {
                        out.insert("nullable".into(), Value::Bool(true));
                    }
                    if let Some(t) = non_null.first() {
                        out.insert("type".into(), (*t).clone());
                    }
                }
                other => {
                    out.insert(k.clone(), other.clone());
                }
            },
            "const" => {
                out.insert("enum".into(), Value::Array(vec![v.clone()]));
            }
            k if KEEP.contains(&k) => {
                out.insert(k.to_string(), v.clone());
            }
            _ => {}
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn drops_unknown_keywords_and_keeps_property_names() {
        let s = json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object", "additionalProperties": false, "strict": true,
            "properties": {
                "additionalProperties": {"type": ["string", "null"], "examples": ["x"]},
                "tags": {"type": "array", "items": {"type": "string", "$id": "t"}},
                "mode": {"const": "fast"}
            },
            "required": ["tags"]
        });
        assert_eq!(
            clean_schema(&s),
            json!({
                "type": "object",
                "properties": {
                    "additionalProperties": {"type": "string", "nullable": true},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "mode": {"enum": ["fast"]}
                },
                "required": ["tags"]
            })
        );
    }
}
