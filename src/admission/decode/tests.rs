//! The one-pass reading against the two-pass one: equal on every fixture, and giving way to it
//! whenever it cannot read a body itself.

use super::*;

/// Every AdmissionReview the rule tables and benchmarks use.
fn fixtures() -> Vec<(String, Vec<u8>)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests");
    let mut all = Vec::new();
    for dir in ["fixtures/admission", "bench/reviews"] {
        for entry in std::fs::read_dir(root.join(dir)).expect("fixture directory") {
            let path = entry.expect("fixture").path();
            if path.extension().is_some_and(|e| e == "json") {
                all.push((
                    path.display().to_string(),
                    std::fs::read(&path).expect("read"),
                ));
            }
        }
    }
    assert!(
        all.len() > 50,
        "expected the admission fixtures, found {}",
        all.len()
    );
    all
}

/// The payload as the webhook ends up evaluating it.
fn resolved(kind: &GroupVersionKind<'_>, payload: &Payload<'_>) -> Option<Object> {
    match payload {
        Payload::Absent => None,
        Payload::Decoded(object) => Some((**object).clone()),
        Payload::Raw(raw) => {
            let kind = Kind::from_group_kind(&kind.group, &kind.kind)?;
            Object::from_json(kind, raw.get()).ok()
        }
    }
}

fn summary(review: &ReviewIn<'_>) -> String {
    let Some(req) = &review.request else {
        return format!("{:?} {:?} no request", review.api_version, review.kind);
    };
    let old = match &*req.operation {
        "UPDATE" => resolved(&req.kind, &req.old_object),
        _ => None,
    };
    format!(
        "{:?} {:?} {} {:?} {:?} {:?} {} {:?} {:?} {:?} {:?}",
        review.api_version,
        review.kind,
        req.uid,
        req.kind,
        req.namespace,
        req.name,
        req.operation,
        req.user_info,
        req.dry_run,
        resolved(&req.kind, &req.object),
        old,
    )
}

#[test]
fn one_pass_reading_equals_two_pass_reading_on_every_fixture() {
    let mut decoded = 0;
    for (name, body) in fixtures() {
        let one = read(&body, true).unwrap_or_else(|e| panic!("{name}: {e}"));
        let two = read(&body, false).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(summary(&one), summary(&two), "{name}");
        let req = two.request.as_ref().expect("request");
        assert!(
            !matches!(req.object, Payload::Decoded(_)),
            "{name}: the two-pass reading never decodes"
        );
        if matches!(
            one.request.as_ref().map(|r| &r.object),
            Some(Payload::Decoded(_))
        ) {
            decoded += 1;
        }
    }
    assert!(
        decoded > 40,
        "only {decoded} fixtures were decoded in one pass"
    );
}

const SECRET: &str = r#"{"kind":"Secret","apiVersion":"v1","metadata":{"name":"db","namespace":"payments"},"data":{"password":"c2VjcmV0"}}"#;

fn review(request_fields: &str) -> String {
    format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"u-1",{request_fields}}}}}"#
    )
}

#[test]
fn decodes_the_object_in_the_same_pass_when_kind_and_operation_come_first() {
    let body = review(&format!(
        r#""kind":{{"group":"","version":"v1","kind":"Secret"}},"operation":"CREATE","object":{SECRET}"#
    ));
    let parsed = read(body.as_bytes(), true).expect("read");
    let req = parsed.request.expect("request");
    assert!(matches!(req.object, Payload::Decoded(ref o) if matches!(**o, Object::Secret(_))));
    assert!(matches!(req.old_object, Payload::Absent));
}

#[test]
fn borrows_the_object_raw_when_it_precedes_its_kind() {
    let body = review(&format!(
        r#""object":{SECRET},"kind":{{"group":"","version":"v1","kind":"Secret"}},"operation":"CREATE""#
    ));
    let req = read(body.as_bytes(), true)
        .expect("read")
        .request
        .expect("request");
    assert!(matches!(req.object, Payload::Raw(raw) if raw.get() == SECRET));
}

#[test]
fn borrows_the_object_raw_for_operations_that_are_not_evaluated() {
    let body = review(&format!(
        r#""kind":{{"group":"","version":"v1","kind":"Secret"}},"operation":"DELETE","oldObject":{SECRET}"#
    ));
    let req = read(body.as_bytes(), true)
        .expect("read")
        .request
        .expect("request");
    assert!(matches!(req.old_object, Payload::Raw(_)));
}

#[test]
fn gives_way_to_the_two_pass_reading_when_the_object_does_not_decode() {
    // `data` must be a map: the one-pass reading fails, the two-pass one borrows it raw so the
    // webhook can name `request.object` in its 400.
    let body = review(
        r#""kind":{"group":"","version":"v1","kind":"Secret"},"operation":"CREATE","object":{"metadata":{},"data":[1]}"#,
    );
    let req = read(body.as_bytes(), true)
        .expect("read")
        .request
        .expect("request");
    assert!(
        matches!(req.object, Payload::Raw(raw) if raw.get() == r#"{"metadata":{},"data":[1]}"#)
    );
}

#[test]
fn gives_way_to_the_two_pass_reading_when_the_body_is_not_utf8() {
    // Invalid UTF-8 in a field nobody reads: the two-pass reading has always accepted it.
    let mut body = review(&format!(
        r#""kind":{{"group":"","version":"v1","kind":"Secret"}},"operation":"CREATE","options":"xx","object":{SECRET}"#
    ))
    .into_bytes();
    let at = body.windows(2).position(|w| w == b"xx").expect("marker");
    body[at] = 0xff;
    let req = read(&body, true).expect("read").request.expect("request");
    assert!(matches!(req.object, Payload::Raw(_)));
}

#[test]
fn rejects_a_duplicated_object_in_both_readings() {
    let body = review(&format!(
        r#""kind":{{"group":"","version":"v1","kind":"Secret"}},"operation":"CREATE","object":{SECRET},"object":{SECRET}"#
    ));
    for decode_objects in [true, false] {
        let err = read(body.as_bytes(), decode_objects).expect_err("duplicate object");
        assert_eq!(err.classify(), serde_json::error::Category::Data);
    }
}

#[test]
fn requires_the_uid() {
    let body = review(r#""operation":"CREATE""#).replace(r#""uid":"u-1","#, "");
    let err = read(body.as_bytes(), true).expect_err("no uid");
    assert_eq!(err.classify(), serde_json::error::Category::Data);
}

#[test]
fn borrows_strings_without_escapes_and_copies_escaped_ones() {
    let body = review(r#""namespace":"payments","name":"d\u0062""#);
    let req = read(body.as_bytes(), true)
        .expect("read")
        .request
        .expect("request");
    assert!(matches!(req.uid, Cow::Borrowed("u-1")));
    assert!(matches!(req.namespace, Some(Cow::Borrowed("payments"))));
    assert_eq!(req.name.as_deref(), Some("db"));
}
