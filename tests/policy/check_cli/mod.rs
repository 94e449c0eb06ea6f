//! `vaultgate check` as a CI job runs it: the real binary, real files, exit codes 0/1/2/3, and
//! the cross-object rules judged within the set of manifests. `repo` runs it on a whole
//! platform repository (tests/fixtures/repo); `input` on what a repository may hold that is
//! awkward to read (separators, binary files, empty sets, kustomize builds); `outputs` on the
//! formats CI reads (SARIF, JUnit, GitHub annotations, JSON on bad input), `--quiet`, `explain`
//! and `--version`.

mod commands;
mod input;
mod outputs;
mod repo;

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

pub(super) fn fixture(rel: &str) -> String {
    format!("{}/tests/fixtures/{rel}", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `vaultgate check ARGS -` with `input` on standard input.
pub(super) fn check_stdin(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .arg("check")
        .args(args)
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run vaultgate");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

pub(super) fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The JSON report.
pub(super) fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
}

fn manifests(rel: &str) -> String {
    format!(
        "{}/tests/fixtures/manifests/{rel}",
        env!("CARGO_MANIFEST_DIR")
    )
}

pub(super) fn check(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .arg("check")
        .args(args)
        .output()
        .expect("run vaultgate")
}

pub(super) fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn exits_0_when_every_object_is_allowed() {
    let out = check(&[&fixture("check/all-allowed.yaml")]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("checked 2 objects in 1 file: 2 allowed, 0 denied, 0 warned, 0 not governed, 0 not evaluated"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn exits_3_when_a_push_source_is_not_in_the_set_and_0_with_allow_partial() {
    let out = check(&[&manifests("allowed")]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("2 allowed, 0 denied, 0 warned, 0 not governed, 1 not evaluated"),
        "{}",
        stdout(&out)
    );
    assert!(stderr(&out).contains("--allow-partial"), "{}", stderr(&out));
    let partial = check(&["--allow-partial", &manifests("allowed")]);
    assert_eq!(partial.status.code(), Some(0), "{}", stdout(&partial));
}

#[test]
fn exits_1_and_names_the_rule_when_something_is_denied() {
    let out = check(&["--as", "alice", &manifests("allowed/temporal.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("[VG209 gitops-writer]"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn exits_2_naming_file_and_document_on_unreadable_input() {
    let out = check(&[&manifests("invalid/broken.yaml")]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    // The parser's position, in the file (not in the document, which starts at line 8).
    assert!(
        err.contains("broken.yaml:11:5: invalid YAML; the document starts at line 8 (document 1)"),
        "{err}"
    );
    let missing = check(&[&manifests("does-not-exist.yaml")]);
    assert_eq!(missing.status.code(), Some(2));
}

#[test]
fn rejects_pushing_a_materialized_secret_back_to_vault() {
    let out = check(&[&manifests("cross-object/push-materialized.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let push = text
        .split("DENIED  PushSecret temporal/bounce")
        .nth(1)
        .expect("push denied");
    assert!(
        push.contains("[VG307 push-source]") && push.contains("inverts the authority"),
        "{text}"
    );
}

#[test]
fn rejects_two_namespaces_publishing_one_path() {
    let out = check(&[
        "--format",
        "json",
        &manifests("cross-object/path-hijack.yaml"),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    let hijack = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "hijack")
        .unwrap();
    assert_eq!(hijack["allowed"], false);
    assert_eq!(hijack["violations"][0]["rule"], "VG308");
    assert_eq!(
        hijack["violations"][0]["field"],
        "spec.data[0].match.remoteRef.remoteKey"
    );
    assert!(
        hijack["violations"][0]["message"]
            .as_str()
            .unwrap()
            .contains("postgres/temporal-to-vault")
    );
}

#[test]
fn rejects_two_writers_of_one_secret() {
    let out = check(&[&manifests("cross-object/two-writers.yaml")]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text.matches("[VG207 single-writer]").count(), 3, "{text}");
    assert!(text.contains("already written by a SealedSecret"), "{text}");
}

#[test]
fn rejects_an_authority_loop() {
    let out = check(&[&manifests("cross-object/loop.yaml")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("[VG208 authority-loop]"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn reads_standard_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["check", "--as", "alice", "-n", "payments", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"apiVersion: v1\nkind: Secret\nmetadata: {name: db-creds}\nstringData: {password: hunter2}\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("DENIED  Secret payments/db-creds")
            && text.contains("[VG101 unmanaged-secret]"),
        "{text}"
    );
    assert!(!text.contains("hunter2"), "a value leaked into the output");
}

#[test]
fn json_names_the_field_each_finding_is_about() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["check", "--as", "alice", "--format", "json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            serde_json::json!({
                "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": { "name": "db", "namespace": "payments" },
                "spec": {
                    "refreshInterval": "1h",
                    "secretStoreRef": { "kind": "ClusterSecretStore", "name": "vault-backend" },
                    "target": { "name": "db" },
                    "data": [{ "secretKey": "password", "remoteRef": {
                        "key": "platform-data/postgres/billing", "property": "password" } }]
                }
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json output");
    let violations = report["results"][0]["violations"]
        .as_array()
        .expect("violations");
    let by_rule = |id: &str| {
        violations
            .iter()
            .find(|v| v["rule"] == id)
            .unwrap_or_else(|| panic!("{id} in {violations:?}"))
    };
    assert_eq!(by_rule("VG203")["field"], "spec.data[0].remoteRef.key");
    // A writer rule is about the whole object: no `field` at all, not null.
    assert!(by_rule("VG209").get("field").is_none(), "{violations:?}");
}

#[test]
fn policy_default_prints_a_valid_policy_and_validate_names_the_bad_field() {
    let out = Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["policy", "default"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.yaml");
    std::fs::write(&good, &out.stdout).unwrap();
    let ok = Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["policy", "validate"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(0));
    let bad = dir.path().join("bad.yaml");
    std::fs::write(&bad, "externalSecrets:\n  maxRefreshIntervall: 2h\n").unwrap();
    let err = Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(["policy", "validate"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(err.status.code(), Some(2));
    let msg = String::from_utf8_lossy(&err.stderr);
    assert!(msg.contains("maxRefreshIntervall"), "{msg}");
}
