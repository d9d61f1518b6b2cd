//! Full-text search (`q`) over each request's messages, its response text and its error, in a
//! tantivy index beside the sled trees (`<data_dir>/search`).
//!
//! A job is indexed as up to two documents, written when their text arrives: its request
//! (from `received`), and its response and error (from the result or the final event). Both
//! carry the job id and its creation time, so hits come newest first and a window narrows
//! them; deleting a job deletes both. Only redacted text is indexed, so a secret that never
//! reaches the store never reaches the index either. New documents become searchable at the
//! next commit, at most [`COMMIT_EVERY`] after their batch.

use super::AuditorError;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Query, QueryParser, RangeQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, Value, FAST, INDEXED, STORED,
    STRING,
};
use tantivy::{doc, Index, IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term};

/// The longest text indexed per document.
const TEXT_MAX: usize = 32 * 1024;

/// Keys whose values are structure, not text (every request has a `role`).
const SKIP: &[&str] = &[
    "role",
    "type",
    "model",
    "id",
    "object",
    "finish_reason",
    "tool_call_id",
    "system_fingerprint",
    "created",
];

/// How long new documents may wait to become searchable.
pub const COMMIT_EVERY: Duration = Duration::from_millis(500);

struct Fields {
    id: Field,
    created: Field,
    text: Field,
}

struct Writer {
    writer: IndexWriter,
    dirty: bool,
    last: Instant,
}

/// The full-text index.
pub struct Search {
    index: Index,
    reader: IndexReader,
    writer: Mutex<Writer>,
    f: Fields,
    dir: PathBuf,
}

fn err(e: impl std::fmt::Display) -> AuditorError {
    AuditorError::Corrupt(format!("full-text index: {e}"))
}

/// The text of a JSON body worth searching: every string, but for images and other data
/// URLs, cut to `TEXT_MAX` (32 KB) in all.
pub fn text_of(v: &serde_json::Value) -> String {
    fn walk(v: &serde_json::Value, out: &mut String) {
        if out.len() >= TEXT_MAX {
            return;
        }
        match v {
            serde_json::Value::String(s) if !s.starts_with("data:") => {
                let room = TEXT_MAX - out.len();
                let mut end = s.len().min(room);
                while !s.is_char_boundary(end) {
                    end -= 1;
                }
                out.push_str(&s[..end]);
                out.push('\n');
            }
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(o) => o
                .iter()
                .filter(|(k, _)| !SKIP.iter().any(|s| s == k))
                .for_each(|(_, x)| walk(x, out)),
            _ => {}
        }
    }
    let mut out = String::new();
    walk(v, &mut out);
    out
}

impl Search {
    /// Opens (or creates) the index in `dir`; its writer takes an eighth of `memory_bytes`
    /// (at least tantivy's minimum of 15 MB).
    pub fn open(dir: &Path, memory_bytes: u64) -> Result<Self, AuditorError> {
        let open = |e: String| AuditorError::Open(dir.into(), e);
        std::fs::create_dir_all(dir).map_err(|e| open(e.to_string()))?;
        let mut sb = Schema::builder();
        let f = Fields {
            id: sb.add_text_field("id", STRING | STORED),
            created: sb.add_u64_field("created", INDEXED | FAST),
            // Which documents hold a word, nothing more: no frequencies (hits are ordered by
            // time, not scored) and no positions (they were a fifth of the auditor's CPU).
            text: sb.add_text_field(
                "text",
                TextOptions::default().set_indexing_options(
                    TextFieldIndexing::default()
                        .set_tokenizer("default")
                        .set_index_option(IndexRecordOption::Basic),
                ),
            ),
        };
        let mmap = tantivy::directory::MmapDirectory::open(dir).map_err(|e| open(e.to_string()))?;
        let index = Index::open_or_create(mmap, sb.build()).map_err(|e| open(e.to_string()))?;
        let budget = ((memory_bytes / 8) as usize).max(15_000_000);
        // One indexing and one merging thread: the auditor shares a small machine, and
        // every merge thread holds its own buffers.
        let options = tantivy::indexer::IndexWriterOptions::builder()
            .num_worker_threads(1)
            .num_merge_threads(1)
            .memory_budget_per_thread(budget)
            .build();
        let writer = index
            .writer_with_options(options)
            .map_err(|e| open(e.to_string()))?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(|e: tantivy::TantivyError| open(e.to_string()))?;
        Ok(Self {
            index,
            reader,
            writer: Mutex::new(Writer {
                writer,
                dirty: false,
                last: Instant::now(),
            }),
            f,
            dir: dir.into(),
        })
    }

