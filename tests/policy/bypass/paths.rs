//! VG303 vault-path / VG203 read-scope / VG204 unscoped-find: path spellings.

use super::*;

fn smuggled_paths(consumer: &str, other: &str) -> Vec<String> {
    vec![
        format!("platform-data/postgres/{consumer}/../{other}"),
        format!("platform-data/postgres/../postgres/{other}"),
        format!("platform-data/postgres/./{consumer}"),
        format!("platform-data//postgres/{consumer}"),
        format!("platform-data/postgres//{consumer}"),
        format!("platform-data/postgres/{consumer}/"),
        format!("/platform-data/postgres/{consumer}"),
        format!("platform-data/postgres/{consumer}%2F..%2F{other}"),
        format!("platform-data%2Fpostgres%2F{consumer}"),
        format!("platform-data/postgres/{}", consumer.to_uppercase()),
        format!("Platform-Data/postgres/{consumer}"),
        format!("PLATFORM-DATA/POSTGRES/{}", consumer.to_uppercase()),
        format!("platform‐data/postgres/{consumer}"), // U+2010 hyphen
        format!("platform-dаta/postgres/{consumer}"), // Cyrillic 'а'
        format!("platform-data／postgres／{consumer}"), // fullwidth solidus
        format!("platform-data\\postgres\\{consumer}"),
        format!(" platform-data/postgres/{consumer}"),
        format!("platform-data/postgres/{consumer} "),
        format!("platform-data/postgres/{consumer}\u{0}"),
        format!("platform-data/postgres/{consumer}\t"),
        format!("platform-data/postgres/{consumer}?version=1"),
        format!("platform-data/postgres/{consumer}#x"),
        format!("platform-data/postgres/{consumer}\u{200b}"), // zero-width space
        format!("platform-data/postgres/{consumer}\u{301}"),  // combining accent
        format!("platform-data/postgres/{other}"),
        format!("platform-data/postgres/{consumer}-{other}"),
        format!("platform-data/postgres/{consumer}/extra"),
        "platform-data".to_owned(),
        "platform-data/postgres".to_owned(),
        String::new(),
    ]
}

#[test]
fn vg303_push_paths_with_dotdot_double_slash_trailing_slash_encoding_case_and_lookalikes() {
    let source = secret(
        "temporal-db",
        "temporal",
        json!({ "labels": { CLASS: "internal" } }),
    );
    let view = view_with(&[(Kind::Secret, "temporal", source)]);
    let ps = |key: &str| push_secret(json!([APPROVED()]), key);
    assert_allowed(
        &Write::create(
            Kind::PushSecret,
            "temporal",
            ARGOCD,
            ps("platform-data/postgres/temporal"),
        )
        .evaluate_in(&view),
        "control",
    );
    for path in smuggled_paths("temporal", "billing") {
        // A publisher names the consumer, so `platform-data/postgres/billing` (and the valid
        // `temporal-billing`) are well-formed publications; ownership is VG308's job.
        if path == "platform-data/postgres/billing"
            || path == "platform-data/postgres/temporal-billing"
        {
            continue;
        }
        let d = Write::create(Kind::PushSecret, "temporal", ARGOCD, ps(&path)).evaluate_in(&view);
        // An empty remoteKey is a missing mapping (VG302) before it is a bad path.
        assert_denied_by(
            &d,
            if path.is_empty() { "VG302" } else { "VG303" },
            &format!("{path:?}"),
        );
    }
}

#[test]
fn vg203_read_paths_with_dotdot_double_slash_trailing_slash_encoding_case_and_lookalikes() {
    let es = |key: &str| external_secret(APPROVED(), key);
    assert_allowed(
        &Write::create(
            Kind::ExternalSecret,
            "payments",
            ARGOCD,
            es("platform-data/postgres/payments"),
        )
        .evaluate(),
        "control",
    );
    assert_allowed(
        &Write::create(
            Kind::ExternalSecret,
            "payments",
            ARGOCD,
            es("platform-config/postgres/shared"),
        )
        .evaluate(),
        "config",
    );
    for path in smuggled_paths("payments", "billing") {
        let d = Write::create(Kind::ExternalSecret, "payments", ARGOCD, es(&path)).evaluate();
        assert_denied_by(&d, "VG203", &format!("{path:?}"));
        // dataFrom.extract reads the same way.
        let mut extract = es("platform-data/postgres/payments");
        extract["spec"]["dataFrom"] = json!([{ "extract": { "key": path } }]);
        assert_denied_by(
            &Write::create(Kind::ExternalSecret, "payments", ARGOCD, extract).evaluate(),
            "VG203",
            &format!("extract {path:?}"),
        );
    }
    // Config paths smuggled into data: platform-config/../platform-data/...
    for path in [
        "platform-config/../platform-data/postgres/billing",
        "platform-config/%2e%2e/platform-data/postgres/billing",
        "platform-config/x/../../platform-data/postgres/billing",
    ] {
        assert_denied_by(
            &Write::create(Kind::ExternalSecret, "payments", ARGOCD, es(path)).evaluate(),
            "VG203",
            path,
        );
    }
}

#[test]
fn vg204_find_paths_with_smuggling_spellings() {
    let find = |path: Option<&str>| {
        let mut es = external_secret(APPROVED(), "platform-data/postgres/payments");
        es["spec"]["dataFrom"] = json!([{ "find": { "path": path, "name": { "regexp": ".*" } } }]);
        es
    };
    assert_allowed(
        &Write::create(
            Kind::ExternalSecret,
            "payments",
            ARGOCD,
            find(Some("platform-data/postgres/payments")),
        )
        .evaluate(),
        "own path",
    );
    assert_denied_by(
        &Write::create(Kind::ExternalSecret, "payments", ARGOCD, find(None)).evaluate(),
        "VG204",
        "no path",
    );
    for path in smuggled_paths("payments", "billing").into_iter().chain([
        "platform-data/postgres".to_owned(),
        "platform-data/postgres/pay".to_owned(),
    ]) {
        let d =
            Write::create(Kind::ExternalSecret, "payments", ARGOCD, find(Some(&path))).evaluate();
        assert_denied_by(&d, "VG204", &format!("{path:?}"));
    }
}
