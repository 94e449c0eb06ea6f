//! What `check` must read, or refuse, without a crash: every YAML separator form, binary and
//! non-UTF-8 files, broken documents in and out of manifests, empty input sets and missing
//! paths (which must fail a CI job), and kustomize builds.

use std::path::Path;

use super::{check, check_stdin, fixture, json, stderr, stdout};

const ES: &str = "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {name: NAME, namespace: billing}\nspec:\n  refreshInterval: 1h\n  secretStoreRef: {kind: ClusterSecretStore, name: vault-backend}\n  target: {name: NAME}\n  data: [{secretKey: password, remoteRef: {key: platform-data/postgres/billing, property: password}}]\n";

fn es(name: &str) -> String {
    ES.replace("NAME", name)
}

fn lines_of(report: &serde_json::Value) -> Vec<(String, u64)> {
    report["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_owned(),
                r["line"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn accepts_every_yaml_document_separator_and_locates_each_object() {
    let stream = format!(
        "\u{feff}%YAML 1.2\n---\n{}...\n--- # second\n{}---\n\n# comment first\n{}--- {}",
        es("a"),
        es("b"),
        es("c"),
        es("d"),
    );
    let out = check_stdin(&["--format", "json"], stream.as_bytes());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(
        lines_of(&json(&out)),
        [
            ("a".into(), 3),
            ("b".into(), 13),
            ("c".into(), 24),
            ("d".into(), 32)
        ]
    );
    // The same with CRLF line ends.
    let crlf = stream.replace('\n', "\r\n");
    let out = check_stdin(&["--format", "json"], crlf.as_bytes());
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(lines_of(&json(&out)).len(), 4);
}

#[test]
fn an_empty_input_set_or_a_wrong_path_fails() {
    let out = check(&[&fixture("repo/charts")]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no Kubernetes objects found"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("SKIPPED"),
        "what was found is still listed"
    );
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        check(&[empty.path().to_str().unwrap()]).status.code(),
        Some(2)
    );
    let wrong = check(&[&fixture("repo/apps"), &fixture("repo/does-not-exist")]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(
        stderr(&wrong).contains("does-not-exist: does not exist"),
        "{}",
        stderr(&wrong)
    );
    assert_eq!(check_stdin(&[], b"").status.code(), Some(2));
}

#[test]
fn a_broken_document_fails_a_manifest_but_a_broken_non_manifest_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("es.yaml"), es("ok")).unwrap();
    std::fs::write(dir.path().join("notes.yaml"), "title: [unterminated\n").unwrap();
    std::fs::write(
        dir.path().join("tpl.yaml"),
        "apiVersion: v1\nkind: ConfigMap\ndata: {{ .Values }}\n",
    )
    .unwrap();
    let out = check(&[dir.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains("notes.yaml: not valid YAML (line 1)"),
        "{text}"
    );
    assert!(
        text.contains("tpl.yaml: a template, not YAML (line 1); render it first"),
        "{text}"
    );
    // A governed kind that does not match its schema, or a broken document next to objects.
    std::fs::write(
        dir.path().join("bad.yaml"),
        format!(
            "{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: x\n",
            es("two")
        ),
    )
    .unwrap();
    let out = check(&[dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out)
            .contains("bad.yaml:12:11: invalid YAML; the document starts at line 10 (document 1)"),
        "{}",
        stderr(&out)
    );
    std::fs::write(
        dir.path().join("bad.yaml"),
        "apiVersion: v1\nkind: Secret\nmetadata: [x]\n",
    )
    .unwrap();
    let out = check(&[dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("bad.yaml:1: Secret does not match its schema at metadata: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn binary_non_utf8_and_huge_files_are_listed_not_fatal() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("es.yaml"), es("ok")).unwrap();
    std::fs::write(
        dir.path().join("blob.yaml"),
        b"\x00\x01\x02apiVersion: v1\xff",
    )
    .unwrap();
    std::fs::write(dir.path().join("latin1.yaml"), b"name: caf\xe9\n").unwrap();
    let huge = format!("key: {}\n", "x".repeat(2 * 1024 * 1024));
    std::fs::write(dir.path().join("huge.yaml"), huge).unwrap();
    let out = check(&[dir.path().to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(
        text.contains("blob.yaml: not read: a binary file"),
        "{text}"
    );
    assert!(
        text.contains("latin1.yaml: not read: not UTF-8 text"),
        "{text}"
    );
    assert!(
        text.contains("huge.yaml: YAML without apiVersion/kind"),
        "{text}"
    );
    let binary = check_stdin(&[], b"\x00\xff\xfe");
    assert_eq!(
        binary.status.code(),
        Some(2),
        "stdin is always meant as manifests"
    );
}

#[test]
fn kustomize_builds_each_top_kustomization_and_locates_objects_at_the_build() {
    let bin = tempfile::tempdir().unwrap();
    let fake = bin.path().join("kustomize");
    // Stands in for `kustomize build DIR`: prints the directory's ExternalSecret renamed, so
    // the output is visibly the build, not the raw file.
    std::fs::write(
        &fake,
        "#!/bin/sh\n[ \"$1\" = build ] || exit 9\nsed 's/payments-db/payments-db-built/' \"$2/externalsecret.yaml\"\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args([
            "check",
            "--kustomize",
            "--format",
            "json",
            &fixture("repo/kustomize"),
        ])
        .env("PATH", path)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let report = json(&out);
    let results = report["results"].as_array().unwrap();
    assert_eq!(
        results.len(),
        1,
        "the raw files are in the build, judged once: {report:#}"
    );
    assert_eq!(results[0]["name"], "payments-db-built");
    let file = results[0]["file"].as_str().unwrap();
    assert!(
        Path::new(file.trim_end_matches(" (built)"))
            .ends_with("kustomize/payments/kustomization.yaml")
            && file.ends_with(" (built)"),
        "{file}"
    );
    assert_eq!(
        report["not_manifests"].as_array().unwrap().len(),
        0,
        "{report:#}"
    );
}

#[test]
fn help_documents_the_exit_codes() {
    let out = check(&["--help"]);
    let text = stdout(&out);
    for code in [
        "0 every object evaluated and allowed",
        "1 something denied",
        "2 a manifest cannot be read",
        "3 nothing denied but something not evaluated",
        "--allow-partial",
    ] {
        assert!(text.contains(code), "{code}: {text}");
    }
}
