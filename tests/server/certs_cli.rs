//! `vaultgate certs` as a user runs it: the built binary writes four files, prints the caBundle
//! as its only stdout line, refuses to overwrite without `--force`, and the certificate it mints
//! is served and verified for its IP and Service DNS SANs.

use crate::common;

use std::process::Command;

use base64::Engine as _;
use common::tls::{TestServer, client_builder};
use vaultgate::server::ServeOptions;

fn vaultgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(args)
        .output()
        .expect("run vaultgate")
}

#[tokio::test]
async fn certs_writes_the_pair_prints_the_ca_bundle_and_the_cert_serves() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out");
    let out_arg = out.to_str().expect("utf-8 path");

    let run = vaultgate(&["certs", "--out", out_arg, "--ip", "127.0.0.1"]);
    assert!(
        run.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    for file in ["ca.crt", "ca.key", "tls.crt", "tls.key"] {
        assert!(out.join(file).is_file(), "{file} written");
    }
    #[cfg(unix)]
    for key in ["ca.key", "tls.key"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(out.join(key))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "{key} is private");
    }

    let ca_pem = std::fs::read_to_string(out.join("ca.crt")).expect("ca.crt");
    let stdout = String::from_utf8(run.stdout).expect("utf-8 stdout");
    assert_eq!(
        stdout.lines().count(),
        1,
        "only the caBundle on stdout: {stdout}"
    );
    assert_eq!(
        stdout.trim_end(),
        base64::engine::general_purpose::STANDARD.encode(ca_pem.as_bytes())
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("vaultgate.vaultgate-system.svc"),
        "human summary on stderr: {stderr}"
    );
    assert!(
        !stderr.contains("PRIVATE KEY"),
        "no key material in the summary"
    );

    // A second run refuses to overwrite, and leaves the files alone.
    let again = vaultgate(&["certs", "--out", out_arg]);
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("--force"));
    assert!(again.stdout.is_empty());
    assert_eq!(
        std::fs::read_to_string(out.join("ca.crt")).expect("ca.crt"),
        ca_pem
    );

    // Serve the minted pair; verify it by IP SAN and by the Service's DNS SANs, trusting only ca.crt.
    let server = TestServer::from_files(
        &out.join("tls.crt"),
        &out.join("tls.key"),
        ServeOptions::default(),
    )
    .await;
    let by_ip = client_builder(&[&ca_pem]).build().expect("client");
    let response = by_ip
        .get(server.url("/healthz"))
        .send()
        .await
        .expect("verified by IP SAN");
    assert_eq!(response.status(), 200);
    for name in [
        "vaultgate.vaultgate-system.svc",
        "vaultgate.vaultgate-system.svc.cluster.local",
    ] {
        let by_name = client_builder(&[&ca_pem])
            .resolve(name, server.addr)
            .build()
            .expect("client");
        let url = format!("https://{name}:{}/healthz", server.addr.port());
        let response = by_name.get(url).send().await.expect("verified by DNS SAN");
        assert_eq!(response.status(), 200);
    }
    server.stop().await;

    let forced = vaultgate(&[
        "certs",
        "--out",
        out_arg,
        "--force",
        "--service",
        "hook",
        "--namespace",
        "infra",
    ]);
    assert!(
        forced.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&forced.stderr)
    );
    assert_ne!(
        std::fs::read_to_string(out.join("ca.crt")).expect("ca.crt"),
        ca_pem,
        "a new CA"
    );
}

#[test]
fn certs_rejects_a_service_name_that_is_not_a_dns_label() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = tmp.path().join("out");
    let run = vaultgate(&[
        "certs",
        "--out",
        out.to_str().expect("utf-8"),
        "--service",
        "Web_Hook",
    ]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("Web_Hook"));
    assert!(!out.join("tls.key").exists());
}
