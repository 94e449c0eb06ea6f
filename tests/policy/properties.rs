//! Property tests of the fuzzing invariants, on stable in the normal suite (tests/fuzz/ has the
//! cargo-fuzz targets for long runs by hand):
//! - AdmissionReview decoding: any bytes, and fixtures with any field replaced by any JSON, get
//!   a well-formed AdmissionReview or a one-line error on both routes — never a panic;
//! - classification + evaluation of arbitrary objects of every kind by every identity;
//! - patch generation + application: the patch only adds labels/annotations (and rewrites or
//!   removes only vaultgate's computed audit stamps), applies cleanly, never touches
//!   `data`/`stringData`, and re-mutating the patched object yields no patch;
//! - classes are earned: a Secret CREATE is allowed only when an oracle written here finds its
//!   class earned from trusted signals, never with a copy marker or a contradicting class label;
//! - the policy-file parser and `check`'s loader on arbitrary and mutated text.
//!
//! Cases are generated from a fixed seed per run by proptest (no regression files are written);
//! a failure prints the minimal input, which then becomes a test in tests/policy/regressions.rs.
//! The review and mutation invariants are tests/support/invariants.rs, shared with the fuzz
//! targets.

use std::sync::{Arc, OnceLock};

use proptest::{prelude::*, test_runner::Config};
use serde_json::{Map, Value, json};
use vaultgate::{
    admission::{Route, Webhook},
    cli::check,
    cluster::MemoryView,
    metrics::Metrics,
    policy::{
        self, Identity, Object, Operation, Policy, Review, config::DEFAULT_POLICY_YAML,
        objects::Kind,
    },
};

use crate::support::invariants::{USERS, check_answer, check_mutation, webhook};

fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

fn fixtures() -> &'static [(String, Value)] {
    static FIXTURES: OnceLock<Vec<(String, Value)>> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let dir = format!("{}/tests/fixtures/admission", env!("CARGO_MANIFEST_DIR"));
        let mut out: Vec<(String, Value)> = std::fs::read_dir(dir)
            .expect("fixtures")
            .map(|e| e.expect("entry").path())
            .map(|p| {
                (
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap(),
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    })
}

// ------------------------------------------------------------------------------------------------
// Strategies.

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        prop_oneof![
            Just("true"),
            Just("CREATE"),
            Just("Secret"),
            Just("bootstrap"),
            Just("vault-backend"),
            Just("platform-data/postgres/payments")
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map(key(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Object keys: field names the decoders look for, and arbitrary strings.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "metadata", "name", "namespace", "labels", "annotations", "ownerReferences", "apiVersion", "kind", "uid",
            "controller", "data", "stringData", "type", "spec", "secretStoreRef", "storeRef", "sourceRef", "generatorRef",
            "remoteRef", "key", "property", "dataFrom", "find", "path", "extract", "target", "creationPolicy",
            "refreshInterval", "secretStoreRefs", "selector", "secret", "match", "secretKey", "remoteKey", "dataTo",
            "provider", "vault", "kubernetes", "auth", "tokenSecretRef", "generateName", "externalSecretSpec",
            "pushSecretSpec", "remoteNamespace", "managedFields", "fieldsV1",
        ])
        .prop_map(str::to_owned),
        1 => ".{0,8}",
    ]
}

/// A label or annotation key: vaultgate's own keys, copier and ESO keys, and awkward spellings
/// (JSON Pointer escapes `~` and `/`, empty, upper case).
fn meta_key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "platform.pnats.cloud/secret-class", "platform.pnats.cloud/bootstrap-source", "platform.pnats.cloud/handover-state",
            "platform.pnats.cloud/handover-to", "platform.pnats.cloud/first-seen", "platform.pnats.cloud/created-by",
            "platform.pnats.cloud/admission-uid", "platform.pnats.cloud/git-source", "platform.pnats.cloud/break-glass",
            "reconcile.external-secrets.io/managed", "reflector.v1.k8s.emberstack.com/reflects", "app.kubernetes.io/managed-by",
            "argocd.argoproj.io/tracking-id", "kustomize.toolkit.fluxcd.io/name", "kustomize.toolkit.fluxcd.io/namespace",
            "app.kubernetes.io/instance", "a~b", "a/b~1c", "~0", "", "/", "Platform.Pnats.Cloud/Secret-Class",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z~/.]{0,10}",
    ]
}

