//! A decoder of `text/event-stream` bodies into events.

use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

/// One server-sent event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SseEvent {
    /// The `event:` field, if any.
    pub event: Option<String>,
    /// The `data:` lines, joined by `\n`.
    pub data: String,
}

/// Decodes a byte stream into events. A transport error ends the stream with that error.
pub fn decode<S, E>(body: S) -> impl Stream<Item = Result<SseEvent, E>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: Send + 'static,
{
    futures::stream::unfold(
        (body, BytesMut::new(), false),
        |(mut body, mut buf, mut done)| async move {
            loop {
                if let Some(ev) = take_event(&mut buf) {
                    return Some((Ok(ev), (body, buf, done)));
                }
                if done {
                    if buf.iter().all(|b| b.is_ascii_whitespace()) {
                        return None;
                    }
                    buf.extend_from_slice(b"\n\n");
                    continue;
                }
                match body.next().await {
                    Some(Ok(bytes)) => buf.extend_from_slice(&bytes),
                    Some(Err(e)) => return Some((Err(e), (body, BytesMut::new(), true))),
                    None => done = true,
                }
            }
        },
    )
}

/// Takes one complete event (ended by a blank line) off the front of `buf`.
fn take_event(buf: &mut BytesMut) -> Option<SseEvent> {
    loop {
        let (end, sep) = find_blank_line(buf)?;
        let raw = buf.split_to(end + sep);
        let text = String::from_utf8_lossy(&raw[..end]);
        let mut ev = SseEvent::default();
        let mut has_data = false;
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            let (field, value) = match line.split_once(':') {
                Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
                None => (line, ""),
            };
            match field {
                "event" => ev.event = Some(value.to_string()),
                "data" => {
                    if has_data {
                        ev.data.push('\n');
                    }
                    ev.data.push_str(value);
                    has_data = true;
                }
                _ => {}
            }
        }
        if has_data || ev.event.is_some() {
            return Some(ev);
        }
    }
}

fn find_blank_line(buf: &[u8]) -> Option<(usize, usize)> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' && buf[i + 1] == b'\n' {
            return Some((i, 2));
        }
        if buf[i] == b'\n' && buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
            return Some((i, 3));
        }
        if buf[i] == b'\r' && buf[i + 1] == b'\r' {
            return Some((i, 2));
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn splits_events_across_reads() {
        let parts: Vec<Result<Bytes, ()>> = vec![
            Ok(Bytes::from_static(b"event: a\ndata: 1")),
            Ok(Bytes::from_static(
                b"\n\n: comment\n\ndata: x\r\ndata: y\r\n\r\n",
            )),
            Ok(Bytes::from_static(b"data: last")),
        ];
        let evs: Vec<_> = decode(futures::stream::iter(parts)).collect().await;
        let evs: Vec<SseEvent> = evs.into_iter().filter_map(Result::ok).collect();
        assert_eq!(evs.len(), 3, "{evs:?}");
        assert_eq!(evs[0].event.as_deref(), Some("a"));
        assert_eq!(evs[0].data, "1");
        assert_eq!(evs[1].data, "x\ny");
        assert_eq!(evs[2].data, "last");
    }
}
