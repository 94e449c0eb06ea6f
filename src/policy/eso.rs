//! Rules for ExternalSecret and ClusterExternalSecret: the writer (VG209/VG102), the store
//! (VG201), generators (VG202), read scope (VG203/VG204), adoption (VG205), refresh and
//! immutability (VG206), single writer (VG207), authority loops (VG208) and templates (VG210).

use super::{
    Policy, Review, Violation,
    eso_common::{
        self, LoopSide, TemplateOf, object_label, refresh_rule, store_problem, template_rule,
        writer_rule,
    },
    field::{self, Problems},
    identity::Writer,
    objects::{ClusterExternalSecret, ExternalSecret, ExternalSecretSpec},
    paths, rules,
    template::{Inputs, misspelled},
};
use crate::policy::view::{ClusterView, SecretMeta};

/// Spec rules shared by ExternalSecret and ClusterExternalSecret (`namespace` None = fan-out).
fn check_spec(
    spec: &ExternalSecretSpec,
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
        .map(|s| format!("kind: {}, name: {}", s.kind, s.name))
        .unwrap_or_default();
    let mut store_problems = Problems::default();
    let store_ref = "spec.secretStoreRef";
    if let Some(r) = &spec.secret_store_ref
        && let Some(p) = store_problem(r, namespace, policy, view)
    {
        store_problems.push(store_ref, format!("{store_ref}: {p}"));
    }
    let mut generators = Problems::default();
    let mut all_generated = !(spec.data.is_empty() && spec.data_from.is_empty());
    let mut reads: Vec<(String, &str)> = Vec::new();
    for (i, d) in spec.data.iter().enumerate() {
        let src = d.source_ref.as_ref();
        if let Some(r) = src.and_then(|s| s.store_ref.as_ref())
            && let Some(p) = store_problem(r, namespace, policy, view)
        {
            let at = format!("spec.data[{i}].sourceRef.storeRef");
            store_problems.push(&at, format!("{at}: {p}"));
        }
        match src.and_then(|s| s.generator_ref.as_ref()) {
            Some(g) => {
                if !policy.external_secrets.allowed_generators.contains(&g.kind) {
                    let at = format!("spec.data[{i}]");
                    generators.push(
                        &format!("{at}.sourceRef.generatorRef"),
                        format!("{at} generator {}/{:?}", g.kind, g.name),
                    );
                }
            }
            None => {
                all_generated = false;
                reads.push((
                    format!("spec.data[{i}].remoteRef.key"),
                    d.remote_ref.key.as_str(),
                ));
            }
        }
    }
    if spec.secret_store_ref.is_none()
        && spec.data.iter().any(|d| {
            d.source_ref
                .as_ref()
                .is_none_or(|s| s.store_ref.is_none() && s.generator_ref.is_none())
        })
    {
        store_problems.push(
            store_ref,
            format!("no {store_ref} (ESO would default to a SecretStore)"),
        );
    }
    for (i, d) in spec.data_from.iter().enumerate() {
        let src = d.source_ref.as_ref();
        if let Some(r) = src.and_then(|s| s.store_ref.as_ref())
            && let Some(p) = store_problem(r, namespace, policy, view)
        {
            let at = format!("spec.dataFrom[{i}].sourceRef.storeRef");
            store_problems.push(&at, format!("{at}: {p}"));
        }
        if let Some(g) = src.and_then(|s| s.generator_ref.as_ref()) {
            if !policy.external_secrets.allowed_generators.contains(&g.kind) {
                let at = format!("spec.dataFrom[{i}]");
                generators.push(
                    &format!("{at}.sourceRef.generatorRef"),
                    format!("{at} generator {}/{:?}", g.kind, g.name),
                );
            }
            continue;
        }
        all_generated = false;
        if let Some(e) = &d.extract {
            reads.push((format!("spec.dataFrom[{i}].extract.key"), e.key.as_str()));
        }
        if let Some(f) = &d.find {
            let problem = match f.path.as_deref() {
                None => {
                    Some("find without a path syncs every secret the store can list".to_owned())
                }
                Some(p) => paths::find_denied(p, namespace, policy),
            };
            if let Some(p) = problem {
                let at = format!("spec.dataFrom[{i}].find");
                out.push(Violation::new(
                    &rules::UNSCOPED_FIND,
                    format!("{obj} {at}: {p}"),
                    format!(
                        "name each key with spec.data[].remoteRef, or set find.path to platform-data/<datasource>/{}",
                        namespace.unwrap_or("<namespace>")
                    ),
                ).at(at));
            }
        }
    }
    if !store_problems.is_empty() {
        out.push(
            Violation::new(
                &rules::NON_VAULT_STORE,
                format!("{obj} reads from {}", store_problems.join("; ")),
                format!("reference the Vault store: secretStoreRef: {{{approved}}}"),
            )
            .at_opt(store_problems.field),
        );
    }
    if !generators.is_empty() {
        out.push(Violation::new(
            &rules::GENERATOR_NOT_ALLOWED,
            format!("{obj} uses {}", generators.join(", ")),
            match policy.external_secrets.allowed_generators.as_slice() {
                [] => "generate the value in Vault and read it with spec.data[].remoteRef (no generator is allowed: externalSecrets.allowedGenerators is empty)".to_owned(),
                allowed => format!(
                    "generate the value in Vault (allowed generators: {})",
                    allowed.join(", ")
                ),
            },
        ).at_opt(generators.field));
    }
    let mut denied = Problems::default();
    for (field, key) in &reads {
        if let Some(p) = paths::read_denied(key, namespace, policy) {
            denied.push(field, format!("{field}: {p}"));
        }
    }
    if !denied.is_empty() {
        out.push(Violation::new(
            &rules::READ_SCOPE,
            format!("{obj} reads outside its scope: {}", denied.join("; ")),
            match namespace {
                Some(ns) => format!(
                    "read platform-data/<datasource>/{ns} or platform-config/...; to share another namespace's value, \
                     have its producer publish it to platform-data/<datasource>/{ns} with a PushSecret, or add a grant in the policy (vault.readGrants)"
                ),
                None => "use a namespaced ExternalSecret per consumer namespace, or read only platform-config/".to_owned(),
            },
        ).at_opt(denied.field));
    }
    refresh_rule(
        obj,
        review,
        spec.refresh_interval.as_deref(),
        spec.refresh_policy.as_deref(),
        all_generated,
        policy,
        out,
    );
    if spec.target.immutable {
        out.push(Violation::new(
            &rules::REFRESH_INTERVAL,
            format!("{obj}: spec.target.immutable: true freezes the Secret; Kubernetes refuses every later write, so a rotation in Vault never reaches its consumers"),
            "remove spec.target.immutable: ESO rewrites the Secret when the value in Vault changes, and consumers pick the new value up",
        ).at("spec.target.immutable"));
    }
    let inputs = Inputs::Fetched {
        keys: spec.data.iter().map(|d| d.secret_key.as_str()).collect(),
        open: !spec.data_from.is_empty(),
    };
    let mut findings = spec
        .target
        .template
        .as_ref()
        .map(|t| t.check("spec.target.template", &inputs))
        .unwrap_or_default();
    misspelled(
        "spec.target",
        &spec.target.unknown,
        &["template"],
        &mut findings.spelling,
    );
    template_rule(obj, TemplateOf::ExternalSecret, findings, namespace, out);
}