fn meta_value() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "bootstrap",
            "materialized",
            "derived",
            "internal",
            "pending",
            "consumed",
            "true",
            "kyverno",
            "T-1: reason",
            ""
        ])
        .prop_map(str::to_owned),
        ".{0,10}",
    ]
}

fn owner_refs() -> impl Strategy<Value = Option<Value>> {
    let owner = prop::sample::select(vec![
        ("external-secrets.io/v1", "ExternalSecret"),
        ("external-secrets.io/v1beta1", "ExternalSecret"),
        ("bitnami.com/v1alpha1", "SealedSecret"),
        ("cert-manager.io/v1", "Certificate"),
        ("apps/v1", "Deployment"),
    ])
    .prop_flat_map(|(api_version, kind)| {
        any::<bool>().prop_map(move |controller| json!({ "apiVersion": api_version, "kind": kind, "name": "o", "uid": "u-1", "controller": controller }))
    });
    prop::option::of(prop::collection::vec(owner, 0..3).prop_map(Value::from))
}

/// A Secret as the apiserver would send it to the mutating webhook (metadata always present).
fn secret() -> impl Strategy<Value = Value> {
    (
        prop::option::of(prop::collection::btree_map(meta_key(), meta_value(), 0..5)),
        prop::option::of(prop::collection::btree_map(meta_key(), meta_value(), 0..5)),
        owner_refs(),
        prop::option::of(prop::sample::select(vec![
            "Opaque",
            "kubernetes.io/tls",
            "kubernetes.io/service-account-token",
            "helm.sh/release.v1",
        ])),
        prop::option::of(prop::collection::btree_map(
            "[a-z.]{1,6}",
            "[A-Za-z0-9+/]{0,8}",
            0..3,
        )),
        prop::option::of(prop::collection::btree_map("[a-z.]{1,6}", ".{0,8}", 0..3)),
        any::<bool>(),
    )
        .prop_map(
            |(labels, annotations, owners, type_, data, string_data, null_labels)| {
                let mut metadata = Map::new();
                metadata.insert("name".into(), json!("db"));
                match labels {
                    Some(l) => {
                        metadata.insert("labels".into(), json!(l));
                    }
                    None if null_labels => {
                        metadata.insert("labels".into(), Value::Null);
                    }
                    None => {}
                }
                if let Some(a) = annotations {
                    metadata.insert("annotations".into(), json!(a));
                }
                if let Some(o) = owners {
                    metadata.insert("ownerReferences".into(), o);
                }
                let mut object = Map::new();
                object.insert("apiVersion".into(), json!("v1"));
                object.insert("kind".into(), json!("Secret"));
                object.insert("metadata".into(), Value::Object(metadata));
                if let Some(t) = type_ {
                    object.insert("type".into(), json!(t));
                }
                if let Some(d) = data {
                    object.insert("data".into(), json!(d));
                }
                if let Some(s) = string_data {
                    object.insert("stringData".into(), json!(s));
                }
                Value::Object(object)
            },
        )
}

fn namespace() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "payments",
            "vault",
            "argocd",
            "flux-system",
            "kube-system",
            "vaultgate-system",
            ""
        ])
        .prop_map(Value::from),
        Just(Value::Null),
    ]
}

/// Replaces the value at a random path of `doc` with `replacement` (a walk guided by `steps`).
fn graft(doc: &Value, steps: &[usize], replacement: Value) -> Value {
    fn go(v: &mut Value, steps: &[usize], replacement: Value) {
        let Some((&step, rest)) = steps.split_first() else {
            *v = replacement;
            return;
        };
        let child = match v {
            Value::Object(m) if !m.is_empty() => {
                let key = m.keys().nth(step % m.len()).cloned().unwrap();
                m.get_mut(&key)
            }
            Value::Array(a) if !a.is_empty() => {
                let i = step % a.len();
                a.get_mut(i)
            }
            _ => None,
        };
        match child {
            Some(c) if !rest.is_empty() || step % 7 != 0 => go(c, rest, replacement),
            _ => *v = replacement,
        }
    }
    let mut out = doc.clone();
    go(&mut out, steps, replacement);
    out
}

