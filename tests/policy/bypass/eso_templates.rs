//! VG210 template-source / VG309 push-template: ESO templates that add a value instead of
//! formatting fetched ones. Also the ESO-side gaps closed with them: VG208 loops through one
//! Secret on different Vault paths, VG307 pushes of bootstrap Secrets in handover, VG206
//! refresh policies and immutable targets that stop rotations, and VG205/VG207 adoption of a
//! bootstrap Secret during its handover. Every "Was a bypass" test was allowed before.

use super::*;

const FETCHED: &str = "platform-data/postgres/payments";

/// The payments ExternalSecret fetching username, password and host, with `template`.
fn templated(template: Value) -> Value {
    let mut es = external_secret(APPROVED(), FETCHED);
    es["spec"]["data"] = json!([
        { "secretKey": "username", "remoteRef": { "key": FETCHED, "property": "username" } },
        { "secretKey": "password", "remoteRef": { "key": FETCHED, "property": "password" } },
        { "secretKey": "host", "remoteRef": { "key": FETCHED, "property": "host" } }
    ]);
    es["spec"]["target"]["template"] = template;
    es
}

fn judge(es: Value) -> Decision {
    Write::create(Kind::ExternalSecret, "payments", ARGOCD, es).evaluate()
}

fn message(d: &Decision) -> String {
    d.message("ExternalSecret", Some("payments"), "db")
}

#[test]
fn allows_formatting_only_templates() {
    for (what, template) in [
        (
            "connection string",
            json!({ "data": { "dsn": "postgres://{{ .username }}:{{ .password }}@{{ .host }}:5432/app?sslmode=require" } }),
        ),
        (
            "v1 engine",
            json!({ "engineVersion": "v1", "data": { "password": "{{ .password | toString }}" } }),
        ),
        (
            "docker config",
            json!({ "type": "kubernetes.io/dockerconfigjson", "data": { ".dockerconfigjson":
                "{\"auths\":{\"ghcr.io\":{\"auth\":\"{{ printf \"%s:%s\" .username .password | b64enc }}\"}}}" } }),
        ),
        (
            "Argo CD repository",
            json!({
                "metadata": { "labels": { "argocd.argoproj.io/secret-type": "repository" } },
                "data": { "url": "https://{{ .host }}/pnats/platform-infrastructure.git", "password": "{{ .password }}" }
            }),
        ),
        (
            "literal",
            json!({ "templateFrom": [{ "literal": "user: {{ .username }}\npassword: {{ index . \"password\" | quote }}\ndsn: postgres://{{ .username }}:{{ .password }}@{{ .host }}:5432/app" }] }),
        ),
    ] {
        assert_allowed(&judge(templated(template)), what);
    }
}

#[test]
fn rejects_a_constant_setting_in_template_data() {
    // Even a non-secret setting is a value from Git: it belongs in platform-config/.
    let d = judge(templated(json!({
        "metadata": { "labels": { "argocd.argoproj.io/secret-type": "repository" } },
        "data": { "url": "https://github.com/pnats/platform-infrastructure.git", "password": "{{ .password }}" }
    })));
    assert_denied_by(&d, "VG210", "constant url");
    let text = message(&d);
    assert!(
        text.contains("spec.target.template.data[\"url\"]: references no fetched key")
            && text.contains("platform-config/"),
        "{text}"
    );
    assert_allowed(
        &judge(templated(
            json!({ "data": { "url": "https://{{ .host }}/pnats/platform-infrastructure.git" } }),
        )),
        "url built from a fetched host",
    );
}

#[test]
fn rejects_template_from_configmap() {
    let d = judge(templated(json!({ "templateFrom": [
        { "configMap": { "name": "app-config", "items": [{ "key": "dsn", "templateAs": "KeysAndValues" }] } }
    ]})));
    assert_denied_by(&d, "VG210", "templateFrom.configMap");
    let text = message(&d);
    assert!(
        text.contains("spec.target.template.templateFrom[0].configMap")
            && text.contains("fetch it with spec.data[].remoteRef"),
        "{text}"
    );
    assert_allowed(
        &judge(templated(json!({ "data": { "dsn": "{{ .host }}:5432" } }))),
        "the same value written inline from fetched keys",
    );
}

