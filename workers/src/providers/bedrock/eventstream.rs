//! The `application/vnd.amazon.eventstream` binary framing.
//!
//! A message is: total length (u32), headers length (u32), CRC32 of those 8 bytes; the
//! headers (name length u8, name, type u8, value); the payload; CRC32 of everything before
//! it. All integers are big-endian. Both CRCs are checked.

use bytes::{Buf, BytesMut};

/// The largest message accepted (AWS caps messages at 16 MiB).
const MAX_MESSAGE: usize = 16 * 1024 * 1024;
const PRELUDE: usize = 12;

/// A header value.
#[derive(Debug, Clone, PartialEq)]
pub enum HeaderValue {
    /// Types 0 and 1.
    Bool(bool),
    /// Type 2.
    Byte(i8),
    /// Type 3.
    Short(i16),
    /// Type 4.
    Int(i32),
    /// Type 5.
    Long(i64),
    /// Type 6.
    Bytes(Vec<u8>),
    /// Type 7.
    String(String),
    /// Type 8 (ms since the epoch).
    Timestamp(i64),
    /// Type 9.
    Uuid([u8; 16]),
}

/// One decoded message.
#[derive(Debug, Clone, Default)]
pub struct Message {
    /// Headers in order.
    pub headers: Vec<(String, HeaderValue)>,
    /// The payload.
    pub payload: Vec<u8>,
}

impl Message {
    /// A string header (`:event-type`, `:message-type`, `:exception-type`).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find_map(|(k, v)| match v {
            HeaderValue::String(s) if k == name => Some(s.as_str()),
            _ => None,
        })
    }
}

/// Accumulates bytes and yields whole messages.
#[derive(Default)]
pub struct Decoder {
    buf: BytesMut,
}

impl Decoder {
    /// Adds bytes read from the body.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Whether bytes of an unfinished message remain.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }

    /// The next whole message, `None` until one is complete, or why the bytes are not a
    /// valid message.
    pub fn next_message(&mut self) -> Result<Option<Message>, String> {
        if self.buf.len() < PRELUDE {
            return Ok(None);
        }
        let total =
            u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        let headers_len =
            u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        let prelude_crc =
            u32::from_be_bytes([self.buf[8], self.buf[9], self.buf[10], self.buf[11]]);
        if crc32fast::hash(&self.buf[..8]) != prelude_crc {
            return Err("event-stream prelude CRC mismatch".into());
        }
        if total > MAX_MESSAGE || total < PRELUDE + 4 + headers_len {
            return Err(format!("event-stream message length {total} is invalid"));
        }
        if self.buf.len() < total {
            return Ok(None);
        }
        let msg = self.buf.split_to(total);
        let crc = u32::from_be_bytes([
            msg[total - 4],
            msg[total - 3],
            msg[total - 2],
            msg[total - 1],
        ]);
        if crc32fast::hash(&msg[..total - 4]) != crc {
            return Err("event-stream message CRC mismatch".into());
        }
        let headers = parse_headers(&msg[PRELUDE..PRELUDE + headers_len])?;
        Ok(Some(Message {
            headers,
            payload: msg[PRELUDE + headers_len..total - 4].to_vec(),
        }))
    }
}

fn parse_headers(mut b: &[u8]) -> Result<Vec<(String, HeaderValue)>, String> {
    let short = || "event-stream header is truncated".to_string();
    let mut out = Vec::new();
    while b.has_remaining() {
        let n = b.get_u8() as usize;
        if b.remaining() < n + 1 {
            return Err(short());
        }
        let name = String::from_utf8_lossy(&b[..n]).into_owned();
        b.advance(n);
        let kind = b.get_u8();
        let need = match kind {
            0 | 1 => 0,
            2 => 1,
            3 => 2,
            4 => 4,
            5 | 8 => 8,
            9 => 16,
            6 | 7 => 2,
            t => return Err(format!("event-stream header type {t} is unknown")),
        };
        if b.remaining() < need {
            return Err(short());
        }
        let value = match kind {
            0 => HeaderValue::Bool(true),
            1 => HeaderValue::Bool(false),
            2 => HeaderValue::Byte(b.get_i8()),
            3 => HeaderValue::Short(b.get_i16()),
            4 => HeaderValue::Int(b.get_i32()),
            5 => HeaderValue::Long(b.get_i64()),
            8 => HeaderValue::Timestamp(b.get_i64()),
            9 => {
                let mut u = [0u8; 16];
                b.copy_to_slice(&mut u);
                HeaderValue::Uuid(u)
            }
            _ => {
                let len = b.get_u16() as usize;
                if b.remaining() < len {
                    return Err(short());
                }
                let raw = b[..len].to_vec();
                b.advance(len);
                if kind == 6 {
                    HeaderValue::Bytes(raw)
                } else {
                    HeaderValue::String(String::from_utf8_lossy(&raw).into_owned())
                }
            }
        };
        out.push((name, value));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames a message with string headers (test-side encoder).
    fn frame(headers: &[(&str, &str)], payload: &[u8]) -> Vec<u8> {
        let mut h = Vec::new();
        for (k, v) in headers {
            h.push(k.len() as u8);
            h.extend_from_slice(k.as_bytes());
            h.push(7);
            h.extend_from_slice(&(v.len() as u16).to_be_bytes());
            h.extend_from_slice(v.as_bytes());
        }
        let total = (PRELUDE + h.len() + payload.len() + 4) as u32;
        let mut m = Vec::new();
        m.extend_from_slice(&total.to_be_bytes());
        m.extend_from_slice(&(h.len() as u32).to_be_bytes());
        let crc = crc32fast::hash(&m);
        m.extend_from_slice(&crc.to_be_bytes());
        m.extend_from_slice(&h);
        m.extend_from_slice(payload);
        let crc = crc32fast::hash(&m);
        m.extend_from_slice(&crc.to_be_bytes());
        m
    }

    #[test]
    fn decodes_messages_split_anywhere() {
        let mut bytes = frame(
            &[(":event-type", "messageStart"), (":message-type", "event")],
            br#"{"role":"assistant"}"#,
        );
        bytes.extend(frame(
            &[(":event-type", "messageStop")],
            br#"{"stopReason":"end_turn"}"#,
        ));
        for split in 1..bytes.len() {
            let mut d = Decoder::default();
            let mut got = Vec::new();
            for part in [&bytes[..split], &bytes[split..]] {
                d.push(part);
                while let Some(m) = d.next_message().unwrap() {
                    got.push(m);
                }
            }
            assert_eq!(got.len(), 2, "split at {split}");
            assert_eq!(got[0].header(":event-type"), Some("messageStart"));
            assert_eq!(got[0].payload, br#"{"role":"assistant"}"#);
            assert_eq!(got[1].header(":event-type"), Some("messageStop"));
            assert!(!d.has_partial());
        }
    }

    #[test]
    fn rejects_bad_crcs() {
        let good = frame(&[(":event-type", "x")], b"{}");
        let mut bad_payload = good.clone();
        let n = bad_payload.len();
        bad_payload[n - 5] ^= 1;
        let mut d = Decoder::default();
        d.push(&bad_payload);
        assert!(d.next_message().unwrap_err().contains("message CRC"));
        let mut bad_prelude = good;
        bad_prelude[3] ^= 1;
        let mut d = Decoder::default();
        d.push(&bad_prelude);
        assert!(d.next_message().unwrap_err().contains("prelude CRC"));
    }
}
