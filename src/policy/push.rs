//! Rules for PushSecret and ClusterPushSecret: the store (VG301), explicit mappings (VG302),
//! Vault path conventions (VG303-VG305), no remote namespaces (VG306), what may be published
//! (VG307), one namespace per path (VG308), templates that read only the source (VG309), and
//! the pushing side of authority loops (VG208).

use serde_json::Value;

use super::{
    Policy, Review, Violation,
    eso_common::{
        self, LoopSide, TemplateOf, refresh_rule, store_problem, template_rule, writer_rule,
    },
    identity::Writer,
    objects::{ClusterPushSecret, PushSecret, PushSecretSpec},
    paths::{self, Prefix},
    rules,
    template::Inputs,
};
use crate::policy::view::{ClusterView, SecretMeta};

fn has_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case(key) || has_key(v, key)),
        Value::Array(items) => items.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

fn check_spec(
    spec: &PushSecretSpec,
    obj: &str,
    review: &Review<'_>,
    namespace: Option<&str>,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let approved = policy
        .stores
        .approved
        .first()
        .map(|s| format!("{{kind: {}, name: {}}}", s.kind, s.name))
        .unwrap_or_default();
    let mut store_problems: Vec<String> = spec
        .secret_store_refs
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            store_problem(r, namespace, policy, view)
                .map(|p| format!("spec.secretStoreRefs[{i}]: {p}"))
        })
        .collect();
    if spec.secret_store_refs.is_empty() {
        store_problems.push("no spec.secretStoreRefs".into());
    }
    if !store_problems.is_empty() {
        out.push(Violation::new(
            &rules::PUSH_STORE,
            format!("{obj} publishes to {}", store_problems.join("; ")),
            format!("secretStoreRefs: [{approved}]"),
        ));
    }

    let mut mapping = Vec::new();
    if !spec.data_to.is_empty() {
        mapping.push("spec.dataTo bulk-pushes keys by pattern".to_owned());
    }
    match &spec.selector {
        None => mapping.push("no spec.selector.secret.name".to_owned()),
        Some(sel) => {
            if sel.generator_ref.is_some() {
                mapping.push(
                    "spec.selector.generatorRef (publish a named operator Secret instead)"
                        .to_owned(),
                );
            }
            match &sel.secret {
                Some(s) if s.selector.is_some() => {
                    mapping.push("spec.selector.secret.selector picks Secrets by label".to_owned())
                }
                Some(s) if s.name.as_deref().is_some_and(|n| !n.is_empty()) => {}
                _ if sel.generator_ref.is_none() => {
                    mapping.push("no spec.selector.secret.name".to_owned())
                }
                _ => {}
            }
        }
    }
    for (i, d) in spec.data.iter().enumerate() {
        if d.match_.secret_key.as_deref().is_none_or(str::is_empty) {
            mapping.push(format!(
                "spec.data[{i}].match.secretKey is missing (the whole Secret would be pushed)"
            ));
        }
        if d.match_
            .remote_ref
            .as_ref()
            .and_then(|r| r.remote_key.as_deref())
            .is_none_or(str::is_empty)
        {
            mapping.push(format!(
                "spec.data[{i}].match.remoteRef.remoteKey is missing"
            ));
        }
    }
    if spec.data.is_empty() && spec.data_to.is_empty() {
        mapping.push("spec.data is empty".to_owned());
    }
    if !mapping.is_empty() {
        out.push(Violation::new(
            &rules::EXPLICIT_MAPPING,
            format!("{obj} does not map keys explicitly: {}", mapping.join("; ")),
            "name the source with selector.secret.name and give every entry match.secretKey and match.remoteRef.{remoteKey, property}",
        ));
    }

    for (i, d) in spec.data.iter().enumerate() {
        let Some(r) = d.match_.remote_ref.as_ref() else {
            continue;
        };
        let Some(key) = r.remote_key.as_deref().filter(|k| !k.is_empty()) else {
            continue;
        };
        let problems = paths::push_path_problems(key, policy);
        if !problems.is_empty() {
            out.push(Violation::new(
                &rules::VAULT_PATH,
                format!("{obj} spec.data[{i}].match.remoteRef.remoteKey {key:?}: {}", problems.join("; ")),
                format!(
                    "use platform-data/<datasource>/<consumer> for secrets or platform-config/<datasource>/<instance> for configuration, e.g. platform-data/postgres/{}",
                    namespace.unwrap_or("temporal")
                ),
            ));
            continue;
        }
        let Some(Prefix::Convention(prefix)) = paths::prefix_of(key, policy) else {
            continue;
        };
        let allowed = policy.vault.properties.join(", ");
        match r.property.as_deref() {
            None | Some("") => out.push(Violation::new(
                &rules::PROPERTY_NAME,
                format!("{obj} spec.data[{i}] pushes to {key:?} without remoteRef.property"),
                format!("name the property explicitly: one of {allowed}"),
            )),
            Some(p) if !policy.vault.properties.iter().any(|a| a == p) => out.push(Violation::new(
                &rules::PROPERTY_NAME,
                format!("{obj} spec.data[{i}] uses property {p:?} under {key:?}"),
                format!("use one of {allowed}"),
            )),
            Some(p)
                if prefix == "platform-config"
                    && policy.vault.secret_properties.iter().any(|s| s == p) =>
            {
                out.push(Violation::new(
                    &rules::SECRET_IN_CONFIG,
                    format!("{obj} spec.data[{i}] pushes the secret property {p:?} to {key:?}"),
                    format!(
                        "push it to platform-data/{} instead",
                        key.split_once('/').map_or("", |(_, rest)| rest)
                    ),
                ))
            }
            Some(_) => {}
        }
    }
    let remote_ns: Vec<String> = spec
        .data
        .iter()
        .enumerate()
        .filter(|(_, d)| {
            d.metadata
                .as_ref()
                .is_some_and(|m| has_key(m, "remoteNamespace"))
        })
        .map(|(i, _)| format!("spec.data[{i}].metadata"))
        .collect();
    if !remote_ns.is_empty() {
        out.push(Violation::new(
            &rules::REMOTE_NAMESPACE,
            format!("{obj} sets remoteNamespace in {}", remote_ns.join(", ")),
            "remove remoteNamespace; the consuming namespace reads the value from Vault with its own ExternalSecret",
        ));
    }
    refresh_rule(
        obj,
        review,
        spec.refresh_interval.as_deref(),
        None,
        false,
        policy,
        out,
    );
    if let Some(t) = &spec.template {
        let findings = t.check("spec.template", &Inputs::Source);
        template_rule(obj, TemplateOf::PushSecret, findings, namespace, out);
    }
}

