//! No secret value ever leaves the process: every fixture (whose values are canary strings) is
//! reviewed on both routes with TRACE logging captured, plus hostile variants whose canary sits
//! in a field of the wrong type (where a careless error message would quote it). The canary
//! must not appear raw, base64- or hex-encoded in logs, responses, errors or metrics.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use base64::{Engine, engine::general_purpose::STANDARD};
use serde_json::{Value, json};
use vaultgate::{
    admission::{Route, Webhook},
    cluster::MemoryView,
    metrics::Metrics,
    policy::Policy,
};

const CANARY: &str = "vg-canary-7f3a9c";

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn needles(values: &[String]) -> Vec<String> {
    let mut out = vec![CANARY.to_owned()];
    for v in values {
        out.push(STANDARD.encode(v));
        out.push(v.bytes().map(|b| format!("{b:02x}")).collect());
    }
    out.push(CANARY.bytes().map(|b| format!("{b:02x}")).collect());
    out
}

fn assert_clean(what: &str, haystack: &str, needles: &[String]) {
    for n in needles {
        assert!(
            !haystack.contains(n.as_str()),
            "{what} contains the canary encoding {n:?}"
        );
    }
}

#[test]
fn no_canary_reaches_logs_responses_errors_or_metrics_at_trace_level() {
    let capture = Capture::default();
    let sink = capture.clone();
    // Scoped to this thread (every review below runs on it), not global: the policy binary runs
    // other tests beside this one, whose logs must neither land here nor run at TRACE.
    let _trace = tracing::subscriber::set_default(
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || sink.clone())
            .json()
            .finish(),
    );

    let policy = Policy::default();
    let view = MemoryView::from_policy(&policy);
    let hook = Webhook::new(Arc::new(policy), Arc::new(view), Arc::new(Metrics::new()));

    let dir = format!("{}/tests/fixtures/admission", env!("CARGO_MANIFEST_DIR"));
    let mut bodies: Vec<Vec<u8>> = Vec::new();
    let mut values = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let review: Value = serde_json::from_slice(&bytes).unwrap();
        for field in ["data", "stringData"] {
            if let Some(map) = review["request"]["object"][field].as_object() {
                for v in map.values().filter_map(Value::as_str) {
                    let raw = if field == "data" {
                        String::from_utf8(STANDARD.decode(v).unwrap()).unwrap()
                    } else {
                        v.to_owned()
                    };
                    assert!(raw.starts_with(CANARY), "fixture values must be canaries");
                    values.push(raw);
                }
            }
        }
        // Hostile variants: the canary in places where a decoder error would quote it.
        let mut wrong_type = review.clone();
        wrong_type["request"]["object"]["data"] = json!(format!("{CANARY}-as-a-string"));
        let mut in_metadata = review.clone();
        in_metadata["request"]["object"]["metadata"]["labels"] =
            json!({ "k": 12345, "v": format!("{CANARY}-label") });
        let mut bad_op = review.clone();
        bad_op["request"]["operation"] = json!(format!("{CANARY}-op"));
        for v in [&wrong_type, &in_metadata, &bad_op] {
            bodies.push(serde_json::to_vec(v).unwrap());
        }
        bodies.push(bytes);
    }
    bodies.push(format!("{{\"apiVersion\": \"{CANARY}\"").into_bytes());
    assert!(!values.is_empty());

    let needles = needles(&values);
    for body in &bodies {
        for route in [Route::Validate, Route::Mutate] {
            match hook.review(route, body) {
                Ok(out) => {
                    let text = String::from_utf8_lossy(&out);
                    let response: Value = serde_json::from_slice(&out).unwrap();
                    // A patch is base64 JSON of labels/annotations: decode it and check too.
                    if let Some(p) = response["response"]["patch"].as_str() {
                        assert_clean(
                            "a patch",
                            &String::from_utf8_lossy(&STANDARD.decode(p).unwrap()),
                            &needles,
                        );
                    }
                    assert_clean("a response", &text, &needles);
                }
                Err(e) => assert_clean("an error", &e.message, &needles),
            }
        }
    }
    assert_clean("metrics", &hook.metrics().encode(), &needles);
    let logs = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("admission review"),
        "trace logging was captured"
    );
    assert_clean("the logs", &logs, &needles);
}
