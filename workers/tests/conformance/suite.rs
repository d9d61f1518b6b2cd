//! The shared test list, generated per fixture by `conformance!`: the basics here (text,
//! streams, tool calls, errors, usage, embeddings), translation fidelity in `fidelity.rs`.

/// `conformance!(name, fixture_fn)` generates the shared tests for one adapter, in two
/// modules (`basics`, `fidelity`). `fixture_fn` is an `async fn() -> Fixture`.
#[macro_export]
macro_rules! conformance {
    ($name:ident, $fixture:path) => {
        mod $name {
            mod basics {
                $crate::basics!($fixture);
            }
            mod fidelity {
                $crate::fidelity!($fixture);
            }
        }
    };
}

/// The basic tests of one adapter (see [`conformance!`]).
#[macro_export]
macro_rules! basics {
    ($fixture:path) => {
            use $crate::common::*;
            use switchyard_workers::ErrorKind;
            use std::time::Duration;

            #[tokio::test]
            async fn chat_text() {
                let f = $fixture().await;
                let r = f.provider.chat(request("text", "hello world"), &ctx()).await.expect("chat answers");
                assert_eq!(r.choices.len(), 1);
                assert_eq!(r.choices[0].message.role, "assistant");
                assert!(r.choices[0].message.text().contains("hello world"), "{:?}", r.choices[0].message);
                assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
                let u = r.usage.expect("usage reported");
                assert!(u.prompt_tokens > 0 && u.completion_tokens > 0);
                assert_eq!(u.total_tokens, u.prompt_tokens + u.completion_tokens);
                assert_eq!(f.seen.all().len(), 1, "exactly one upstream request");
            }

            #[tokio::test]
            async fn chat_stream_text() {
                let f = $fixture().await;
                let (a, n) = collect(f.provider.as_ref(), request("text", "hello stream")).await.expect("stream answers");
                assert!(n >= 2, "several chunks, got {n}");
                assert!(a.finished, "a finish reason arrives");
                let u = a.usage().cloned().expect("usage in the stream");
                assert!(u.prompt_tokens > 0 && u.completion_tokens > 0);
                let r = a.finish();
                assert!(r.choices[0].message.text().contains("hello stream"), "{:?}", r.choices[0].message);
                assert_eq!(r.choices[0].finish_reason.as_deref(), Some("stop"));
            }

            #[tokio::test]
            async fn chat_tool_call() {
                let f = $fixture().await;
                let r = f.provider.chat(tool_request("tool"), &ctx()).await.expect("chat answers");
                let calls = r.choices[0].message.tool_calls.clone().expect("a tool call");
                assert_eq!(calls[0].function.name, "get_weather");
                assert!(!calls[0].id.is_empty());
                let args: serde_json::Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
                assert_eq!(args, serde_json::json!({"city": "Paris"}));
                assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
            }

            #[tokio::test]
            async fn stream_tool_call_split_across_chunks() {
                let f = $fixture().await;
                let (a, _) = collect(f.provider.as_ref(), tool_request("tool")).await.expect("stream answers");
                let r = a.finish();
                let calls = r.choices[0].message.tool_calls.clone().expect("a tool call");
                assert_eq!(calls[0].function.name, "get_weather");
                let args: serde_json::Value = serde_json::from_str(&calls[0].function.arguments).unwrap();
                assert_eq!(args, serde_json::json!({"city": "Paris"}));
                assert_eq!(r.choices[0].finish_reason.as_deref(), Some("tool_calls"));
            }

            #[tokio::test]
            async fn rate_limit_is_retryable_with_retry_after() {
                let f = $fixture().await;
                let e = f.provider.chat(request("error-429", "x"), &ctx()).await.expect_err("429 fails");
                assert_eq!(e.kind, ErrorKind::RateLimited);
                assert!(e.retryable());
                assert_eq!(e.retry_after, Some(Duration::from_secs(1)));
                assert_eq!(e.status_code().as_u16(), 429);
                let je = e.to_job_error();
                assert_eq!(je.retry_after_ms, Some(1000), "the upstream's wait reaches the job error");
                assert_eq!(je.error.code.as_deref(), Some("rate_limit_exceeded"));
            }

            #[tokio::test]
            async fn server_error_is_retryable() {
                let f = $fixture().await;
                let e = f.provider.chat(request("error-500", "x"), &ctx()).await.expect_err("500 fails");
                assert_eq!(e.kind, ErrorKind::Server);
                assert!(e.retryable());
                assert!(e.message.contains("500"), "{}", e.message);
            }

            #[tokio::test]
            async fn auth_error_is_final() {
                let f = $fixture().await;
                let e = f.provider.chat(request("error-401", "x"), &ctx()).await.expect_err("401 fails");
                assert_eq!(e.kind, ErrorKind::Auth);
                assert!(!e.retryable());
                assert_eq!(e.status_code().as_u16(), 401);
                assert!(!e.to_string().contains("sk-test"), "no key in errors: {e}");
            }

            #[tokio::test]
            async fn stream_error_before_output_fails_the_call() {
                let f = $fixture().await;
                let r = collect(f.provider.as_ref(), request("error-429", "x")).await;
                let e = r.err().expect("stream fails");
                assert_eq!(e.kind, ErrorKind::RateLimited);
            }

            #[tokio::test]
            async fn stream_cut_midway_is_not_a_finished_answer() {
                let f = $fixture().await;
                match collect(f.provider.as_ref(), request("cut", "one two three four five six")).await {
                    Ok((a, _)) => assert!(!a.finished, "a cut stream must not look complete"),
                    Err(e) => assert!(e.retryable(), "{e}"),
                }
            }

            #[tokio::test]
            async fn upstream_statuses_map_to_one_error_type() {
                let f = $fixture().await;
                for (model, kind, retryable) in [
                    ("error-400", ErrorKind::BadRequest, false),
                    ("error-403", ErrorKind::Permission, false),
                    ("error-404", ErrorKind::NotFound, false),
                    ("error-408", ErrorKind::Timeout, true),
                    ("error-413", ErrorKind::TooLarge, false),
                    ("error-503", ErrorKind::Server, true),
                    ("overloaded", ErrorKind::Overloaded, true),
                    ("context-length", ErrorKind::ContextLength, false),
                ] {
                    let e = f.provider.chat(request(model, "x"), &ctx()).await.expect_err(model);
                    assert_eq!(e.kind, kind, "{model}: {e}");
                    assert_eq!(e.retryable(), retryable, "{model}");
                    let je = e.to_job_error();
                    assert_eq!(je.status, kind.status_code().as_u16(), "{model}");
                    assert!(!je.error.message.is_empty());
                }
            }

            #[tokio::test]
            async fn content_filter_is_reported() {
                let f = $fixture().await;
                match f.provider.chat(request("content-filter", "x"), &ctx()).await {
                    Ok(r) => assert_eq!(r.choices[0].finish_reason.as_deref(), Some("content_filter")),
                    Err(e) => assert_eq!(e.kind, ErrorKind::ContentFilter, "{e}"),
                }
            }

            #[tokio::test]
            async fn usage_details_are_normalized() {
                let f = $fixture().await;
                let r = f.provider.chat(request("text-cached", "hello"), &ctx()).await.expect("chat answers");
                let u = r.usage.expect("usage");
                if f.cached_tokens {
                    let cached = u.prompt_tokens_details.and_then(|d| d.cached_tokens);
                    assert_eq!(cached, Some(3), "cached prompt tokens reported as prompt_tokens_details.cached_tokens");
                }
                assert_eq!(u.total_tokens, u.prompt_tokens + u.completion_tokens);
            }

            #[tokio::test]
            async fn embeddings() {
                let f = $fixture().await;
                let req: schemas::openai::EmbeddingsRequest =
                    serde_json::from_value(serde_json::json!({"model": "embed", "input": ["a b", "c d"]})).unwrap();
                let r = f.provider.embed(req, &ctx()).await;
                if f.embeddings {
                    let r = r.expect("embeddings answer");
                    assert_eq!(r.data.len(), 2);
                    assert_eq!(r.data[1].index, 1);
                    assert!(r.data[0].embedding.as_array().is_some_and(|v| !v.is_empty()));
                } else {
                    let e = r.expect_err("embeddings are unsupported");
                    assert_eq!(e.kind, ErrorKind::Unsupported);
                }
            }
    };
}