const ADOPTING: [&str; 4] = ["Merge", "CreateOrMerge", "Orphan", "None"];

/// The target when it is a bootstrap Secret, in any handover state: a second writer of it is
/// denied whatever the state (README, "Handover controller": it copies the value once).
fn bootstrap_target(
    view: &dyn ClusterView,
    ns: &str,
    name: &str,
    policy: &Policy,
) -> Option<std::sync::Arc<SecretMeta>> {
    view.secret(ns, name)
        .filter(|m| m.label(&policy.reserved_key("secret-class")) == Some("bootstrap"))
}

/// "a bootstrap Secret (handover-state copied)".
fn bootstrap_text(meta: &SecretMeta, policy: &Policy) -> String {
    match meta.label(&policy.reserved_key("handover-state")) {
        Some(state) => format!("a bootstrap Secret (handover-state {state})"),
        None => "a bootstrap Secret (handover not started)".to_owned(),
    }
}

/// The way to a bootstrap value once Vault holds it: another Secret, read from the
/// handover-to path.
fn bootstrap_fix(target: &str, meta: &SecretMeta, policy: &Policy) -> String {
    let annotation = policy.key("handover-to");
    let key = match meta.annotations.get(&annotation) {
        Some(path) => format!("remoteRef.key: {path}"),
        None => format!("remoteRef.key set to the Vault path in its {annotation} annotation"),
    };
    format!(
        "a bootstrap Secret is retired by the handover, not adopted: read the handed-over value from Vault with an ExternalSecret whose target.name is a Secret of another name (e.g. {target}-runtime) and {key}; the handover controller copies the bootstrap Secret to that path once ({annotation} annotation)"
    )
}

