//! The gateway's own API as an OpenAPI 3.1 document, served at `GET /openapi.json`.
//!
//! Generated, not written: each front door's operation comes from its [`Endpoint`] (request
//! and answer types, path, error shape, whether it streams), the other routes from the
//! types their handlers parse and answer with, all through `schemars` (JSON Schema 2020-12,
//! which OpenAPI 3.1 uses as is). Every documented error is JSON: the OpenAI shape, or
//! Anthropic's on `/v1/messages`.

mod access;
mod files;
mod replay;

use crate::chat::{Chat, Jobs};
use crate::embeddings::Embeddings;
use crate::endpoint::{Endpoint, Shape};
use crate::messages::{CountTokens, Messages};
use crate::state::{IDEMPOTENCY_HEADER, MODE_HEADER, TIMEOUT_HEADER};
use schemars::generate::{SchemaGenerator, SchemaSettings};
use schemars::JsonSchema;
use serde_json::{json, Map, Value};

/// The document.
pub fn document() -> Value {
    let mut g = SchemaGenerator::new(
        SchemaSettings::draft2020_12().with(|s| s.definitions_path = "/components/schemas".into()),
    );
    let mut paths = Map::new();
    let mut add = |path: &str, method: &str, op: Value| {
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[method] = op;
    };
    add(Chat::PATH, "post", endpoint::<Chat>(&mut g));
    add(Jobs::PATH, "post", endpoint::<Jobs>(&mut g));
    add(Embeddings::PATH, "post", endpoint::<Embeddings>(&mut g));
    add(Messages::PATH, "post", endpoint::<Messages>(&mut g));
    add(CountTokens::PATH, "post", endpoint::<CountTokens>(&mut g));
    let job = || json!([id_param("The job id (X-Switchyard-Job-Id of its request).")]);
    add(
        "/v1/jobs/{id}",
        "get",
        op(
            &mut g,
            "getJob",
            "A job's status, and its result or error once it finished.",
        )
        .params(job())
        .json::<crate::jobs::JobView>("200", "The job.")
        .done(),
    );
    add(
        "/v1/jobs/{id}/cancel",
        "post",
        op(&mut g, "cancelJob", "Cancels a queued or running job.")
            .params(job())
            .json::<crate::jobs::JobView>("200", "The job, cancelled.")
            .json::<crate::jobs::JobView>("202", "Cancelling; the job has not stopped yet.")
            .json::<crate::jobs::JobView>("409", "The job had already finished.")
            .done(),
    );
    let models = op(&mut g, "listModels", "Every configured model and alias; `refresh=true` also asks each provider for its live list.");
    let models = models.query::<crate::models::ModelsQuery>();
    add(
        "/v1/models",
        "get",
        models
            .json::<crate::models::ModelsPage>("200", "The models.")
            .done(),
    );
    let list = op(
        &mut g,
        "listRequests",
        "The request log, newest first, filtered and paged (needs a running auditor).",
    );
    let list = list.query::<crate::requests::ListParams>();
    add(
        "/v1/requests",
        "get",
        list.json::<crate::requests::RequestsPage>("200", "A page of records.")
            .done(),
    );
    add(
        "/v1/requests/stats",
        "get",
        op(
            &mut g,
            "requestStats",
            "Counts, failures, tokens, cost and p50/p95 latency per model, provider and key over a window.",
        )
        .query::<crate::requests::StatsParams>()
        .json::<broker::audit::Stats>("200", "The aggregates.")
        .done(),
    );
    add(
        "/v1/requests/export",
        "get",
        op(
            &mut g,
            "exportRequests",
            "Every record of a window, newest first, as JSON lines (no bodies).",
        )
        .query::<crate::requests::ExportParams>()
        .text("200", "application/x-ndjson", "One record per line.")
        .done(),
    );
    let request = || json!([id_param("The request (job) id.")]);
    add(
        "/v1/requests/{id}",
        "get",
        op(
            &mut g,
            "getRequest",
            "One request's full record: the folded record, its redacted bodies and its events.",
        )
        .params(request())
        .json::<broker::audit::FullRecord>("200", "The record.")
        .done(),
    );
    let events = op(
        &mut g,
        "getRequestEvents",
        "A request's lifecycle; `follow=true` streams it live as server-sent events.",
    )
    .params(request())
    .query::<crate::requests::EventsParams>();
    add(
        "/v1/requests/{id}/events",
        "get",
        events
            .json_or_sse::<broker::audit::protocol::Timeline>(
                "200",
                "The timeline (or its live stream).",
            )
            .done(),
    );
    let replay = op(
        &mut g,
        "replayRequest",
        "Resubmits a stored request as a new queued job, optionally on another model or provider.",
    )
    .params(request())
    .optional_body::<crate::replay::ReplayOverride>();
    add(
        "/v1/requests/{id}/replay",
        "post",
        replay
            .json::<crate::jobs::JobView>("202", "The replay, queued.")
            .done(),
    );
    add(
        "/health",
        "get",
        op(&mut g, "health", "Liveness: the process answers.")
            .json::<crate::health::Liveness>("200", "Alive.")
            .done(),
    );
    add(
        "/ready",
        "get",
        op(
            &mut g,
            "ready",
            "Readiness: NATS, the streams, and the circuits of the targets.",
        )
        .json::<crate::health::Readiness>("200", "Ready, or degraded (a circuit is open).")
        .json::<crate::health::Readiness>("503", "Not ready.")
        .done(),
    );
    add(
        "/metrics",
        "get",
        op(&mut g, "metrics", "Prometheus metrics.")
            .text(
                "200",
                "text/plain",
                "The metrics in the Prometheus text format.",
            )
            .done(),
    );
    add(
        "/openapi.json",
        "get",
        op(&mut g, "openapi", "This document.")
            .object("200", "The OpenAPI 3.1 document.")
            .done(),
    );
    access::routes(&mut g, &mut add);
    replay::routes(&mut g, &mut add);
    files::routes(&mut g, &mut add);
    access::secure(&mut paths);
    let schemas = g.take_definitions(true);
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "Switchyard",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "An open-source AI gateway on NATS JetStream: one OpenAI-compatible API (and Anthropic's Messages API) in front of many providers, where every request is durable, traceable and replayable.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"}
        },
        "paths": paths,
        "components": {"schemas": schemas, "securitySchemes": access::schemes()},
    })
}

