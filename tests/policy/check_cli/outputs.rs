//! `check` as the CI tools it sits beside: SARIF 2.1.0 valid against the vendored schema,
//! JUnit XML that parses, GitHub annotations escaped as the runner reads them, `--quiet`, JSON
//! that stays JSON on bad input, file-relative error positions, schema errors that name the
//! field and not its value. (`explain`, `rules` and `--version` are in `commands`.)

use serde_json::Value;
use vaultgate::policy::rules::ALL;

use super::{check, check_stdin, fixture, json, stderr, stdout};

fn repo() -> String {
    fixture("repo")
}

/// A policy file that puts VG101 in warn mode.
fn warn_policy(dir: &std::path::Path) -> String {
    let path = dir.join("policy.yaml");
    std::fs::write(&path, "rules:\n  unmanaged-secret: warn\n").unwrap();
    path.display().to_string()
}

/// The `language` pattern of the published schema, with a stray `]`.
const LANGUAGE: &str = "^[a-zA-Z]{2}|^[a-zA-Z]{2}-[a-zA-Z]{2}]?$";

/// Escapes the stray `]` of every `language` pattern; returns how many there were.
fn escape_language_patterns(schema: &mut Value) -> usize {
    match schema {
        Value::Object(map) => map
            .iter_mut()
            .map(|(key, v)| {
                if key == "pattern" && v == LANGUAGE {
                    *v = LANGUAGE.replace("}]?", "}\\]?").into();
                    1
                } else {
                    escape_language_patterns(v)
                }
            })
            .sum(),
        Value::Array(items) => items.iter_mut().map(escape_language_patterns).sum(),
        _ => 0,
    }
}

/// Validation errors of a SARIF log against the vendored schema, `format` keywords (`uri`,
/// `uri-reference`, `date-time`) included. The schema's `language` patterns (of a run and of a
/// tool component) have a stray `]` that ECMA-262 reads as a literal but the validator's check
/// of the schema rejects, so they are escaped in memory; the file stays as published, and
/// vaultgate never writes a `language`.
fn sarif_errors(log: &Value) -> Vec<String> {
    let path = fixture("schemas/sarif-2.1.0.json");
    let mut schema: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        escape_language_patterns(&mut schema),
        2,
        "the schema changed"
    );
    let validator = jsonschema::draft4::options()
        .should_validate_formats(true)
        .build(&schema)
        .expect("the SARIF schema compiles");
    validator
        .iter_errors(log)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

fn results_for<'a>(log: &'a Value, rule: &str) -> Vec<&'a Value> {
    log["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["ruleId"] == rule)
        .collect()
}

