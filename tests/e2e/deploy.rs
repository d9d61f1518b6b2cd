//! What deploy/ ships, checked without a container engine or a cluster
//! (tests/deploy/check.py): the compose file's structure, users and secrets; the Helm chart
//! linted and rendered (an ingress Deployment with its HPA, a workers Deployment, an auditor
//! StatefulSet, non-root, secrets from a Secret, the bundled NATS users with auth.conf's
//! permissions); the systemd units through `systemd-analyze verify`; the Dockerfile.

use crate::harness::{bin, report, venv_bin};

#[test]
fn the_deploy_files_hold_together() {
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/deploy/check.py");
    let helm = venv_bin("helm");
    let helm = if helm.exists() {
        helm.display().to_string()
    } else {
        String::new()
    };
    let out = std::process::Command::new(venv_bin("python"))
        .arg(script)
        .arg(bin())
        .arg(&helm)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    report(&stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for part in ["compose", "dockerfile"] {
        assert!(stdout.contains(&format!("ok {part}")), "{stdout}");
    }
    // Helm comes with the test venv; systemd-analyze with the machine (said when missing).
    assert!(
        stdout.contains("ok helm")
            && (stdout.contains("ok systemd") || stdout.contains("skip systemd")),
        "{stdout}"
    );
}
