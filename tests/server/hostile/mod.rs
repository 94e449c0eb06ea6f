//! The hostile-input corpus, against the real HTTPS server in-process (127.0.0.1:0, minted
//! certificates, the default policy). Every case must end in a well-formed 4xx, a well-formed
//! AdmissionReview (a denial is a 200), or — for transport-level garbage — the connection being
//! closed; never a 500, a panic or a hang. While each test runs, a loop of valid reviews on
//! fresh connections runs beside it and must never fail.
//!
//! Decisions documented here (and in README "Failure modes and guarantees"):
//! - `Content-Type` is not checked: the body is always parsed strictly as JSON, so a wrong or
//!   missing type is evaluated like `application/json` (refusing it would add no safety).
//! - A request without `Host` is served: routing uses the path only and the peer is
//!   authenticated by TLS (and, with `--client-ca`, by its certificate), never by `Host`.
//! - HTTP/1.0 is served, without keep-alive.
//! - A `Transfer-Encoding: chunked` body wins over a `Content-Length` (RFC 9112 §6.1); two
//!   conflicting lengths, or a non-chunked final coding, are a 400 and the connection closes.
//!
//! Waits are bounded (a hang fails the test); nothing asserts how fast anything happens.
//!
//! The shared reviews and panic counting are here; `harness` and `raw` hold the server harness
//! and raw connections, and each other module one family of hostile input.

mod bodies;
mod connections;
mod framing;
mod harness;
mod oversized;
mod raw;

use std::{
    net::SocketAddr,
    sync::{
        Arc, Once,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::Duration,
};

use crate::common::tls::{TestServer, client_builder, mint_localhost, rustls_client_config};
use harness::{Harness, expect_4xx, expect_review};
use raw::{End, parse_responses, post_head, raw_exchange, read_to_close, tls_connect};
use rustls_pki_types::ServerName;
use serde_json::{Value, json};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    task::JoinHandle,
};
use vaultgate::{certs::MintedCerts, server::ServeOptions};

/// Header-read (and keep-alive idle) timeout of the servers under test: small, so slowloris
/// and idle reaping are observed quickly; the bounded waits below are many times longer.
const HEADER_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a raw connection may take to be answered or closed before the test calls it a hang.
const HANG: Duration = Duration::from_secs(20);

const ESO: &str = "system:serviceaccount:external-secrets:external-secrets";

// ------------------------------------------------------------------------------------------------
// Panic detection: any panic anywhere in this test process (server tasks included) is counted.

static PANICS: AtomicUsize = AtomicUsize::new(0);

fn count_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            PANICS.fetch_add(1, Ordering::SeqCst);
            default(info);
        }));
    });
}

// ------------------------------------------------------------------------------------------------
// Reviews.

fn review(
    uid: &str,
    kind: (&str, &str, &str),
    operation: &str,
    user: &str,
    object: Value,
) -> Value {
    let (group, version, kind) = kind;
    json!({
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": { "group": group, "version": version, "kind": kind },
            "resource": { "group": group, "version": version, "resource": "things" },
            "name": "db",
            "namespace": "payments",
            "operation": operation,
            "userInfo": { "username": user, "groups": ["system:authenticated"] },
            "object": object,
            "oldObject": null,
            "dryRun": false
        }
    })
}

fn secret_object() -> Value {
    json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": { "name": "db", "namespace": "payments" },
        "type": "Opaque", "data": { "password": "cGFzcw==" }
    })
}

fn human_secret(uid: &str) -> Value {
    review(
        uid,
        ("", "v1", "Secret"),
        "CREATE",
        "alice",
        secret_object(),
    )
}

/// A review ESO would send: allowed.
fn eso_secret(uid: &str) -> Value {
    let mut object = secret_object();
    object["metadata"]["ownerReferences"] = json!([{
        "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "name": "db", "uid": "u1", "controller": true
    }]);
    review(uid, ("", "v1", "Secret"), "CREATE", ESO, object)
}

fn bytes(v: &Value) -> Vec<u8> {
    serde_json::to_vec(v).expect("encode")
}

fn text_of(v: &Value) -> String {
    serde_json::to_string(v).expect("encode")
}