// ------------------------------------------------------------------------------------------------
// Properties.

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn any_bytes_get_a_well_formed_answer_on_both_routes(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for route in [Route::Validate, Route::Mutate] {
            check_answer(&webhook().review(route, &bytes), None);
        }
    }

    #[test]
    fn fixtures_with_any_field_replaced_get_a_well_formed_answer(
        index in any::<prop::sample::Index>(),
        steps in prop::collection::vec(any::<usize>(), 1..7),
        replacement in any_json(),
    ) {
        let (name, doc) = index.get(fixtures());
        let mutated = graft(doc, &steps, replacement);
        let body = serde_json::to_vec(&mutated).expect("encode");
        for route in [Route::Validate, Route::Mutate] {
            let uid = mutated["request"]["uid"].as_str();
            let answer = webhook().review(route, &body);
            // When the uid survived, it is echoed; a valid review is never refused for its uid.
            if let (Ok(_), Some(uid)) = (&answer, uid) {
                check_answer(&answer, Some(uid));
            } else {
                check_answer(&answer, None);
            }
            let _ = name;
        }
    }

    #[test]
    fn any_object_of_any_kind_is_evaluated_without_panicking(
        object in any_json(),
        old in prop::option::of(any_json()),
        user in prop::sample::select(USERS),
        ns in prop::option::of(prop::sample::select(vec!["payments", "vault", "kube-system", "argocd"])),
    ) {
        let policy = Policy::default();
        let view = MemoryView::from_policy(&policy);
        let identity = Identity::new(user, vec!["system:authenticated".into()]);
        for kind in Kind::ALL {
            let Ok(object) = Object::from_value(kind, object.clone()) else { continue };
            let old = old.clone().and_then(|o| Object::from_value(kind, o).ok());
            for (operation, old) in [(Operation::Create, None), (Operation::Update, old.as_ref())] {
                let review = Review { uid: "p", operation, namespace: ns, name: object.name(), user: &identity, object: &object, old, dry_run: false, now: std::time::SystemTime::UNIX_EPOCH };
                let decision = policy::evaluate(&review, &policy, &view);
                if !decision.allowed() {
                    let message = decision.message(kind.as_str(), ns, review.name);
                    prop_assert!(decision.denied.iter().all(|v| message.contains(v.rule.id)));
                }
            }
        }
    }

    #[test]
    fn the_mutation_patch_applies_only_touches_metadata_and_is_idempotent(
        object in secret(),
        old in prop::option::of(secret()),
        user in prop::sample::select(USERS),
        ns in namespace(),
    ) {
        check_mutation(&ns, user, "CREATE", &object, &Value::Null);
        if let Some(old) = old {
            check_mutation(&ns, user, "UPDATE", &object, &old);
        }
    }

    #[test]
    fn the_policy_parser_never_panics_on_any_text(text in ".{0,256}") {
        let _ = Policy::from_yaml(&text);
    }

    #[test]
    fn the_policy_parser_never_panics_on_an_edited_default(
        edits in prop::collection::vec((any::<prop::sample::Index>(), 0u8..4, ".{0,16}"), 1..6),
    ) {
        let mut lines: Vec<String> = DEFAULT_POLICY_YAML.lines().map(str::to_owned).collect();
        for (at, op, text) in edits {
            let i = at.index(lines.len().max(1));
            match op {
                0 if !lines.is_empty() => { lines.remove(i); }
                1 => lines.insert(i, text),
                2 if !lines.is_empty() => { let l = lines[i].clone(); lines.insert(i, l); }
                _ if !lines.is_empty() => lines[i].push_str(&text),
                _ => {}
            }
        }
        if let Ok(policy) = Policy::from_yaml(&lines.join("\n")) {
            // An accepted policy evaluates a fixture on both routes without panicking.
            let view = MemoryView::from_policy(&policy);
            let hook = Webhook::new(Arc::new(policy), Arc::new(view), Arc::new(Metrics::new()));
            for (_, doc) in fixtures().iter().take(8) {
                let body = serde_json::to_vec(doc).unwrap();
                for route in [Route::Validate, Route::Mutate] {
                    check_answer(&hook.review(route, &body), None);
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn the_check_loader_never_panics_and_names_the_file(
        text in prop_oneof![
            ".{0,200}",
            (any::<prop::sample::Index>(), any::<prop::sample::Index>(), ".{0,12}").prop_map(|(f, at, insert)| {
                let manifests = manifest_texts();
                let mut t = f.get(manifests).clone();
                let mut i = at.index(t.len() + 1);
                while !t.is_char_boundary(i) { i -= 1; }
                t.insert_str(i, &insert);
                t
            }),
        ],
    ) {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("input.yaml");
        std::fs::write(&file, &text).expect("write");
        match check::load_paths(std::slice::from_ref(&file), "default") {
            Ok(docs) => {
                let user = Identity::new("system:serviceaccount:argocd:argocd-application-controller", vec![]);
                let report = check::evaluate(&docs, &user, &Policy::default(), std::time::SystemTime::UNIX_EPOCH);
                let _ = (report.text(), report.json());
            }
            Err(errors) => {
                prop_assert!(!errors.is_empty());
                for e in errors {
                    prop_assert!(e.to_string().contains(&*file.to_string_lossy()), "{}", e);
                }
            }
        }
    }
}

fn manifest_texts() -> &'static Vec<String> {
    static TEXTS: OnceLock<Vec<String>> = OnceLock::new();
    TEXTS.get_or_init(|| {
        let mut out = Vec::new();
        let mut dirs = vec![std::path::PathBuf::from(format!(
            "{}/tests/fixtures/manifests",
            env!("CARGO_MANIFEST_DIR")
        ))];
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(dir).expect("dir") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    dirs.push(path);
                } else {
                    out.push(std::fs::read_to_string(&path).expect("text"));
                }
            }
        }
        out.sort();
        out
    })
}

