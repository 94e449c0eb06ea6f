//! Tests of reading the policy file: defaults (printed, empty, partial) and errors that name
//! the field to fix.

use super::*;

#[test]
fn the_printed_default_is_the_built_in_default() {
    assert_eq!(
        Policy::from_yaml(DEFAULT_POLICY_YAML).unwrap(),
        Policy::default()
    );
}

#[test]
fn an_empty_file_means_all_defaults() {
    assert_eq!(Policy::from_yaml("# nothing\n").unwrap(), Policy::default());
}

#[test]
fn unknown_fields_are_named() {
    let err = Policy::from_yaml("stores:\n  aproved: []\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("aproved"), "{err}");
}

#[test]
fn bad_values_name_the_field() {
    for (yaml, field) in [
        ("mode: strict\n", "mode"),
        ("rules:\n  VG999: warn\n", "rules.VG999"),
        (
            "externalSecrets:\n  maxRefreshInterval: soon\n",
            "externalSecrets.maxRefreshInterval",
        ),
        ("prefix: example.com\n", "prefix"),
        ("stores:\n  approved: []\n", "stores.approved"),
    ] {
        let err = Policy::from_yaml(yaml).unwrap_err().to_string();
        assert!(err.contains(field), "{yaml:?}: {err}");
    }
}

#[test]
fn partial_files_keep_the_other_defaults() {
    let p = Policy::from_yaml("namespaces:\n  bootstrap: [vault]\n").unwrap();
    assert_eq!(p.namespaces.bootstrap, ["vault"]);
    assert_eq!(p.namespaces.exempt, Namespaces::default().exempt);
    assert_eq!(p.stores, Stores::default());
}