fn id_param(description: &str) -> Value {
    json!({"name": "id", "in": "path", "required": true, "description": description,
           "schema": {"type": "string", "format": "uuid"}})
}

/// The operation of a front door.
fn endpoint<E: Endpoint>(g: &mut SchemaGenerator) -> Value {
    let id = E::PATH.trim_start_matches("/v1/").replace('/', "_");
    let mut o = op(g, &id, E::SUMMARY).body::<E::Request>().shape(E::SHAPE);
    o = o.params(json!([
        {"name": MODE_HEADER, "in": "header", "required": false,
         "description": "`queued` answers 202 with the job id instead of waiting.",
         "schema": {"type": "string", "enum": ["queued", "sync"]}},
        {"name": TIMEOUT_HEADER, "in": "header", "required": false,
         "description": "How long a sync or streaming request waits, in ms (at most server.request_timeout_ms).",
         "schema": {"type": "integer", "minimum": 1}},
        {"name": IDEMPOTENCY_HEADER, "in": "header", "required": false,
         "description": "Makes a retried submit run once; bound to this route and body (another route or body answers 409).",
         "schema": {"type": "string", "maxLength": 255, "pattern": "^[\\x20-\\x7e]*$"}},
    ]));
    o = if E::STREAMS {
        o.json_or_sse::<E::Response>(
            "200",
            "The answer (a stream of server-sent events when `stream` is true).",
        )
    } else {
        o.json::<E::Response>("200", "The answer.")
    };
    if E::MODE.is_none() || E::MODE == Some(schemas::Mode::Queued) {
        o = o.json::<crate::jobs::JobView>("202", "Queued: the job id to poll or subscribe to.");
    }
    if E::MODE.is_none() {
        o = o.error("504", "The request's deadline (X-Switchyard-Timeout-Ms, or server.request_timeout_ms) passed first; the job goes on, and the error names it (also in X-Switchyard-Job-Id).");
    }
    o.done()
}

/// An operation being described.
struct Op<'g> {
    g: &'g mut SchemaGenerator,
    v: Value,
    shape: Shape,
}

fn op<'g>(g: &'g mut SchemaGenerator, id: &str, summary: &str) -> Op<'g> {
    Op {
        g,
        v: json!({"operationId": id, "summary": summary, "parameters": [], "responses": {}}),
        shape: Shape::OpenAi,
    }
}