/// The generators reach the interesting cases: every fixture Secret the mutating route
/// patches still satisfies the invariants (a deterministic pass over the corpus).
#[test]
fn every_fixture_satisfies_the_mutation_invariants() {
    let mut patched = 0;
    for (name, doc) in fixtures() {
        let request = &doc["request"];
        if request["kind"]["kind"] != "Secret" || !request["object"]["metadata"].is_object() {
            continue;
        }
        for user in USERS
            .iter()
            .copied()
            .chain(request["userInfo"]["username"].as_str())
        {
            let produced = check_mutation(
                &request["namespace"],
                user,
                "CREATE",
                &request["object"],
                &Value::Null,
            );
            if request["oldObject"]["metadata"].is_object() {
                check_mutation(
                    &request["namespace"],
                    user,
                    "UPDATE",
                    &request["object"],
                    &request["oldObject"],
                );
            }
            patched += usize::from(produced);
            let _ = name;
        }
    }
    assert!(patched > 10, "the corpus exercises patches ({patched})");
}

// ------------------------------------------------------------------------------------------------
// Classes are earned: a Secret CREATE in a governed namespace is allowed only when an oracle,
// written here independently of src/policy/classify.rs, finds a class earned from trusted
// signals (the writer's identity first, then owner references, then Git-declared labels).

const CLASS_KEY: &str = "platform.pnats.cloud/secret-class";
const SA_NAME_KEY: &str = "kubernetes.io/service-account.name";
const MANAGED_KEY: &str = "reconcile.external-secrets.io/managed";
const SA_TOKEN_TYPE: &str = "kubernetes.io/service-account-token";
const HELM_RELEASE_TYPE: &str = "helm.sh/release.v1";

const EARN_ESO: &str = "system:serviceaccount:external-secrets:external-secrets";
const EARN_SEALED: &str = "system:serviceaccount:kube-system:sealed-secrets-controller";
const EARN_ARGOCD: &str = "system:serviceaccount:argocd:argocd-application-controller";
const EARN_HELM: &str = "system:serviceaccount:flux-system:helm-controller";
const EARN_CERT_MANAGER: &str = "system:serviceaccount:cert-manager:cert-manager";

/// Writers; `mallory` claims the kube-system service accounts' group (a client certificate's
/// `O=`) without being one of them.
const EARN_WRITERS: &[&str] = &[
    "alice",
    "system:serviceaccount:tekton-pipelines:default",
    EARN_ESO,
    EARN_SEALED,
    EARN_ARGOCD,
    EARN_HELM,
    EARN_CERT_MANAGER,
    "system:serviceaccount:reflector:reflector",
    "mallory",
];

