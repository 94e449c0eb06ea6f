//! What a repository (or a cluster) shows about itself, read from plain objects: the workloads
//! that run the decrypter, ESO, the GitOps controllers and the operators (by image), Helm
//! releases of those charts in Argo CD Applications and Flux HelmReleases, the Vault paths
//! ExternalSecrets read and PushSecrets write, the approved store and the label prefix. Pure:
//! objects in, [`Found`] out; every fact carries where it was seen.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// One object and where it came from (`file:line` or `cluster`).
pub struct Source {
    pub at: String,
    pub value: Value,
}

/// Where a fact was seen, and what was seen there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Seen {
    pub at: String,
    pub what: String,
}

/// A platform component recognised by image or chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Decrypts bootstrap Secrets; the name becomes the `bootstrap-source` label.
    Decrypter(&'static str),
    Eso,
    Gitops,
    /// Writes Helm release storage (Flux's helm-controller).
    Helm,
    Handover,
    /// An operator that generates Secrets: name, class, and whether it writes only in its own
    /// namespace.
    Operator(&'static str, &'static str, bool),
    /// Vault/OpenBao itself: its namespace holds bootstrap Secrets.
    Vault,
}

/// Everything found, keyed so the output is stable.
#[derive(Debug, Default)]
pub struct Found {
    /// (role, service-account username) → where.
    pub identities: BTreeMap<(Role, String), BTreeSet<Seen>>,
    pub prefix: BTreeMap<String, BTreeSet<Seen>>,
    /// Namespaces holding encrypted bootstrap Secrets (SealedSecrets, SOPS-encrypted Secrets).
    pub sealed_namespaces: BTreeMap<String, BTreeSet<Seen>>,
    /// Vault ClusterSecretStores, by (kind, name).
    pub vault_stores: BTreeMap<(String, String), BTreeSet<Seen>>,
    /// How many ExternalSecrets and PushSecrets reference each store, by (kind, name).
    pub store_refs: BTreeMap<(String, String), usize>,
    pub aliases: BTreeMap<String, BTreeMap<String, BTreeSet<Seen>>>,
    pub read_grants: BTreeMap<String, BTreeMap<String, BTreeSet<Seen>>>,
    pub extra_push_prefixes: BTreeMap<String, BTreeSet<Seen>>,
    pub publishers: BTreeMap<String, BTreeMap<String, BTreeSet<Seen>>>,
    /// Flux Kustomizations that decrypt with SOPS: the kustomize-controller is a decrypter.
    pub sops: BTreeSet<Seen>,
}

/// Upstream image repositories (`org/name`, registry and tag removed) → role. An image matches
/// when its repository is this path or ends with `/` + it (a mirror keeps the upstream path
/// under its own prefix). Exact paths, not substrings: an application image called
/// `acme/external-secrets-exporter` must not make its service account the ESO identity.
const IMAGES: &[(&str, Role)] = &[
    (
        "bitnami/sealed-secrets-controller",
        Role::Decrypter("sealed-secrets"),
    ),
    (
        "bitnami-labs/sealed-secrets-controller",
        Role::Decrypter("sealed-secrets"),
    ),
    ("external-secrets/external-secrets", Role::Eso),
    ("fluxcd/kustomize-controller", Role::Gitops),
    ("fluxcd/helm-controller", Role::Helm),
    (
        "jetstack/cert-manager-controller",
        Role::Operator("cert-manager", "derived", false),
    ),
    (
        "jetstack/cert-manager-webhook",
        Role::Operator("cert-manager-webhook", "internal", true),
    ),
    (
        "jetstack/cert-manager-cainjector",
        Role::Operator("cert-manager-webhook", "internal", true),
    ),
    (
        "cloudnative-pg/cloudnative-pg",
        Role::Operator("cloudnative-pg", "derived", false),
    ),
    (
        "acid/postgres-operator",
        Role::Operator("postgres-operator", "derived", false),
    ),
    (
        "zalando/postgres-operator",
        Role::Operator("postgres-operator", "derived", false),
    ),
    (
        "crossplane/crossplane",
        Role::Operator("crossplane", "derived", false),
    ),
    ("rook/ceph", Role::Operator("rook-ceph", "derived", false)),
    (
        "strimzi/operator",
        Role::Operator("strimzi", "derived", false),
    ),
    (
        "mongodb/mongodb-kubernetes-operator",
        Role::Operator("mongodb", "derived", false),
    ),
    (
        "spotahome/redis-operator",
        Role::Operator("redis-operator", "derived", false),
    ),
    (
        "opstree/redis-operator",
        Role::Operator("redis-operator", "derived", false),
    ),
    (
        "mariadb-operator/mariadb-operator",
        Role::Operator("mariadb-operator", "derived", false),
    ),
    (
        "rabbitmqoperator/cluster-operator",
        Role::Operator("rabbitmq", "derived", false),
    ),
    ("hashicorp/vault", Role::Vault),
    ("openbao/openbao", Role::Vault),
    ("pnats/vaultgate", Role::Handover),
];

