//! The Files API's routes in the document.

use super::{op, SchemaGenerator, Value};
use serde_json::json;

/// Documents `/v1/files` and its item routes into `add`.
pub fn routes(g: &mut SchemaGenerator, add: &mut impl FnMut(&str, &str, Value)) {
    use crate::files::{FileObject, ListParams};
    let id = || {
        json!([{"name": "id", "in": "path", "required": true, "description": "The file id (`file-...`).",
                "schema": {"type": "string"}}])
    };
    let mut upload = op(
        g,
        "uploadFile",
        "Uploads a file (multipart `file` and `purpose`); a `batch` file is checked line by line.",
    )
    .json::<FileObject>("200", "The file.")
    .done();
    upload["requestBody"] = json!({"required": true, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file", "purpose"],
        "properties": {"file": {"type": "string", "format": "binary"},
                       "purpose": {"type": "string", "enum": ["batch", "user_data", "assistants", "vision", "evals"]}}}}}});
    add("/v1/files", "post", upload);
    add(
        "/v1/files",
        "get",
        op(g, "listFiles", "The caller's files, newest first.")
            .query::<ListParams>()
            .object("200", "`{object: list, data: [file]}`.")
            .done(),
    );
    add(
        "/v1/files/{id}",
        "get",
        op(g, "getFile", "A file.")
            .params(id())
            .json::<FileObject>("200", "The file.")
            .done(),
    );
    add(
        "/v1/files/{id}",
        "delete",
        op(g, "deleteFile", "Deletes a file.")
            .params(id())
            .object("200", "`{id, object: file, deleted: true}`.")
            .done(),
    );
    add(
        "/v1/files/{id}/content",
        "get",
        op(g, "getFileContent", "A file's bytes.")
            .params(id())
            .text("200", "application/octet-stream", "The file.")
            .done(),
    );
}