/// PushSecret rules.
pub fn check_push_secret(
    ps: &PushSecret,
    review: &Review<'_>,
    writer: &Writer<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let ns = review.namespace.unwrap_or("default");
    let obj = format!("PushSecret \"{ns}/{}\"", review.name);
    writer_rule("PushSecret", review, writer, out);
    check_spec(&ps.spec, &obj, review, Some(ns), policy, view, out);

    if let Some(source) = ps.spec.source_name() {
        authority_loop(ps, &obj, ns, source, view, out);
        let meta = view.secret(ns, source);
        if meta.is_none() && view.is_live() {
            out.push(Violation::new(
                &rules::PUSH_SOURCE,
                format!("{obj} publishes Secret \"{ns}/{source}\", which does not exist"),
                "create the PushSecret after the operator has generated its Secret (e.g. a later sync wave), and check selector.secret.name",
            ));
        }
        if let Some(meta) = meta {
            push_source_rule(ps, &obj, ns, source, &meta, policy, out);
        }
    }

    let mut claimed = Vec::new();
    for path in ps.spec.remote_keys() {
        for other in view.path_publishers(path) {
            if *other.namespace != *ns {
                claimed.push(format!(
                    "{path:?} is published by PushSecret \"{}/{}\"",
                    other.namespace, other.name
                ));
            }
        }
    }
    // A datasource the policy assigns to publishing namespaces is published from those only:
    // otherwise any namespace could write the path another namespace's consumers read.
    for path in ps.spec.remote_keys() {
        if let Some(owners) = paths::publishers_of(path, policy)
            && !owners.iter().any(|o| o == ns)
        {
            claimed.push(format!(
                "{path:?} belongs to datasource {:?}, published only from {} (vault.publishers)",
                path.split('/').nth(1).unwrap_or_default(),
                owners.join(", ")
            ));
        }
    }
    claimed.dedup();
    if !claimed.is_empty() {
        out.push(Violation::new(
            &rules::PATH_OWNERSHIP,
            format!("{obj}: {}", claimed.join("; ")),
            "each Vault path has one publishing namespace: pick a path of your own (platform-data/<datasource>/<consumer>), or read the existing one with an ExternalSecret",
        ));
    }
}