    fn writer(&self) -> std::sync::MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds one document of `job`'s text.
    pub fn add(&self, job: &str, created_ms: u64, text: &str) -> Result<(), AuditorError> {
        if text.trim().is_empty() {
            return Ok(());
        }
        let f = &self.f;
        let mut w = self.writer();
        w.writer
            .add_document(doc!(f.id => job, f.created => created_ms, f.text => text))
            .map_err(err)?;
        w.dirty = true;
        Ok(())
    }

    /// Deletes every document of `job` (at the next commit).
    pub fn delete(&self, job: &str) {
        let mut w = self.writer();
        w.writer.delete_term(Term::from_field_text(self.f.id, job));
        w.dirty = true;
    }

    /// Commits when there is something new and [`COMMIT_EVERY`] has passed (or `force`).
    pub fn commit(&self, force: bool) -> Result<(), AuditorError> {
        let mut w = self.writer();
        if !w.dirty || (!force && w.last.elapsed() < COMMIT_EVERY) {
            return Ok(());
        }
        w.writer.commit().map_err(err)?;
        w.dirty = false;
        w.last = Instant::now();
        drop(w);
        self.reader.reload().map_err(err)
    }

    /// The newest jobs (created ms, id) whose text holds every word of `q` (any case),
    /// created in `[since, until]`, at most `limit` documents (a job may appear
    /// twice: once for its request, once for its response).
    pub fn find(
        &self,
        q: &str,
        since: u64,
        until: u64,
        limit: usize,
    ) -> Result<Vec<(u64, String)>, AuditorError> {
        let mut parser = QueryParser::for_index(&self.index, vec![self.f.text]);
        parser.set_conjunction_by_default();
        // Words only: quotes and the parser's operators are taken as spaces, so any text
        // the user types is a list of words that must all appear.
        let plain: String = q
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect();
        let (words, _) = parser.parse_query_lenient(&plain);
        let window = RangeQuery::new(
            Bound::Included(Term::from_field_u64(self.f.created, since)),
            Bound::Included(Term::from_field_u64(self.f.created, until)),
        );
        let query = BooleanQuery::intersection(vec![words, Box::new(window) as Box<dyn Query>]);
        let searcher = self.reader.searcher();
        let top = searcher
            .search(
                &query,
                &TopDocs::with_limit(limit.max(1))
                    .order_by_fast_field::<u64>("created", Order::Desc),
            )
            .map_err(err)?;
        let mut out = Vec::with_capacity(top.len());
        for (ms, addr) in top {
            let d: TantivyDocument = searcher.doc(addr).map_err(err)?;
            if let Some(id) = d.get_first(self.f.id).and_then(|v| v.as_str()) {
                out.push((ms, id.to_string()));
            }
        }
        Ok(out)
    }

    /// The index's size on disk.
    pub fn size_on_disk(&self) -> u64 {
        std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| e.metadata().ok())
                    .map(|m| m.len())
                    .sum()
            })
            .unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_words_newest_first_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let s = Search::open(dir.path(), 0).unwrap();
        s.add("a", 10, "the quarterly invoice for Paris").unwrap();
        s.add("b", 20, "a refund for the invoice").unwrap();
        s.add("c", 30, "nothing here").unwrap();
        s.commit(true).unwrap();
        let ids = |v: Vec<(u64, String)>| v.into_iter().map(|x| x.1).collect::<Vec<_>>();
        assert_eq!(ids(s.find("INVOICE", 0, 100, 10).unwrap()), ["b", "a"]);
        assert_eq!(ids(s.find("invoice paris", 0, 100, 10).unwrap()), ["a"]);
        assert_eq!(ids(s.find("invoice", 0, 15, 10).unwrap()), ["a"]);
        assert_eq!(ids(s.find("\"unbalanced", 0, 100, 10).unwrap()).len(), 0);
        s.delete("a");
        s.commit(true).unwrap();
        assert_eq!(ids(s.find("invoice", 0, 100, 10).unwrap()), ["b"]);
        let t = text_of(
            &serde_json::json!({"messages": [{"role": "user", "content": [
                {"type": "text", "text": "hello"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
            ]}]}),
        );
        assert!(t.contains("hello") && !t.contains("base64"));
    }
}