#[test]
fn rejects_template_from_another_secret() {
    let d = judge(templated(
        json!({ "templateFrom": [{ "secret": { "name": "other-team-creds" } }] }),
    ));
    assert_denied_by(&d, "VG210", "templateFrom.secret");
    assert!(message(&d).contains("templateFrom[0].secret reads Secret \"other-team-creds\""));
    assert_allowed(
        &judge(templated(
            json!({ "data": { "password": "{{ .password }}" } }),
        )),
        "fetched key",
    );
}

#[test]
fn rejects_template_values_that_carry_a_value_from_git() {
    for text in [
        "hunter2",
        "{{ \"hunter2\" }}",
        "{{ print \"hunter2\" }}",
        "{{ .password | default \"hunter2\" }}",
        "{{ .username | replace .username \"hunter2\" }}",
        "{{ `hunter2` }}{{ .password }}",
        "{{- /* hunter2 */ -}}",
        "{{ .nonexistent }}",
        "{{ .Password }}",
        "{{ .username }}:ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "{{ randAlphaNum 32 }}",
        "{{ define \"x\" }}hunter2{{ end }}{{ template \"x\" }}{{ .password }}",
    ] {
        let d = judge(templated(json!({ "data": { "password": text } })));
        assert_denied_by(&d, "VG210", text);
        let msg = message(&d);
        assert!(
            msg.contains("spec.target.template.data[\"password\"]")
                && !msg.contains("hunter2")
                && !msg.contains("ghp_"),
            "{text}: {msg}"
        );
    }
    assert_allowed(
        &judge(templated(
            json!({ "data": { "password": "{{ .password }}" } }),
        )),
        "control",
    );
}

#[test]
fn rejects_a_literal_template_that_references_no_fetched_key() {
    let d = judge(templated(
        json!({ "templateFrom": [{ "literal": "password: hunter2", "target": "Data" }] }),
    ));
    assert_denied_by(&d, "VG210", "literal");
    assert!(
        message(&d).contains("templateFrom[0].literal[\"password\"]: references no fetched key")
    );
    // The same text as a label is metadata, like template.metadata.
    assert_allowed(
        &judge(templated(
            json!({ "templateFrom": [{ "literal": "team: payments", "target": "Labels" }] }),
        )),
        "literal labels",
    );
}

#[test]
fn data_from_makes_any_key_name_a_fetched_one() {
    let mut es = templated(json!({ "data": { "token": "{{ .token }}" } }));
    es["spec"]["dataFrom"] = json!([{ "extract": { "key": FETCHED } }]);
    assert_allowed(&judge(es.clone()), "dataFrom key");
    es["spec"]["target"]["template"]["data"]["token"] = json!("{{ \"hunter2\" }}");
    assert_denied_by(&judge(es), "VG210", "constant with dataFrom");
}

#[test]
fn rejects_template_types_kubernetes_or_helm_write() {
    for ty in [
        "kubernetes.io/service-account-token",
        "bootstrap.kubernetes.io/token",
        "helm.sh/release.v1",
        "Kubernetes.io/Service-Account-Token",
    ] {
        let d = judge(templated(
            json!({ "type": ty, "data": { "token": "{{ .password }}" } }),
        ));
        assert_denied_by(&d, "VG210", ty);
        assert!(message(&d).contains("spec.target.template.type"), "{ty}");
    }
    assert_allowed(
        &judge(templated(
            json!({ "type": "kubernetes.io/basic-auth", "data": { "password": "{{ .password }}" } }),
        )),
        "basic-auth",
    );
}

