//! The Files API as OpenAI has it: `POST /v1/files` (multipart: `file`, `purpose`),
//! `GET /v1/files`, `GET /v1/files/{id}`, `GET /v1/files/{id}/content`,
//! `DELETE /v1/files/{id}`. Files live in the `sy_files` JetStream object store, so any
//! ingress serves them; each belongs to the key that uploaded it (another key's id is a 404).
//! A `batch` file is checked line by line before it is stored (`custom_id` unique, `method`
//! POST, `url` a batch endpoint, `body` an object), and refused naming every bad line.

use crate::auth::Caller;
use crate::error::{unavailable, GatewayError};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};

/// The endpoints a batch line may name.
pub const BATCH_URLS: &[&str] = &["/v1/chat/completions", "/v1/embeddings"];

/// Purposes a file may have.
const PURPOSES: &[&str] = &[
    "batch",
    "batch_output",
    "user_data",
    "assistants",
    "vision",
    "evals",
];

/// A file as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
pub struct FileObject {
    /// `file-<uuid>`.
    pub id: String,
    /// `file`.
    pub object: String,
    /// Its size.
    pub bytes: usize,
    /// When it was uploaded, seconds since the epoch.
    pub created_at: u64,
    /// Its name as uploaded.
    pub filename: String,
    /// `batch`, `batch_output`, `user_data`, ...
    pub purpose: String,
    /// `processed`.
    pub status: String,
}

fn not_found(id: &str) -> GatewayError {
    GatewayError::NotFound(format!(
        "No file `{id}`. List your files with GET /v1/files."
    ))
}

/// The file object of a stored object, if `caller` may see it.
fn object_of(
    info: &async_nats::jetstream::object_store::ObjectInfo,
    caller: &Caller,
) -> Option<FileObject> {
    let m = &info.metadata;
    let owner = m
        .get("key_id")
        .map(String::as_str)
        .filter(|k| !k.is_empty());
    caller.sees(owner).then(|| FileObject {
        id: info.name.clone(),
        object: "file".into(),
        bytes: info.size,
        created_at: m
            .get("created_at")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0),
        filename: m.get("filename").cloned().unwrap_or_default(),
        purpose: m.get("purpose").cloned().unwrap_or_default(),
        status: "processed".into(),
    })
}

/// Checks a batch file: every line's problems, `line N: ...` (at most 50).
pub fn check_batch(text: &str) -> Vec<String> {
    #[derive(Deserialize)]
    struct Line {
        custom_id: Option<serde_json::Value>,
        method: Option<String>,
        url: Option<String>,
        body: Option<serde_json::Value>,
    }
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut urls: HashSet<String> = HashSet::new();
    let mut lines = 0;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        lines += 1;
        let line: Line = match serde_json::from_str(raw) {
            Ok(l) => l,
            Err(e) => {
                errors.push(format!("line {n}: not a JSON object ({e})"));
                continue;
            }
        };
        match line.custom_id.as_ref().and_then(|c| c.as_str()) {
            Some(id) if !id.is_empty() => {
                if let Some(first) = seen.insert(id.to_string(), n) {
                    errors.push(format!("line {n}: custom_id `{id}` repeats line {first}; every custom_id must be unique"));
                }
            }
            _ => errors.push(format!("line {n}: custom_id is missing or not a string")),
        }
        if line.method.as_deref() != Some("POST") {
            errors.push(format!("line {n}: method must be POST"));
        }
        match line.url.as_deref() {
            Some(u) if BATCH_URLS.contains(&u) => {
                urls.insert(u.to_string());
            }
            other => errors.push(format!(
                "line {n}: url {} is not a batch endpoint; use {}",
                other.map_or("(missing)".into(), |u| format!("`{u}`")),
                BATCH_URLS.join(" or ")
            )),
        }
        if !line.body.as_ref().is_some_and(serde_json::Value::is_object) {
            errors.push(format!("line {n}: body must be a JSON object"));
        }
        if errors.len() >= 50 {
            errors.push("(more errors not shown)".into());
            return errors;
        }
    }
    if lines == 0 {
        errors.push("the file has no lines".into());
    }
    if urls.len() > 1 {
        errors.push("every line of a batch file must name the same url".into());
    }
    errors
}