/// Upstream chart names → role, for Argo CD Applications and Flux HelmReleases (the service
/// account is the chart's default name; the output says to verify it).
const CHARTS: &[(&str, Role)] = &[
    ("sealed-secrets", Role::Decrypter("sealed-secrets")),
    ("external-secrets", Role::Eso),
    (
        "cert-manager",
        Role::Operator("cert-manager", "derived", false),
    ),
    (
        "cloudnative-pg",
        Role::Operator("cloudnative-pg", "derived", false),
    ),
    (
        "postgres-operator",
        Role::Operator("postgres-operator", "derived", false),
    ),
    ("crossplane", Role::Operator("crossplane", "derived", false)),
    ("rook-ceph", Role::Operator("rook-ceph", "derived", false)),
    (
        "strimzi-kafka-operator",
        Role::Operator("strimzi", "derived", false),
    ),
    (
        "mariadb-operator",
        Role::Operator("mariadb-operator", "derived", false),
    ),
    ("vault", Role::Vault),
    ("openbao", Role::Vault),
];

/// The role of an image, from its repository path (`ghcr.io/fluxcd/helm-controller:v1` →
/// `fluxcd/helm-controller`). Argo CD runs every component from one image, so it is told by
/// the workload's name instead (see [`argocd_role`]).
fn image_role(image: &str) -> Option<Role> {
    let repo = image.split(['@']).next().unwrap_or(image);
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    IMAGES
        .iter()
        .find(|(path, _)| repo == *path || repo.ends_with(&format!("/{path}")))
        .map(|(_, role)| *role)
}

/// Argo CD's components share one image; the controller is a GitOps writer, the API server a
/// dashboard (left as the default policy has it).
fn argocd_role(workload: &str, image: &str) -> Option<Role> {
    (image.contains("argoproj/argocd") && workload.contains("application-controller"))
        .then_some(Role::Gitops)
}

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn sa_user(ns: &str, sa: &str) -> String {
    format!("system:serviceaccount:{ns}:{sa}")
}

/// Helm's usual `fullname`: the release name when it already contains the chart name,
/// otherwise `<release>-<chart>`; `fullnameOverride` wins.
fn helm_fullname(release: &str, chart: &str, values: Option<&Value>) -> String {
    if let Some(name) = values.and_then(|v| str_at(v, "/fullnameOverride")) {
        return name.to_owned();
    }
    if release.contains(chart) {
        release.to_owned()
    } else {
        format!("{release}-{chart}")
    }
}

/// Reads every object into `found`. `default_ns` stands for objects without a namespace.
pub fn detect(sources: &[Source], default_ns: &str) -> Found {
    let mut found = Found::default();
    for s in sources {
        observe(&mut found, s, default_ns);
    }
    found
}

