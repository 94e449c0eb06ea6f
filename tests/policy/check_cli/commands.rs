//! The commands beside `check` that CI and developers read: `explain RULE` (with the closest
//! id for a typo), `rules` with each rule's default mode, and `--version` with the commit and
//! the build date.

use std::process::Command;

use vaultgate::policy::rules::ALL;

use super::{stderr, stdout};

fn vaultgate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_vaultgate"))
        .args(args)
        .output()
        .expect("run vaultgate")
}

#[test]
fn explain_shows_a_rule_and_unknown_ids_name_the_closest() {
    for key in ["VG101", "unmanaged-secret", "vg101"] {
        let out = vaultgate(&["explain", key]);
        assert_eq!(out.status.code(), Some(0), "{key}");
        let text = stdout(&out);
        for part in [
            "VG101 unmanaged-secret",
            "RFC-SECOPS-0001 §2.4 Inv 5-6, §3.3",
            "Default mode: enforce",
            "Why: Kubernetes Secrets are derived copies",
            "Stops: Secrets written by humans",
            "is denied:",
            "Fix: ",
        ] {
            assert!(text.contains(part), "{part} in {text}");
        }
    }
    let out = vaultgate(&["explain", "VG1O1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the closest is VG101 unmanaged-secret"),
        "{}",
        stderr(&out)
    );
    // A rule only an UPDATE breaks has an example too, judged by the engine.
    let update = vaultgate(&["explain", "VG108"]);
    assert_contains_all(
        &stdout(&update),
        &[
            "this object",
            "changed by alice to",
            "is denied:",
            "[VG108 class-label-change]",
        ],
    );
    let slug = vaultgate(&["explain", "single-writter"]);
    assert!(
        stderr(&slug).contains("VG207 single-writer"),
        "{}",
        stderr(&slug)
    );
}

#[test]
fn rules_list_the_default_mode_of_each_rule() {
    let text = stdout(&vaultgate(&["rules"]));
    let rows: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(rows.len(), ALL.len());
    for row in rows {
        let mode = row.split_whitespace().nth(1).unwrap();
        assert!(["enforce", "warn", "off"].contains(&mode), "{row}");
    }
}

#[test]
fn version_names_the_commit_and_the_build_date() {
    let text = stdout(&vaultgate(&["--version"]));
    let rest = text
        .trim_end()
        .strip_prefix(&format!("vaultgate {} (", env!("CARGO_PKG_VERSION")))
        .and_then(|r| r.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{text}"));
    let (commit, date) = rest.split_once(' ').unwrap_or_else(|| panic!("{text}"));
    assert!(
        commit == "unknown" || (commit.len() >= 7 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{text}"
    );
    let parts: Vec<&str> = date.split('-').collect();
    assert!(
        parts.len() == 3
            && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit()))
            && date.len() == 10,
        "{text}"
    );
}

fn assert_contains_all(text: &str, parts: &[&str]) {
    for part in parts {
        assert!(text.contains(part), "{part} in {text}");
    }
}
