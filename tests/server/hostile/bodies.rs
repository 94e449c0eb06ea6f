//! Malformed bodies: broken JSON, wrong kinds and missing objects get clean 400s, never an
//! allow.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_bodies_get_clean_400s() {
    let h = Harness::start().await;
    let valid = bytes(&human_secret("uid-malformed"));

    // Truncated at every structural depth: never a 500, always a one-line 400.
    for cut in [0, 1, valid.len() / 4, valid.len() / 2, valid.len() - 1] {
        let (status, message) = expect_4xx(
            h.post("/validate", Some("application/json"), valid[..cut].to_vec())
                .await,
        )
        .await;
        assert_eq!(status, 400, "cut at {cut}: {message}");
        assert!(message.contains("not an AdmissionReview"), "{message}");
    }
    for junk in [
        &b"null"[..],
        b"[]",
        b"42",
        b"\"review\"",
        b"{}",
        b"{\"apiVersion\":5}",
        b"\xef\xbb\xbf{}",
    ] {
        let (status, _) = expect_4xx(
            h.post("/mutate", Some("application/json"), junk.to_vec())
                .await,
        )
        .await;
        assert_eq!(status, 400, "{junk:?}");
    }

    // Invalid UTF-8: inside a string of the review, inside the object (a raw value), and as a
    // lone byte outside any string.
    let text = String::from_utf8(valid.clone()).unwrap();
    for (needle, replacement) in [
        ("uid-malformed", &b"uid-\xff\xfe"[..]),
        (
            "\"db\",\"namespace\":\"payments\"}",
            &b"\"d\xc3\x28\",\"namespace\":\"payments\"}"[..],
        ),
        ("cGFzcw==", &b"cGFz\xed\xa0\x80"[..]),
    ] {
        let at = text
            .find(needle)
            .unwrap_or_else(|| panic!("{needle} in {text}"));
        let mut body = valid[..at].to_vec();
        body.extend_from_slice(replacement);
        body.extend_from_slice(&valid[at + needle.len()..]);
        let (status, message) =
            expect_4xx(h.post("/validate", Some("application/json"), body).await).await;
        assert_eq!(status, 400, "{needle}: {message}");
    }
    let mut stray = valid.clone();
    stray.insert(1, 0xff);
    assert_eq!(
        expect_4xx(h.post("/validate", None, stray).await).await.0,
        400
    );

    // Duplicate keys. Where vaultgate reads a field, a duplicate is refused rather than
    // resolved (first-wins and last-wins parsers would disagree about what was reviewed).
    let dup_request = text.replacen(
        "\"request\":{",
        "\"request\":{\"uid\":\"first\",\"uid\":\"second\",",
        1,
    );
    assert_eq!(
        expect_4xx(h.post("/validate", None, dup_request.into_bytes()).await)
            .await
            .0,
        400
    );
    let dup_top = format!("{{\"request\":null,{}", &text[1..]);
    assert_eq!(
        expect_4xx(h.post("/validate", None, dup_top.into_bytes()).await)
            .await
            .0,
        400
    );
    let dup_object = text.replacen(
        "\"object\":{",
        "\"object\":{\"metadata\":{\"name\":\"other\"},",
        1,
    );
    let (status, message) =
        expect_4xx(h.post("/validate", None, dup_object.into_bytes()).await).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("request.object"), "{message}");
    let dup_owner = text_of(&eso_secret("uid-dup-kind"));
    let dup_owner = dup_owner.replacen(
        "\"kind\":\"ExternalSecret\"",
        "\"kind\":\"ExternalSecret\",\"kind\":\"Pod\"",
        1,
    );
    let r = h.post("/validate", None, dup_owner.into_bytes()).await;
    eprintln!("hostile: duplicate ownerReference kind -> {}", r.status());
    if r.status() == 200 {
        // Parsed last-wins inside ownerReferences: then the owner is a Pod, and ESO's Secret is
        // not materialized, so it must not be allowed.
        let response = expect_review(r, "uid-dup-kind").await;
        assert_eq!(response["allowed"], false, "{response}");
    } else {
        assert_eq!(expect_4xx(r).await.0, 400);
    }

    // Deep nesting. Past serde_json's recursion limit (128) in a decoded field: a clean 400.
    let deep = |depth: usize| format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth));
    let store = json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": "uid-deep", "operation": "CREATE", "name": "s", "userInfo": { "username": "alice" },
            "kind": { "group": "external-secrets.io", "version": "v1", "kind": "ClusterSecretStore" },
            "object": { "metadata": { "name": "s" }, "spec": { "provider": { "vault": "PLACEHOLDER" } } }
        }
    });
    let store = text_of(&store).replacen("\"PLACEHOLDER\"", &deep(200), 1);
    let (status, message) = expect_4xx(h.post("/validate", None, store.into_bytes()).await).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("request.object"), "{message}");
    // In managedFields (fieldsV1 is a free-form JSON value), which no rule reads: skipped
    // unparsed by an iterative scanner, so even 200,000 levels (far past what a recursive
    // descent fits in a thread's stack) cost no stack, and the review gets its normal verdict
    // (a human's Secret: denied). Not deeper: a debug build on a busy machine must still answer
    // within the review deadline.
    for depth in [1000, 200_000] {
        let mut managed = human_secret("uid-deep-mf");
        managed["request"]["object"]["metadata"]["managedFields"] =
            json!([{ "manager": "x", "fieldsType": "FieldsV1", "fieldsV1": {} }]);
        let managed = text_of(&managed).replacen(
            "\"fieldsV1\":{}",
            &format!("\"fieldsV1\":{}", deep(depth)),
            1,
        );
        let response = expect_review(
            h.post("/validate", None, managed.into_bytes()).await,
            "uid-deep-mf",
        )
        .await;
        assert_eq!(response["allowed"], false, "{response}");
    }
    // Deep nesting of the top level: refused at the first wrong token.
    assert_eq!(
        expect_4xx(
            h.post("/validate", None, "[".repeat(1_000_000).into_bytes())
                .await
        )
        .await
        .0,
        400
    );
    let open_only = format!("{{\"apiVersion\":{}", "{\"a\":".repeat(500_000));
    assert_eq!(
        expect_4xx(h.post("/validate", None, open_only.into_bytes()).await)
            .await
            .0,
        400
    );
    // In fields vaultgate skips without decoding (request.options, Secret values), nesting is
    // skipped iteratively: no stack is used, the review is evaluated as usual.
    for (field, path) in [
        ("options", &["request", "options"][..]),
        ("data value", &["request", "object", "data", "password"][..]),
    ] {
        let mut v = human_secret("uid-deep-skipped");
        let mut slot = &mut v;
        for p in path {
            slot = &mut slot[*p];
        }
        *slot = json!("PLACEHOLDER");
        let text = text_of(&v).replacen("\"PLACEHOLDER\"", &deep(100_000), 1);
        let r = h.post("/validate", None, text.into_bytes()).await;
        eprintln!("hostile: 100000-deep {field} -> {}", r.status());
        if r.status() == 200 {
            let response = expect_review(r, "uid-deep-skipped").await;
            assert_eq!(
                response["allowed"], false,
                "{field}: a human's Secret is still denied"
            );
        } else {
            assert_eq!(expect_4xx(r).await.0, 400, "{field}");
        }
    }

    // Content-Type is not checked: wrong, missing or odd types are parsed as JSON all the same.
    for content_type in [
        Some("text/plain"),
        None,
        Some("application/x-www-form-urlencoded"),
        Some("application/json; charset=utf-16"),
    ] {
        let r = h
            .post("/validate", content_type, bytes(&human_secret("uid-ctype")))
            .await;
        let response = expect_review(r, "uid-ctype").await;
        assert_eq!(response["allowed"], false, "{content_type:?}");
    }
    h.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_kinds_and_missing_objects_are_refused_not_allowed() {
    let h = Harness::start().await;

    // Kinds vaultgate does not govern: a 400 (the apiserver then fails closed), on both routes.
    // (Pods and other workloads are governed since the hidden-control-plane rules: the opt-in
    // webhook sends them to /validate.)
    for (route, kind) in [
        ("/validate", ("", "v1", "ConfigMap")),
        ("/mutate", ("", "v1", "ConfigMap")),
        ("/mutate", ("", "v1", "Service")),
        ("/validate", ("external-secrets.io", "v1", "Secret")),
        ("/validate", ("", "v1", "secret")),
        ("/mutate", ("external-secrets.io", "v1", "externalsecret")),
        ("/validate", ("", "", "")),
    ] {
        let (status, message) = expect_4xx(
            h.post(
                route,
                None,
                bytes(&review(
                    "uid-kind",
                    kind,
                    "CREATE",
                    "alice",
                    secret_object(),
                )),
            )
            .await,
        )
        .await;
        assert_eq!(status, 400, "{kind:?}: {message}");
    }
    // An ExternalSecret on /mutate: only Secrets are mutated; it is allowed unchanged there and
    // judged on /validate.
    let es = json!({ "metadata": { "name": "db" }, "spec": { "secretStoreRef": { "kind": "SecretStore", "name": "x" } } });
    let es_review = review(
        "uid-es",
        ("external-secrets.io", "v1", "ExternalSecret"),
        "CREATE",
        "alice",
        es,
    );
    let mutated = expect_review(h.post("/mutate", None, bytes(&es_review)).await, "uid-es").await;
    assert_eq!(mutated["allowed"], true);
    assert!(mutated.get("patch").is_none(), "{mutated}");
    let validated =
        expect_review(h.post("/validate", None, bytes(&es_review)).await, "uid-es").await;
    assert_eq!(validated["allowed"], false);
    // A Secret body under an ExternalSecret kind (and vice versa) is decoded as the kind named.
    let mismatched = review(
        "uid-mismatch",
        ("external-secrets.io", "v1", "ExternalSecret"),
        "CREATE",
        "alice",
        secret_object(),
    );
    assert_eq!(
        expect_review(
            h.post("/validate", None, bytes(&mismatched)).await,
            "uid-mismatch"
        )
        .await["allowed"],
        false
    );

    // request.object null, absent or not an object, on CREATE and UPDATE: 400.
    for operation in ["CREATE", "UPDATE"] {
        for object in [
            Value::Null,
            json!("a string"),
            json!(12),
            json!(true),
            json!({ "metadata": [] }),
            json!({ "metadata": "x" }),
        ] {
            for route in ["/validate", "/mutate"] {
                let r = review(
                    "uid-null",
                    ("", "v1", "Secret"),
                    operation,
                    "alice",
                    object.clone(),
                );
                let (status, message) = expect_4xx(h.post(route, None, bytes(&r)).await).await;
                assert_eq!(status, 400, "{operation} {object}: {message}");
                assert!(message.contains("request.object"), "{message}");
            }
        }
        let mut absent = human_secret("uid-absent");
        absent["request"]["operation"] = json!(operation);
        absent["request"].as_object_mut().unwrap().remove("object");
        assert_eq!(
            expect_4xx(h.post("/validate", None, bytes(&absent)).await)
                .await
                .0,
            400
        );
    }
    // A JSON array where the object belongs: serde decodes a struct positionally from an array,
    // so `[]` reads as an empty Secret. A 400 or a well-formed denial are both acceptable; an
    // allow for a human writer is not.
    let array = review(
        "uid-array",
        ("", "v1", "Secret"),
        "CREATE",
        "alice",
        json!([]),
    );
    let r = h.post("/validate", None, bytes(&array)).await;
    eprintln!("hostile: request.object [] -> {}", r.status());
    if r.status() == 200 {
        assert_eq!(expect_review(r, "uid-array").await["allowed"], false);
    } else {
        assert_eq!(expect_4xx(r).await.0, 400);
    }
    // DELETE carries no object: allowed, nothing to evaluate.
    let delete = review(
        "uid-delete",
        ("", "v1", "Secret"),
        "DELETE",
        "alice",
        Value::Null,
    );
    assert_eq!(
        expect_review(
            h.post("/validate", None, bytes(&delete)).await,
            "uid-delete"
        )
        .await["allowed"],
        true
    );
    // Other malformed requests.
    let mut bad_op = human_secret("uid-op");
    bad_op["request"]["operation"] = json!("create");
    assert_eq!(
        expect_4xx(h.post("/validate", None, bytes(&bad_op)).await)
            .await
            .0,
        400
    );
    let mut no_uid = human_secret("uid-x");
    no_uid["request"].as_object_mut().unwrap().remove("uid");
    assert_eq!(
        expect_4xx(h.post("/validate", None, bytes(&no_uid)).await)
            .await
            .0,
        400
    );
    let mut uid_number = human_secret("uid-x");
    uid_number["request"]["uid"] = json!(7);
    assert_eq!(
        expect_4xx(h.post("/validate", None, bytes(&uid_number)).await)
            .await
            .0,
        400
    );
    let mut v1beta1 = human_secret("uid-v1beta1");
    v1beta1["apiVersion"] = json!("admission.k8s.io/v1beta1");
    assert_eq!(
        expect_4xx(h.post("/validate", None, bytes(&v1beta1)).await)
            .await
            .0,
        400
    );
    h.finish().await;
}
