//! The other ways a deployment secures NATS, each against a real nats-server: TLS with a
//! private CA and client certificates (mutual TLS) plus a token; a `.creds` file of a user in
//! an operator-mode server (JWTs signed with nkeys); a bare nkey user. The gateway does a chat
//! through each, and a client without the credential is refused.

use crate::harness::{chat, free_port, nats_with_conf, ConfNats, Gateway, Nats};
use base64::Engine;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair};
use std::path::{Path, PathBuf};
use std::time::Duration;

async fn start(dir: &Path, port: u16, conf: &str) -> ConfNats {
    let path = dir.join(format!("node-{port}.conf"));
    let store = dir.join(format!("js-{port}"));
    std::fs::write(
        &path,
        format!(
            "listen: 127.0.0.1:{port}\njetstream {{\n  store_dir: {:?}\n}}\n{conf}\n",
            store.display().to_string()
        ),
    )
    .unwrap();
    nats_with_conf(&path, port, &[]).await
}

/// A chat through ingress and worker roles on `port` with `nats` config.
async fn chat_through(port: u16, nats: &str) {
    let handle = Nats {
        child: None,
        port,
        dir: tempfile::tempdir().unwrap(),
    };
    let gw = Gateway::start(&handle, nats).await;
    let r = gw
        .post("/v1/chat/completions", chat("mock/echo", "secured"))
        .await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    gw.stop().await;
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test]
async fn mutual_tls_and_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let server_key = KeyPair::generate().unwrap();
    let server = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca, &ca_key)
        .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let client = CertificateParams::new(vec!["switchyard".to_string()])
        .unwrap()
        .signed_by(&client_key, &ca, &ca_key)
        .unwrap();
    let ca_pem = write(d, "ca.pem", &ca.pem());
    let server_pem = write(d, "server.pem", &server.pem());
    let server_key_pem = write(d, "server-key.pem", &server_key.serialize_pem());
    let client_pem = write(d, "client.pem", &client.pem());
    let client_key_pem = write(d, "client-key.pem", &client_key.serialize_pem());
    let port = free_port();
    let _s = start(
        d,
        port,
        &format!(
            "tls {{\n  cert_file: {:?}\n  key_file: {:?}\n  ca_file: {:?}\n  verify: true\n}}\nauthorization {{\n  token: \"tok-0123456789abcdef\"\n}}\n",
            server_pem.display().to_string(),
            server_key_pem.display().to_string(),
            ca_pem.display().to_string()
        ),
    )
    .await;
    let url = format!("nats://127.0.0.1:{port}");
    chat_through(
        port,
        &format!(
            "[nats]\ntoken = \"tok-0123456789abcdef\"\ntls_ca = {:?}\ntls_cert = {:?}\ntls_key = {:?}\n",
            ca_pem.display().to_string(),
            client_pem.display().to_string(),
            client_key_pem.display().to_string()
        ),
    )
    .await;
    // Without a client certificate, or without the token, the server refuses.
    let no_cert = async_nats::ConnectOptions::with_token("tok-0123456789abcdef".into())
        .add_root_certificates(ca_pem.clone())
        .require_tls(true)
        .connection_timeout(Duration::from_secs(2))
        .connect(&url)
        .await;
    assert!(no_cert.is_err(), "a client without a certificate got in");
    let no_token = async_nats::ConnectOptions::new()
        .add_root_certificates(ca_pem)
        .add_client_certificate(client_pem, client_key_pem)
        .require_tls(true)
        .connection_timeout(Duration::from_secs(2))
        .connect(&url)
        .await;
    assert!(no_token.is_err(), "a client without the token got in");
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A JWT of `claims` for `sub`, issued and signed by `issuer`.
fn jwt(issuer: &nkeys::KeyPair, sub: &str, name: &str, nats: serde_json::Value) -> String {
    let header = b64(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let claims = serde_json::json!({
        "jti": uuid::Uuid::now_v7().simple().to_string().to_uppercase(),
        "iat": schemas::now_ms() / 1000,
        "iss": issuer.public_key(),
        "name": name,
        "sub": sub,
        "nats": nats,
    });
    let payload = b64(claims.to_string().as_bytes());
    let input = format!("{header}.{payload}");
    let sig = issuer.sign(input.as_bytes()).unwrap();
    format!("{input}.{}", b64(&sig))
}

#[tokio::test]
async fn a_creds_file_in_operator_mode_and_an_nkey_user() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let system = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let op_jwt = jwt(
        &operator,
        &operator.public_key(),
        "op",
        serde_json::json!({"type": "operator", "version": 2, "system_account": system.public_key()}),
    );
    let unlimited = serde_json::json!({"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1,
        "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1});
    let acc_jwt = jwt(
        &operator,
        &account.public_key(),
        "switchyard",
        serde_json::json!({"type": "account", "version": 2, "limits": unlimited}),
    );
    let sys_jwt = jwt(
        &operator,
        &system.public_key(),
        "SYS",
        serde_json::json!({"type": "account", "version": 2, "limits": {"subs": -1, "data": -1, "payload": -1, "conn": -1}}),
    );
    let user_jwt = jwt(
        &account,
        &user.public_key(),
        "gateway",
        serde_json::json!({"type": "user", "version": 2, "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1}),
    );
    let creds = write(
        d,
        "gateway.creds",
        &format!(
            "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
            user.seed().unwrap()
        ),
    );
    let port = free_port();
    let _s = start(
        d,
        port,
        &format!(
            "operator: {op_jwt}\nsystem_account: {}\nresolver: MEMORY\nresolver_preload: {{\n  {}: {acc_jwt}\n  {}: {sys_jwt}\n}}\n",
            system.public_key(),
            account.public_key(),
            system.public_key()
        ),
    )
    .await;
    chat_through(
        port,
        &format!("[nats]\ncredentials = {:?}\n", creds.display().to_string()),
    )
    .await;
    let anon = async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(2))
        .connect(format!("nats://127.0.0.1:{port}"))
        .await;
    assert!(anon.is_err(), "a client without the creds file got in");

    // A bare nkey user (no JWTs): `nats.nkey_seed`.
    let nk = nkeys::KeyPair::new_user();
    let port = free_port();
    let _s2 = start(
        d,
        port,
        &format!(
            "authorization {{\n  users: [ {{ nkey: {} }} ]\n}}\n",
            nk.public_key()
        ),
    )
    .await;
    chat_through(
        port,
        &format!("[nats]\nnkey_seed = {:?}\n", nk.seed().unwrap()),
    )
    .await;
    let other = nkeys::KeyPair::new_user();
    let wrong = async_nats::ConnectOptions::with_nkey(other.seed().unwrap())
        .connection_timeout(Duration::from_secs(2))
        .connect(format!("nats://127.0.0.1:{port}"))
        .await;
    assert!(wrong.is_err(), "another nkey got in");
}