impl Op<'_> {
    fn shape(mut self, shape: Shape) -> Self {
        self.shape = shape;
        self
    }

    fn params(mut self, params: Value) -> Self {
        if let (Some(list), Value::Array(more)) = (self.v["parameters"].as_array_mut(), params) {
            list.extend(more);
        }
        self
    }

    /// Query parameters: one per property of `T`.
    fn query<T: JsonSchema>(self) -> Self {
        let schema = self.g.root_schema_for::<T>().to_value();
        let props = schema["properties"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        let params: Vec<Value> = props
            .into_iter()
            .map(|(name, mut s)| {
                let description = s
                    .as_object_mut()
                    .and_then(|o| o.remove("description"))
                    .unwrap_or(Value::Null);
                json!({"name": name, "in": "query", "required": false,
                       "description": description, "schema": s})
            })
            .collect();
        self.params(Value::Array(params))
    }

    fn body<T: JsonSchema>(mut self) -> Self {
        let schema = self.g.subschema_for::<T>().to_value();
        self.v["requestBody"] = json!({"required": true,
            "content": {"application/json": {"schema": schema}}});
        self
    }

    fn optional_body<T: JsonSchema>(mut self) -> Self {
        self = self.body::<T>();
        self.v["requestBody"]["required"] = json!(false);
        self
    }

    fn json<T: JsonSchema>(mut self, status: &str, description: &str) -> Self {
        let schema = self.g.subschema_for::<T>().to_value();
        self.v["responses"][status] = json!({"description": description,
            "content": {"application/json": {"schema": schema}}});
        self
    }

    fn json_or_sse<T: JsonSchema>(mut self, status: &str, description: &str) -> Self {
        self = self.json::<T>(status, description);
        self.v["responses"][status]["content"]["text/event-stream"] =
            json!({"schema": {"type": "string"}});
        self
    }

    /// An error status worth naming on its own (its body is the operation's error shape).
    fn error(mut self, status: &str, description: &str) -> Self {
        let schema = match self.shape {
            Shape::OpenAi => self.g.subschema_for::<schemas::openai::ErrorResponse>(),
            Shape::Anthropic => self.g.subschema_for::<schemas::anthropic::ErrorResponse>(),
        };
        self.v["responses"][status] = json!({"description": description,
            "content": {"application/json": {"schema": schema.to_value()}}});
        self
    }

    fn text(mut self, status: &str, content_type: &str, description: &str) -> Self {
        self.v["responses"][status] = json!({"description": description,
            "content": {content_type: {"schema": {"type": "string"}}}});
        self
    }

    fn object(mut self, status: &str, description: &str) -> Self {
        self.v["responses"][status] = json!({"description": description,
            "content": {"application/json": {"schema": {"type": "object"}}}});
        self
    }

    /// Adds the error answers (any other status, JSON in the operation's shape) and ends.
    fn done(self) -> Value {
        self.error(
            "default",
            "An error: what is wrong and what to do next, with the HTTP status.",
        )
        .v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_is_documented_with_json_errors() {
        let doc = document();
        assert_eq!(doc["openapi"], "3.1.0");
        let paths = doc["paths"].as_object().unwrap_or_else(|| unreachable!());
        for p in [
            "/v1/chat/completions",
            "/v1/messages",
            "/v1/messages/count_tokens",
            "/v1/jobs",
            "/v1/jobs/{id}",
            "/v1/jobs/{id}/cancel",
            "/v1/embeddings",
            "/v1/models",
            "/v1/requests",
            "/v1/requests/stats",
            "/v1/requests/export",
            "/v1/requests/{id}",
            "/v1/requests/{id}/events",
            "/v1/requests/{id}/replay",
            "/health",
            "/ready",
            "/metrics",
            "/openapi.json",
            "/admin/keys",
            "/admin/keys/{id}",
            "/admin/keys/{id}/rotate",
            "/admin/audit",
            "/v1/usage",
            "/v1/requests/replay",
            "/v1/requests/replay/{id}",
            "/v1/files",
            "/v1/files/{id}",
            "/v1/files/{id}/content",
        ] {
            let ops = paths[p].as_object().unwrap_or_else(|| unreachable!("{p}"));
            for (_, o) in ops {
                assert!(
                    o["responses"]["default"]["content"]["application/json"].is_object(),
                    "{p}"
                );
            }
        }
        assert!(doc["paths"]["/health"]["get"]["security"].is_null());
        assert_eq!(
            doc["paths"]["/v1/models"]["get"]["security"][0]["bearer"],
            json!([])
        );
        let chat = &doc["paths"]["/v1/chat/completions"]["post"];
        let req = chat["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str();
        assert_eq!(req, Some("#/components/schemas/ChatRequest"));
        assert!(doc["components"]["schemas"]["ChatRequest"]["properties"]["messages"].is_object());
        let msg_err = doc["paths"]["/v1/messages"]["post"]["responses"]["default"]["content"]
            ["application/json"]["schema"]["$ref"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let err = &doc["components"]["schemas"][msg_err.rsplit('/').next().unwrap_or_default()];
        assert!(
            err["properties"]["type"].is_object(),
            "Anthropic's error shape: {err}"
        );
    }
}