#[test]
fn rejects_template_fields_spelled_in_another_case() {
    for template in [
        json!({ "templateFrom": [{ "ConfigMap": { "name": "app-config" } }] }),
        json!({ "TemplateFrom": [{ "configMap": { "name": "app-config" } }] }),
    ] {
        assert_denied_by(
            &judge(templated(template.clone())),
            "VG210",
            &template.to_string(),
        );
    }
    let mut es = external_secret(APPROVED(), FETCHED);
    es["spec"]["target"]["Template"] = json!({ "data": { "password": "hunter2" } });
    assert_denied_by(&judge(es.clone()), "VG210", "target.Template");
    es["spec"]["target"]
        .as_object_mut()
        .expect("target")
        .remove("Template");
    assert_allowed(&judge(es), "control");
}

#[test]
fn rejects_a_cluster_external_secret_template_from_a_configmap() {
    let ces = |template: Value| {
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ClusterExternalSecret",
            "metadata": { "name": "shared" },
            "spec": { "externalSecretSpec": {
                "refreshInterval": "1h", "secretStoreRef": APPROVED(),
                "target": { "name": "shared", "template": template },
                "data": [{ "secretKey": "host", "remoteRef": { "key": "platform-config/postgres/main", "property": "host" } }]
            }}
        })
    };
    let write = |t: Value| Write {
        kind: Kind::ClusterExternalSecret,
        operation: Operation::Create,
        namespace: None,
        user: ARGOCD,
        object: ces(t),
        old: None,
    };
    assert_denied_by(
        &write(json!({ "templateFrom": [{ "configMap": { "name": "x" } }] })).evaluate(),
        "VG210",
        "fan-out",
    );
    assert_allowed(
        &write(json!({ "data": { "host": "{{ .host }}" } })).evaluate(),
        "fan-out control",
    );
}

// ------------------------------------------------------------------------------------------------
// Review findings: the rule was a blacklist and was walked through. Each "Was a bypass" write
// below was allowed; the rule is now an allowlist of formatting functions, one fetched value
// per action, no control flow, and templateFrom literals read per YAML key as ESO does.