/// `POST /v1/files`.
pub async fn upload(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let out = async {
        let mut multipart = multipart.map_err(|e| {
            GatewayError::invalid(format!("Send the file as multipart/form-data with fields `file` and `purpose` ({e})."))
        })?;
        let max = st.cfg().files.max_bytes;
        let (mut purpose, mut file, mut filename) = (None, None, String::new());
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|e| GatewayError::invalid(format!("The multipart body cannot be read: {e}.")))?
        {
            match field.name() {
                Some("purpose") => {
                    purpose = Some(field.text().await.map_err(|e| GatewayError::invalid(e.to_string()))?)
                }
                Some("file") => {
                    filename = field.file_name().unwrap_or("upload").to_string();
                    let mut buf = Vec::new();
                    let mut field = field;
                    while let Some(chunk) = field
                        .chunk()
                        .await
                        .map_err(|e| GatewayError::invalid(format!("The file cannot be read: {e}.")))?
                    {
                        if buf.len() + chunk.len() > max {
                            return Err(GatewayError::PayloadTooLarge(max));
                        }
                        buf.extend_from_slice(&chunk);
                    }
                    file = Some(buf);
                }
                _ => {}
            }
        }
        let purpose = purpose.ok_or_else(|| GatewayError::bad_request("purpose is required (batch for a batch input file).", Some("purpose")))?;
        if !PURPOSES.contains(&purpose.as_str()) {
            return Err(GatewayError::bad_request(format!("purpose `{purpose}` is not one of {}.", PURPOSES.join(", ")), Some("purpose")));
        }
        let mut file = file.ok_or_else(|| GatewayError::bad_request("file is required.", Some("file")))?;
        if purpose == "batch" {
            // Up to max_bytes of JSON lines to parse: off the runtime's threads, which answer
            // requests meanwhile.
            let (file_back, checked) = tokio::task::spawn_blocking(move || {
                let checked = std::str::from_utf8(&file).map(check_batch).map_err(|_| ());
                (file, checked)
            })
            .await
            .map_err(|e| GatewayError::Internal(e.to_string()))?;
            file = file_back;
            let errors = checked
                .map_err(|_| GatewayError::bad_request("A batch file must be UTF-8 JSON lines.", Some("file")))?;
            if !errors.is_empty() {
                return Err(GatewayError::bad_request(
                    format!("The batch file has {} problem(s): {}. Fix those lines and upload it again.", errors.len(), errors.join("; ")),
                    Some("file"),
                ));
            }
        }
        let id = format!("file-{}", uuid::Uuid::now_v7().simple());
        let created_at = schemas::now_ms() / 1000;
        let stored = store(&st, &id, &filename, &purpose, caller.key_id(), created_at, file).await?;
        Ok::<_, GatewayError>(Json(stored))
    }
    .await;
    out.into_response()
}

/// Stores `bytes` as the file `id`.
pub async fn store(
    st: &AppState,
    id: &str,
    filename: &str,
    purpose: &str,
    key_id: Option<&str>,
    created_at: u64,
    bytes: Vec<u8>,
) -> Result<FileObject, GatewayError> {
    let metadata: HashMap<String, String> = [
        ("filename", filename.to_string()),
        ("purpose", purpose.to_string()),
        ("created_at", created_at.to_string()),
        ("key_id", key_id.unwrap_or_default().to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let meta = async_nats::jetstream::object_store::ObjectMetadata {
        name: id.to_string(),
        metadata,
        ..Default::default()
    };
    let n = bytes.len();
    let mut reader = std::io::Cursor::new(bytes);
    st.bulk()
        .files
        .put(meta, &mut reader)
        .await
        .map_err(unavailable)?;
    Ok(FileObject {
        id: id.to_string(),
        object: "file".into(),
        bytes: n,
        created_at,
        filename: filename.to_string(),
        purpose: purpose.to_string(),
        status: "processed".into(),
    })
}

/// The file `id` if `caller` may see it.
pub async fn find(st: &AppState, caller: &Caller, id: &str) -> Result<FileObject, GatewayError> {
    if !id.starts_with("file-") || !id[5..].bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(not_found(id));
    }
    let info = st.topo().files.info(id).await.map_err(|_| not_found(id))?;
    if info.deleted {
        return Err(not_found(id));
    }
    object_of(&info, caller).ok_or_else(|| not_found(id))
}

/// Query parameters of `GET /v1/files`.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub struct ListParams {
    /// Only files of this purpose.
    purpose: Option<String>,
}