/// The groups the apiserver gives a writer (service accounts get theirs).
fn earn_groups(user: &str) -> Vec<String> {
    let mut groups = match user
        .strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
    {
        Some((ns, _)) => vec![
            "system:serviceaccounts".to_owned(),
            format!("system:serviceaccounts:{ns}"),
        ],
        None if user == "mallory" => vec!["system:serviceaccounts:kube-system".to_owned()],
        None => vec![],
    };
    groups.push("system:authenticated".to_owned());
    groups
}

/// Copy-tool markers (the oracle's own list, matched without case).
const COPY_MARKER_DOMAINS: [&str; 4] = [
    "reflector.v1.k8s.emberstack.com/",
    "replicator.v1.mittwald.de/",
    "kubed.appscode.com/",
    "generate.kyverno.io/",
];

/// One generated Secret CREATE.
#[derive(Debug, Clone)]
struct Candidate {
    namespace: &'static str,
    writer: &'static str,
    name: &'static str,
    type_: Option<&'static str>,
    labels: std::collections::BTreeMap<String, String>,
    annotations: std::collections::BTreeMap<String, String>,
    owner: Option<(&'static str, &'static str)>,
    keys: Vec<&'static str>,
}

impl Candidate {
    fn object(&self) -> Value {
        let mut metadata = json!({ "name": self.name, "namespace": self.namespace });
        if !self.labels.is_empty() {
            metadata["labels"] = json!(self.labels);
        }
        if !self.annotations.is_empty() {
            metadata["annotations"] = json!(self.annotations);
        }
        if let Some((api_version, kind)) = self.owner {
            metadata["ownerReferences"] = json!([{
                "apiVersion": api_version, "kind": kind, "name": "src",
                "uid": "6f1d3c2e-0000-4000-8000-00000000000a", "controller": true
            }]);
        }
        let mut object = json!({ "apiVersion": "v1", "kind": "Secret", "metadata": metadata });
        if let Some(t) = self.type_ {
            object["type"] = json!(t);
        }
        if !self.keys.is_empty() {
            let data: Map<String, Value> = self
                .keys
                .iter()
                .map(|k| ((*k).to_owned(), json!("ZmFrZQ==")))
                .collect();
            object["data"] = Value::Object(data);
        }
        object
    }

    fn label(&self, key: &str) -> Option<&str> {
        self.labels.get(key).map(String::as_str)
    }

    fn owned_by(&self, kind: &str) -> bool {
        self.owner.is_some_and(|(_, k)| k == kind)
    }

    fn has_copy_marker(&self) -> bool {
        self.labels.iter().chain(&self.annotations).any(|(k, v)| {
            let k = k.to_ascii_lowercase();
            COPY_MARKER_DOMAINS.iter().any(|d| k.starts_with(d))
                || (k == "app.kubernetes.io/managed-by" && v.eq_ignore_ascii_case("kyverno"))
        })
    }

    /// The classes this write earns from trusted signals (the oracle).
    fn earned(&self) -> Vec<&'static str> {
        let user = self.writer;
        let mut earned = Vec::new();
        if user == EARN_ESO
            && (self.owned_by("ExternalSecret") || self.label(MANAGED_KEY) == Some("true"))
        {
            earned.push("materialized");
        }
        let decrypter = user == EARN_SEALED || user == EARN_ARGOCD;
        let bootstrap_namespace =
            ["vault", "external-secrets", "argocd", "flux-system"].contains(&self.namespace);
        if decrypter
            && bootstrap_namespace
            && (self.owned_by("SealedSecret") || self.label(CLASS_KEY) == Some("bootstrap"))
        {
            earned.push("bootstrap");
        }
        if user == EARN_CERT_MANAGER {
            // cert-manager is registered for every governed namespace; a Git-declared operator
            // class is honoured, anything else is its own class.
            earned.push(match self.label(CLASS_KEY) {
                Some("internal") => "internal",
                Some("internal-config") => "internal-config",
                _ => "derived",
            });
        }
        // Helm's storage record as its driver writes it: name, labels, no owner, one key.
        let helm_record = self
            .name
            .strip_prefix("sh.helm.release.v1.")
            .and_then(|rest| rest.rsplit_once(".v"))
            .is_some_and(|(release, n)| {
                !release.is_empty()
                    && !n.is_empty()
                    && !n.starts_with('0')
                    && n.bytes().all(|b| b.is_ascii_digit())
                    && self.label("name") == Some(release)
                    && self.label("version") == Some(n)
            });
        if self.type_ == Some(HELM_RELEASE_TYPE)
            && helm_record
            && self.label("owner") == Some("helm")
            && self.label("status").is_some()
            && self.owner.is_none()
            && self.keys == ["release"]
            && user == EARN_HELM
        {
            earned.push("system");
        }
        // A token Secret's shell: no writer here is the control plane, so it carries no value.
        if self.type_ == Some(SA_TOKEN_TYPE)
            && self
                .annotations
                .get(SA_NAME_KEY)
                .is_some_and(|n| !n.is_empty())
            && self.keys.is_empty()
        {
            earned.push("system");
        }
        earned
    }
}

