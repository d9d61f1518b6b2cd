//! Translation fidelity, the same list for every adapter: what a client sends comes out the
//! other side faithfully, or is refused with a 400 naming the parameter and the target —
//! never a 200 with a wrong answer. Each test calls the adapter the way the worker does
//! (admitted against its capability table, emulated parameters done around the call), and
//! what it expects follows that table, so a table that lies fails here.

/// The fidelity tests of one adapter (see [`conformance!`]).
#[macro_export]
macro_rules! fidelity {
    ($fixture:path) => {
        use $crate::common::*;
        use serde_json::{json, Value};
        use switchyard_workers::capability::{Param, Support};
        use switchyard_workers::ErrorKind;

        fn tool_message(id: &str, text: &str) -> schemas::openai::Message {
            serde_json::from_value(json!({"role": "tool", "tool_call_id": id, "content": text})).unwrap()
        }

        async fn tool_round_trip(streamed: bool) {
            let f = $fixture().await;
            let first = f.call(tool_request("tool"), streamed).await.expect("the first turn answers");
            let msg = as_client_sends(&first.choices[0].message);
            let calls = msg.tool_calls.clone().expect("a tool call");
            assert_eq!(calls[0].function.name, "get_weather");
            let args: Value = serde_json::from_str(&calls[0].function.arguments).expect("arguments are JSON");
            assert_eq!(args, json!({"city": "Paris"}));
            let mut next = tool_request("tool");
            next.messages.push(msg);
            next.messages.push(tool_message(&calls[0].id, "sunny, 21C"));
            let second = f.call(next, streamed).await.expect("the second turn answers");
            let text = second.choices[0].message.text();
            assert!(text.contains("the tool said: sunny, 21C"), "{text}");
            assert_eq!(second.choices[0].finish_reason.as_deref(), Some("stop"));
        }

        #[tokio::test]
        async fn tool_round_trip_json() {
            tool_round_trip(false).await;
        }

        #[tokio::test]
        async fn tool_round_trip_streamed() {
            tool_round_trip(true).await;
        }

        #[tokio::test]
        async fn parallel_tool_calls_and_turning_them_off() {
            let f = $fixture().await;
            for streamed in [false, true] {
                let r = f.call(tool_request("tool-parallel"), streamed).await.expect("answers");
                let calls = r.choices[0].message.tool_calls.clone().expect("calls");
                assert_eq!(calls.len(), 2, "streamed={streamed}: {calls:?}");
                assert_ne!(calls[0].id, calls[1].id);
                let cities: Vec<Value> = calls.iter().map(|c| serde_json::from_str::<Value>(&c.function.arguments).unwrap()["city"].clone()).collect();
                assert_eq!(cities, [json!("Paris"), json!("London")]);
                let mut one = tool_request("tool-parallel");
                one.extra.insert("parallel_tool_calls".into(), json!(false));
                let r = f.call(one, streamed).await.expect("answers");
                let calls = r.choices[0].message.tool_calls.clone().expect("a call");
                assert_eq!(calls.len(), 1, "parallel_tool_calls=false, streamed={streamed}");
            }
        }

        #[tokio::test]
        async fn tool_choice_none_required_and_named() {
            let f = $fixture().await;
            let with = |choice: Value| {
                req(json!({"model": "chooser", "messages": [{"role": "user", "content": "weather and time in Paris?"}],
                    "tools": two_tools(), "tool_choice": choice, "max_tokens": 64}))
            };
            let none = f.chat(with(json!("none"))).await.expect("none answers");
            assert!(none.choices[0].message.tool_calls.is_none(), "tool_choice none: no call");
            assert!(none.choices[0].message.text().contains("weather and time"));
            let required = f.chat(with(json!("required"))).await.expect("required answers");
            assert!(required.choices[0].message.tool_calls.is_some(), "tool_choice required: a call");
            let named = f.chat(with(json!({"type": "function", "function": {"name": "get_time"}}))).await.expect("named answers");
            let calls = named.choices[0].message.tool_calls.clone().expect("a call");
            assert_eq!(calls[0].function.name, "get_time", "the named tool is called");
        }

        fn nested_schema() -> Value {
            json!({
                "type": "object", "additionalProperties": false,
                "$defs": {"Address": {"type": "object", "additionalProperties": false,
                    "properties": {"city": {"type": "string"}, "zip": {"type": "string"}},
                    "required": ["city", "zip"]}},
                "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/Address"}},
                "required": ["name", "address"]
            })
        }

        #[tokio::test]
        async fn structured_output_with_a_nested_schema() {
            let f = $fixture().await;
            let r = req(json!({"model": "json", "messages": [{"role": "user", "content": "who lives where?"}],
                "response_format": {"type": "json_schema", "json_schema": {"name": "person", "strict": true, "schema": nested_schema()}}}));
            match f.support(Param::JsonSchema) {
                Support::Refused => {
                    let e = f.chat(r).await.expect_err("refused");
                    assert_eq!(e.kind, ErrorKind::Unsupported);
                }
                _ => {
                    for streamed in [false, true] {
                        let out = f.call(r.clone(), streamed).await.expect("answers");
                        let v: Value = serde_json::from_str(&out.choices[0].message.text()).expect("the answer is JSON");
                        assert!(v["name"].is_string(), "{v}");
                        assert!(v["address"]["city"].is_string() && v["address"]["zip"].is_string(), "the nested model keeps its shape: {v}");
                    }
                }
            }
            let obj = req(json!({"model": "json", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}}));
            if f.support(Param::JsonObject) == Support::Refused {
                let before = f.upstream_calls();
                let e = f.chat(obj).await.expect_err("json_object is refused here");
                assert_eq!(e.kind, ErrorKind::Unsupported);
                assert_eq!(e.to_job_error().error.param.as_deref(), Some("response_format"));
                assert!(e.message.contains(f.provider.capabilities().kind), "{}", e.message);
                assert_eq!(f.upstream_calls(), before, "refused before the upstream");
            } else {
                f.chat(obj).await.expect("json_object answers");
            }
        }

        #[tokio::test]
        async fn n_choices() {
            let f = $fixture().await;
            for streamed in [false, true] {
                let before = f.upstream_calls();
                let mut r = request("text", "pick a number");
                r.extra.insert("n".into(), json!(2));
                let out = f.call(r, streamed).await.expect("n=2 answers");
                assert_eq!(out.choices.len(), 2, "streamed={streamed}: two choices");
                let idx: Vec<u32> = out.choices.iter().map(|c| c.index).collect();
                assert_eq!(idx, [0, 1]);
                for c in &out.choices {
                    assert!(c.message.text().contains("pick a number"), "{c:?}");
                    assert_eq!(c.finish_reason.as_deref(), Some("stop"));
                }
                let p = if streamed { Param::NStream } else { Param::N };
                let calls = if f.support(p) == Support::Emulated { 2 } else { 1 };
                assert_eq!(f.upstream_calls() - before, calls, "{:?}", f.support(p));
                if streamed {
                    let u = out.usage.expect("usage");
                    assert_eq!(u.total_tokens, u.prompt_tokens + u.completion_tokens);
                }
            }
        }

        #[tokio::test]
        async fn stop_sequences() {
            let f = $fixture().await;
            for streamed in [false, true] {
                let mut r = request("text", "one two END three");
                r.stop = Some(schemas::openai::Stop::Many(vec!["END".into()]));
                let out = f.call(r, streamed).await.expect("answers");
                let text = out.choices[0].message.text();
                assert!(text.contains("one two") && !text.contains("three"), "{text}");
                assert_eq!(out.choices[0].finish_reason.as_deref(), Some("stop"));
                if f.reports_stop_sequence {
                    assert_eq!(out.choices[0].stop_sequence(), Some("END"), "streamed={streamed}");
                }
            }
        }

        /// A request asking for thinking in the form the adapter takes.
        fn thinking_request(f: &Fixture, model: &str) -> Option<schemas::openai::ChatRequest> {
            let mut r = tool_request(model);
            let takes = |s: Support| !matches!(s, Support::Refused | Support::Dropped);
            if takes(f.support(Param::ReasoningEffort)) {
                r.extra.insert("reasoning_effort".into(), json!("low"));
                r.max_completion_tokens = Some(4096);
            } else if takes(f.support(Param::Thinking)) {
                r.extra.insert("thinking".into(), json!({"type": "enabled", "budget_tokens": 1024}));
                r.max_tokens = Some(2048);
            } else {
                return None;
            }
            Some(r)
        }

        async fn thinking_with_tools(streamed: bool) {
            let f = $fixture().await;
            let Some(first_req) = thinking_request(&f, "tool") else { return };
            let first = f.call(first_req.clone(), streamed).await.expect("the first turn answers");
            let msg = as_client_sends(&first.choices[0].message);
            let calls = msg.tool_calls.clone().expect("a tool call");
            if f.signs_thinking {
                let signed = !msg.thinking_blocks().is_empty() || calls[0].thought_signature().is_some();
                assert!(signed, "the signed thinking reaches the client: {msg:?}");
            }
            let second_req = |m: schemas::openai::Message| {
                let mut next = first_req.clone();
                next.messages.push(m);
                next.messages.push(tool_message(&calls[0].id, "sunny"));
                next
            };
            let second = f.call(second_req(msg.clone()), streamed).await.expect("the second turn answers with the thinking sent back");
            assert!(second.choices[0].message.text().contains("the tool said: sunny"));
            if f.signs_thinking {
                // Without what the gateway gave back, the provider refuses the turn: the
                // mock checks it, so this test would catch a dropped signature.
                let mut stripped = msg.clone();
                stripped.extra.remove("thinking_blocks");
                for c in stripped.tool_calls.iter_mut().flatten() {
                    c.extra.remove("extra_content");
                }
                let e = f.call(second_req(stripped), streamed).await.expect_err("refused without the signature");
                assert_eq!(e.kind, ErrorKind::BadRequest, "{e}");
            }
        }

        #[tokio::test]
        async fn thinking_with_tools_over_two_turns() {
            thinking_with_tools(false).await;
        }

        #[tokio::test]
        async fn thinking_with_tools_over_two_turns_streamed() {
            thinking_with_tools(true).await;
        }

        #[tokio::test]
        async fn images() {
            let f = $fixture().await;
            let with = |url: &str| {
                req(json!({"model": "text", "messages": [{"role": "user", "content": [
                    {"type": "text", "text": "what is this?"},
                    {"type": "image_url", "image_url": {"url": url}}]}]}))
            };
            let out = f.chat(with("data:image/png;base64,iVBORw0KGgo=")).await.expect("a data: image answers");
            assert!(out.choices[0].message.text().contains("[images: 1]"), "{:?}", out.choices[0].message);
            let https = with("https://example.com/cat.png");
            if f.support(Param::ImageUrl) == Support::Refused {
                let e = f.chat(https).await.expect_err("refused");
                assert_eq!(e.kind, ErrorKind::Unsupported);
                assert_eq!(e.to_job_error().error.param.as_deref(), Some("messages[0].content[1]"));
            } else {
                let out = f.chat(https).await.expect("an https image answers");
                assert!(out.choices[0].message.text().contains("[images: 1]"));
            }
        }

        #[tokio::test]
        async fn error_code_and_param() {
            let f = $fixture().await;
            let e = f.chat(request("context-length", "x")).await.expect_err("too long");
            let je = e.to_job_error();
            assert_eq!(je.status, 400);
            assert_eq!(je.error.code.as_deref(), Some("context_length_exceeded"), "{je:?}");
            assert_eq!(je.error.param.as_deref(), Some("messages"));
            assert_eq!(je.error.kind, "invalid_request_error");
            if f.openai_errors {
                let e = f.chat(request("bad-param", "x")).await.expect_err("bad temperature");
                let je = e.to_job_error();
                assert_eq!(je.error.code.as_deref(), Some("invalid_value"), "the upstream's own code");
                assert_eq!(je.error.param.as_deref(), Some("temperature"), "the upstream's own param");
            }
        }

        /// The provider's own id of each request reaches the worker (it goes on every attempt
        /// event), for JSON answers and streams alike.
        #[tokio::test]
        async fn the_upstream_request_id_is_seen() {
            let f = $fixture().await;
            for streamed in [false, true] {
                let (out, seen) = switchyard_workers::providers::http::observed(
                    f.call(request("text", "hi"), streamed),
                )
                .await;
                out.expect("answers");
                let id = seen.request_id.expect("the upstream's request id");
                assert!(id.starts_with("req-") || id.starts_with("resp-"), "{id}");
            }
        }

        #[tokio::test]
        async fn what_the_table_refuses_is_refused_before_the_upstream() {
            let f = $fixture().await;
            let probes: Vec<(Param, &str, Value)> = vec![
                (Param::Seed, "seed", json!(7)),
                (Param::LogitBias, "logit_bias", json!({"50256": -100})),
                (Param::Logprobs, "logprobs", json!(true)),
                (Param::Penalties, "presence_penalty", json!(0.5)),
                (Param::TopK, "top_k", json!(5)),
                (Param::Unknown, "x_unknown_field", json!(1)),
            ];
            let kind = f.provider.capabilities().kind;
            for (p, field, value) in probes {
                if f.support(p) != Support::Refused {
                    continue;
                }
                let mut r = request("text", "x");
                r.extra.insert(field.into(), value);
                let before = f.upstream_calls();
                let e = f.chat(r).await.expect_err(field);
                assert_eq!(e.kind, ErrorKind::Unsupported, "{field}");
                assert_eq!(e.status_code().as_u16(), 400);
                assert_eq!(e.to_job_error().error.param.as_deref(), Some(field));
                assert!(e.message.contains(&format!("`{field}`")) && e.message.contains(kind), "{}", e.message);
                assert_eq!(f.upstream_calls(), before, "{field}: nothing sent");
            }
        }
    };
}