/// Asserts a denial by `rule` whose message names none of `secrets`.
#[track_caller]
fn assert_denied_quietly(d: &Decision, rule: &str, what: &str, secrets: &[&str]) {
    assert_denied_by(d, rule, what);
    let text = d
        .denied
        .iter()
        .map(|v| v.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    for s in secrets {
        assert!(
            !text.contains(s),
            "{what}: the finding quotes the value: {text}"
        );
    }
}

#[test]
fn rejects_constants_built_from_numbers() {
    // Was a bypass: numbers and 'g' were selector parameters, len and printf "%c" made them
    // characters ("ghp"), and getSecretKey read another Secret by a name built the same way.
    let number = |c: &str| format!("(len (.password | trunc 1 | repeat {c}))");
    let ghp = format!(
        "{{{{ printf \"%c%c%c\" {} {} {} }}}}{{{{ .password }}}}",
        number("'g'"),
        number("104"),
        number("112")
    );
    let read = format!(
        "{{{{ getSecretKey (printf \"%c\" {}) \"kube-system\" \"token\" }}}}",
        number("'g'")
    );
    for (what, text, names) in [
        ("printf %c", ghp, ["calls len", "calls trunc"]),
        ("getSecretKey", read, ["calls getSecretKey", "calls len"]),
    ] {
        let d = judge(templated(json!({ "data": { "password": text } })));
        assert_denied_quietly(&d, "VG210", what, &["ghp"]);
        let text = message(&d);
        for n in names {
            assert!(text.contains(n), "{what}: {text}");
        }
    }
    assert_allowed(
        &judge(templated(
            json!({ "data": { "auth": "{{ printf \"%s:%s\" .username .password | b64enc }}" } }),
        )),
        "printf with %s verbs of fetched values",
    );
}

#[test]
fn rejects_a_literal_whose_second_key_is_text_from_git() {
    // Was a bypass: ESO reads a rendered literal as YAML, one Secret key per line; the literal
    // was checked as one string, so one reference let every other key through.
    for (what, literal, names) in [
        (
            "YAML escapes",
            "password: {{ .password }}\ntoken: \"\\x67\\x68\\x70\\x5f\\x31\\x36\"",
            "a quote or backslash in a literal YAML value",
        ),
        (
            "constant key",
            "password: {{ .password }}\ntoken: Xk9mQ2$pL7!vB4@zR8%",
            "literal[\"token\"]: references no fetched key",
        ),
        (
            "line break printed by an action",
            "password: {{ .password }}{{ \"\\n\" }}token: hunter2",
            "literal[\"token\"]: references no fetched key",
        ),
        (
            "binary tag",
            "password: {{ .password }}\ntoken: !!binary aHVudGVyMg==",
            "starting with an indicator (a tag",
        ),
    ] {
        let d = judge(templated(
            json!({ "templateFrom": [{ "literal": literal }] }),
        ));
        assert_denied_quietly(&d, "VG210", what, &["Xk9", "x67", "hunter2", "aHVudGVy"]);
        assert!(message(&d).contains(names), "{what}: {}", message(&d));
        let d = push_templated(json!({ "templateFrom": [{ "literal": literal }] }));
        assert_denied_quietly(&d, "VG309", what, &["Xk9", "x67", "hunter2", "aHVudGVy"]);
    }
    let control = json!({ "templateFrom": [{ "literal":
        "password: {{ .password }}\ndsn: postgres://{{ .username }}:{{ .password }}@{{ .host }}:5432/app\nuser: {{ .username | quote }}\n" }] });
    assert_allowed(
        &judge(templated(control.clone())),
        "one fetched value per key",
    );
    assert_allowed(&push_templated(control), "push: one source value per key");
}

#[test]
fn rejects_literal_text_next_to_an_action_that_prints_nothing() {
    // Was a bypass: a reference that prints nothing (trunc 0, an empty if) counted as reading
    // a fetched key, and the literal-text check only counted letters, digits and `_`.
    for text in [
        "{{ .password | trunc 0 }}Xk9#mQ2$pL7!vB4@zR8%",
        "{{ if .password }}{{ end }}550e8400-e29b-41d4-a716-446655440000",
        "{{ .password }}Xk9#mQ2$pL7!vB4@zR8%",
        "{{ .password }}550e8400-e29b-41d4-a716-446655440000",
        "{{ .password | fromJson | dig \"none\" \"\" }}Xk9#mQ2$pL7!vB4@zR8%",
        "[db]\nuser={{ .username }}\nadmin_password = hunter2\n",
    ] {
        let d = judge(templated(json!({ "data": { "password": text } })));
        assert_denied_quietly(&d, "VG210", text, &["Xk9", "550e8400", "hunter2"]);
    }
    assert_allowed(
        &judge(templated(
            json!({ "data": { "password": "{{ .password }}" } }),
        )),
        "control",
    );
}

#[test]
fn allows_selection_connection_strings_guids_and_layout() {
    // Were false positives.
    for (what, text) in [
        (
            "dig into a JSON value",
            "{{ .password | fromJson | dig \"db\" \"password\" \"\" }}",
        ),
        (
            "MongoDB Atlas DSN",
            "mongodb+srv://{{ .username }}:{{ .password }}@cluster0.abcde.mongodb.net/?retryWrites=true&w=majority&appName=Cluster0",
        ),
        (
            "Azure tenant in config text",
            "[azure]\ntenant=72f988bf-86f1-41af-91ab-2d7cd011db47\nclient_secret={{ .password }}\n",
        ),
        ("trailing newline", "{{ .password }}{{ \"\\n\" }}"),
        ("strip newlines", "{{ .password | replace \"\\n\" \"\" }}"),
        (
            "certificate bundle",
            "{{ .password | filterPEM \"CERTIFICATE\" | nindent 4 }}",
        ),
    ] {
        assert_allowed(
            &judge(templated(json!({ "data": { "password": text } }))),
            what,
        );
    }
}

// ------------------------------------------------------------------------------------------------
// Second attack pass (findings 1, 2, 3, 7). Each "Was a bypass" write was admitted, and Go renders
// it to a Git constant; the same literals in a PushSecret pushed that constant to Vault.

/// Denied as an ExternalSecret (VG210) and as a PushSecret (VG309), never quoting `secrets`.
#[track_caller]
fn assert_denied_both(template: Value, what: &str, expect: &str, secrets: &[&str]) {
    let d = judge(templated(template.clone()));
    assert_denied_quietly(&d, "VG210", what, secrets);
    assert!(message(&d).contains(expect), "{what}: {}", message(&d));
    assert_denied_quietly(&push_templated(template), "VG309", what, secrets);
}

#[test]
fn rejects_printing_the_input_key_names() {
    // Was a bypass (finding 1): spec.data[].secretKey is chosen in Git, and printing the whole
    // input prints it; split/index/trimPrefix then cut the name out exactly.
    let mut es = templated(json!({ "data": { "token":
        "{{ index (split \":\" (print .)) \"_0\" | trimPrefix \"map[\" }}" } }));
    es["spec"]["data"] = json!([{ "secretKey": "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
        "remoteRef": { "key": FETCHED, "property": "password" } }]);
    let d = judge(es);
    assert_denied_quietly(&d, "VG210", "print .", &["ghp_", "16C7"]);
    assert!(message(&d).contains("the whole input"), "{}", message(&d));
    for text in [
        "{{ index (split \"\\\"\" (toJson .)) \"_1\" }}",
        "{{ index (splitList \"\\\"\" (toJson $)) 1 }}",
        "{{ . | toYaml }}",
    ] {
        assert_denied_both(
            json!({ "data": { "token": text } }),
            text,
            "the whole input",
            &["ghp_"],
        );
    }
    // Control: naming one key through the input is a reference to it.
    assert_allowed(
        &judge(templated(json!({ "data": {
            "a": "{{ index . \"password\" }}",
            "b": "{{ get . \"password\" }}",
            "c": "{{ dig \"password\" \"\" . }}"
        } }))),
        "index/get/dig of one key",
    );
}

#[test]
fn rejects_a_reference_that_prints_nothing_next_to_a_credential() {
    // Was a bypass (finding 2): trimAll with every printable character erased any value, and
    // the literal rules missed mixed-case letters, `-`/`.`-joined pieces, %XX hex and snake case.
    let all: String = (' '..='~').collect();
    let erase = format!(
        "{{{{ .password | trimAll {} }}}}",
        serde_json::to_string(&all).expect("json")
    );
    assert_denied_both(
        json!({ "data": { "token": format!("{erase}x") } }),
        "trimAll",
        "calls trimAll",
        &[],
    );
    let nothing = "{{ index (split \"\\u0000\" .password) \"_9\" }}";
    for (what, tail) in [
        ("mixed-case letters", "XkmQpLvBzRaQwErTyUiOpAs"),
        ("dash-joined", "Xk9mQ2p-L7vB4zR-8aQw3Er-T5yU7iO"),
        ("dot-joined", "Xk9mQ2p.L7vB4zR.8aQw3Er"),
        (
            "percent-encoded",
            "%4B%6D%51%70%4C%76%42%7A%52%61%51%77%45%72%54%79",
        ),
        ("snake case", "xkmqplvbzraq_XKMQPLVBZRAQ_wertyuiopasd"),
    ] {
        assert_denied_both(
            json!({ "data": { "token": format!("{nothing}{tail}") } }),
            what,
            "spec",
            &["Xk", "xkmq", "%4B"],
        );
    }
    assert_denied_both(
        json!({ "data": { "config": format!("{nothing}{}", "setting = on\n".repeat(40)) } }),
        "more literal text than a template needs",
        "characters of literal text",
        &[],
    );
    // Controls: layout and scaffolding around fetched values.
    for text in [
        "{{ .password | trimPrefix \"Bearer \" }}{{ \"\\n\" }}",
        "jdbc:postgresql://{{ .host }}:5432/app?options=-c%20search_path%3Dapp&user={{ .username }}",
        "apiVersion: rbac.authorization.k8s.io/v1beta1\nuser: {{ .username }}",
    ] {
        assert_allowed(
            &judge(templated(json!({ "data": { "token": text } }))),
            text,
        );
    }
}

#[test]
fn rejects_yaml_a_literal_splitter_reads_differently_from_eso() {
    // Was a bypass (finding 3): an empty action at column 0, a blank action before a quoted
    // value, \r and Unicode line breaks, and \-newline joins hid a key or a decoded value.
    let cont = "\\\n  \\x70\\x5f\\\n  16C7e42\\\n  F292c69\\\n  a\"";
    for (what, literal) in [
        (
            "empty action at column 0",
            format!(
                "password: {{{{ .password | toJson }}}}\n{{{{ \"\" }}}}token: \"{{{{ .password }}}}\\x67\\x68{cont}"
            ),
        ),
        (
            "blank action before a quote",
            format!("token: {{{{ \" \" }}}}\"{{{{ .password }}}}\\x67\\x68{cont}"),
        ),
        (
            "carriage return",
            "password: {{ .username }}\rvalue: gh".to_owned(),
        ),
        (
            "printed carriage return",
            "password: {{ .username }}{{ \"\\r\" }}value: gh".to_owned(),
        ),
        (
            "line separator",
            "password: {{ .username }}\u{2028}value: gh".to_owned(),
        ),
        (
            "next line",
            "password: {{ .username }}\u{85}value: gh".to_owned(),
        ),
        (
            "tag after a blank action",
            "value: {{ \" \" }}!!binary Z2hw{{ .password }}".to_owned(),
        ),
        (
            "block scalar",
            "config: |\n  user={{ .username }}\n  token=gh".to_owned(),
        ),
        (
            "line an action starts",
            "{{ .password | fromJson | toYaml }}".to_owned(),
        ),
    ] {
        assert_denied_both(
            json!({ "templateFrom": [{ "literal": literal }] }),
            what,
            "templateFrom[0].literal",
            &["x67", "16C7", "Z2hw", "gh"],
        );
    }
    let control = json!({ "templateFrom": [{ "literal":
        "password: {{ .password | toJson }}\n{{ \"\" }}token: {{ .password | quote }}{{ \"\\n\" }}user: {{ .username }}\nempty: \"\"" }] });
    assert_allowed(
        &judge(templated(control.clone())),
        "strict key: value lines",
    );
    assert_allowed(&push_templated(control), "push: strict key: value lines");
}

#[test]
fn rejects_unicode_whitespace_printed_by_an_action() {
    // Was a bypass (finding 7): a whitespace constant could be any of ~25 Unicode spaces.
    assert_denied_both(
        json!({ "data": { "token": "{{ .password }}{{ \"\\u2000\\u2005\\u3000\\u00a0\\u2009\" }}" } }),
        "Unicode spaces",
        "prints a constant",
        &[],
    );
    assert_allowed(
        &judge(templated(
            json!({ "data": { "token": "{{ .password }}{{ \"\\r\\n\" }}" } }),
        )),
        "ASCII line break",
    );
}

// ------------------------------------------------------------------------------------------------
// VG309: a PushSecret's template reads its source Secret and nothing else.

fn push_templated(template: Value) -> Decision {
    let mut ps = push_secret(json!([APPROVED()]), "platform-data/postgres/temporal");
    ps["spec"]["template"] = template;
    Write::create(Kind::PushSecret, "temporal", ARGOCD, ps).evaluate()
}

#[test]
fn rejects_push_template_reading_another_secret_or_configmap() {
    for (what, entry) in [
        ("secret", json!({ "secret": { "name": "other" } })),
        ("configMap", json!({ "configMap": { "name": "settings" } })),
    ] {
        let d = push_templated(json!({ "templateFrom": [entry] }));
        assert_denied_by(&d, "VG309", what);
        assert!(
            d.message("PushSecret", Some("temporal"), "db")
                .contains(&format!("spec.template.templateFrom[0].{what}")),
            "{what}"
        );
    }
    assert_allowed(
        &push_templated(json!({ "data": { "password": "{{ .password | trim }}" } })),
        "source key",
    );
}

#[test]
fn rejects_push_template_values_that_reference_no_source_key() {
    for text in ["hunter2", "{{ \"hunter2\" }}", "{{ uuidv4 }}"] {
        assert_denied_by(
            &push_templated(json!({ "data": { "password": text } })),
            "VG309",
            text,
        );
    }
    assert_denied_by(
        &push_templated(json!({ "templateFrom": [{ "literal": "password: hunter2" }] })),
        "VG309",
        "literal",
    );
    assert_allowed(
        &push_templated(json!({ "templateFrom": [{ "literal": "password: {{ .password }}" }] })),
        "literal control",
    );
}

// ------------------------------------------------------------------------------------------------
// VG208: a Secret is a source or a copy, whichever object arrives first, whatever the paths.

fn temporal_es(target: &str, key: &str) -> Value {
    let mut es = external_secret(APPROVED(), key);
    es["metadata"] = json!({ "name": target, "namespace": "temporal" });
    es["spec"]["target"]["name"] = json!(target);
    es
}

#[test]
fn rejects_an_external_secret_targeting_a_push_source_on_another_path() {
    // Was a bypass: only identical Vault paths counted.
    let push = push_secret(json!([APPROVED()]), "platform-data/postgres/billing");
    let view = view_with(&[(Kind::PushSecret, "temporal", push)]);
    let es = |target: &str| {
        Write::create(
            Kind::ExternalSecret,
            "temporal",
            ARGOCD,
            temporal_es(target, "platform-data/postgres/temporal"),
        )
        .evaluate_in(&view)
    };
    let d = es("temporal-db");
    assert_denied_by(&d, "VG208", "pull into the push source");
    assert!(
        d.message("ExternalSecret", Some("temporal"), "temporal-db")
            .contains("PushSecret \"db\" publishes that same Secret to Vault"),
    );
    assert_allowed(&es("temporal-db-copy"), "a Secret of another name");
}

#[test]
fn rejects_a_push_secret_of_an_external_secret_target_on_another_path() {
    // Was a bypass: only identical Vault paths counted.
    let es = temporal_es("temporal-db", "platform-data/postgres/temporal");
    let view = view_with(&[(Kind::ExternalSecret, "temporal", es)]);
    let push = |source: &str| {
        let mut ps = push_secret(json!([APPROVED()]), "platform-data/postgres/billing");
        ps["spec"]["selector"]["secret"]["name"] = json!(source);
        Write::create(Kind::PushSecret, "temporal", ARGOCD, ps).evaluate_in(&view)
    };
    assert_denied_by(&push("temporal-db"), "VG208", "push the pulled copy");
    assert_allowed(&push("temporal-operator-db"), "the operator's own Secret");
}

// ------------------------------------------------------------------------------------------------
// VG307: a bootstrap Secret reaches Vault once, through the handover controller.

#[test]
fn rejects_pushing_a_bootstrap_secret_in_any_handover_state() {
    // Was a bypass for pending and copied.
    let p = "platform.pnats.cloud/";
    for state in [None, Some("pending"), Some("copied"), Some("consumed")] {
        let mut labels = json!({ CLASS: "bootstrap" });
        if let Some(s) = state {
            labels[format!("{p}handover-state")] = json!(s);
        }
        let view = view_with(&[(
            Kind::Secret,
            "temporal",
            secret("temporal-db", "temporal", json!({ "labels": labels })),
        )]);
        let push = |update: Option<&str>| {
            let mut ps = push_secret(json!([APPROVED()]), "platform-data/postgres/temporal");
            if let Some(u) = update {
                ps["spec"]["updatePolicy"] = json!(u);
            }
            Write::create(Kind::PushSecret, "temporal", ARGOCD, ps).evaluate_in(&view)
        };
        let d = push(None);
        assert_denied_by(&d, "VG307", &format!("{state:?}"));
        let text = d.message("PushSecret", Some("temporal"), "db");
        assert!(
            text.contains("with updatePolicy Replace it would overwrite Vault every refresh (refreshInterval 1h)")
                && text.contains(&format!("{p}handover-to")),
            "{text}"
        );
        let d = push(Some("IfNotExists"));
        assert_denied_by(&d, "VG307", "IfNotExists");
        assert!(
            d.message("PushSecret", Some("temporal"), "db")
                .contains("updatePolicy IfNotExists")
        );
    }
    let view = view_with(&[(
        Kind::Secret,
        "temporal",
        secret(
            "temporal-db",
            "temporal",
            json!({ "labels": { CLASS: "internal" } }),
        ),
    )]);
    assert_allowed(
        &Write::create(
            Kind::PushSecret,
            "temporal",
            ARGOCD,
            push_secret(json!([APPROVED()]), "platform-data/postgres/temporal"),
        )
        .evaluate_in(&view),
        "operator-generated source",
    );
}

// ------------------------------------------------------------------------------------------------
// VG206: consumers get rotations automatically.

#[test]
fn rejects_refresh_policies_that_never_follow_a_rotation() {
    for policy in ["CreatedOnce", "Manual", "OnChange", "periodic"] {
        let mut es = external_secret(APPROVED(), FETCHED);
        es["spec"]["refreshPolicy"] = json!(policy);
        let d = judge(es);
        assert_denied_by(&d, "VG206", policy);
        assert!(message(&d).contains("spec.refreshPolicy"), "{policy}");
    }
    let mut manual = external_secret(APPROVED(), FETCHED);
    manual["spec"]["refreshPolicy"] = json!("Manual");
    assert!(message(&judge(manual)).contains("externalSecrets.refreshPolicyExceptions"));
    let mut es = external_secret(APPROVED(), FETCHED);
    es["spec"]["refreshPolicy"] = json!("Periodic");
    assert_allowed(&judge(es), "Periodic");
}

#[test]
fn rejects_an_immutable_target() {
    let mut es = external_secret(APPROVED(), FETCHED);
    es["spec"]["target"]["immutable"] = json!(true);
    let d = judge(es.clone());
    assert_denied_by(&d, "VG206", "immutable");
    assert!(message(&d).contains("spec.target.immutable"));
    es["spec"]["target"]["immutable"] = json!(false);
    assert_allowed(&judge(es), "mutable");
}

// ------------------------------------------------------------------------------------------------
// VG205/VG207: a bootstrap Secret is retired by its handover, not adopted.

#[test]
fn rejects_adopting_a_bootstrap_secret_during_its_handover() {
    // Was a bypass: pending and copied were exempt, and ESO's write then hit VG110.
    let p = "platform.pnats.cloud/";
    for state in ["pending", "copied"] {
        let boot = secret(
            "db",
            "payments",
            json!({
                "labels": { CLASS: "bootstrap", format!("{p}handover-state"): state },
                "annotations": { format!("{p}handover-to"): FETCHED }
            }),
        );
        let view = view_with(&[(Kind::Secret, "payments", boot)]);
        let mut merge = external_secret(APPROVED(), FETCHED);
        merge["spec"]["target"]["creationPolicy"] = json!("Merge");
        let d = Write::create(Kind::ExternalSecret, "payments", ARGOCD, merge).evaluate_in(&view);
        assert_eq!(denied(&d), ["VG205", "VG207"], "{state}");
        let text = message(&d);
        assert!(
            text.contains("retired by the handover, not adopted")
                && text.contains(&format!("remoteRef.key: {FETCHED}"))
                && text.contains(&format!("handover-state {state}")),
            "{text}"
        );
        let owner = external_secret(APPROVED(), FETCHED);
        let d = Write::create(Kind::ExternalSecret, "payments", ARGOCD, owner).evaluate_in(&view);
        assert_eq!(denied(&d), ["VG207"], "{state}");
        let mut runtime = external_secret(APPROVED(), FETCHED);
        runtime["metadata"]["name"] = json!("db-runtime");
        runtime["spec"]["target"]["name"] = json!("db-runtime");
        assert_allowed(
            &Write::create(Kind::ExternalSecret, "payments", ARGOCD, runtime).evaluate_in(&view),
            "the handed-over value in a Secret of another name",
        );
    }
}
