//! Workloads as hidden control planes (RFC-SECOPS-0001 §2.4 Inv 6-7, §8.8, §8.10):
//!
//! - VG502 `cross-namespace-copier`: a workload whose service account may write Secrets in
//!   another namespace (bindings and roles from the view, `rbac::service_account_grants`), or
//!   whose script writes a Secret into another namespace;
//! - VG503 `script-secret-writer`: a workload whose script writes a Secret at all, naming Vault
//!   root or unseal material (`vault_material::classify_key`) and `vault operator init` output
//!   when the script stores them, and a second writer of the same Secret from the view.
//!
//! Scripts are read by `workload::script`, conservatively (its header lists what is seen).
//! False-positive risk: a script line that looks like a write but never runs (a branch never
//! taken) is still reported; per-rule/per-namespace mode silences a workload.
//!
//! A write's namespace is resolved against the workload's own. VG502 is a write into another
//! namespace, or a copy whose source and target namespaces differ (into the workload's own
//! namespace too: Inv 7 is about distribution between namespaces, either way). A namespace the
//! script only knows at run time (`-n "$NS"` from a `valueFrom`) is VG503 saying so, not VG502.
//!
//! **Producer service accounts.** Declaring a service account a producer
//! (`policy.identities`) is about the Secrets *its controller* writes, which the Secret rules
//! judge at write time; it is no licence for a script that reuses the account. There is no
//! reliable signal that a pod template *is* the declared controller, so:
//!
//! - VG111 applies to every workload, whoever it runs as;
//! - VG502 applies to every script write (its service-account half reads only undeclared
//!   grants, so a producer's own grants are not findings);
//! - VG503 applies to every script, except in a long-running Deployment, StatefulSet or
//!   DaemonSet (or a Pod one of them controls) that is not a Helm or Argo CD hook and runs as a
//!   declared producer: that is taken to be the operator itself. Jobs, CronJobs, bare Pods and
//!   hooks are never exempt: a one-shot script borrowing a controller's credentials is the
//!   hidden control plane §8.8 names.

mod script;

use std::collections::BTreeMap;

use super::{
    Policy, Review, Violation, fix,
    identity::Writer,
    objects::Workload,
    rbac, rules,
    vault_material::{self, VaultMaterial},
    view::ClusterView,
};
pub use script::{Ns, Scan, SecretWrite, scan, script_of};

/// The fix VG502/VG503 show when the write involves Vault root material: VG111 on the same
/// workload carries the full remedy, and nothing is to be moved to Vault or elsewhere.
const VAULT_MATERIAL_FIX: &str = fix::ROOT_MATERIAL_ELSEWHERE;

/// VG502 and VG503 for a workload under review.
pub fn check_workload(
    w: &Workload,
    review: &Review<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let kind = review.object.kind();
    let own = review
        .namespace
        .or(w.metadata.namespace.as_deref())
        .unwrap_or("default");
    let sa = w.pod.service_account();
    let sa_user = format!("system:serviceaccount:{own}:{sa}");
    let identity = super::Identity::new(&sa_user, Vec::new());
    let operator = Writer::of(&identity, policy).is_producer() && long_running(kind, w);
    let label = workload_label(kind.as_str(), own, review.name, w);
    let spec = super::objects::pod_spec_path(kind);

    let scans: Vec<(String, String, Scan)> = w
        .pod
        .all_containers()
        .map(|(path, c)| {
            let env: BTreeMap<String, String> = c
                .env
                .iter()
                .filter_map(|e| Some((e.name.clone(), e.value.clone()?)))
                .collect();
            (
                path,
                c.name.clone(),
                scan(&script_of(&c.command, &c.args), &env),
            )
        })
        .collect();
    let handles_material = scans
        .iter()
        .any(|(_, _, s)| s.vault_init.is_some() || !s.material.is_empty());

    for g in rbac::service_account_grants(own, sa, policy, view) {
        if g.namespace.as_deref() == Some(own) {
            continue;
        }
        out.push(
            Violation::new(
                &rules::CROSS_NAMESPACE_COPIER,
                format!(
                    "{label} runs as service account {own}/{sa}, which {} in {} (another namespace than {own:?}) through {} ({})",
                    g.what(),
                    g.scope,
                    g.binding,
                    g.role
                ),
                if handles_material {
                    format!("drop the cross-namespace grant ({}); {VAULT_MATERIAL_FIX}", g.binding)
                } else {
                    format!(
                        "drop the cross-namespace grant ({}); a value another namespace needs is published from its producing namespace with a PushSecret and read there with an ExternalSecret (PushSecret -> Vault -> ExternalSecret)",
                        g.binding
                    )
                },
            )
            .at(format!("{spec}.serviceAccountName")),
        );
    }

    for (path, name, found) in &scans {
        let at = format!("{spec}.{path}");
        let container = format!("container {name:?}");
        for write in &found.writes {
            let ctx = Ctx {
                own,
                label: &label,
                container: &container,
                at: &at,
                operator,
            };
            script_write(write, found, &ctx, policy, view, out);
        }
    }
}