/// `GET /v1/files`: the caller's files, newest first.
pub async fn list(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(p): Query<ListParams>,
) -> Response {
    let out = async {
        let mut all = st.topo().files.list().await.map_err(unavailable)?;
        let mut data = Vec::new();
        while let Some(info) = all.next().await {
            let Ok(info) = info else { continue };
            if info.deleted {
                continue;
            }
            if let Some(f) = object_of(&info, &caller) {
                if p.purpose.as_ref().is_none_or(|want| want.is_empty() || &f.purpose == want) {
                    data.push(f);
                }
            }
        }
        data.sort_by(|a, b| b.id.cmp(&a.id));
        let first_id = data.first().map(|f| f.id.clone());
        let last_id = data.last().map(|f| f.id.clone());
        Ok::<_, GatewayError>(Json(serde_json::json!({
            "object": "list", "data": data, "has_more": false, "first_id": first_id, "last_id": last_id,
        })))
    }
    .await;
    out.into_response()
}

/// `GET /v1/files/{id}`.
pub async fn get(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    find(&st, &caller, &id).await.map(Json).into_response()
}

/// `GET /v1/files/{id}/content`: the bytes, streamed from the object store.
pub async fn content(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let out = async {
        let f = find(&st, &caller, &id).await?;
        let object = st.bulk().files.get(&id).await.map_err(unavailable)?;
        let body = Body::from_stream(tokio_util::io::ReaderStream::new(object));
        let disposition = format!("attachment; filename=\"{}\"", f.filename.replace('"', ""));
        Ok::<_, GatewayError>(
            (
                [
                    (header::CONTENT_TYPE, "application/octet-stream".to_string()),
                    (header::CONTENT_DISPOSITION, disposition),
                ],
                body,
            )
                .into_response(),
        )
    }
    .await;
    out.unwrap_or_else(IntoResponse::into_response)
}

/// `DELETE /v1/files/{id}`.
pub async fn delete(
    State(st): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Response {
    let out = async {
        find(&st, &caller, &id).await?;
        st.topo().files.delete(&id).await.map_err(unavailable)?;
        Ok::<_, GatewayError>(Json(
            serde_json::json!({"id": id, "object": "file", "deleted": true}),
        ))
    }
    .await;
    out.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_file_is_checked_line_by_line() {
        let good = "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{}}\n\n{\"custom_id\":\"b\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{}}\n";
        assert!(check_batch(good).is_empty());
        let bad = "{\"custom_id\":\"a\",\"method\":\"POST\",\"url\":\"/v1/chat/completions\",\"body\":{}}\n{\"custom_id\":\"a\",\"method\":\"GET\",\"url\":\"/v1/models\",\"body\":[]}\nnope\n";
        let e = check_batch(bad);
        assert!(
            e.iter()
                .any(|m| m.starts_with("line 2: custom_id `a` repeats line 1")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m == "line 2: method must be POST"),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.starts_with("line 2: url `/v1/models`")),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m == "line 2: body must be a JSON object"),
            "{e:?}"
        );
        assert!(
            e.iter().any(|m| m.starts_with("line 3: not a JSON object")),
            "{e:?}"
        );
        assert_eq!(check_batch(""), ["the file has no lines"]);
    }
}
