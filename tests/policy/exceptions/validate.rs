//! Invalid exceptions are refused by `vaultgate policy validate` (the real binary), naming the
//! field; the lifetime is judged against the load time (`Policy::check_exception_times`).

use std::{process::Command, time::Duration};

use time::{OffsetDateTime, format_description::well_known::Rfc3339};
use vaultgate::policy::Policy;

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0).unwrap().format(&Rfc3339).unwrap()
}

fn in_days(days: i64) -> String {
    rfc3339(OffsetDateTime::now_utc() + time::Duration::days(days))
}

/// One exception entry from `fields` (YAML lines at entry indentation).
fn entry(fields: &[&str]) -> String {
    let mut out = String::from("exceptions:\n");
    for (i, f) in fields.iter().enumerate() {
        out.push_str(if i == 0 { "  - " } else { "    " });
        out.push_str(f);
        out.push('\n');
    }
    out
}

/// A valid entry with `field` replaced (or removed when `value` is None).
fn with(field: &str, value: Option<&str>) -> String {
    let expires = format!("expires: \"{}\"", in_days(30));
    let base = [
        "rules: [VG101]",
        "namespace: payments",
        "reason: the legacy chart renders it",
        "ticket: PAY-123",
        &expires,
    ];
    let mut fields: Vec<String> = base
        .iter()
        .filter(|f| !f.starts_with(&format!("{field}:")))
        .map(|f| (*f).to_owned())
        .collect();
    if let Some(v) = value {
        fields.push(format!("{field}: {v}"));
    }
    let refs: Vec<&str> = fields.iter().map(String::as_str).collect();
    entry(&refs)
}

/// Runs `vaultgate policy validate` on `yaml`: (exit code, stderr).
fn validate(yaml: &str) -> (Option<i32>, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("policy.yaml");
    std::fs::write(&file, yaml).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["policy", "validate"])
        .arg(&file)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[track_caller]
fn assert_refused(yaml: &str, needles: &[&str]) {
    let (code, stderr) = validate(yaml);
    assert_eq!(code, Some(2), "refused:\n{yaml}\n{stderr}");
    for n in needles {
        assert!(
            stderr.contains(n),
            "{n:?} not in {stderr}\n(policy:\n{yaml})"
        );
    }
}

#[test]
fn validate_accepts_a_well_formed_exception() {
    let (code, stderr) = validate(&with("kind", Some("Secret")));
    assert_eq!(code, Some(0), "{stderr}");
}

#[test]
fn validate_names_an_unknown_rule() {
    assert_refused(
        &with("rules", Some("[VG101, VG999]")),
        &["exceptions[0].rules[1]", "unknown rule"],
    );
    assert_refused(
        &with("rules", Some("[]")),
        &["exceptions[0].rules", "at least one rule"],
    );
}

#[test]
fn validate_names_a_missing_or_malformed_expiry() {
    assert_refused(&with("expires", None), &["expires"]);
    assert_refused(
        &with("expires", Some("\"next tuesday\"")),
        &["exceptions[0].expires", "RFC 3339"],
    );
    assert_refused(
        &with("expires", Some("\"2027-01-31\"")),
        &["exceptions[0].expires", "RFC 3339"],
    );
}

#[test]
fn validate_refuses_an_expiry_in_the_past() {
    assert_refused(
        &with("expires", Some(&format!("\"{}\"", in_days(-1)))),
        &["exceptions[0].expires", "is in the past"],
    );
}

#[test]
fn validate_refuses_an_expiry_beyond_the_maximum_lifetime() {
    assert_refused(
        &with("expires", Some(&format!("\"{}\"", in_days(120)))),
        &["exceptions[0].expires", "exceptionMaxLifetime (90d)"],
    );
    // A shorter configured maximum applies, and a longer one admits it.
    let yaml = with("expires", Some(&format!("\"{}\"", in_days(30))));
    assert_refused(
        &format!("exceptionMaxLifetime: 14d\n{yaml}"),
        &["exceptionMaxLifetime (14d)"],
    );
    let longer = with("expires", Some(&format!("\"{}\"", in_days(120))));
    assert_eq!(
        validate(&format!("exceptionMaxLifetime: 180d\n{longer}")).0,
        Some(0)
    );
    assert_refused("exceptionMaxLifetime: forever\n", &["exceptionMaxLifetime"]);
}

