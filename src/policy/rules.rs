//! The rule catalogue: stable ids and slugs, the RFC section each enforces, and the one-line
//! invariant quoted in every denial. Ids never change meaning; retired ids are not reused.

use super::{Mode, Policy};

/// One rule of the catalogue.
#[derive(Debug, PartialEq, Eq)]
pub struct Rule {
    pub id: &'static str,
    pub slug: &'static str,
    /// RFC-SECOPS-0001 section(s) the rule enforces.
    pub rfc: &'static str,
    /// The invariant, in one sentence.
    pub why: &'static str,
    /// What it stops (README rule table).
    pub stops: &'static str,
    /// Position in a denial: who wrote it first, then provenance, then the spec.
    pub order: u16,
}

macro_rules! rules {
    ($($name:ident = $id:literal, $slug:literal, $order:literal, $rfc:literal, $why:literal, $stops:literal;)*) => {
        $(pub static $name: Rule = Rule { id: $id, slug: $slug, rfc: $rfc, why: $why, stops: $stops, order: $order };)*
        /// Every rule, in catalogue order.
        pub static ALL: &[&Rule] = &[$(&$name),*];
    };
}

rules! {
    UNMANAGED_SECRET = "VG101", "unmanaged-secret", 10, "§2.4 Inv 5-6, §3.3",
        "Kubernetes Secrets are derived copies; Vault is the runtime authority, and only declared producers (ESO, the bootstrap decrypters, registered operators) may write them",
        "Secrets written by humans, scripts or GitOps as plain manifests in governed namespaces";
    CI_WRITER = "VG102", "ci-writer", 11, "§2.3.2, §8.4",
        "CI/CD is never a source of truth or a control plane for secrets",
        "Secret, ExternalSecret and PushSecret writes by CI service accounts (Tekton, Argo Workflows, runners)";
    FORGED_PROVENANCE = "VG104", "forged-provenance", 12, "§4.3.1, §5.8",
        "provenance markers are trusted only from the identity that owns them",
        "ESO/SealedSecret owner references, ESO labels and vaultgate's own keys set by anyone else";
    STAMP_INTEGRITY = "VG112", "stamp-integrity", 12, "§4.3.1, §5.2, §5.4",
        "a bootstrap secret's audit stamps (who created it, when, through which decrypter and from which Git source) are written once, at admission, and keep their stored values",
        "UPDATEs that change or drop a stored audit stamp, and bootstrap Secrets admitted without the stamps the mutating webhook writes (the mutating call skipped or bypassed)";
    CLASS_LABEL_CHANGE = "VG108", "class-label-change", 13, "§4.3.1, §2.2.2",
        "the secret class is intent declared in Git; only its owners may change it",
        "removing or changing the secret-class label on UPDATE by a non-owner";
    COPY_MARKER = "VG103", "copy-marker", 20, "§2.4 Inv 7, §8.10",
        "cross-namespace distribution goes PushSecret -> Vault -> ExternalSecret, never by copying Secrets",
        "replicator, reflector, kubed/config-syncer, Kyverno clone, ClusterSecret and secretgen copies";
    CONTENT_COPY = "VG109", "content-copy", 21, "§2.4 Inv 7, §8.10",
        "a value another namespace needs is published to Vault and pulled, never copied by hand",
        "Secrets whose value equals one held in another namespace (kubectl get | kubectl apply copies); opt-in";
    MATERIALIZED_EDIT = "VG105", "materialized-edit", 25, "§2.4 Inv 5, App A",
        "a materialized Secret is owned by ESO and rewritten from Vault; edits elsewhere are lost or become a second authority",
        "edits of ESO-managed Secrets by anyone but ESO";
    BOOTSTRAP_NAMESPACE = "VG106", "bootstrap-namespace", 30, "§5.2",
        "bootstrap secrets are scoped to minimal namespaces and never reused by applications",
        "bootstrap-class Secrets outside the bootstrap namespaces";
    BOOTSTRAP_HANDED_OVER = "VG107", "bootstrap-handed-over", 31, "§5.4, §2.4 Inv 4",
        "a bootstrap secret is handed over to Vault exactly once; afterwards Vault holds the value",
        "re-populating or editing a bootstrap Secret whose handover is consumed or superseded";
    BOOTSTRAP_EDIT = "VG110", "bootstrap-edit", 32, "§5.2, §5.4",
        "a bootstrap secret is written only by its decrypter until the handover controller copies it to Vault",
        "other producers (operators, ESO) rewriting a bootstrap Secret before or during its handover";
    GITOPS_WRITER = "VG209", "gitops-writer", 14, "§5a.6.3 r5, §5a.7.4",
        "ExternalSecrets, PushSecrets and stores are managed by the GitOps controller: versioned and auditable",
        "ESO objects applied by hand or by scripts";
    NON_VAULT_STORE = "VG201", "non-vault-store", 40, "§5a.3.3, §5a.6.3 r2, §8.10",
        "secrets are read only from the approved Vault ClusterSecretStore",
        "ExternalSecrets reading from other stores, SecretStores or non-Vault providers";
    GENERATOR_NOT_ALLOWED = "VG202", "generator-not-allowed", 41, "§2.4 Inv 5",
        "values are generated inside the runtime authority, not by ad-hoc generators",
        "generators off externalSecrets.allowedGenerators (default: Password only; Fake, Webhook and VaultDynamicSecret denied)";
    READ_SCOPE = "VG203", "read-scope", 42, "§5a.5, §7.7",
        "a namespace reads platform-data/<datasource>/<itself>, platform-config/ and its grants only",
        "ExternalSecrets reading another namespace's Vault paths";
    UNSCOPED_FIND = "VG204", "unscoped-find", 43, "§5a.3.2, §7.7",
        "no wildcard sync: a find must stay inside the namespace's own paths",
        "dataFrom.find without a path or with a path outside the read scope";
    ADOPTION_LAUNDERING = "VG205", "adoption-laundering", 44, "§2.4 Inv 5, §3.3",
        "ESO must create the Secret it owns; adopting an existing one launders a hand-made value, and a bootstrap Secret is retired by its handover, not adopted",
        "creationPolicy Merge, CreateOrMerge, Orphan or None, and targets that already exist unmanaged or as bootstrap Secrets";
    REFRESH_INTERVAL = "VG206", "refresh-interval", 45, "§5a.3.5, §5.6",
        "consumers get rotations automatically, within 2x the refresh interval: refresh is periodic, non-zero and bounded, and the Secret stays writable",
        "refreshInterval 0 or above the configured maximum, refreshPolicy CreatedOnce, Manual or OnChange, and target.immutable";
    SINGLE_WRITER = "VG207", "single-writer", 46, "§3.3, ADR-007",
        "authority is singular: one writer per Secret",
        "two ExternalSecrets (or an ExternalSecret and a SealedSecret or bootstrap Secret) writing one Secret";
    AUTHORITY_LOOP = "VG208", "authority-loop", 47, "§3.4, §4.4",
        "values flow one way: a Secret is either pushed to Vault (a source) or pulled from it (a copy), never both",
        "a Secret that is both a PushSecret source and an ExternalSecret target, whatever the Vault paths";
    TEMPLATE_SOURCE = "VG210", "template-source", 48, "§2.4 Inv 5, §2.2.2",
        "a Secret's values come from Vault; a template only formats fetched values and never adds one from Git, a ConfigMap or another Secret",
        "templateFrom configMap/secret; template values (and each key of a templateFrom literal, read as strict YAML) that do not print fetched keys: functions off the formatting allowlist, control flow, variables, the whole input as a value, printed constants, credential-shaped literal text; and Secret types Kubernetes or Helm write";
    PUSH_STORE = "VG301", "push-store", 50, "§5a.3.2, §5a.7.1",
        "PushSecrets publish only to the approved Vault ClusterSecretStore",
        "PushSecrets to SecretStores, other stores or label-selected stores";
    EXPLICIT_MAPPING = "VG302", "explicit-mapping", 51, "§5a.3.2",
        "publication uses explicit key mappings: no wildcard sync",
        "dataTo, label-selected sources, generator sources and entries without secretKey/remoteKey";
    VAULT_PATH = "VG303", "vault-path", 52, "§5a.5.1-5a.5.3",
        "paths are platform-data/<datasource>/<consumer> or platform-config/<datasource>/<instance>, lowercase-hyphen, no environment names",
        "malformed, environment-specific or foreign-prefix Vault paths";
    PROPERTY_NAME = "VG304", "property-name", 53, "§5a.5.4",
        "property names inside a Vault path are consistent across the platform",
        "properties other than the configured set (username, password, host, port, token)";
    SECRET_IN_CONFIG = "VG305", "secret-in-config-path", 54, "§2.4 Inv 8, §5a.4.3",
        "platform-config/ is not a security boundary, so secrets never go there",
        "password/token properties pushed under platform-config/";
    REMOTE_NAMESPACE = "VG306", "remote-namespace", 55, "§2.4 Inv 7, §8.10",
        "a PushSecret never writes into another namespace",
        "remoteNamespace overrides in PushSecret metadata";
    PUSH_SOURCE = "VG307", "push-source", 56, "§5.5, §5a.1.5",
        "only operator-generated Secrets are published to Vault; materialized values never flow back",
        "pushing materialized, service-account-token, bootstrap (in any handover state) or hand-made Secrets";
    PATH_OWNERSHIP = "VG308", "path-ownership", 57, "§5a.5.3 r4, §7.7",
        "one namespace owns each Vault path",
        "PushSecrets writing a path another namespace publishes, and ClusterPushSecret fan-out";
    PUSH_TEMPLATE = "VG309", "push-template", 58, "§5.5, §2.4 Inv 5",
        "a PushSecret publishes what its operator generated: its template reads the selected source Secret and nothing else",
        "PushSecret templates reading ConfigMaps or other Secrets, and template values (each key of a literal too) that do not print source keys: functions off the formatting allowlist, control flow, variables, the whole input as a value, printed constants, credential-shaped literal text";
    FORBIDDEN_PROVIDER = "VG401", "forbidden-provider", 60, "§8.10, §2.4 Inv 5",
        "Kubernetes is never the authority: no Kubernetes (or other forbidden) provider stores",
        "SecretStores/ClusterSecretStores with kubernetes, fake or webhook providers";
    VAULT_ROOT_TOKEN = "VG402", "vault-root-token", 61, "§7.5, §5a.7.2",
        "the Vault store authenticates with Kubernetes auth and a scoped role, never a token",
        "Vault stores using tokenSecretRef or any other credential kept in a Secret (AppRole, userpass, LDAP, JWT, cert, kubernetes.secretRef)";
    NAMESPACED_VAULT_STORE = "VG403", "namespaced-vault-store", 62, "§5a.3.3, §7.4.3",
        "workloads never talk to Vault directly; only the platform store does",
        "namespaced Vault SecretStores in application namespaces";
    APPROVED_STORE_NOT_VAULT = "VG404", "approved-store-not-vault", 63, "§5a.7.1",
        "the approved store name must resolve to a Vault provider",
        "an approved store name (vault-backend) bound to a non-Vault provider";
    SECRET_WRITE_GRANT = "VG501", "secret-write-grant", 15, "§2.4 Inv 6, §5.8",
        "every system that can change secret state is a control plane: only declared producers hold a grant to write Secrets",
        "Roles and ClusterRoles granting create/update/patch on Secrets, bound to an identity the policy does not declare (judged with the role and its bindings in one set)";
    CROSS_NAMESPACE_COPIER = "VG502", "cross-namespace-copier", 22, "§2.4 Inv 7, §8.10",
        "a value another namespace needs is published to Vault and pulled, never written across namespaces by a workload",
        "Jobs, CronJobs, Helm hooks and other workloads whose script or service account writes Secrets in another namespace";
    SCRIPT_SECRET_WRITER = "VG503", "script-secret-writer", 16, "§2.4 Inv 6, §8.8",
        "scripts are not control planes: a Secret is produced by a declared producer, never by a workload's shell",
        "workload scripts that write Secrets (kubectl create/apply/replace/patch, curl to the Secrets API), including Vault init output and root or unseal material";
    INLINE_VAULT_VALUE = "VG310", "inline-vault-value", 59, "§5.5, §2.2.2",
        "values reach Vault from the runtime authority or an operator, never from Git",
        "Crossplane Vault KV resources with an inline dataJson, or a dataJsonSecretRef to a Secret from Git, a SealedSecret or ESO";
    CROSSPLANE_VAULT_TOKEN = "VG405", "crossplane-vault-token", 64, "§7.5, §5a.7.2",
        "a Vault client authenticates with Kubernetes auth and a scoped role, never a token",
        "Crossplane Vault ProviderConfigs whose credentials are a token from a Secret or the environment";
    VAULT_ROOT_MATERIAL = "VG111", "vault-root-material", 5, "§7.2.1, §7.5",
        "Vault's root of trust never lives in Kubernetes: unseal and recovery key shares are kept offline (or replaced by auto-unseal), the root token is revoked after init, and consumers authenticate with Kubernetes auth",
        "Secrets (any writer, any class) and ExternalSecrets holding a Vault or OpenBao root token, unseal or recovery keys, or init output, by key name or by an explicit Secret name (vault-root-token, vault-unseal-keys)";
}

