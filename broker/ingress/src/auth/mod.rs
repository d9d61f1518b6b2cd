//! Who is calling: the master key, a virtual key, or no one (a gateway without a master key,
//! which only runs on loopback). Every route but `/health`, `/ready` and `/openapi.json`
//! goes through [`authenticate`]; handlers read the [`Caller`] it leaves in the request.
//!
//! A key comes as `Authorization: Bearer <key>` (OpenAI SDKs), `x-api-key` (Anthropic SDK)
//! or `api-key` (Azure SDK).
//!
//! - [`keyring`]: the virtual keys, watched from the `sy_keys` bucket
//! - [`limits`]: admission against a key's models, rate limits and budget

pub mod keyring;
pub mod limits;

use crate::endpoint::Shape;
use crate::error::GatewayError;
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use broker::access::keys::{self, KeyRecord};
use std::sync::Arc;

/// Who sent a request.
#[derive(Debug, Clone)]
pub enum Caller {
    /// No key, on a gateway without a master key (loopback only, or `allow_open`).
    Open,
    /// The master key.
    Master,
    /// A virtual key.
    Key(Arc<KeyRecord>),
}

impl Caller {
    /// The id in events, results and the log: the key's, `master`, or none when open.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Self::Open => None,
            Self::Master => Some("master"),
            Self::Key(k) => Some(&k.id),
        }
    }

    /// Who did an admin action, for its audit record.
    pub fn actor(&self) -> String {
        self.key_id().unwrap_or("open").to_string()
    }

    /// Whether the caller reaches everything (the admin API, every request and job).
    pub fn admin(&self) -> bool {
        match self {
            Self::Open | Self::Master => true,
            Self::Key(k) => k.admin,
        }
    }

    /// The virtual key, if that is who is calling.
    pub fn key(&self) -> Option<&KeyRecord> {
        match self {
            Self::Key(k) => Some(k),
            _ => None,
        }
    }

    /// Whether the caller may see a job or request submitted by `owner`.
    pub fn sees(&self, owner: Option<&str>) -> bool {
        self.admin() || (owner.is_some() && owner == self.key_id())
    }
}

/// Routes anyone may call.
const OPEN_ROUTES: &[&str] = &["/health", "/ready", "/openapi.json", "/favicon.ico"];

/// The dashboard's session cookie: the key it logged in with (HttpOnly, SameSite=Strict).
pub const SESSION_COOKIE: &str = "sy_key";

/// The header the dashboard sends with every change it asks for; a request authenticated by
/// the session cookie must carry it to change anything (a cross-site form cannot set it).
pub const CSRF_HEADER: &str = "x-switchyard-ui";

/// The session cookie's key, if the request has one.
pub fn session_cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// The key a request carries, from any of the headers SDKs use, else the dashboard's
/// session cookie.
pub fn presented(headers: &HeaderMap) -> Option<&str> {
    from_headers(headers).or_else(|| session_cookie(headers))
}

fn from_headers(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| rest.trim())
        });
    bearer
        .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
        .or_else(|| headers.get("api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// Who is calling, or why not: an unknown, revoked or expired key is refused; no key is
/// refused unless the gateway runs open.
pub async fn identify(st: &AppState, headers: &HeaderMap) -> Result<Caller, GatewayError> {
    let master = st.cfg().auth.master_key.as_ref();
    let Some(secret) = presented(headers) else {
        return match master {
            None => Ok(Caller::Open),
            Some(_) => Err(GatewayError::Unauthorized(
                "No API key. Send one as `Authorization: Bearer <key>` (or `x-api-key`); an admin creates keys with `switchyard keys create` or POST /admin/keys.".into(),
            )),
        };
    };
    if master.is_some_and(|m| keys::same(m.expose(), secret)) {
        return Ok(Caller::Master);
    }
    match st.keyring().verify(secret).await {
        Some(rec) if rec.revoked_at.is_some() => Err(GatewayError::Unauthorized(format!(
            "The API key {} was revoked. Ask an admin for a new key.",
            rec.prefix
        ))),
        Some(rec) if !rec.active(schemas::now_ms() / 1000) => Err(GatewayError::Unauthorized(
            format!("The API key {} has expired. Ask an admin to extend or rotate it.", rec.prefix),
        )),
        Some(rec) => Ok(Caller::Key(rec)),
        // Without a master key any other string (an SDK's placeholder key) runs open.
        None if master.is_none() => Ok(Caller::Open),
        None => Err(GatewayError::Unauthorized(
            "The API key is not valid. Check it, or ask an admin for a key (`switchyard keys create`).".into(),
        )),
    }
}

/// The middleware: identifies the caller, keeps the admin API and `/metrics` to admins, and
/// leaves the [`Caller`] in the request's extensions.
pub async fn authenticate(State(st): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path().to_string();
    let ui = path == "/ui" || path.starts_with("/ui/");
    if ui
        || OPEN_ROUTES.contains(&path.as_str())
        || (path == "/metrics" && st.cfg().auth.public_metrics)
    {
        return next.run(req).await;
    }
    let shape = Shape::of_path(&path);
    let caller = match identify(&st, req.headers()).await {
        Ok(c) => c,
        Err(e) => return shape.error(e),
    };
    // A change made with the session cookie must come from the dashboard itself.
    let by_cookie =
        from_headers(req.headers()).is_none() && session_cookie(req.headers()).is_some();
    let safe = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if by_cookie && !safe && !req.headers().contains_key(CSRF_HEADER) {
        return shape.error(GatewayError::Forbidden(format!(
            "A change made with the dashboard's session needs the {CSRF_HEADER} header; send the key as Authorization: Bearer instead."
        )));
    }
    let admin_only = path.starts_with("/admin/") || path == "/admin" || path == "/metrics";
    if admin_only && !caller.admin() {
        return shape.error(GatewayError::Forbidden(format!(
            "{path} needs the master key or an admin key; this key may not use it."
        )));
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}