fn candidate() -> impl Strategy<Value = Candidate> {
    let types = prop_oneof![
        3 => Just(Some("Opaque")),
        1 => Just(None),
        1 => Just(Some("kubernetes.io/tls")),
        3 => Just(Some(SA_TOKEN_TYPE)),
        2 => Just(Some("bootstrap.kubernetes.io/token")),
        3 => Just(Some(HELM_RELEASE_TYPE)),
        2 => prop::sample::select(vec![
            Some("Kubernetes.io/service-account-token"),
            Some("kubernetes.io/service-account-token "),
            Some("helm.sh/release.v2"),
            Some("HELM.SH/RELEASE.V1"),
            Some("bootstrap.kubernetes.io/Token"),
        ]),
    ];
    // (key, value, as a label?) markers; most in their usual place, some misplaced.
    let markers = prop::sample::subsequence(
        vec![
            (CLASS_KEY, "bootstrap", true),
            (CLASS_KEY, "materialized", true),
            (CLASS_KEY, "system", true),
            (CLASS_KEY, "internal", true),
            (CLASS_KEY, "bootstrap", false),
            ("owner", "helm", true),
            ("owner", "helm", true),
            (SA_NAME_KEY, "builder", false),
            (SA_NAME_KEY, "builder", false),
            (SA_NAME_KEY, "", false),
            (SA_NAME_KEY, "builder", true),
            (MANAGED_KEY, "true", true),
            (MANAGED_KEY, "true", false),
            (
                "reflector.v1.k8s.emberstack.com/reflects",
                "default/db",
                false,
            ),
            ("Replicator.V1.Mittwald.De/replicate-to", "payments", false),
            ("kubed.appscode.com/origin.namespace", "default", true),
            ("app.kubernetes.io/managed-by", "Kyverno", true),
        ],
        0..5,
    );
    (
        prop::sample::select(vec!["payments", "vault", "argocd"]),
        prop::sample::select(EARN_WRITERS),
        prop::sample::select(vec![
            "db",
            "sh.helm.release.v1.app.v1",
            "sh.helm.release.v1.app.v1",
            "sh.helm.release.v1.app.v12",
            "sh.helm.release.v1.app",
            "sh.helm.release.v2.app.v1",
            "sh.helm.release.v1..v1",
            "sh.helm.release.v1.app.v0",
        ]),
        types,
        markers,
        prop::sample::select(vec![
            None,
            None,
            Some(("external-secrets.io/v1", "ExternalSecret")),
            Some(("bitnami.com/v1alpha1", "SealedSecret")),
        ]),
        prop_oneof![
            2 => Just(vec![]),
            2 => Just(vec!["release"]),
            3 => prop::sample::subsequence(vec!["release", "token", "ca.crt", "namespace", "password"], 0..4),
        ],
        // Most candidates are free-form; some start from the shape of Helm release storage or
        // of a token Secret's shell (then take the random markers on top), so the system
        // class is reached often enough to be tested.
        prop::sample::select(vec![Shape::Free, Shape::Free, Shape::HelmRelease, Shape::TokenShell]),
    )
        .prop_map(|(namespace, writer, name, type_, markers, owner, keys, shape)| {
            let mut c = Candidate {
                namespace,
                writer,
                name,
                type_,
                labels: Default::default(),
                annotations: Default::default(),
                owner,
                keys,
            };
            match shape {
                Shape::Free => {}
                Shape::HelmRelease => {
                    c.type_ = Some(HELM_RELEASE_TYPE);
                    c.name = "sh.helm.release.v1.app.v3";
                    c.labels.insert("owner".into(), "helm".into());
                    c.labels.insert("name".into(), "app".into());
                    c.labels.insert("version".into(), "3".into());
                    c.labels.insert("status".into(), "deployed".into());
                    c.owner = None;
                    c.keys = vec!["release"];
                }
                Shape::TokenShell => {
                    c.type_ = Some(SA_TOKEN_TYPE);
                    c.annotations.insert(SA_NAME_KEY.into(), "builder".into());
                    c.keys.clear();
                }
            }
            for (key, value, as_label) in markers {
                let map = if as_label { &mut c.labels } else { &mut c.annotations };
                map.insert(key.to_owned(), value.to_owned());
            }
            c
        })
}

