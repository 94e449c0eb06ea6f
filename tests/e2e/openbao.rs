//! OpenBao (Vault API) is up and reachable from the tests: the KV v2 round trip the handover
//! controller relies on, through plain HTTP on 127.0.0.1 with the dev root token.

use serde_json::{Value, json};

use crate::harness::*;

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .expect("reqwest client")
}

async fn call(method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let url = format!("{}/v1/{path}", env().vault_addr);
    let mut req = client()
        .request(method.clone(), &url)
        .header("X-Vault-Token", &env().vault_token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (
        status,
        serde_json::from_str(&text).unwrap_or(json!({"raw": text})),
    )
}

#[tokio::test]
async fn openbao_stores_and_returns_a_kv_v2_secret() {
    let _cluster = shared().await;

    let (status, health) = call(reqwest::Method::GET, "sys/health", None).await;
    assert_eq!(status, 200, "sys/health: {health}");
    assert_eq!(health["initialized"], true, "{health}");
    assert_eq!(health["sealed"], false, "{health}");

    let password = unique("pw");
    let (status, written) = call(
        reqwest::Method::POST,
        "secret/data/platform-data/postgres/temporal",
        Some(json!({"data": {"username": "temporal", "password": password}})),
    )
    .await;
    assert_eq!(status, 200, "KV v2 write: {written}");
    let version = written["data"]["version"]
        .as_u64()
        .unwrap_or_else(|| panic!("no version in {written}"));

    let (status, read) = call(
        reqwest::Method::GET,
        "secret/data/platform-data/postgres/temporal",
        None,
    )
    .await;
    assert_eq!(status, 200, "KV v2 read: {read}");
    assert_eq!(
        read["data"]["data"],
        json!({"username": "temporal", "password": password})
    );
    assert_eq!(read["data"]["metadata"]["version"].as_u64(), Some(version));

    // Create-only writes (check-and-set 0), as the handover controller does them.
    let path = format!("secret/data/platform-config/vault/{}", unique("unseal"));
    let once = json!({"options": {"cas": 0}, "data": {"token": "first"}});
    let (status, body) = call(reqwest::Method::POST, &path, Some(once.clone())).await;
    assert_eq!(status, 200, "first cas=0 write: {body}");
    let (status, body) = call(
        reqwest::Method::POST,
        &path,
        Some(json!({"options": {"cas": 0}, "data": {"token": "second"}})),
    )
    .await;
    assert_eq!(status, 400, "a second cas=0 write must be refused: {body}");
    assert!(body.to_string().contains("check-and-set"), "{body}");
    let (_, read) = call(reqwest::Method::GET, &path, None).await;
    assert_eq!(read["data"]["data"]["token"], "first");
}