/// A declared operator's own controller, as far as the manifest tells: a long-running
/// Deployment, StatefulSet or DaemonSet (or a Pod one of them controls), and not a hook. An owner
/// reference can be written by whoever creates the Pod; that only lifts VG503 (VG111 and VG502
/// still apply), and creating pods as another service account is RBAC's to stop.
fn long_running(kind: super::objects::Kind, w: &Workload) -> bool {
    use super::objects::Kind;
    let hook =
        w.annotation("helm.sh/hook").is_some() || w.annotation("argocd.argoproj.io/hook").is_some();
    let controlled = || {
        w.metadata.owner_references.iter().flatten().any(|o| {
            o.controller == Some(true)
                && o.api_version == "apps/v1"
                && matches!(o.kind.as_str(), "ReplicaSet" | "StatefulSet" | "DaemonSet")
        })
    };
    !hook
        && match kind {
            Kind::Deployment | Kind::StatefulSet | Kind::DaemonSet => true,
            Kind::Pod => controlled(),
            _ => false,
        }
}

/// Where a script write was found.
struct Ctx<'a> {
    own: &'a str,
    label: &'a str,
    container: &'a str,
    at: &'a str,
    /// The workload is taken to be a declared producer's own controller (no VG503).
    operator: bool,
}

/// `Job vault/root-token-sync (Helm hook post-install)`.
fn workload_label(kind: &str, ns: &str, name: &str, w: &Workload) -> String {
    let hook = w
        .annotation("helm.sh/hook")
        .map(|h| format!(" (Helm hook {h})"))
        .or_else(|| {
            w.annotation("argocd.argoproj.io/hook")
                .map(|h| format!(" (Argo CD hook {h})"))
        })
        .unwrap_or_default();
    format!("{kind} {ns}/{name}{hook}")
}

