//! Unit tests of the path conventions and the read scope.

use super::*;

#[test]
fn accepts_the_rfc_examples() {
    let p = Policy::default();
    for ok in [
        "platform-data/postgres/temporal",
        "platform-data/redis/temporal",
        "platform-config/postgres/platform-postgres",
    ] {
        assert!(push_path_problems(ok, &p).is_empty(), "{ok}");
    }
}

#[test]
fn rejects_segments_that_are_environment_names() {
    let p = Policy::default();
    assert_eq!(
        push_path_problems("platform-data/postgres/prod", &p).len(),
        1
    );
    assert_eq!(
        push_path_problems("platform-data/staging/temporal", &p).len(),
        1
    );
}

#[test]
fn a_listed_datasource_names_its_publishing_namespaces() {
    let p =
        Policy::from_yaml("vault:\n  publishers:\n    postgres: [postgres-operator]\n").unwrap();
    let owners = publishers_of("platform-data/postgres/payments", &p).unwrap();
    assert_eq!(owners, ["postgres-operator"]);
    assert!(publishers_of("platform-config/postgres/main", &p).is_some());
    assert_eq!(publishers_of("platform-data/redis/payments", &p), None);
    assert_eq!(publishers_of("other/postgres/payments", &p), None);
    let extra = Policy::from_yaml(
        "vault:\n  extraPushPrefixes: [applications]\n  publishers:\n    postgres: [postgres-operator]\n",
    )
    .unwrap();
    assert!(publishers_of("applications/postgres/payments", &extra).is_some());
}

#[test]
fn allows_consumer_names_that_contain_an_environment_word() {
    let p = Policy::default();
    for ns in ["dev-portal", "load-test", "qa-tools"] {
        let path = format!("platform-data/postgres/{ns}");
        assert!(push_path_problems(&path, &p).is_empty(), "{path}");
        assert_eq!(
            read_denied(&path, &ReadScope::of(ns, None, &p), &p),
            None,
            "{path}"
        );
    }
}

#[test]
fn rejects_smuggling_spellings() {
    let p = Policy::default();
    for bad in [
        "platform-data/postgres/../billing",
        "platform-data//postgres/temporal",
        "platform-data/postgres/temporal/",
        "platform-data/postgres/temporal%2Fx",
        "Platform-Data/postgres/temporal",
        "/platform-data/postgres/temporal",
    ] {
        assert!(!push_path_problems(bad, &p).is_empty(), "{bad}");
        assert!(
            read_denied(bad, &ReadScope::of("temporal", None, &p), &p).is_some(),
            "{bad}"
        );
    }
}

#[test]
fn rejects_wrong_depth_and_foreign_prefix() {
    let p = Policy::default();
    assert!(!push_path_problems("platform-data/postgres", &p).is_empty());
    assert!(!push_path_problems("platform-data/postgres/a/b", &p).is_empty());
    assert!(!push_path_problems("applications/security/keycloak", &p).is_empty());
}

#[test]
fn namespace_reads_its_own_data_and_shared_config() {
    let p = Policy::default();
    assert!(
        read_denied(
            "platform-data/postgres/temporal",
            &ReadScope::of("temporal", None, &p),
            &p
        )
        .is_none()
    );
    assert!(
        read_denied(
            "platform-config/postgres/platform-postgres",
            &ReadScope::of("temporal", None, &p),
            &p
        )
        .is_none()
    );
    assert!(
        read_denied(
            "platform-data/postgres/billing",
            &ReadScope::of("temporal", None, &p),
            &p
        )
        .is_some()
    );
    assert!(read_denied("platform-data/postgres/temporal", &ReadScope::fan_out(), &p).is_some());
}

#[test]
fn grants_and_aliases_extend_the_read_scope() {
    let mut p = Policy::default();
    p.namespaces
        .aliases
        .insert("temporal-system".into(), vec!["temporal".into()]);
    p.vault
        .read_grants
        .insert("payments".into(), vec!["applications/payments".into()]);
    assert!(
        read_denied(
            "platform-data/postgres/temporal",
            &ReadScope::of("temporal-system", None, &p),
            &p
        )
        .is_none()
    );
    assert!(
        read_denied(
            "applications/payments/stripe",
            &ReadScope::of("payments", None, &p),
            &p
        )
        .is_none()
    );
    assert!(
        read_denied(
            "applications/payments-evil/x",
            &ReadScope::of("payments", None, &p),
            &p
        )
        .is_some()
    );
}

#[test]
fn app_labels_name_further_consumers_unless_the_scope_is_strict() {
    let labels: std::collections::BTreeMap<String, String> = [
        (
            "app.kubernetes.io/name".to_owned(),
            "payment-api".to_owned(),
        ),
        ("app".to_owned(), "Not An Identifier".to_owned()),
    ]
    .into();
    let p = Policy::default();
    let scope = ReadScope::of("payments", Some(&labels), &p);
    assert_eq!(scope.consumers(), ["payments", "payment-api"]);
    assert!(read_denied("platform-data/postgres/payment-api", &scope, &p).is_none());
    assert!(read_denied("platform-data/postgres/ledger", &scope, &p).is_some());
    let strict = Policy::from_yaml("vault:\n  readScope:\n    strict: true\n").unwrap();
    let scope = ReadScope::of("payments", Some(&labels), &strict);
    assert_eq!(scope.consumers(), ["payments"]);
    assert!(read_denied("platform-data/postgres/payment-api", &scope, &strict).is_some());
}

#[test]
fn config_keys_are_endpoint_data_and_credential_urls_are_not() {
    for (key, property) in [
        ("host", "host"),
        ("DB_HOST", "host"),
        ("redisPort", "port"),
        ("S3_ENDPOINT", "endpoint"),
        ("dbname", "database"),
        ("db_name", "database"),
        ("region", "region"),
        ("api-url", "url"),
    ] {
        assert_eq!(config_property(key), Some(property), "{key}");
    }
    for key in [
        "DATABASE_URL",
        "REDIS_URL",
        "password",
        "token",
        "name",
        "tls.crt",
    ] {
        assert_eq!(config_property(key), None, "{key}");
    }
    assert!(config_only(["host", "port"].into_iter()));
    assert!(!config_only(["host", "password"].into_iter()));
    assert!(!config_only(std::iter::empty()));
}

#[test]
fn keys_map_to_properties_by_their_last_word() {
    let p = Policy::default();
    for (key, property) in [
        ("DB_PASSWORD", Some("password")),
        ("STRIPE_API_KEY", Some("token")),
        ("username", Some("username")),
        ("DATABASE_URL", None),
        ("tls.crt", None),
    ] {
        assert_eq!(property_for_key(key, &p), property, "{key}");
    }
}