#[derive(Debug, Clone, Copy)]
enum Shape {
    Free,
    HelmRelease,
    TokenShell,
}

fn earning_engine() -> &'static (Policy, MemoryView) {
    static ENGINE: OnceLock<(Policy, MemoryView)> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let policy = Policy::default();
        let view = MemoryView::from_policy(&policy);
        (policy, view)
    })
}

proptest! {
    #![proptest_config(config(256))]

    /// Allowed only with a class earned from trusted signals; then no copy marker, and the
    /// class label (if any) names the decision's class.
    #[test]
    fn a_secret_create_is_allowed_only_when_its_class_is_earned(c in candidate()) {
        let (policy, view) = earning_engine();
        let object = Object::from_value(Kind::Secret, c.object()).expect("a Secret decodes");
        let identity = Identity::new(c.writer, earn_groups(c.writer));
        let review = Review {
            uid: "earned",
            operation: Operation::Create,
            namespace: Some(c.namespace),
            name: object.name(),
            user: &identity,
            object: &object,
            old: None,
            dry_run: false,
            now: std::time::SystemTime::UNIX_EPOCH,
        };
        let decision = policy::evaluate(&review, policy, view);
        if decision.allowed() {
            let earned = c.earned();
            let class = decision.class.map(|c| c.as_str());
            prop_assert!(
                class.is_some_and(|class| earned.contains(&class)),
                "allowed as {:?} (exempt {:?}) but the oracle earned {:?}: {:?}",
                class, decision.exempt, earned, c
            );
            prop_assert!(!c.has_copy_marker(), "allowed with a copy marker: {:?}", c);
            if let Some(claimed) = c.label(CLASS_KEY) {
                prop_assert_eq!(Some(claimed), class, "the class label claims another class: {:?}", c);
            }
        }
    }
}

/// The generator above is not vacuous: it reaches allowed writes of every class a Secret can
/// earn, and denied writes (a deterministic sample).
#[test]
fn the_earning_generator_reaches_every_earned_class() {
    use proptest::strategy::ValueTree;
    let (policy, view) = earning_engine();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = candidate();
    let mut allowed: std::collections::BTreeMap<&str, usize> = Default::default();
    let mut denied = 0;
    for _ in 0..2000 {
        let c = strategy
            .new_tree(&mut runner)
            .expect("a candidate")
            .current();
        let object = Object::from_value(Kind::Secret, c.object()).expect("a Secret decodes");
        let identity = Identity::new(c.writer, earn_groups(c.writer));
        let review = Review {
            uid: "earned",
            operation: Operation::Create,
            namespace: Some(c.namespace),
            name: object.name(),
            user: &identity,
            object: &object,
            old: None,
            dry_run: false,
            now: std::time::SystemTime::UNIX_EPOCH,
        };
        let decision = policy::evaluate(&review, policy, view);
        match decision.class.filter(|_| decision.allowed()) {
            Some(class) => {
                let class = match class.as_str() {
                    "system" if c.type_ == Some(HELM_RELEASE_TYPE) => "system (helm release)",
                    "system" => "system (token shell)",
                    other => other,
                };
                *allowed.entry(class).or_default() += 1
            }
            None => denied += 1,
        }
    }
    for class in [
        "materialized",
        "bootstrap",
        "derived",
        "system (helm release)",
        "system (token shell)",
    ] {
        assert!(
            allowed.get(class).is_some_and(|n| *n >= 5),
            "{class}: {allowed:?}"
        );
    }
    assert!(denied >= 500, "denied {denied}, allowed {allowed:?}");
}
