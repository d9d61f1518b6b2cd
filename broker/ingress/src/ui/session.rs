//! The dashboard's login: a key (the master key or a virtual key) checked as any request's
//! would be, then kept in an HttpOnly, SameSite=Strict cookie, never in a URL or in the
//! page's reach. Changes made with the cookie need the dashboard's own header
//! (`crate::auth::CSRF_HEADER`), which a cross-site form cannot send.

use crate::auth::{identify, Caller, SESSION_COOKIE};
use crate::error::GatewayError;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

/// How long a dashboard session lasts.
const SESSION_S: u64 = 12 * 3600;

/// `POST /ui/login`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    key: String,
}

/// Who the dashboard is logged in as.
#[derive(Debug, Serialize)]
struct Session {
    /// Whether the gateway needs keys (has a master key).
    auth: bool,
    /// Whether this session may use the dashboard (logged in, or the gateway is open).
    signed_in: bool,
    /// `master`, a key id, or `open`.
    who: String,
    /// The key's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// Whether it reaches everything.
    admin: bool,
}

fn session(st: &AppState, caller: Option<&Caller>) -> Session {
    Session {
        auth: st.cfg().auth.master_key.is_some(),
        signed_in: caller.is_some(),
        who: caller.map(Caller::actor).unwrap_or_default(),
        name: caller.and_then(|c| c.key()).map(|k| k.name.clone()),
        admin: caller.is_some_and(Caller::admin),
    }
}

/// `GET /ui/session`: who the cookie (or header) logs in as; not signed in is not an error.
pub async fn current(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let caller = identify(&st, &headers).await.ok();
    Json(session(&st, caller.as_ref())).into_response()
}

fn cookie(value: &str, max_age: u64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
    ))
    .ok()
}

/// Behind a TLS-terminating proxy the cookie is marked Secure.
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// `POST /ui/login` with `{"key": "..."}`: sets the session cookie.
pub async fn login(State(st): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let out = async {
        if !headers.contains_key(crate::auth::CSRF_HEADER) {
            return Err(GatewayError::Forbidden(format!(
                "Log in from the dashboard (it sends the {} header).",
                crate::auth::CSRF_HEADER
            )));
        }
        let Login { key } = crate::body::parse(&body)?;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(GatewayError::Unauthorized("That is not a key.".into()));
        }
        // What a cookie cannot carry (RFC 6265 cookie-octets).
        if key.contains(['"', ',', ';', '\\']) {
            return Err(GatewayError::invalid(
                "This key has a character a cookie cannot carry (\", ; or \\); log in with a virtual key, or choose a master key without them.",
            ));
        }
        let mut h = HeaderMap::new();
        let bearer = HeaderValue::from_str(&format!("Bearer {key}"))
            .map_err(|_| GatewayError::Unauthorized("That is not a key.".into()))?;
        h.insert(header::AUTHORIZATION, bearer);
        let caller = identify(&st, &h).await?;
        if matches!(caller, Caller::Open) && st.cfg().auth.master_key.is_some() {
            return Err(GatewayError::Unauthorized("The key is not valid.".into()));
        }
        let mut resp = Json(session(&st, Some(&caller))).into_response();
        if let Some(c) = cookie(&key, SESSION_S, over_tls(&headers)) {
            resp.headers_mut().insert(header::SET_COOKIE, c);
        }
        Ok(resp)
    }
    .await;
    out.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /ui/logout`: clears the cookie.
pub async fn logout(headers: HeaderMap) -> Response {
    let mut resp = Json(serde_json::json!({"signed_in": false})).into_response();
    if let Some(c) = cookie("", 0, over_tls(&headers)) {
        resp.headers_mut().insert(header::SET_COOKIE, c);
    }
    resp
}
