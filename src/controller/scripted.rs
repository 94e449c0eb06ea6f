//! Test support: a scripted apiserver behind `kube::Client::new`, in the style of kube's and
//! controller-rs's `tower_test::mock` tests but with `tower::service_fn` (already a dependency),
//! so no extra crate. Each [`Step`] asserts the verb and the path of the next request and the
//! JSON body it carries, then answers; a call beyond the script fails the test. Every request
//! (verb, path with query, body) is also appended to a [`Log`], which a test may share with other
//! fakes (the reconcile tests' Vault) to assert the order of calls across both.

use std::{
    collections::VecDeque,
    convert::Infallible,
    sync::{Arc, Mutex},
};

use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Bytes};
use kube::{Client, client::Body};
use serde_json::{Value, json};

pub(crate) struct Step {
    pub(crate) method: &'static str,
    pub(crate) path: &'static str,
    pub(crate) status: u16,
    pub(crate) answer: Value,
    /// Checks the JSON body that was sent (`Null` when none).
    pub(crate) check: fn(&Value),
}

pub(crate) fn step(method: &'static str, path: &'static str, status: u16, answer: Value) -> Step {
    Step {
        method,
        path,
        status,
        answer,
        check: |_| {},
    }
}

pub(crate) type Script = Arc<Mutex<VecDeque<Step>>>;

/// One request as it went out: who received it (`kube`, `vault`), `METHOD /path?query`, body.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) to: &'static str,
    pub(crate) line: String,
    pub(crate) body: String,
}

pub(crate) type Log = Arc<Mutex<Vec<Call>>>;

/// The requests in `log` as `"<to> <METHOD> <path>"` (query dropped), in order.
pub(crate) fn lines(log: &Log) -> Vec<String> {
    log.lock()
        .unwrap()
        .iter()
        .map(|c| {
            let line = c.line.split('?').next().unwrap_or_default();
            format!("{} {line}", c.to)
        })
        .collect()
}

/// A client whose apiserver is `steps`, default namespace `ns`; every request goes to `log`.
pub(crate) fn client(steps: Vec<Step>, log: Log) -> (Client, Script) {
    let script: Script = Arc::new(Mutex::new(steps.into()));
    let remaining = script.clone();
    let service = tower::service_fn(move |req: Request<Body>| {
        let (script, log) = (script.clone(), log.clone());
        async move {
            let (method, uri) = (req.method().to_string(), req.uri().clone());
            let sent = req.into_body().collect().await.unwrap().to_bytes();
            log.lock().unwrap().push(Call {
                to: "kube",
                line: format!("{method} {uri}"),
                body: String::from_utf8_lossy(&sent).into_owned(),
            });
            let step = script
                .lock()
                .unwrap()
                .pop_front()
                .unwrap_or_else(|| panic!("unexpected call {method} {uri}"));
            assert_eq!((method.as_str(), uri.path()), (step.method, step.path));
            let sent = if sent.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&sent).unwrap()
            };
            (step.check)(&sent);
            Ok::<_, Infallible>(
                Response::builder()
                    .status(step.status)
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(step.answer.to_string())))
                    .unwrap(),
            )
        }
    });
    (Client::new(service, "ns"), remaining)
}

/// A `Status` answer, as the apiserver sends with an error code.
pub(crate) fn status(code: u16, reason: &str) -> Value {
    json!({ "apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": reason, "code": code, "message": reason })
}

/// Fails the test if the script still has steps.
pub(crate) fn done(script: &Script) {
    assert!(script.lock().unwrap().is_empty(), "calls left unmade");
}