/// ClusterPushSecret rules: the spec, plus the fan-out itself (many namespaces, one path).
pub fn check_cluster_push_secret(
    cps: &ClusterPushSecret,
    review: &Review<'_>,
    writer: &Writer<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let obj = format!("ClusterPushSecret {:?}", review.name);
    writer_rule("ClusterPushSecret", review, writer, out);
    check_spec(
        &cps.spec.push_secret_spec,
        &obj,
        review,
        None,
        policy,
        view,
        out,
    );
    if cps.spec.push_secret_spec.remote_keys().next().is_some() {
        out.push(Violation::new(
            &rules::PATH_OWNERSHIP,
            format!("{obj} pushes the same Vault paths from every selected namespace"),
            "publish from the one producing namespace with a namespaced PushSecret",
        ));
    }
}

/// VG208 from the pushing side: the source is an ExternalSecret's target, whatever the paths.
fn authority_loop(
    ps: &PushSecret,
    obj: &str,
    ns: &str,
    source: &str,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let pulls = view.external_secrets_targeting(ns, source);
    let others: Vec<(&str, &[Box<str>])> = pulls.iter().map(|e| (&*e.name, &*e.keys)).collect();
    let own: Vec<&str> = ps.spec.remote_keys().collect();
    eso_common::authority_loop(&LoopSide::PUSHES, obj, ns, source, &own, &others, out);
}

/// VG307: only operator-generated Secrets are published; a bootstrap Secret, in any handover
/// state, reaches Vault once through the handover controller.
fn push_source_rule(
    ps: &PushSecret,
    obj: &str,
    ns: &str,
    source: &str,
    meta: &SecretMeta,
    policy: &Policy,
    out: &mut Vec<Violation>,
) {
    let class = meta.label(&policy.key("secret-class"));
    let generic = "publish only Secrets an in-cluster operator generates; values that originate elsewhere are written to Vault directly";
    // The class label is the only operator signal trusted here: vaultgate stamps it when a
    // registered operator writes the Secret, and VG104 refuses it from anyone else. An owner
    // reference is not (any writer can add one), nor is a system `type`.
    let operator_class =
        class.is_some_and(|c| matches!(c, "internal" | "internal-config" | "derived"));
    let (problem, fix) = if meta.is_materialized() {
        ("is materialized from Vault by an ExternalSecret; pushing it back inverts the authority".to_owned(), generic.to_owned())
    } else if class == Some("bootstrap") || meta.is_sealed() {
        let state = meta.label(&policy.key("handover-state")).map_or_else(
            || "handover not started".to_owned(),
            |s| format!("handover-state {s}"),
        );
        let update = ps.spec.update_policy.as_deref().unwrap_or("Replace");
        let every = match ps.spec.refresh_interval.as_deref() {
            Some(i) => format!("every refresh (refreshInterval {i})"),
            None => "every refresh (refreshInterval 1h, the default)".to_owned(),
        };
        let effect = if update == "IfNotExists" {
            format!(
                "with updatePolicy IfNotExists it would still write Vault from Kubernetes whenever the path is missing, checked {every}"
            )
        } else {
            format!("with updatePolicy {update} it would overwrite Vault {every}")
        };
        let annotation = policy.key("handover-to");
        (
            format!(
                "is a bootstrap Secret ({state}); {effect}, keeping the copy in Git the authority"
            ),
            format!(
                "delete this PushSecret: the handover controller copies a bootstrap Secret to Vault once, to the path in its {annotation} annotation, and retires it; consumers then read that path with an ExternalSecret"
            ),
        )
    } else if operator_class {
        return;
    } else if meta.type_.as_deref() == Some("kubernetes.io/service-account-token") {
        ("is a service-account token".to_owned(), generic.to_owned())
    } else {
        (
            "is not operator-generated: it carries no secret-class internal, internal-config or derived, which vaultgate stamps when a registered operator writes it (a Secret the operator wrote before vaultgate gets it on its next write)"
                .to_owned(),
            generic.to_owned(),
        )
    };
    out.push(Violation::new(
        &rules::PUSH_SOURCE,
        format!(
            "{obj} (spec.selector.secret.name) publishes Secret \"{ns}/{source}\", which {problem}"
        ),
        fix,
    ));
}
