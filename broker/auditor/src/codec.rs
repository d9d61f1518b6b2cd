//! How stored values are encoded: JSON, zstd-compressed. Records and timelines use a
//! dictionary trained on their structure (`dict/v1.zdict`: field names, event kinds), which
//! takes these small values (a record is about 1 KB of JSON) to a third of what plain zstd
//! makes of them; bodies, whose content is the clients', are compressed without one.
//!
//! A frame names the dictionary it was compressed with, so values stay readable forever:
//! frames without one (earlier versions' values) and plain JSON (older still) read too. A
//! dictionary is never changed once released; a better one is added as `v2` beside it and
//! new values use it. `bench/src/bin/logdict.rs` trains one from a filled store.

use super::AuditorError;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use zstd::bulk::{Compressor, Decompressor};

/// The zstd level: fast, and most of the gain on JSON.
const LEVEL: i32 = 3;

/// The first bytes of a zstd frame (no JSON text starts with them).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// The dictionary new values are compressed with.
static DICT_V1: &[u8] = include_bytes!("../dict/v1.zdict");

/// Reused contexts: making one costs more than compressing a small record with it.
struct Contexts {
    pack: Compressor<'static>,
    pack_plain: Compressor<'static>,
    with_dict: Decompressor<'static>,
    plain: Decompressor<'static>,
    dict_id: u32,
}

thread_local! {
    static CONTEXTS: RefCell<Option<Contexts>> = const { RefCell::new(None) };
}

fn io(e: std::io::Error) -> AuditorError {
    AuditorError::Corrupt(format!("zstd: {e}"))
}

fn with<R>(f: impl FnOnce(&mut Contexts) -> Result<R, AuditorError>) -> Result<R, AuditorError> {
    CONTEXTS.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(Contexts {
                pack: Compressor::with_dictionary(LEVEL, DICT_V1).map_err(io)?,
                pack_plain: Compressor::new(LEVEL).map_err(io)?,
                with_dict: Decompressor::with_dictionary(DICT_V1).map_err(io)?,
                plain: Decompressor::new().map_err(io)?,
                dict_id: zstd::zstd_safe::get_dict_id_from_dict(DICT_V1).map_or(0, |n| n.get()),
            });
        }
        match slot.as_mut() {
            Some(c) => f(c),
            None => Err(AuditorError::Corrupt("zstd: no context".into())),
        }
    })
}

/// A record or a timeline as compressed JSON (with the dictionary).
pub fn pack<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, AuditorError> {
    let json = serde_json::to_vec(v).map_err(|e| AuditorError::Corrupt(e.to_string()))?;
    with(|c| c.pack.compress(&json).map_err(io))
}

/// A body as compressed JSON (no dictionary: the dictionary knows the log's structure, not
/// the clients' content, and makes bodies larger).
pub fn pack_body<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, AuditorError> {
    let json = serde_json::to_vec(v).map_err(|e| AuditorError::Corrupt(e.to_string()))?;
    with(|c| c.pack_plain.compress(&json).map_err(io))
}

/// A value written by [`pack`] (or by an earlier version: zstd without a dictionary, or
/// plain JSON).
pub fn unpack<T: for<'de> Deserialize<'de>>(v: &[u8]) -> Result<T, AuditorError> {
    let bad = |e: String| AuditorError::Corrupt(e);
    if !v.starts_with(&ZSTD_MAGIC) {
        return serde_json::from_slice(v).map_err(|e| bad(e.to_string()));
    }
    let size = zstd::zstd_safe::get_frame_content_size(v)
        .ok()
        .flatten()
        .filter(|n| *n > 0 && *n <= 256 * 1024 * 1024);
    let dict = zstd::zstd_safe::get_dict_id_from_frame(v).map_or(0, |n| n.get());
    let plain = with(|c| {
        if dict != 0 && dict != c.dict_id {
            return Err(bad(format!(
                "a stored value was compressed with dictionary {dict}, which this version does not have; upgrade the auditor"
            )));
        }
        match (size, dict) {
            (Some(n), 0) => c.plain.decompress(v, n as usize).map_err(io),
            (Some(n), _) => c.with_dict.decompress(v, n as usize).map_err(io),
            // A streamed frame (earlier versions' bodies) does not say its size.
            (None, 0) => zstd::decode_all(v).map_err(io),
            (None, _) => {
                let mut out = Vec::new();
                let mut d = zstd::stream::Decoder::with_dictionary(v, DICT_V1).map_err(io)?;
                std::io::Read::read_to_end(&mut d, &mut out).map_err(io)?;
                Ok(out)
            }
        }
    })?;
    serde_json::from_slice(&plain).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_of_every_version_read_back() {
        let v = serde_json::json!({"id": "j", "status": "completed", "nodes": ["a", "b"]});
        let packed = pack(&v).unwrap();
        assert!(zstd::zstd_safe::get_dict_id_from_frame(&packed).is_some());
        assert_eq!(unpack::<serde_json::Value>(&packed).unwrap(), v);
        let no_dict = zstd::bulk::compress(v.to_string().as_bytes(), 3).unwrap();
        assert_eq!(unpack::<serde_json::Value>(&no_dict).unwrap(), v);
        let mut streamed = zstd::stream::Encoder::new(Vec::new(), 3).unwrap();
        std::io::Write::write_all(&mut streamed, v.to_string().as_bytes()).unwrap();
        let streamed = streamed.finish().unwrap();
        assert_eq!(unpack::<serde_json::Value>(&streamed).unwrap(), v);
        assert_eq!(
            unpack::<serde_json::Value>(v.to_string().as_bytes()).unwrap(),
            v
        );
        let body = pack_body(&v).unwrap();
        assert!(zstd::zstd_safe::get_dict_id_from_frame(&body).is_none());
        assert_eq!(unpack::<serde_json::Value>(&body).unwrap(), v);
        let big = serde_json::json!({"text": "é".repeat(300_000)});
        assert_eq!(
            unpack::<serde_json::Value>(&pack(&big).unwrap()).unwrap(),
            big
        );
    }
}