#[test]
fn sarif_validates_against_the_schema_and_carries_rule_metadata_and_regions() {
    let out = check(&["-o", "sarif", &repo()]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log = json(&out);
    let errors = sarif_errors(&log);
    assert!(errors.is_empty(), "{errors:#?}");
    // The validation has teeth: a wrong version or level is caught.
    let mut broken = log.clone();
    broken["version"] = "2.0.0".into();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert_eq!(
        sarif_errors(&broken).len(),
        2,
        "{:#?}",
        sarif_errors(&broken)
    );
    let run = &log["runs"][0];
    let driver = &run["tool"]["driver"];
    assert_eq!(driver["name"], "vaultgate");
    assert!(
        driver["informationUri"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    let rules = driver["rules"].as_array().unwrap();
    assert_eq!(rules.len(), ALL.len(), "every catalogue rule is described");
    let vg101 = rules.iter().find(|r| r["id"] == "VG101").unwrap();
    assert_eq!(vg101["name"], "unmanaged-secret");
    assert!(
        vg101["shortDescription"]["text"]
            .as_str()
            .unwrap()
            .contains("Vault is the runtime authority")
    );
    assert!(
        vg101["help"]["text"]
            .as_str()
            .unwrap()
            .contains("§2.4 Inv 5-6")
    );
    assert!(
        vg101["properties"]["tags"]
            .as_array()
            .unwrap()
            .contains(&"security".into())
    );
    assert_eq!(vg101["defaultConfiguration"]["level"], "error");

    let denial = results_for(&log, "VG101")[0];
    assert_eq!(denial["level"], "error");
    assert_eq!(
        rules[denial["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "VG101"
    );
    let physical = &denial["locations"][0]["physicalLocation"];
    assert!(
        physical["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("repo/apps/billing/secret.yaml")
    );
    assert_eq!(physical["region"]["startLine"], 2);
    assert!(
        denial["message"]["text"]
            .as_str()
            .unwrap()
            .contains("Fix: ")
    );

    // Not evaluated: a note under the rule that needed the object, at the field naming it.
    let note = results_for(&log, "VG307")
        .into_iter()
        .find(|r| r["level"] == "note")
        .expect("the PushSecret whose source is not in the set");
    assert_eq!(note["properties"]["field"], "spec.selector.secret.name");
    let logical = note["locations"][0]["logicalLocations"].as_array().unwrap();
    assert!(
        logical
            .iter()
            .any(|l| l["name"] == "spec.selector.secret.name"),
        "{logical:?}"
    );
}

#[test]
fn sarif_levels_follow_the_mode_and_unreadable_input_is_a_failed_invocation() {
    let dir = tempfile::tempdir().unwrap();
    let policy = warn_policy(dir.path());
    let out = check(&[
        "-o",
        "sarif",
        "--policy",
        &policy,
        &fixture("repo/apps/billing/secret.yaml"),
    ]);
    let log = json(&out);
    assert!(sarif_errors(&log).is_empty(), "{:#?}", sarif_errors(&log));
    assert_eq!(results_for(&log, "VG101")[0]["level"], "warning");

    let bad = check_stdin(
        &["-o", "sarif"],
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: x\n",
    );
    assert_eq!(bad.status.code(), Some(2));
    let log = json(&bad);
    assert!(sarif_errors(&log).is_empty(), "{:#?}", sarif_errors(&log));
    let invocation = &log["runs"][0]["invocations"][0];
    assert_eq!(invocation["executionSuccessful"], false);
    assert_eq!(
        invocation["toolExecutionNotifications"][0]["level"],
        "error"
    );
}

#[test]
fn junit_parses_with_a_failure_per_denial_a_skip_per_unevaluated_and_warnings_in_system_out() {
    let out = check(&["-o", "junit", &repo()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    assert_eq!(root.attribute("failures"), Some("5"));
    assert_eq!(root.attribute("skipped"), Some("1"));
    let case = |name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name("testcase") && n.attribute("name") == Some(name))
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    let denied = case("Secret default/db");
    assert!(
        denied
            .attribute("classname")
            .unwrap()
            .ends_with("repo/apps/billing/secret.yaml")
    );
    let failure = denied
        .children()
        .find(|n| n.has_tag_name("failure"))
        .expect("failure");
    assert_eq!(failure.attribute("type"), Some("VG101 unmanaged-secret"));
    assert!(failure.text().unwrap().contains("[VG101 unmanaged-secret]"));
    let skipped = case("PushSecret postgres/publish-billing")
        .children()
        .find(|n| n.has_tag_name("skipped"))
        .expect("skipped");
    assert!(
        skipped
            .attribute("message")
            .unwrap()
            .contains("missing Secret \"postgres/billing.postgres-cluster.credentials\"")
    );
    assert!(
        case("ExternalSecret billing/billing-db")
            .children()
            .all(|n| !n.is_element())
    );

    // Warnings, and markup in a name, escaped.
    let dir = tempfile::tempdir().unwrap();
    let policy = warn_policy(dir.path());
    let warned = check_stdin(
        &["-o", "junit", "--policy", &policy, "-n", "payments"],
        b"apiVersion: v1\nkind: Secret\nmetadata: {name: \"a<&'b\"}\nstringData: {password: x}\n",
    );
    let text = stdout(&warned);
    let doc = roxmltree::Document::parse(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let case = doc
        .descendants()
        .find(|n| n.has_tag_name("testcase"))
        .unwrap();
    assert_eq!(case.attribute("name"), Some("Secret payments/a<&'b"));
    let out = case
        .children()
        .find(|n| n.has_tag_name("system-out"))
        .expect("system-out");
    assert!(
        out.text()
            .unwrap()
            .contains("warning: [VG101 unmanaged-secret]")
    );
}

#[test]
fn github_annotations_are_escaped_and_leveled() {
    let out = check(&["-o", "github", &repo()]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let error = text
        .lines()
        .find(|l| l.starts_with("::error file=") && l.contains("title=VG101 unmanaged-secret::"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        error.contains("apps/billing/secret.yaml,line=2,"),
        "{error}"
    );
    assert!(error.contains("%0AFix: "), "newlines escaped: {error}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("::notice ") && l.contains("title=not evaluated::")),
        "{text}"
    );
    assert!(
        text.lines()
            .last()
            .unwrap()
            .starts_with("checked 11 objects in 9 files"),
        "{text}"
    );

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a,b:c%.yaml");
    std::fs::write(&file, "apiVersion: v1\nkind: Secret\nmetadata: {name: db, namespace: payments}\nstringData: {password: x}\n").unwrap();
    let policy = warn_policy(dir.path());
    let out = check(&["-o", "github", "--policy", &policy, file.to_str().unwrap()]);
    let text = stdout(&out);
    let warning = text
        .lines()
        .find(|l| l.starts_with("::warning "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        warning.contains("a%2Cb%3Ac%25.yaml,line=1,title=VG101 unmanaged-secret::"),
        "{warning}"
    );
}

#[test]
fn quiet_prints_only_failures_and_the_summary_with_plurals() {
    let out = check(&["--quiet", &repo()]);
    let text = stdout(&out);
    assert!(
        text.contains("DENIED  Secret default/db") && text.contains("NOT EVALUATED PushSecret"),
        "{text}"
    );
    assert!(
        !text.contains("ALLOWED") && !text.contains("SKIPPED"),
        "{text}"
    );
    assert_eq!(
        text.lines().last(),
        Some(
            "checked 11 objects in 9 files: 4 allowed, 5 denied, 0 warned, 1 not governed, 1 not evaluated; 8 listed as not Kubernetes objects"
        )
    );
    let one = check(&["-q", &fixture("repo/apps/billing/secret.yaml")]);
    assert_eq!(
        stdout(&one).lines().last(),
        Some(
            "checked 1 object in 1 file: 0 allowed, 1 denied, 0 warned, 0 not governed, 0 not evaluated"
        )
    );
    assert!(!stdout(&one).contains("#0"), "{}", stdout(&one));
}

#[test]
fn json_stays_json_on_bad_input_and_exits_2() {
    for input in [
        &b"apiVersion: v1\nkind: Secret\nmetadata: {name: x\n"[..],
        b"",
    ] {
        let out = check_stdin(&["--output", "json"], input);
        assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
        let report = json(&out);
        assert!(!report["errors"].as_array().unwrap().is_empty(), "{report}");
    }
    let missing = check(&["--format", "json", &fixture("repo/does-not-exist")]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(json(&missing)["errors"][0]["message"] == "does not exist");
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(&policy, "mode: bogus\n").unwrap();
    let out = check(&["-o", "json", "--policy", policy.to_str().unwrap(), &repo()]);
    assert_eq!(out.status.code(), Some(2));
    let message = json(&out)["errors"][0]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("line 1 column 7") && !message.contains("error: "),
        "{message}"
    );
}

#[test]
fn parse_errors_are_located_in_the_file_not_the_document() {
    let stream = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n# a comment\n\napiVersion: v1\nkind: Secret\nmetadata:\n  name: [b\n";
    let out = check_stdin(&["-o", "json"], stream.as_bytes());
    assert_eq!(out.status.code(), Some(2));
    let error = &json(&out)["errors"][0];
    assert_eq!(error["document"], 1);
    assert_eq!(error["line"], 10, "{error}");
    assert!(
        stderr(&out).contains("error: <stdin>:10:"),
        "{}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("error: <stdin>:10: error"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_schema_error_names_the_field_path_and_not_its_value() {
    let es = "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: a, namespace: x}\nspec:\n  data: hunter2-canary\n";
    let out = check_stdin(&[], format!("---\n{es}").as_bytes());
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains(
            "<stdin>:2: ExternalSecret does not match its schema at spec.data: expected a sequence"
        ),
        "{err}"
    );
    assert!(!err.contains("hunter2-canary"), "{err}");
}