fn observe(found: &mut Found, s: &Source, default_ns: &str) {
    let v = &s.value;
    let kind = str_at(v, "/kind").unwrap_or_default();
    let api = str_at(v, "/apiVersion").unwrap_or_default();
    let group = api.rsplit_once('/').map_or("", |(g, _)| g);
    let name = str_at(v, "/metadata/name").unwrap_or_default();
    let ns = str_at(v, "/metadata/namespace").unwrap_or(default_ns);
    prefixes(found, s);
    match (group, kind) {
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet") => workload(found, s, ns, name, kind),
        ("argoproj.io", "Application") => argo_application(found, s, name),
        ("helm.toolkit.fluxcd.io", "HelmRelease") => flux_helm_release(found, s, ns, name),
        ("kustomize.toolkit.fluxcd.io", "Kustomization")
            if str_at(v, "/spec/decryption/provider") == Some("sops") =>
        {
            found.sops.insert(seen(
                s,
                format!("Kustomization {ns}/{name} decrypts with SOPS"),
            ));
        }
        ("bitnami.com", "SealedSecret") => {
            // Written into the SealedSecret's own namespace, whatever its template says.
            let target = ns;
            add(
                &mut found.sealed_namespaces,
                target,
                seen(s, format!("SealedSecret {target}/{name}")),
            );
        }
        ("", "Secret") if v.get("sops").is_some() => {
            add(
                &mut found.sealed_namespaces,
                ns,
                seen(s, format!("SOPS-encrypted Secret {ns}/{name}")),
            );
        }
        ("external-secrets.io", "ClusterSecretStore")
            if v.pointer("/spec/provider/vault").is_some() =>
        {
            found
                .vault_stores
                .entry(("ClusterSecretStore".into(), name.into()))
                .or_default()
                .insert(seen(
                    s,
                    format!("ClusterSecretStore {name} (Vault provider)"),
                ));
        }
        ("external-secrets.io", "ExternalSecret") => external_secret(found, s, ns, name),
        ("external-secrets.io", "PushSecret") => push_secret(found, s, ns, name),
        _ => {}
    }
}

fn seen(s: &Source, what: String) -> Seen {
    Seen {
        at: s.at.clone(),
        what,
    }
}

fn add(map: &mut BTreeMap<String, BTreeSet<Seen>>, key: &str, at: Seen) {
    map.entry(key.to_owned()).or_default().insert(at);
}

fn add2(map: &mut BTreeMap<String, BTreeMap<String, BTreeSet<Seen>>>, a: &str, b: &str, at: Seen) {
    map.entry(a.to_owned())
        .or_default()
        .entry(b.to_owned())
        .or_default()
        .insert(at);
}

/// Label and annotation keys ending in `/secret-class` or `/handover-to` name the prefix in use.
fn prefixes(found: &mut Found, s: &Source) {
    for field in ["labels", "annotations"] {
        for pointer in [
            format!("/metadata/{field}"),
            format!("/spec/template/metadata/{field}"),
        ] {
            let Some(map) = s.value.pointer(&pointer).and_then(Value::as_object) else {
                continue;
            };
            for key in map.keys() {
                for suffix in ["secret-class", "handover-to"] {
                    if let Some(prefix) = key.strip_suffix(suffix).filter(|p| p.ends_with('/')) {
                        add(
                            &mut found.prefix,
                            prefix,
                            seen(s, format!("{field} key {key}")),
                        );
                    }
                }
            }
        }
    }
}

