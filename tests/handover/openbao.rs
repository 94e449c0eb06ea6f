//! The Vault side of the handover against a REAL OpenBao dev server started by each test on a
//! free port by tests/e2e/control-plane.sh (`control_plane`; a missing binary fails, never skips):
//! create-only writes, superseded and already-copied detection, provenance metadata without
//! values, the sealed-Vault gate, soft-deleted versions, token re-read after a 403, and TLS with
//! a pinned CA.

use std::time::Duration;

use crate::control_plane::Bao;
use reqwest::Method;
use serde_json::{Map, Value, json};
use vaultgate::{
    controller::{
        copy::{self, Provenance},
        digest::DigestKey,
        vault::{Current, Vault, VaultAuth, VaultConfig, VaultError},
    },
    policy::handover::{Blocked, Verdict},
};

const CANARY: &str = "canary-7f3a9c-do-not-log";

fn key() -> DigestKey {
    DigestKey::from_bytes(&[42u8; 32]).unwrap()
}

fn client(bao: &Bao) -> Vault {
    Vault::new(VaultConfig {
        addr: bao.addr.clone(),
        ca_cert: None,
        namespace: None,
        mount: "secret".into(),
        auth: VaultAuth::TokenFile(bao.root_token_file()),
        timeout: Duration::from_secs(10),
    })
    .unwrap()
}

fn data(pairs: &[(&str, &str)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
        .collect()
}

fn provenance<'a>(digest: &'a str) -> Provenance<'a> {
    Provenance {
        cluster: "test-cluster",
        namespace: "vault",
        name: "db-root",
        uid: "0b5c2a9e-0000-4000-8000-000000000001",
        at: "2026-01-08T10:00:00Z",
        actor: "system:serviceaccount:vaultgate-system:vaultgate@test",
        digest,
    }
}

