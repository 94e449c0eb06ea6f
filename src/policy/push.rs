//! Rules for PushSecret and ClusterPushSecret: the store (VG301), explicit mappings (VG302),
//! Vault path conventions (VG303-VG305), Vault root material (VG111), no remote namespaces (VG306), what may be published
//! (VG307), one namespace per path (VG308), templates that read only the source (VG309), and
//! the pushing side of authority loops (VG208).

mod paths_rule;
mod source;

use serde_json::Value;

use super::{
    Policy, Review, Violation,
    eso_common::{
        self, LoopSide, TemplateOf, refresh_rule, store_problem, template_rule, writer_rule,
    },
    field::{self, Problems},
    identity::Writer,
    objects::{ClusterPushSecret, PushSecret, PushSecretSpec},
    paths, rules,
    template::Inputs,
};
use crate::policy::view::{ClusterView, Missing};
use paths_rule::paths_and_properties;
use source::push_source_rule;

fn has_key(value: &Value, key: &str) -> bool {
    match value {
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case(key) || has_key(v, key)),
        Value::Array(items) => items.iter().any(|v| has_key(v, key)),
        _ => false,
    }
}

/// Each `remoteKey` the spec writes, with the index of its `spec.data` entry.
fn remote_keys(spec: &PushSecretSpec) -> impl Iterator<Item = (usize, &str)> {
    spec.data.iter().enumerate().filter_map(|(i, d)| {
        let key = d.match_.remote_ref.as_ref()?.remote_key.as_deref()?;
        Some((i, key))
    })
}

/// `spec.data[i].match.remoteRef.<leaf>`.
fn remote_ref(i: usize, leaf: &str) -> String {
    format!("spec.data[{i}].match.remoteRef.{leaf}")
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
    let mut store_problems = Problems::default();
    for (i, r) in spec.secret_store_refs.iter().enumerate() {
        if let Some(p) = store_problem(r, namespace, policy, view) {
            let at = format!("spec.secretStoreRefs[{i}]");
            store_problems.push(&at, format!("{at}: {p}"));
        }
    }
    if spec.secret_store_refs.is_empty() {
        let at = "spec.secretStoreRefs";
        store_problems.push(at, format!("no {at}"));
    }
    if !store_problems.is_empty() {
        out.push(
            Violation::new(
                &rules::PUSH_STORE,
                format!("{obj} publishes to {}", store_problems.join("; ")),
                format!("secretStoreRefs: [{approved}]"),
            )
            .at_opt(store_problems.field),
        );
    }

    let mut mapping = Problems::default();
    if !spec.data_to.is_empty() {
        let at = "spec.dataTo";
        mapping.push(at, format!("{at} bulk-pushes keys by pattern"));
    }
    let name = "spec.selector.secret.name";
    match &spec.selector {
        None => mapping.push(name, format!("no {name}")),
        Some(sel) => {
            if sel.generator_ref.is_some() {
                let at = "spec.selector.generatorRef";
                mapping.push(
                    at,
                    format!("{at} (publish a named operator Secret instead)"),
                );
            }
            match &sel.secret {
                Some(s) if s.selector.is_some() => {
                    let at = "spec.selector.secret.selector";
                    mapping.push(at, format!("{at} picks Secrets by label"))
                }
                Some(s) if s.name.as_deref().is_some_and(|n| !n.is_empty()) => {}
                _ if sel.generator_ref.is_none() => mapping.push(name, format!("no {name}")),
                _ => {}
            }
        }
    }
    for (i, d) in spec.data.iter().enumerate() {
        if d.match_.secret_key.as_deref().is_none_or(str::is_empty) {
            let at = format!("spec.data[{i}].match.secretKey");
            mapping.push(
                &at,
                format!("{at} is missing (the whole Secret would be pushed)"),
            );
        }
        if d.match_
            .remote_ref
            .as_ref()
            .and_then(|r| r.remote_key.as_deref())
            .is_none_or(str::is_empty)
        {
            let at = remote_ref(i, "remoteKey");
            mapping.push(&at, format!("{at} is missing"));
        }
    }
    if spec.data.is_empty() && spec.data_to.is_empty() {
        mapping.push("spec.data", "spec.data is empty".to_owned());
    }
    if !mapping.is_empty() {
        out.push(Violation::new(
            &rules::EXPLICIT_MAPPING,
            format!("{obj} does not map keys explicitly: {}", mapping.join("; ")),
            "name the source with selector.secret.name and give every entry match.secretKey and match.remoteRef.{remoteKey, property}",
        ).at_opt(mapping.field));
    }

    paths_and_properties(spec, obj, namespace, policy, out);
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
        ).at_opt(remote_ns.first().cloned()));
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
            ).at("spec.selector.secret.name"));
        } else if meta.is_none() {
            view.note_missing(Missing {
                kind: "Secret".into(),
                namespace: Some(ns.into()),
                name: source.into(),
                field: Some("spec.selector.secret.name".into()),
                needed_for: format!(
                    "{} {} (what the PushSecret publishes)",
                    rules::PUSH_SOURCE.id,
                    rules::PUSH_SOURCE.slug
                ),
            });
        }
        if let Some(meta) = meta {
            push_source_rule(ps, &obj, ns, source, &meta, policy, out);
        }
    }

    let mut claimed = Problems::default();
    for (i, path) in remote_keys(&ps.spec) {
        for other in view.path_publishers(path) {
            if *other.namespace != *ns {
                claimed.push(
                    &remote_ref(i, "remoteKey"),
                    format!(
                        "{path:?} is published by PushSecret \"{}/{}\"",
                        other.namespace, other.name
                    ),
                );
            }
        }
    }
    // A datasource the policy assigns to publishing namespaces is published from those only:
    // otherwise any namespace could write the path another namespace's consumers read.
    for (i, path) in remote_keys(&ps.spec) {
        if let Some(owners) = paths::publishers_of(path, policy)
            && !owners.iter().any(|o| o == ns)
        {
            claimed.push(
                &remote_ref(i, "remoteKey"),
                format!(
                    "{path:?} belongs to datasource {:?}, published only from {} (vault.publishers)",
                    path.split('/').nth(1).unwrap_or_default(),
                    owners.join(", ")
                ),
            );
        }
    }
    claimed.list.dedup();
    if !claimed.is_empty() {
        out.push(Violation::new(
            &rules::PATH_OWNERSHIP,
            format!("{obj}: {}", claimed.join("; ")),
            "each Vault path has one publishing namespace: pick a path of your own (platform-data/<datasource>/<consumer>), or read the existing one with an ExternalSecret",
        ).at_opt(claimed.field));
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
    let spec = &cps.spec.push_secret_spec;
    let start = out.len();
    check_spec(spec, &obj, review, None, policy, view, out);
    if let Some((i, _)) = remote_keys(spec).next() {
        out.push(
            Violation::new(
                &rules::PATH_OWNERSHIP,
                format!("{obj} pushes the same Vault paths from every selected namespace"),
                "publish from the one producing namespace with a namespaced PushSecret",
            )
            .at(remote_ref(i, "remoteKey")),
        );
    }
    field::nest(&mut out[start..], "pushSecretSpec");
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
