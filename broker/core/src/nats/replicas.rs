//! How many copies of each stream and bucket the cluster keeps: `nats.replicas` when set,
//! otherwise detected from the server: 1 on a single server, 3 on a cluster. A topology made
//! with other settings is brought in line where NATS allows it, and said where it does not.

use async_nats::jetstream::{self, stream};

/// The replicas to create with: `configured`, or 1 on a single server and 3 on a cluster.
pub fn effective(client: &async_nats::Client, configured: Option<usize>) -> usize {
    if let Some(n) = configured {
        return n.max(1);
    }
    let info = client.server_info();
    if info.cluster.as_deref().is_some_and(|c| !c.is_empty()) {
        3
    } else {
        1
    }
}

/// What of `current` differs from `wanted`, as a reader would say it (empty: nothing).
pub fn differences(current: &stream::Config, wanted: &stream::Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |name: &str, now: String, want: String| {
        if now != want {
            out.push(format!("{name} {now} -> {want}"));
        }
    };
    check(
        "replicas",
        current.num_replicas.to_string(),
        wanted.num_replicas.to_string(),
    );
    check(
        "subjects",
        current.subjects.join(","),
        wanted.subjects.join(","),
    );
    check(
        "max_age",
        format!("{}s", current.max_age.as_secs()),
        format!("{}s", wanted.max_age.as_secs()),
    );
    check(
        "subject_transform",
        format!(
            "{:?}",
            current
                .subject_transform
                .as_ref()
                .map(|t| (&t.source, &t.destination))
        ),
        format!(
            "{:?}",
            wanted
                .subject_transform
                .as_ref()
                .map(|t| (&t.source, &t.destination))
        ),
    );
    check(
        "republish",
        format!(
            "{:?}",
            current
                .republish
                .as_ref()
                .map(|r| (&r.source, &r.destination))
        ),
        format!(
            "{:?}",
            wanted
                .republish
                .as_ref()
                .map(|r| (&r.source, &r.destination))
        ),
    );
    check(
        "allow_direct",
        current.allow_direct.to_string(),
        wanted.allow_direct.to_string(),
    );
    out
}

/// What of `current` cannot be changed in place to match `wanted` (empty: nothing).
pub fn fixed_differences(current: &stream::Config, wanted: &stream::Config) -> Vec<String> {
    let mut out = Vec::new();
    if current.retention != wanted.retention {
        out.push(format!(
            "retention {:?} (wanted {:?})",
            current.retention, wanted.retention
        ));
    }
    if current.storage != wanted.storage {
        out.push(format!(
            "storage {:?} (wanted {:?})",
            current.storage, wanted.storage
        ));
    }
    out
}

/// Brings the stream behind a bucket or object store (`KV_<name>`, `OBJ_<name>`) to
/// `replicas`; a failure is said, not fatal (the bucket works with the copies it has).
pub async fn align(js: &jetstream::Context, stream_name: &str, replicas: usize) {
    let Ok(mut s) = js.get_stream(stream_name).await else {
        return;
    };
    let Ok(info) = s.info().await else { return };
    let mut config = info.config.clone();
    if config.num_replicas == replicas {
        return;
    }
    tracing::warn!(
        stream = stream_name,
        from = config.num_replicas,
        to = replicas,
        "the stream's replicas differ from nats.replicas; updating"
    );
    config.num_replicas = replicas;
    if let Err(e) = js.update_stream(&config).await {
        tracing::warn!(stream = stream_name, error = %e, "cannot change the stream's replicas; it keeps its copies. Check that the cluster has that many JetStream servers, or set nats.replicas to what it has");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_name_each_changed_setting() {
        let a = stream::Config {
            name: "S".into(),
            subjects: vec!["a.>".into()],
            num_replicas: 1,
            ..Default::default()
        };
        let b = stream::Config {
            num_replicas: 3,
            subjects: vec!["b.>".into()],
            ..a.clone()
        };
        assert_eq!(
            differences(&a, &b),
            vec!["replicas 1 -> 3".to_string(), "subjects a.> -> b.>".into()]
        );
        assert!(differences(&a, &a).is_empty());
        let c = stream::Config {
            retention: stream::RetentionPolicy::WorkQueue,
            ..a.clone()
        };
        assert_eq!(fixed_differences(&a, &c).len(), 1);
    }
}