async fn metadata(bao: &Bao, path: &str) -> Value {
    let (status, body) = bao
        .raw(Method::GET, &format!("secret/metadata/{path}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn latest(bao: &Bao, path: &str) -> Value {
    let (status, body) = bao
        .raw(Method::GET, &format!("secret/data/{path}"), None)
        .await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

#[tokio::test]
async fn create_only_write_then_already_copied_then_superseded() {
    let bao = Bao::start();
    let vault = client(&bao);
    let path = "platform-data/postgres/temporal";
    let ours = data(&[("username", "admin"), ("password", CANARY)]);
    let digest = key().of_vault(&ours);

    // First handover: created at version 1, read back, verified.
    let v = copy::copy(&vault, &key(), path, &ours, &provenance(&digest))
        .await
        .unwrap();
    assert_eq!(
        v,
        Verdict::Copied {
            version: 1,
            wrote: true
        }
    );
    let stored = latest(&bao, path).await;
    assert_eq!(stored["data"]["password"], CANARY);
    assert_eq!(stored["metadata"]["version"], 1);

    // Provenance is in custom_metadata, and no value is anywhere in the metadata.
    let meta = metadata(&bao, path).await;
    let custom = &meta["data"]["custom_metadata"];
    assert_eq!(custom["handover-source"], "vault/db-root");
    assert_eq!(custom["handover-source-cluster"], "test-cluster");
    assert_eq!(
        custom["handover-source-uid"],
        "0b5c2a9e-0000-4000-8000-000000000001"
    );
    assert_eq!(custom["handover-at"], "2026-01-08T10:00:00Z");
    assert_eq!(
        custom["handover-actor"],
        "system:serviceaccount:vaultgate-system:vaultgate@test"
    );
    assert_eq!(custom[copy::META_DIGEST], digest.as_str());
    let text = meta.to_string();
    assert!(!text.contains(CANARY), "metadata leaks a value: {text}");

    // Same value again (a crash after the write, before the Secret patch): idempotent, no new version.
    let again = copy::copy(&vault, &key(), path, &ours, &provenance(&digest))
        .await
        .unwrap();
    assert_eq!(
        again,
        Verdict::Copied {
            version: 1,
            wrote: false
        }
    );
    assert_eq!(metadata(&bao, path).await["data"]["current_version"], 1);

    // A different value: check-and-set refuses it, and it is detected as superseded.
    let theirs = data(&[("username", "admin"), ("password", "rotated-in-vault")]);
    let other_digest = key().of_vault(&theirs);
    let v = copy::copy(&vault, &key(), path, &theirs, &provenance(&other_digest))
        .await
        .unwrap();
    assert_eq!(v, Verdict::Superseded { version: 1 });
    // Vault untouched: still version 1, our value, our provenance.
    let stored = latest(&bao, path).await;
    assert_eq!(stored["data"]["password"], CANARY);
    let meta = metadata(&bao, path).await;
    assert_eq!(meta["data"]["current_version"], 1);
    assert_eq!(
        meta["data"]["custom_metadata"][copy::META_DIGEST],
        digest.as_str()
    );
}

#[tokio::test]
async fn a_value_already_in_vault_is_never_overwritten_nor_annotated() {
    let bao = Bao::start();
    let vault = client(&bao);
    let path = "platform-data/redis/temporal";
    let (status, body) = bao
        .raw(
            Method::POST,
            &format!("secret/data/{path}"),
            Some(json!({ "data": { "password": "set-by-an-operator" } })),
        )
        .await;
    assert_eq!(status, 200, "{body}");

    let ours = data(&[("password", CANARY)]);
    let digest = key().of_vault(&ours);
    let v = copy::copy(&vault, &key(), path, &ours, &provenance(&digest))
        .await
        .unwrap();
    assert_eq!(v, Verdict::Superseded { version: 1 });
    assert_eq!(
        latest(&bao, path).await["data"]["password"],
        "set-by-an-operator"
    );
    let meta = metadata(&bao, path).await;
    assert_eq!(meta["data"]["current_version"], 1);
    assert!(
        meta["data"]["custom_metadata"].is_null()
            || meta["data"]["custom_metadata"]
                .get(copy::META_DIGEST)
                .is_none(),
        "{meta}"
    );
}

#[tokio::test]
async fn a_sealed_vault_is_detected_and_nothing_is_written() {
    let bao = Bao::start();
    let vault = client(&bao);
    let path = "platform-data/postgres/billing";
    bao.seal().await;
    assert!(vault.health().await.unwrap().sealed);

    let ours = data(&[("password", CANARY)]);
    let digest = key().of_vault(&ours);
    let v = copy::copy(&vault, &key(), path, &ours, &provenance(&digest))
        .await
        .unwrap();
    assert_eq!(v, Verdict::Blocked(Blocked::Sealed));

    // Unsealed again: the key does not exist, so no write was attempted while sealed.
    bao.unseal().await;
    assert!(matches!(vault.read(path).await.unwrap(), Current::Nothing));
    let (status, _) = bao
        .raw(Method::GET, &format!("secret/metadata/{path}"), None)
        .await;
    assert_eq!(status, 404);
    // And the handover then goes through.
    let v = copy::copy(&vault, &key(), path, &ours, &provenance(&digest))
        .await
        .unwrap();
    assert_eq!(
        v,
        Verdict::Copied {
            version: 1,
            wrote: true
        }
    );
}

#[tokio::test]
async fn a_deleted_latest_version_blocks_instead_of_resurrecting() {
    let bao = Bao::start();
    let vault = client(&bao);
    let path = "platform-data/minio/temporal";
    let ours = data(&[("password", CANARY)]);
    let digest = key().of_vault(&ours);
    copy::copy(&vault, &key(), path, &ours, &provenance(&digest))
        .await
        .unwrap();
    let (status, body) = bao
        .raw(Method::DELETE, &format!("secret/data/{path}"), None)
        .await;
    assert_eq!(status, 204, "{body}");

    let v = copy::copy(&vault, &key(), path, &ours, &provenance(&digest))
        .await
        .unwrap();
    assert_eq!(
        v,
        Verdict::Blocked(Blocked::LatestVersionDeleted { version: 1 })
    );
    assert_eq!(metadata(&bao, path).await["data"]["current_version"], 1);
}

#[tokio::test]
async fn a_rotated_token_file_is_re_read_after_a_403() {
    let bao = Bao::start();
    let file = bao.dir.join("token");
    std::fs::write(&file, "not-a-valid-token").unwrap();
    let vault = Vault::new(VaultConfig {
        addr: bao.addr.clone(),
        ca_cert: None,
        namespace: None,
        mount: "secret".into(),
        auth: VaultAuth::TokenFile(file.clone()),
        timeout: Duration::from_secs(10),
    })
    .unwrap();
    let err = vault.read("platform-data/x/y").await.unwrap_err();
    assert!(
        matches!(err, VaultError::Denied { status: 403, .. }),
        "{err}"
    );
    assert!(
        !err.to_string().contains("not-a-valid-token"),
        "the token leaked into an error: {err}"
    );
    std::fs::write(&file, "root").unwrap();
    assert!(matches!(
        vault.read("platform-data/x/y").await.unwrap(),
        Current::Nothing
    ));
}

#[tokio::test]
async fn tls_with_a_pinned_ca() {
    let bao = Bao::start_tls();
    let ca = bao.ca.clone().expect("a TLS launch records its CA");
    assert!(bao.addr.starts_with("https://"), "{}", bao.addr);
    let token = bao.root_token_file();
    let cfg = |ca_cert| VaultConfig {
        addr: bao.addr.clone(),
        ca_cert,
        namespace: None,
        mount: "secret".into(),
        auth: VaultAuth::TokenFile(token.clone()),
        timeout: Duration::from_secs(10),
    };
    // The launcher waited for /v1/sys/health over TLS with this CA, so the first call answers.
    let pinned = Vault::new(cfg(Some(ca.clone()))).unwrap();
    let health = pinned
        .health()
        .await
        .expect("health over TLS with the pinned CA");
    assert!(health.initialized && !health.sealed);
    // Without the CA the dev server's self-made certificate is not trusted.
    let unpinned = Vault::new(cfg(None)).unwrap();
    assert!(matches!(
        unpinned.health().await,
        Err(VaultError::Unreachable { .. })
    ));
    // A bad CA file is a startup error naming the flag.
    let err = Vault::new(cfg(Some(bao.dir.join("missing.pem")))).unwrap_err();
    assert!(err.to_string().contains("--vault-ca-cert"), "{err}");
}