impl Rule {
    /// Finds a rule by id (`VG101`) or slug (`unmanaged-secret`).
    pub fn lookup(key: &str) -> Option<&'static Rule> {
        ALL.iter().copied().find(|r| r.id == key || r.slug == key)
    }
}

/// The README's rule table, from the catalogue (by id): `vaultgate rules --markdown` prints it,
/// and the README test compares it (and rewrites it with `VAULTGATE_BLESS=1`).
pub fn markdown_table() -> String {
    let mut rows: Vec<&Rule> = ALL.to_vec();
    rows.sort_by_key(|r| r.id);
    let mut out =
        String::from("| ID | Slug | RFC-SECOPS-0001 | What it stops |\n|---|---|---|---|\n");
    for r in rows {
        out.push_str(&format!(
            "| {} | `{}` | {} | {} |\n",
            r.id, r.slug, r.rfc, r.stops
        ));
    }
    out
}

/// The mode a rule runs in for a namespace: the most lenient of the rule's own setting and the
/// namespace's (or global) mode, so a per-namespace `warn` rollout is never overridden.
pub fn effective_mode(rule: &Rule, namespace: Option<&str>, policy: &Policy) -> Mode {
    let base = namespace
        .and_then(|ns| policy.namespaces.modes.get(ns))
        .copied()
        .unwrap_or(policy.mode);
    let own = policy
        .rules
        .get(rule.id)
        .or_else(|| policy.rules.get(rule.slug))
        .copied()
        .unwrap_or(Mode::Enforce);
    base.min(own)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_slugs_are_unique() {
        for (i, a) in ALL.iter().enumerate() {
            for b in &ALL[i + 1..] {
                assert_ne!(a.id, b.id);
                assert_ne!(a.slug, b.slug);
            }
        }
    }

    #[test]
    fn rule_mode_caps_namespace_mode() {
        let mut p = Policy::default();
        p.rules.insert("unmanaged-secret".into(), Mode::Warn);
        p.namespaces.modes.insert("legacy".into(), Mode::Off);
        assert_eq!(
            effective_mode(&UNMANAGED_SECRET, Some("payments"), &p),
            Mode::Warn
        );
        assert_eq!(
            effective_mode(&UNMANAGED_SECRET, Some("legacy"), &p),
            Mode::Off
        );
        assert_eq!(
            effective_mode(&COPY_MARKER, Some("payments"), &p),
            Mode::Enforce
        );
    }
}