#[test]
fn validate_refuses_a_scope_wider_than_a_namespace_without_cluster_wide() {
    assert_refused(
        &with("namespace", None),
        &["exceptions[0].namespace", "clusterWide: true"],
    );
    assert_refused(
        &with("namespace", Some("\"*\"")),
        &["exceptions[0].namespace"],
    );
    assert_refused(
        &with("namespace", Some("\"\"")),
        &["exceptions[0].namespace"],
    );
    let both = format!("{}    clusterWide: true\n", with("kind", Some("Secret")));
    assert_refused(&both, &["exceptions[0].clusterWide"]);
    let wide = format!("{}    clusterWide: true\n", with("namespace", None));
    assert_eq!(
        validate(&wide).0,
        Some(0),
        "clusterWide: true without a namespace is the wide scope"
    );
}

#[test]
fn validate_refuses_an_empty_reason_or_ticket() {
    assert_refused(&with("reason", Some("\"  \"")), &["exceptions[0].reason"]);
    assert_refused(&with("ticket", Some("\"\"")), &["exceptions[0].ticket"]);
    assert_refused(&with("ticket", None), &["ticket"]);
}

#[test]
fn validate_refuses_other_malformed_scopes() {
    assert_refused(&with("kind", Some("Sekret")), &["exceptions[0].kind"]);
    let both = format!("{}    namePattern: \"db-*\"\n", with("name", Some("db")));
    assert_refused(&both, &["exceptions[0].namePattern", "not both"]);
    assert_refused(&with("annotation", Some("x")), &["annotation"]);
}

#[test]
fn the_lifetime_is_judged_from_the_load_time_at_every_load() {
    let day = Duration::from_secs(86_400);
    let policy = Policy::from_yaml(&entry(&[
        "rules: [VG101]",
        "namespace: payments",
        "reason: r",
        "ticket: T-1",
        "expires: \"2027-01-31T00:00:00Z\"",
    ]))
    .unwrap();
    let expires = vaultgate::policy::exception::parse_time("2027-01-31T00:00:00Z").unwrap();
    // Committed (validated) on day 0 with the expiry on day 89: fine.
    let day0 = expires - 89 * day;
    assert_eq!(policy.check_exception_times(day0).unwrap(), []);
    // Every later load is closer to the expiry, so the same file stays valid...
    assert_eq!(policy.check_exception_times(day0 + 30 * day).unwrap(), []);
    // ...until it has expired, which is reported (an error only for `policy validate`).
    let expired = policy.check_exception_times(expires).unwrap();
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0].field, "exceptions[0].expires");
    // Loaded more than 90 days before the expiry: refused, naming the field.
    let err = policy
        .check_exception_times(expires - 91 * day)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("exceptions[0].expires") && err.contains("91 days"),
        "{err}"
    );
}

#[test]
fn validate_names_a_rule_written_in_lowercase() {
    // Ids are upper case, slugs lower case: `vg101` is neither, and is not guessed at.
    assert_refused(
        &with("rules", Some("[vg101]")),
        &["exceptions[0].rules[0]", "unknown rule"],
    );
}

#[test]
fn validate_refuses_an_id_or_ticket_that_could_forge_an_audit_entry() {
    let forged = with("ticket", Some("\"PAY-1),VG111=x(PAY-2\""));
    assert_refused(&forged, &["exceptions[0].ticket"]);
    assert_refused(
        &with("ticket", Some("\"PAY 1\"")),
        &["exceptions[0].ticket"],
    );
    assert_refused(
        &with("id", Some("\"legacy,VG111=db\"")),
        &["exceptions[0].id"],
    );
    let (code, stderr) = validate(&with("ticket", Some("\"https://jira.example/PAY-1\"")));
    assert_eq!(code, Some(0), "a ticket URL is fine: {stderr}");
}
