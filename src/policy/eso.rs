//! Rules for ExternalSecret and ClusterExternalSecret: the writer (VG209/VG102), the store
//! (VG201), generators (VG202), read scope (VG203/VG204), adoption (VG205), refresh and
//! immutability (VG206), single writer (VG207), authority loops (VG208), templates (VG210) and
//! Vault root material pulled into the cluster (VG111, `root_material`). Adoption and the
//! bootstrap targets it meets are in `adoption`.

mod adoption;
mod root_material;

use super::{
    Policy, Review, Violation,
    eso_common::{
        self, LoopSide, TemplateOf, object_label, refresh_rule, store_problem, template_rule,
        writer_rule,
    },
    field::{self, Problems},
    identity::Writer,
    objects::{ClusterExternalSecret, ExternalSecret, ExternalSecretSpec},
    paths::{self, ReadScope},
    rules,
    template::{Inputs, misspelled},
};
use crate::policy::view::ClusterView;
use adoption::{adoption_rule, bootstrap_target, bootstrap_text};

/// Spec rules shared by ExternalSecret and ClusterExternalSecret (`namespace` None = fan-out).
fn check_spec(
    spec: &ExternalSecretSpec,
    obj: &str,
    review: &Review<'_>,
    scope: &ReadScope<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let namespace = scope.namespace;
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
    let mut finds = Problems::default();
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
                Some(p) => paths::find_denied(p, scope, policy),
            };
            if let Some(p) = problem {
                let at = format!("spec.dataFrom[{i}].find");
                finds.push(&at, format!("{at}: {p}"));
            }
        }
    }
    // One denial for every unscoped find: the fix is the same for each entry.
    if !finds.is_empty() {
        out.push(
            Violation::new(
                &rules::UNSCOPED_FIND,
                format!("{obj} {}", finds.join("; ")),
                format!(
                    "name each key with spec.data[].remoteRef, or set find.path to platform-data/<datasource>/{}",
                    namespace.unwrap_or("<namespace>")
                ),
            )
            .at_opt(finds.field),
        );
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
        if let Some(p) = paths::read_denied(key, scope, policy) {
            denied.push(field, format!("{field}: {p}"));
        }
    }
    if !denied.is_empty() {
        out.push(Violation::new(
            &rules::READ_SCOPE,
            format!("{obj} reads outside its scope: {}", denied.join("; ")),
            match namespace {
                Some(ns) => format!(
                    "read platform-data/<datasource>/<consumer> where <consumer> is {} or platform-config/...; to read for another service, \
                     label this ExternalSecret app.kubernetes.io/name: <service> (unless vault.readScope.strict), list the name in namespaces.aliases.{ns}, \
                     or have the producer publish the value to platform-data/<datasource>/{ns} with a PushSecret",
                    scope.consumers().join(", ")
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
    let start = out.len();
    writer_rule("ExternalSecret", review, writer, out);
    let ns = review.namespace.unwrap_or("default");
    let target = es.target_name();
    let root = root_material::root_material(&obj, &es.spec, Some(target), out);
    let scope = ReadScope::of(ns, es.metadata.labels.as_ref(), policy);
    check_spec(&es.spec, &obj, review, &scope, policy, view, out);
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
        fix = adoption::bootstrap_fix(target, &meta, policy, view, ns);
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
    authority_loop(es, &obj, ns, target, policy, view, out);
    if root {
        root_material::point_other_fixes_to_vg111(&mut out[start..]);
    }
}

/// VG208 from the pulling side: the target is a PushSecret's source, whatever the paths. When
/// that source is a bootstrap Secret the loop is a bootstrap re-push (the OBS
/// `argocd-private-repo` shape): renaming the target would keep the PushSecret overwriting
/// Vault every refresh, so the fix is the handover instead.
fn authority_loop(
    es: &ExternalSecret,
    obj: &str,
    ns: &str,
    target: &str,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let pushes = view.push_secrets_from(ns, target);
    let others: Vec<(&str, &[Box<str>])> = pushes.iter().map(|p| (&*p.name, &*p.paths)).collect();
    let own: Vec<&str> = es.spec.vault_keys().collect();
    let start = out.len();
    eso_common::authority_loop(&LoopSide::PULLS, obj, ns, target, &own, &others, out);
    let boot = view
        .secret(ns, target)
        .filter(|m| m.is_sealed() || bootstrap_target(view, ns, target, policy).is_some());
    if let Some(meta) = boot {
        let to = meta.annotations.get(&policy.reserved_key("handover-to"));
        for v in &mut out[start..] {
            v.fix = crate::policy::fix::bootstrap_handover(target, to, policy);
        }
    }
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
    let root =
        root_material::root_material(&obj, spec, ces.spec.external_secret_name.as_deref(), out);
    check_spec(spec, &obj, review, &ReadScope::fan_out(), policy, view, out);
    adoption_rule(&obj, spec, None, "", policy, view, out);
    if root {
        root_material::point_other_fixes_to_vg111(&mut out[start..]);
    }
    field::nest(&mut out[start..], "externalSecretSpec");
}
