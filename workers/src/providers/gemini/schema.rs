//! JSON Schema -> the OpenAPI subset Gemini accepts.
//!
//! Gemini rejects a request whose schema carries a field it does not know
//! (`additionalProperties`, `$schema`, `strict`, `$id`, ...), so only the documented
//! `Schema` fields are kept; property names under `properties` are the caller's and kept.
//! A `type` list with `null` becomes `nullable: true`, `const` becomes a one-value `enum`.
//!
//! That subset has no `$ref`, so local references (`#/$defs/X`, `#/definitions/X`, which
//! every nested pydantic model and many MCP tools use) are inlined first, and `allOf` is
//! merged. A recursive schema cannot be inlined: it goes whole, as JSON Schema, in
//! `parametersJsonSchema` / `responseJsonSchema` instead ([`for_gemini`]).

use serde_json::{Map, Value};

/// A schema in the form Gemini takes.
#[derive(Debug, Clone, PartialEq)]
pub enum GeminiSchema {
    /// The OpenAPI subset (`parameters`, `responseSchema`).
    OpenApi(Value),
    /// JSON Schema with its references (`parametersJsonSchema`, `responseJsonSchema`).
    Json(Value),
}

/// The JSON Schema keywords Gemini's `*JsonSchema` fields take.
const JSON_KEEP: &[&str] = &[
    "$id",
    "$defs",
    "$ref",
    "$anchor",
    "type",
    "format",
    "title",
    "description",
    "enum",
    "items",
    "prefixItems",
    "minItems",
    "maxItems",
    "minimum",
    "maximum",
    "anyOf",
    "oneOf",
    "properties",
    "additionalProperties",
    "required",
    "propertyOrdering",
    "const",
];

/// A client's JSON Schema as Gemini takes it (see the module docs).
pub fn for_gemini(schema: &Value) -> GeminiSchema {
    match inline_refs(schema) {
        Some(inlined) => GeminiSchema::OpenApi(clean_schema(&inlined)),
        None => GeminiSchema::Json(json_subset(schema, false)),
    }
}

/// The definitions a schema's local references can name.
fn definitions(root: &Value) -> Map<String, Value> {
    let mut defs = Map::new();
    for key in ["$defs", "definitions"] {
        if let Some(d) = root.get(key).and_then(Value::as_object) {
            for (name, v) in d {
                defs.insert(format!("#/{key}/{name}"), v.clone());
            }
        }
    }
    defs
}

/// The schema with local references replaced by their definitions and `allOf` merged;
/// `None` for a recursive schema or a reference to nothing.
pub fn inline_refs(root: &Value) -> Option<Value> {
    let defs = definitions(root);
    let mut out = walk(root, &defs, &mut Vec::new())?;
    if let Some(o) = out.as_object_mut() {
        o.remove("$defs");
        o.remove("definitions");
    }
    Some(out)
}

fn walk(v: &Value, defs: &Map<String, Value>, stack: &mut Vec<String>) -> Option<Value> {
    match v {
        Value::Object(o) => {
            let mut base = Map::new();
            if let Some(r) = o.get("$ref").and_then(Value::as_str) {
                if stack.iter().any(|s| s == r) {
                    return None;
                }
                stack.push(r.to_string());
                let target = walk(defs.get(r)?, defs, stack);
                stack.pop();
                if let Value::Object(t) = target? {
                    base = t;
                }
            }
            for (k, child) in o {
                match k.as_str() {
                    "$ref" | "$defs" | "definitions" => {}
                    "allOf" => {
                        for part in child.as_array().into_iter().flatten() {
                            if let Value::Object(p) = walk(part, defs, stack)? {
                                merge(&mut base, p);
                            }
                        }
                    }
                    // Property names are the caller's, not keywords.
                    "properties" => {
                        let mut props = Map::new();
                        for (name, s) in child.as_object().into_iter().flatten() {
                            props.insert(name.clone(), walk(s, defs, stack)?);
                        }
                        base.insert(k.clone(), Value::Object(props));
                    }
                    _ => {
                        base.insert(k.clone(), walk(child, defs, stack)?);
                    }
                }
            }
            Some(Value::Object(base))
        }
        Value::Array(a) => a
            .iter()
            .map(|x| walk(x, defs, stack))
            .collect::<Option<Vec<_>>>()
            .map(Value::Array),
        other => Some(other.clone()),
    }
}

/// `allOf` parts into one schema: properties and required lists joined, the rest set.
fn merge(into: &mut Map<String, Value>, part: Map<String, Value>) {
    for (k, v) in part {
        match (k.as_str(), into.get_mut(&k), v) {
            ("properties", Some(Value::Object(a)), Value::Object(b)) => a.extend(b),
            ("required", Some(Value::Array(a)), Value::Array(b)) => {
                for x in b {
                    if !a.contains(&x) {
                        a.push(x);
                    }
                }
            }
            (_, _, v) => {
                into.insert(k, v);
            }
        }
    }
}

/// The JSON Schema keywords Gemini takes, kept at every level (`in_props`: the keys are
/// property names).
fn json_subset(v: &Value, in_props: bool) -> Value {
    match v {
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(k, _)| in_props || JSON_KEEP.contains(&k.as_str()))
                .map(|(k, child)| {
                    let names = !in_props && matches!(k.as_str(), "properties" | "$defs");
                    (k.clone(), json_subset(child, names))
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(|x| json_subset(x, false)).collect()),
        other => other.clone(),
    }
}

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
    fn nested_models_are_inlined() {
        let s = json!({
            "type": "object",
            "$defs": {"Address": {"type": "object", "additionalProperties": false,
                "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                "required": ["city"]}},
            "properties": {
                "name": {"type": "string"},
                "address": {"$ref": "#/$defs/Address", "description": "where"},
                "past": {"type": "array", "items": {"allOf": [{"$ref": "#/$defs/Address"}]}}
            },
            "required": ["name", "address"]
        });
        let GeminiSchema::OpenApi(out) = for_gemini(&s) else {
            panic!("not recursive")
        };
        assert_eq!(
            out["properties"]["address"]["properties"]["city"]["type"],
            "string"
        );
        assert_eq!(out["properties"]["address"]["description"], "where");
        assert_eq!(out["properties"]["address"]["required"], json!(["city"]));
        assert_eq!(
            out["properties"]["past"]["items"]["properties"]["zip"]["type"],
            "string"
        );
        assert!(out.get("$defs").is_none());
        assert!(!out.to_string().contains("$ref"), "{out}");
        assert!(!out.to_string().contains("additionalProperties"), "{out}");
    }

    #[test]
    fn recursive_schemas_go_as_json_schema() {
        let s = json!({
            "$schema": "x", "type": "object",
            "$defs": {"Node": {"type": "object", "properties": {
                "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}}}},
            "properties": {"root": {"$ref": "#/$defs/Node"}}
        });
        let GeminiSchema::Json(out) = for_gemini(&s) else {
            panic!("recursive")
        };
        assert_eq!(out["properties"]["root"]["$ref"], "#/$defs/Node");
        assert!(out["$defs"]["Node"].is_object());
        assert!(out.get("$schema").is_none());
    }

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