fn script_write(
    write: &SecretWrite,
    found: &Scan,
    ctx: &Ctx<'_>,
    policy: &Policy,
    view: &dyn ClusterView,
    out: &mut Vec<Violation>,
) {
    let Ctx {
        own,
        label,
        container,
        at,
        ..
    } = *ctx;
    let ns = write.namespace.resolve(own);
    let name = write.name.as_deref().unwrap_or("<unnamed>");
    let target = match (ns, &write.namespace) {
        (Some(ns), _) => format!("Secret {ns}/{name}"),
        (None, Ns::Unknown(expr)) => format!("Secret {expr}/{name}"),
        (None, _) => format!("Secret {name}"),
    };
    let place = format!("{container}, script line {}: {}", write.line, write.how);
    let source = write
        .copied_from
        .as_ref()
        .map(|(n, s)| (n.resolve(own), s.as_str()));
    let material: Vec<(String, VaultMaterial)> = write
        .keys
        .iter()
        .filter_map(|k| Some((k.clone(), vault_material::classify_key(k)?)))
        .collect();
    // A copy's keys are not in the script; the Secret names init sidecars and charts give their
    // output stand in, so the fix never suggests distributing a root token through Vault.
    let copies_material = write.copied_from.as_ref().is_some_and(|(_, n)| {
        n.contains("vault-init") || n.contains("root-token") || n.contains("unseal")
    });
    let mut holds = Vec::new();
    if let Some(line) = found.vault_init {
        holds.push(format!("the output of vault operator init (line {line})"));
    }
    holds.extend(
        material
            .iter()
            .map(|(k, m)| format!("{} (key {k:?})", m.as_str())),
    );
    if material.is_empty() {
        let mut seen: Vec<VaultMaterial> = Vec::new();
        for (line, k) in &found.material {
            if let Some(m) = vault_material::classify_key(k).filter(|m| !seen.contains(m)) {
                seen.push(m);
                holds.push(format!(
                    "{} read by the script (line {line}, {k:?})",
                    m.as_str()
                ));
            }
        }
    }
    let vault_fix = !holds.is_empty() || copies_material;
    if !holds.is_empty() {
        // VG111 whoever writes it: the workload is where the root material enters Kubernetes.
        let mut kinds: Vec<VaultMaterial> = material.iter().map(|(_, m)| *m).collect();
        if found.vault_init.is_some() {
            kinds.push(VaultMaterial::InitOutput);
        }
        kinds.extend(
            found
                .material
                .iter()
                .filter_map(|(_, k)| vault_material::classify_key(k)),
        );
        kinds.dedup();
        out.push(
            Violation::new(
                &rules::VAULT_ROOT_MATERIAL,
                format!(
                    "{label} stores {} in {target} from a script ({place})",
                    holds.join(", ")
                ),
                fix::root_material(&kinds).replacen(
                    "delete this object and remove its source from Git",
                    "remove this workload's Secret write and delete the Secret it wrote",
                    1,
                ),
            )
            .at(at),
        );
    }

    // Inv 7: a write into another namespace, or a copy between two namespaces (into this
    // workload's own too). Both ends must be known; an unknown one is said under VG503.
    let from = match source {
        Some((Some(src), s)) => format!(" copied from Secret {src}/{s}"),
        Some((None, s)) => {
            format!(" copied from Secret {s} (its namespace only known at run time)")
        }
        None => String::new(),
    };
    let cross = match (ns, source) {
        (Some(t), _) if t != own => Some(format!(
            "{label} writes {target}{from} into another namespace than {own:?} ({place})"
        )),
        (Some(t), Some((Some(src), s))) if src != t => Some(format!(
            "{label} copies Secret {src}/{s} into {target}: a copy between namespaces (source {src:?}, target {t:?}) ({place})"
        )),
        _ => None,
    };
    if let Some(what) = cross {
        out.push(
            Violation::new(
                &rules::CROSS_NAMESPACE_COPIER,
                what,
                if vault_fix {
                    VAULT_MATERIAL_FIX.to_owned()
                } else {
                    fix::distribute_through_vault(name, ns.unwrap_or(own), policy)
                },
            )
            .at(at),
        );
    }
    if ctx.operator {
        // The declared operator's own controller: its Secrets are judged when written.
        return;
    }

    let mut what = format!("{label} writes {target}{from} from a script ({place})");
    if ns.is_none() {
        what.push_str(&format!(
            "; its namespace is only known at run time, so whether it is another namespace than {own:?} (VG502) cannot be told: spell the namespace out or, better, drop the write"
        ));
    }
    if !holds.is_empty() {
        what.push_str(&format!("; it stores {}", holds.join(", ")));
    }
    let mut others: Vec<String> = Vec::new();
    if let Some(ns) = ns {
        others.extend(
            view.external_secrets_targeting(ns, name)
                .iter()
                .map(|e| format!("ExternalSecret {}/{}", e.namespace, e.name)),
        );
        if view.secret(ns, name).is_some_and(|m| {
            m.owners
                .iter()
                .any(|o| super::view::is_owner(&o.api_version, &o.kind, super::view::SEALED_SECRET))
        }) {
            others.push(format!("SealedSecret {ns}/{name}"));
        }
    }
    if !others.is_empty() {
        what.push_str(&format!(
            "; {target} is also written by {}: two writers, and authority is singular (VG207 single-writer)",
            others.join(", ")
        ));
    }
    let fix = if vault_fix {
        VAULT_MATERIAL_FIX.to_owned()
    } else {
        format!(
            "produce {target} with an operator the policy declares a producer (policy.identities.operators), or have that operator publish the value to Vault with a PushSecret and read it with an ExternalSecret; a script is not a control plane (§8.8), and one reusing a producer's service account is not that producer"
        )
    };
    out.push(Violation::new(&rules::SCRIPT_SECRET_WRITER, what, fix).at(at));
}
