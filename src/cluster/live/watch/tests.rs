//! What the watches ask the apiserver for: Secrets and SealedSecrets as metadata only (the view
//! keeps nothing else of them, and a Secret's values must not cross the wire to vaultgate), the
//! ESO kinds whole (their specs are read), the service-account tokens as metadata selected by
//! type. Against a fake apiserver that records each request's
//! `Accept` header and answers every list empty.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use http_body_util::Full;
use hyper::{Request, Response, body::Bytes};
use kube::{Client, client::Body};

use crate::{
    cluster::{ClusterView, LiveView},
    metrics::Metrics,
    policy::Policy,
};

/// (path, query, Accept header) of every list request.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

fn fake_apiserver(seen: Seen) -> Client {
    let service = tower::service_fn(move |req: Request<Body>| {
        let seen = seen.clone();
        async move {
            let accept = req
                .headers()
                .get("accept")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let watch = req.uri().query().unwrap_or_default().contains("watch=");
            let body = if watch {
                // The stream ends at once; the watcher backs off and watches again.
                String::new()
            } else {
                seen.lock().unwrap().push((
                    req.uri().path().to_owned(),
                    req.uri().query().unwrap_or_default().to_owned(),
                    accept.clone(),
                ));
                let kind = if accept.contains("as=PartialObjectMetadataList") {
                    r#""apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadataList""#
                } else {
                    r#""apiVersion":"v1","kind":"List""#
                };
                format!(r#"{{{kind},"metadata":{{"resourceVersion":"1"}},"items":[]}}"#)
            };
            Ok::<_, Infallible>(
                Response::builder()
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(body)))
                    .unwrap(),
            )
        }
    });
    Client::new(service, "default")
}

/// The Accept header of the first list of `path` whose query contains `query`.
fn accept_of(seen: &Seen, path: &str, query: &str) -> String {
    seen.lock()
        .unwrap()
        .iter()
        .find(|(p, q, _)| p == path && q.contains(query))
        .map(|(_, _, a)| a.clone())
        .unwrap_or_else(|| panic!("no list of {path} with {query:?} in its query"))
}

#[tokio::test]
async fn secrets_and_sealed_secrets_are_listed_as_metadata_and_eso_kinds_whole() {
    let seen = Seen::default();
    let view = LiveView::spawn(
        fake_apiserver(seen.clone()),
        &Policy::default(),
        Arc::new(Metrics::new()),
        true,
    );
    // Bounded wait for the six initial lists (no timing is asserted).
    for _ in 0..500 {
        if view.synced() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(view.synced(), "every watch syncs on an empty list");
    for path in [
        "/api/v1/secrets",
        "/apis/bitnami.com/v1alpha1/sealedsecrets",
    ] {
        let accept = accept_of(&seen, path, "");
        assert!(
            accept.contains("as=PartialObjectMetadataList"),
            "{path} listed with Accept {accept:?}"
        );
    }
    let tokens = accept_of(
        &seen,
        "/api/v1/secrets",
        "fieldSelector=type%3Dkubernetes.io%2Fservice-account-token",
    );
    assert!(
        tokens.contains("as=PartialObjectMetadataList"),
        "{tokens:?}"
    );
    // With the audit on, the cluster-scoped ESO kinds are watched too, whole.
    for path in [
        "/apis/external-secrets.io/v1/externalsecrets",
        "/apis/external-secrets.io/v1/clusterexternalsecrets",
        "/apis/external-secrets.io/v1alpha1/clusterpushsecrets",
    ] {
        let accept = accept_of(&seen, path, "");
        assert!(
            !accept.contains("PartialObjectMetadata"),
            "{path}: {accept:?}"
        );
    }
}