fn adoption_rule(
    obj: &str,
    spec: &ExternalSecretSpec,
    ns: Option<&str>,
    target: &str,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let fix = "use creationPolicy: Owner (the default) and let ESO create the Secret; delete a hand-made Secret of that name first";
    let boot = ns.and_then(|ns| Some((ns, bootstrap_target(view, ns, target, policy)?)));
    if let Some(cp) = spec
        .target
        .creation_policy
        .as_deref()
        .filter(|c| ADOPTING.contains(c))
    {
        let at = "spec.target.creationPolicy";
        out.push(match boot {
            Some((ns, meta)) => Violation::new(
                &rules::ADOPTION_LAUNDERING,
                format!(
                    "{obj} uses {at} {cp:?} onto Secret \"{ns}/{target}\", {}, which ESO would adopt as a second writer",
                    bootstrap_text(&meta, policy)
                ),
                bootstrap_fix(target, &meta, policy),
            ),
            None => Violation::new(
                &rules::ADOPTION_LAUNDERING,
                format!("{obj} uses {at} {cp:?}, which adopts or leaves behind a Secret ESO does not own"),
                fix,
            ),
        }.at(at));
        return;
    }
    // ESO adopts an existing Secret of the target name whatever the creationPolicy (it patches
    // its managed label onto it), so an unmanaged Secret already there would be laundered.
    // Bootstrap and sealed targets are the single-writer rule's (their producer is known).
    let Some(ns) = ns else { return };
    if let Some(existing) = view.secret(ns, target) {
        let class = existing.label(&policy.reserved_key("secret-class"));
        let bootstrap = class == Some("bootstrap") || existing.is_sealed();
        if !existing.is_materialized() && !bootstrap {
            out.push(Violation::new(
                &rules::ADOPTION_LAUNDERING,
                format!("{obj} targets Secret \"{ns}/{target}\", which already exists and was not made by External Secrets; ESO would adopt it"),
                fix,
            ).at("spec.target.name"));
        }
    }
}

/// ExternalSecret rules.
pub fn check_external_secret(
    es: &ExternalSecret,
    review: &Review<'_>,
    writer: &Writer<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let obj = object_label(review, "ExternalSecret");
    writer_rule("ExternalSecret", review, writer, out);
    let ns = review.namespace.unwrap_or("default");
    check_spec(&es.spec, &obj, review, Some(ns), policy, view, out);
    let target = es.target_name();
    adoption_rule(&obj, &es.spec, Some(ns), target, policy, view, out);

    let mut writers: Vec<String> = view
        .external_secrets_targeting(ns, target)
        .into_iter()
        .filter(|e| *e.name != *review.name)
        .map(|e| format!("ExternalSecret {:?}", e.name))
        .collect();
    let mut fix =
        "give this ExternalSecret its own target.name, or remove the other writer from Git"
            .to_owned();
    if let Some(meta) = bootstrap_target(view, ns, target, policy) {
        writers.push(format!(
            "its decrypter, as {}",
            bootstrap_text(&meta, policy)
        ));
        fix = bootstrap_fix(target, &meta, policy);
    } else if view.secret(ns, target).is_some_and(|m| m.is_sealed()) {
        writers.push("a SealedSecret".to_owned());
    }
    if !writers.is_empty() {
        out.push(Violation::new(
            &rules::SINGLE_WRITER,
            format!(
                "{obj} (spec.target.name) targets Secret \"{ns}/{target}\", which is already written by {}",
                writers.join(", ")
            ),
            fix,
        ).at("spec.target.name"));
    }
    authority_loop(es, &obj, ns, target, view, out);
}

/// VG208 from the pulling side: the target is a PushSecret's source, whatever the paths.
fn authority_loop(
    es: &ExternalSecret,
    obj: &str,
    ns: &str,
    target: &str,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let pushes = view.push_secrets_from(ns, target);
    let others: Vec<(&str, &[Box<str>])> = pushes.iter().map(|p| (&*p.name, &*p.paths)).collect();
    let own: Vec<&str> = es.spec.vault_keys().collect();
    eso_common::authority_loop(&LoopSide::PULLS, obj, ns, target, &own, &others, out);
}

/// ClusterExternalSecret rules: the same spec, read with fan-out scope.
pub fn check_cluster_external_secret(
    ces: &ClusterExternalSecret,
    review: &Review<'_>,
    writer: &Writer<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let obj = object_label(review, "ClusterExternalSecret");
    writer_rule("ClusterExternalSecret", review, writer, out);
    let spec = &ces.spec.external_secret_spec;
    let start = out.len();
    check_spec(spec, &obj, review, None, policy, view, out);
    adoption_rule(&obj, spec, None, "", policy, view, out);
    field::nest(&mut out[start..], "externalSecretSpec");
}
