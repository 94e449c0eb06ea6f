//! Patch generation + application: for the `request.object` of a JSON document (seeded with
//! tests/fixtures/admission), run the mutating route as CREATE and UPDATE by every identity,
//! apply the returned JSON Patch, and check it never touches `data`/`stringData`, only adds
//! labels/annotations, and that re-mutating the patched object yields no patch.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;

#[path = "common.rs"]
mod common;

fuzz_target!(|data: &[u8]| {
    let Ok(doc) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let request = doc.get("request").unwrap_or(&doc);
    let object = request.get("object").unwrap_or(request);
    // The apiserver always sends an object with a metadata object (name or generateName is
    // required); other shapes are covered by the `review` target.
    if !object.get("metadata").is_some_and(Value::is_object) {
        return;
    }
    let namespace = request.get("namespace").cloned().unwrap_or(Value::Null);
    let old = request.get("oldObject").cloned().unwrap_or(Value::Null);
    for user in common::USERS {
        common::check_mutation(&namespace, user, "CREATE", object, &Value::Null);
        if old.get("metadata").is_some_and(Value::is_object) {
            common::check_mutation(&namespace, user, "UPDATE", object, &old);
        }
    }
});