fn workload(found: &mut Found, s: &Source, ns: &str, name: &str, kind: &str) {
    let spec = s.value.pointer("/spec/template/spec");
    let sa = spec
        .and_then(|p| {
            p.get("serviceAccountName")
                .or_else(|| p.get("serviceAccount"))
        })
        .and_then(Value::as_str)
        .unwrap_or("default");
    let containers = spec
        .and_then(|p| p.get("containers"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten();
    for c in containers {
        let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
        let args: Vec<&str> = c
            .get("args")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let role = match image_role(image).or_else(|| argocd_role(name, image)) {
            // ESO's image also runs its webhook (writes nothing governed) and its cert
            // controller (rotates the webhook's serving certificate in its own namespace).
            Some(Role::Eso) if args.contains(&"webhook") => None,
            Some(Role::Eso) if args.contains(&"certcontroller") => Some(Role::Operator(
                "external-secrets-cert-controller",
                "internal",
                true,
            )),
            other => other,
        };
        if let Some(role) = role {
            found
                .identities
                .entry((role, sa_user(ns, sa)))
                .or_default()
                .insert(seen(s, format!("{kind} {ns}/{name} runs {image}")));
        }
    }
}

/// A chart's role: its name matched against the same table as images.
fn chart_role(chart: &str) -> Option<(Role, &'static str)> {
    CHARTS
        .iter()
        .find(|(name, _)| chart == *name || chart.ends_with(&format!("/{name}")))
        .map(|(name, role)| (*role, *name))
}

fn release(
    found: &mut Found,
    s: &Source,
    chart: &str,
    release: &str,
    ns: &str,
    values: Option<&Value>,
    what: String,
) {
    let Some((role, _)) = chart_role(chart) else {
        return;
    };
    let sa = values
        .and_then(|v| str_at(v, "/serviceAccount/name"))
        .map_or_else(|| helm_fullname(release, chart, values), str::to_owned);
    found
        .identities
        .entry((role, sa_user(ns, &sa)))
        .or_default()
        .insert(seen(
            s,
            format!("{what} (service account named as the chart's default; verify)"),
        ));
}

fn argo_application(found: &mut Found, s: &Source, name: &str) {
    let v = &s.value;
    let ns = str_at(v, "/spec/destination/namespace").unwrap_or(name);
    let sources = v
        .pointer("/spec/sources")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_else(|| v.pointer("/spec/source").cloned().into_iter().collect());
    for src in &sources {
        let Some(chart) = str_at(src, "/chart") else {
            continue;
        };
        let rel = str_at(src, "/helm/releaseName").unwrap_or(name);
        let values = src
            .pointer("/helm/valuesObject")
            .cloned()
            .or_else(|| str_at(src, "/helm/values").and_then(|t| serde_saphyr::from_str(t).ok()));
        let what = format!("Argo CD Application {name} installs chart {chart} into {ns}");
        release(found, s, chart, rel, ns, values.as_ref(), what);
    }
}

fn flux_helm_release(found: &mut Found, s: &Source, ns: &str, name: &str) {
    let v = &s.value;
    let Some(chart) = str_at(v, "/spec/chart/spec/chart") else {
        return;
    };
    let target = str_at(v, "/spec/targetNamespace").unwrap_or(ns);
    let rel = str_at(v, "/spec/releaseName").map_or_else(
        || match str_at(v, "/spec/targetNamespace") {
            Some(t) => format!("{t}-{name}"),
            None => name.to_owned(),
        },
        str::to_owned,
    );
    let what = format!("Flux HelmRelease {ns}/{name} installs chart {chart} into {target}");
    release(
        found,
        s,
        chart,
        &rel,
        target,
        v.pointer("/spec/values"),
        what,
    );
}

fn store_of(v: &Value) -> Option<(String, String)> {
    let kind = str_at(v, "/kind").unwrap_or("SecretStore");
    str_at(v, "/name").map(|n| (kind.to_owned(), n.to_owned()))
}

fn external_secret(found: &mut Found, s: &Source, ns: &str, name: &str) {
    let v = &s.value;
    if let Some(store) = v.pointer("/spec/secretStoreRef").and_then(store_of) {
        *found.store_refs.entry(store).or_default() += 1;
    }
    let mut keys: Vec<&str> = Vec::new();
    for d in v
        .pointer("/spec/data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        keys.extend(str_at(d, "/remoteRef/key"));
    }
    for d in v
        .pointer("/spec/dataFrom")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        keys.extend(str_at(d, "/extract/key"));
    }
    for key in keys {
        let segments: Vec<&str> = key.trim_matches('/').split('/').collect();
        let at = seen(s, format!("ExternalSecret {ns}/{name} reads {key}"));
        match segments.as_slice() {
            ["platform-data", _, consumer, ..] if *consumer != ns => {
                add2(&mut found.aliases, ns, consumer, at);
            }
            ["platform-data" | "platform-config", ..] => {}
            [.., _] if segments.len() > 1 => {
                let dir = segments[..segments.len() - 1].join("/");
                add2(&mut found.read_grants, ns, &dir, at);
            }
            _ => add2(&mut found.read_grants, ns, key, at),
        }
    }
}

fn push_secret(found: &mut Found, s: &Source, ns: &str, name: &str) {
    let v = &s.value;
    for store in v
        .pointer("/spec/secretStoreRefs")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(store) = store_of(store) {
            *found.store_refs.entry(store).or_default() += 1;
        }
    }
    for d in v
        .pointer("/spec/data")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(key) = str_at(d, "/match/remoteRef/remoteKey") else {
            continue;
        };
        let at = seen(s, format!("PushSecret {ns}/{name} writes {key}"));
        match key
            .trim_matches('/')
            .split('/')
            .collect::<Vec<_>>()
            .as_slice()
        {
            ["platform-data", ds, ..] => add2(&mut found.publishers, ds, ns, at),
            ["platform-config", ..] => {}
            [first, ..] => add(&mut found.extra_push_prefixes, first, at),
            [] => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_is_matched_on_its_repository_not_its_registry_or_tag() {
        assert_eq!(
            image_role("ghcr.io/fluxcd/helm-controller:v1.2.0"),
            Some(Role::Helm)
        );
        assert_eq!(
            image_role("docker.io/bitnami/sealed-secrets-controller@sha256:abc"),
            Some(Role::Decrypter("sealed-secrets"))
        );
        assert_eq!(image_role("registry:5000/team/api:1.0"), None);
        assert_eq!(
            image_role("registry.corp/mirror/external-secrets/external-secrets:v0.10"),
            Some(Role::Eso),
            "a mirror keeps the upstream path"
        );
        assert_eq!(
            image_role("ghcr.io/acme/external-secrets-exporter:1.0"),
            None,
            "a name that merely contains a component's is not that component"
        );
    }

    #[test]
    fn helm_fullname_follows_the_chart_convention() {
        assert_eq!(
            helm_fullname("sealed-secrets", "sealed-secrets", None),
            "sealed-secrets"
        );
        assert_eq!(
            helm_fullname("ss", "sealed-secrets", None),
            "ss-sealed-secrets"
        );
        let values = serde_json::json!({ "fullnameOverride": "sealed-secrets-controller" });
        assert_eq!(
            helm_fullname("ss", "sealed-secrets", Some(&values)),
            "sealed-secrets-controller"
        );
    }

    fn source(value: serde_json::Value) -> Source {
        Source {
            at: "repo.yaml:1".into(),
            value,
        }
    }

    #[test]
    fn flux_objects_name_the_helm_writer_and_the_sops_decrypter() {
        let sources = [
            source(serde_json::json!({
                "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
                "metadata": { "name": "cnpg", "namespace": "flux-system" },
                "spec": { "targetNamespace": "databases",
                          "chart": { "spec": { "chart": "cloudnative-pg" } },
                          "values": { "serviceAccount": { "name": "cnpg-manager" } } }
            })),
            source(serde_json::json!({
                "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
                "metadata": { "name": "infra", "namespace": "flux-system" },
                "spec": { "decryption": { "provider": "sops" } }
            })),
        ];
        let found = detect(&sources, "default");
        let operator = Role::Operator("cloudnative-pg", "derived", false);
        assert!(
            found.identities.contains_key(&(
                operator,
                "system:serviceaccount:databases:cnpg-manager".into()
            )),
            "{:?}",
            found.identities
        );
        assert_eq!(found.sops.len(), 1);
    }

    #[test]
    fn vault_paths_become_aliases_grants_prefixes_and_publishers() {
        let sources = [
            source(serde_json::json!({
                "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": { "name": "db", "namespace": "shop" },
                "spec": { "data": [
                    { "secretKey": "a", "remoteRef": { "key": "platform-data/postgres/cart" } },
                    { "secretKey": "b", "remoteRef": { "key": "platform-data/postgres/shop" } },
                    { "secretKey": "c", "remoteRef": { "key": "platform-config/postgres/main" } }
                ] }
            })),
            source(serde_json::json!({
                "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret",
                "metadata": { "name": "p", "namespace": "ci" },
                "spec": { "data": [ { "match": { "remoteRef": { "remoteKey": "ci/cache/token" } } } ] }
            })),
        ];
        let found = detect(&sources, "default");
        assert_eq!(
            found.aliases["shop"].keys().collect::<Vec<_>>(),
            ["cart"],
            "its own name is no alias"
        );
        assert!(
            found.read_grants.is_empty(),
            "platform-config needs no grant"
        );
        assert_eq!(found.extra_push_prefixes.keys().collect::<Vec<_>>(), ["ci"]);
    }
}
