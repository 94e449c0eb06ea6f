//! The reload decision without a file system or a clock: what the last poll saw, what this one
//! sees, and the policy in effect.

use super::*;
use crate::policy::Mode;

fn bytes(text: &str) -> Seen {
    Seen::Bytes(text.as_bytes().to_vec())
}

fn running() -> Policy {
    Policy::default()
}

#[test]
fn the_file_the_policy_was_read_from_changes_nothing() {
    let file = bytes("mode: warn\n");
    let verdict = judge(&file, &file.clone(), &running(), ViewOnReload::Live);
    assert!(matches!(verdict, Verdict::Unchanged), "{verdict:?}");
}

#[test]
fn a_valid_new_file_is_applied_with_the_digest_of_its_bytes() {
    let verdict = judge(
        &bytes("mode: warn\n"),
        &bytes("mode: enforce\nnamespaces:\n  modes:\n    payments: warn\n"),
        &running(),
        ViewOnReload::Live,
    );
    let Verdict::Apply { policy, digest } = verdict else {
        panic!("not applied: {verdict:?}");
    };
    assert_eq!(policy.mode, Mode::Enforce);
    assert_eq!(policy.namespaces.modes.get("payments"), Some(&Mode::Warn));
    assert_eq!(
        digest,
        super::digest(b"mode: enforce\nnamespaces:\n  modes:\n    payments: warn\n")
    );
}

#[test]
fn the_digest_is_the_plain_sha256_that_sha256sum_prints() {
    assert_eq!(
        digest(b""),
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
}

#[test]
fn an_invalid_new_file_is_rejected_naming_the_field() {
    let verdict = judge(
        &bytes("mode: warn\n"),
        &bytes("mode: warn\naproved: []\n"),
        &running(),
        ViewOnReload::Live,
    );
    let Verdict::Reject(error) = verdict else {
        panic!("not rejected: {verdict:?}");
    };
    assert!(error.contains("aproved"), "{error}");
}

#[test]
fn a_rejected_file_is_not_judged_again_until_it_changes() {
    let bad = bytes("mode: sometimes\n");
    let verdict = judge(&bad, &bad.clone(), &running(), ViewOnReload::Live);
    assert!(matches!(verdict, Verdict::Unchanged), "{verdict:?}");
}

#[test]
fn a_file_that_cannot_be_read_is_rejected_with_the_reason() {
    let verdict = judge(
        &bytes("mode: warn\n"),
        &Seen::Unreadable("No such file or directory (os error 2)".to_owned()),
        &running(),
        ViewOnReload::Live,
    );
    let Verdict::Reject(error) = verdict else {
        panic!("not rejected: {verdict:?}");
    };
    assert!(error.contains("cannot read the file"), "{error}");
}

#[test]
fn a_file_that_is_not_utf8_is_rejected() {
    let verdict = judge(
        &bytes("mode: warn\n"),
        &Seen::Bytes(vec![0xff, 0xfe, b'\n']),
        &running(),
        ViewOnReload::Live,
    );
    assert!(matches!(verdict, Verdict::Reject(_)), "{verdict:?}");
}

#[test]
fn what_the_live_view_was_built_with_is_rejected_until_a_restart_naming_each_field() {
    let verdict = judge(
        &bytes(""),
        &bytes("prefix: example.com/\ncontentCopy:\n  enabled: true\n  minValueLength: 20\n"),
        &running(),
        ViewOnReload::Live,
    );
    let Verdict::Reject(error) = verdict else {
        panic!("not rejected: {verdict:?}");
    };
    for field in [
        "prefix",
        "contentCopy.enabled",
        "contentCopy.minValueLength",
    ] {
        assert!(error.contains(field), "{field}: {error}");
    }
    assert!(error.contains("restarts"), "{error}");
}

#[test]
fn a_memory_view_follows_every_field_because_it_is_rebuilt() {
    let verdict = judge(
        &bytes(""),
        &bytes("prefix: example.com/\n"),
        &running(),
        ViewOnReload::Memory,
    );
    assert!(matches!(verdict, Verdict::Apply { .. }), "{verdict:?}");
}

#[test]
fn a_new_file_with_an_exception_beyond_the_maximum_lifetime_is_rejected_and_an_expired_one_is_not()
{
    let file = "exceptions:\n  - id: legacy-db\n    rules: [VG101]\n    namespace: payments\n    reason: r\n    ticket: PAY-1\n    expires: \"2027-01-31T00:00:00Z\"\n";
    let expires = crate::policy::exception::parse_time("2027-01-31T00:00:00Z").unwrap();
    let day = std::time::Duration::from_secs(86_400);
    let at = |now| {
        exceptions_in_time(
            judge(
                &bytes("mode: warn\n"),
                &bytes(file),
                &running(),
                ViewOnReload::Live,
            ),
            now,
        )
    };
    // Loaded 91 days before it ends: refused, naming the field, so the running policy stays.
    let Verdict::Reject(error) = at(expires - 91 * day) else {
        panic!("not rejected");
    };
    assert!(error.contains("exceptions[0].expires"), "{error}");
    // Within the lifetime, or already expired (it only stops applying): applied.
    assert!(matches!(at(expires - 30 * day), Verdict::Apply { .. }));
    assert!(matches!(at(expires + day), Verdict::Apply { .. }));
}
