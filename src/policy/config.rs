//! The policy file: every knob of the rule catalogue, each with a default that follows
//! RFC-SECOPS-0001 and the reference platform (docs/ARCHITECTURE.md §5). Parsing is pure (a string in,
//! a [`Policy`] or a [`PolicyError`] naming the field out); reading the file is the caller's job.

use std::{collections::BTreeMap, time::Duration};

use serde::{Deserialize, Serialize};

use super::{
    Class, Mode,
    duration::parse_go_duration,
    exception::{self, Exception},
    identity::UserPattern,
    rules::Rule,
};

/// The whole policy. Unknown fields are errors so a typo never silently disables a rule.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// Prefix of the labels and annotations vaultgate owns, e.g. `platform.pnats.cloud/`.
    pub prefix: String,
    /// Global mode: `enforce`, `warn` or `off`.
    pub mode: Mode,
    pub namespaces: Namespaces,
    /// Per-rule mode, keyed by id (`VG101`) or slug (`unmanaged-secret`).
    pub rules: BTreeMap<String, Mode>,
    pub identities: Identities,
    pub stores: Stores,
    pub vault: VaultPaths,
    pub external_secrets: ExternalSecrets,
    pub content_copy: ContentCopy,
    /// Planned, reviewed exceptions from named rules that end by themselves
    /// (`policy::exception`, README "Exceptions").
    pub exceptions: Vec<Exception>,
    /// The longest an exception may last, counted from when the policy is loaded: `90d`, or a
    /// Go duration (`2160h`).
    pub exception_max_lifetime: String,
    /// The reserved keys for `prefix`, built when the policy is made.
    #[serde(skip)]
    reserved: keys::ReservedKeys,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Namespaces {
    /// Never evaluated: Kubernetes' own namespaces and vaultgate's.
    pub exempt: Vec<String>,
    /// The only namespaces where bootstrap Secrets may live (§5.2 "minimal namespaces").
    pub bootstrap: Vec<String>,
    /// Per-namespace mode overrides.
    pub modes: BTreeMap<String, Mode>,
    /// Extra consumer names a namespace may read under `platform-data/<datasource>/<name>`.
    pub aliases: BTreeMap<String, Vec<String>>,
}

/// A named identity set that decrypts bootstrap Secrets from encrypted Git.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Decrypter {
    /// Recorded as the `bootstrap-source` label (e.g. `sealed-secrets`).
    pub name: String,
    pub users: Vec<UserPattern>,
}

/// An in-cluster operator allowed to generate Secrets of one class.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Operator {
    pub name: String,
    pub users: Vec<UserPattern>,
    /// `derived`, `internal` or `internal-config`.
    pub class: Class,
    /// Namespaces it may write Secrets in; empty means any governed namespace.
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Secret names it may write; empty means any. For a component that keeps its own state in
    /// a few Secrets but must not write others (Argo CD's API server).
    #[serde(default)]
    pub names: Vec<String>,
}

/// Who is who. Entries are usernames; `*` matches within one `:`-separated segment.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Identities {
    /// The External Secrets Operator controller.
    pub eso: Vec<UserPattern>,
    pub bootstrap_decrypters: Vec<Decrypter>,
    /// GitOps controllers: the only writers of ExternalSecrets, PushSecrets and stores (§5a.6.3 r5).
    pub gitops: Vec<UserPattern>,
    /// The handover controller (owns the handover-state label and its annotations).
    pub handover: Vec<UserPattern>,
    pub operators: Vec<Operator>,
    /// CI identities: never a writer of secrets or ESO objects (§2.3.2, §8.4).
    pub ci: Vec<UserPattern>,
    /// Copy controllers (replicator, reflector, kubed, Kyverno background controller).
    pub copiers: Vec<UserPattern>,
    /// Who writes Helm's release storage (`sh.helm.release.v1.*` Secrets): Flux's
    /// helm-controller. Argo CD renders charts with `helm template` and writes none.
    pub helm: Vec<UserPattern>,
    /// The Kubernetes control plane identities that populate service-account token Secrets
    /// (the token controller runs as kube-controller-manager).
    pub kubernetes: Vec<UserPattern>,
    /// Dashboards and API servers that write Secrets on a user's click (Argo CD's API server
    /// when someone adds a repository in its UI): a control plane nobody declared (Inv 6).
    /// Their Secret writes stay denied; the denial names them and shows the Git way.
    pub dashboards: Vec<UserPattern>,
    pub exempt_users: Vec<UserPattern>,
    pub exempt_groups: Vec<String>,
    /// Identities whose `break-glass` annotation is honoured.
    pub break_glass: Vec<UserPattern>,
}

/// A reference to an approved store.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StoreName {
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct Stores {
    /// The Vault stores ExternalSecrets and PushSecrets may use (§5a.7.1).
    pub approved: Vec<StoreName>,
    /// ESO providers that must not be used in governed scope (§8.10).
    pub forbidden_providers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct VaultPaths {
    /// Prefixes with the full §5a.5 convention: `<prefix>/<datasource>/<consumer>`.
    pub push_prefixes: Vec<String>,
    /// Further prefixes PushSecrets may write; only the lowercase-hyphen rules apply below them.
    pub extra_push_prefixes: Vec<String>,
    /// Environment names that must not appear in a path (§5a.5.3 r5).
    pub environment_words: Vec<String>,
    /// Allowed property names (§5a.5.4).
    pub properties: Vec<String>,
    /// Properties that are secret and so never go under `platform-config/` (Inv 8).
    pub secret_properties: Vec<String>,
    /// Further property names allowed only under `platform-config/`: non-sensitive endpoint
    /// data (§5a.4.3, Inv 8) such as `url` or `endpoint`, one name per kind of setting.
    pub config_properties: Vec<String>,
    /// Which consumer segments an ExternalSecret may read under `platform-data/<ds>/` (VG203).
    pub read_scope: ReadScopeConfig,
    /// Extra path prefixes a namespace may read, e.g. `payments: [applications/payments]`.
    pub read_grants: BTreeMap<String, Vec<String>>,
    /// The namespaces each datasource is published from, e.g. `postgres: [postgres-operator]`:
    /// a PushSecret to `<prefix>/<datasource>/...` from any other namespace is denied (VG308).
    /// A datasource not listed may be published from any one namespace.
    pub publishers: BTreeMap<String, Vec<String>>,
}

/// How VG203 infers the consumers an ExternalSecret reads for (§5a.5: `<consumer>` is a
/// service identity, not necessarily the namespace). See `paths::ReadScope`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ReadScopeConfig {
    /// Only the namespace, its `namespaces.aliases` and `vault.readGrants`: labels name no
    /// consumer.
    pub strict: bool,
    /// Labels of the ExternalSecret whose values are consumers it may read for.
    pub consumer_labels: Vec<String>,
}

impl Default for ReadScopeConfig {
    fn default() -> Self {
        Self {
            strict: false,
            consumer_labels: strings(&[
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app",
            ]),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ExternalSecrets {
    /// Largest allowed `refreshInterval` (Go duration), §5a.3.5.
    pub max_refresh_interval: String,
    /// Generator kinds allowed in `sourceRef.generatorRef`.
    pub allowed_generators: Vec<String>,
    /// ExternalSecrets allowed a `refreshPolicy` of `Manual` or `OnChange` (rotations would
    /// otherwise never reach them, §5.6), each with the reason it is safe.
    pub refresh_policy_exceptions: Vec<RefreshPolicyException>,
}

/// One ExternalSecret allowed a refresh policy that does not follow rotations by itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RefreshPolicyException {
    pub namespace: String,
    pub name: String,
    /// Why rotations still reach the consumer (e.g. "rotation job annotates force-sync").
    pub justification: String,
}

/// Content-copy detection (opt-in): needs get/list/watch on Secret *data* (see README).
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(default, rename_all = "camelCase", deny_unknown_fields)]
pub struct ContentCopy {
    pub enabled: bool,
    /// Values shorter than this many bytes are ignored (`true`, `5432`, `admin` are not secrets
    /// worth matching and would collide across namespaces).
    pub min_value_length: usize,
}

impl Default for ContentCopy {
    fn default() -> Self {
        Self {
            enabled: false,
            min_value_length: 16,
        }
    }
}

fn patterns(items: &[&str]) -> Vec<UserPattern> {
    items.iter().map(|s| UserPattern::from(*s)).collect()
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            prefix: "platform.pnats.cloud/".into(),
            mode: Mode::Enforce,
            namespaces: Namespaces::default(),
            rules: BTreeMap::new(),
            identities: Identities::default(),
            stores: Stores::default(),
            vault: VaultPaths::default(),
            external_secrets: ExternalSecrets::default(),
            content_copy: ContentCopy::default(),
            exceptions: Vec::new(),
            exception_max_lifetime: exception::DEFAULT_MAX_LIFETIME.into(),
            reserved: keys::ReservedKeys::new("platform.pnats.cloud/"),
        }
    }
}

impl Default for Namespaces {
    fn default() -> Self {
        Self {
            exempt: strings(&[
                "kube-system",
                "kube-public",
                "kube-node-lease",
                "vaultgate-system",
            ]),
            bootstrap: strings(&["vault", "external-secrets", "argocd", "flux-system"]),
            modes: BTreeMap::new(),
            aliases: BTreeMap::new(),
        }
    }
}

const ARGOCD: &str = "system:serviceaccount:argocd:argocd-application-controller";
const FLUX_KUSTOMIZE: &str = "system:serviceaccount:flux-system:kustomize-controller";

impl Default for Identities {
    fn default() -> Self {
        Self {
            eso: patterns(&["system:serviceaccount:external-secrets:external-secrets"]),
            bootstrap_decrypters: vec![
                Decrypter {
                    name: "sealed-secrets".into(),
                    users: patterns(&[
                        "system:serviceaccount:kube-system:sealed-secrets-controller",
                    ]),
                },
                Decrypter {
                    name: "flux-sops".into(),
                    users: patterns(&[FLUX_KUSTOMIZE]),
                },
                Decrypter {
                    name: "argocd".into(),
                    users: patterns(&[ARGOCD]),
                },
            ],
            gitops: patterns(&[
                ARGOCD,
                FLUX_KUSTOMIZE,
                "system:serviceaccount:flux-system:helm-controller",
            ]),
            handover: patterns(&["system:serviceaccount:vaultgate-system:vaultgate"]),
            operators: vec![
                Operator {
                    name: "cert-manager".into(),
                    users: patterns(&["system:serviceaccount:cert-manager:cert-manager"]),
                    class: Class::Derived,
                    namespaces: Vec::new(),
                    names: Vec::new(),
                },
                // The CA Secrets cert-manager's own webhook and cainjector create for themselves.
                Operator {
                    name: "cert-manager-webhook".into(),
                    users: patterns(&[
                        "system:serviceaccount:cert-manager:cert-manager-webhook",
                        "system:serviceaccount:cert-manager:cert-manager-cainjector",
                    ]),
                    class: Class::Internal,
                    namespaces: strings(&["cert-manager"]),
                    names: Vec::new(),
                },
                // ESO's cert-controller rotates the ESO webhook's serving certificate Secret.
                Operator {
                    name: "external-secrets-cert-controller".into(),
                    users: patterns(&[
                        "system:serviceaccount:external-secrets:external-secrets-cert-controller",
                    ]),
                    class: Class::Internal,
                    namespaces: strings(&["external-secrets"]),
                    names: Vec::new(),
                },
                // Argo CD's API server keeps its own state (session key, local accounts' tokens,
                // the initial admin password) in these Secrets; every other Secret it writes
                // (repositories, clusters added in its UI) is a dashboard write (`dashboards`).
                Operator {
                    name: "argocd-server".into(),
                    users: patterns(&["system:serviceaccount:argocd:argocd-server"]),
                    class: Class::Internal,
                    namespaces: strings(&["argocd"]),
                    names: strings(&["argocd-secret", "argocd-initial-admin-secret"]),
                },
            ],
            ci: patterns(&[
                "system:serviceaccount:tekton-pipelines:*",
                "system:serviceaccount:*:pipeline",
                "system:serviceaccount:argo:*",
                "system:serviceaccount:argo-workflows:*",
                "system:serviceaccount:*:argo-workflow",
                "system:serviceaccount:actions-runner-system:*",
                "system:serviceaccount:arc-runners:*",
                "system:serviceaccount:gitlab-runner:*",
                "system:serviceaccount:*:ci",
            ]),
            copiers: patterns(&[
                "system:serviceaccount:kyverno:kyverno-background-controller",
                "system:serviceaccount:*:reflector",
                "system:serviceaccount:*:kubernetes-replicator",
                "system:serviceaccount:*:kubed",
                "system:serviceaccount:*:config-syncer",
            ]),
            helm: patterns(&["system:serviceaccount:flux-system:helm-controller"]),
            kubernetes: patterns(&["system:kube-controller-manager"]),
            dashboards: patterns(&["system:serviceaccount:argocd:argocd-server"]),
            exempt_users: Vec::new(),
            exempt_groups: strings(&["system:serviceaccounts:kube-system"]),
            break_glass: Vec::new(),
        }
    }
}

impl Default for Stores {
    fn default() -> Self {
        Self {
            approved: vec![StoreName {
                kind: "ClusterSecretStore".into(),
                name: "vault-backend".into(),
            }],
            forbidden_providers: strings(&["kubernetes", "fake", "webhook"]),
        }
    }
}

impl Default for VaultPaths {
    fn default() -> Self {
        Self {
            push_prefixes: strings(&["platform-data", "platform-config"]),
            extra_push_prefixes: Vec::new(),
            environment_words: strings(&[
                "dev",
                "development",
                "staging",
                "stage",
                "prod",
                "production",
                "preview",
                "qa",
                "uat",
                "test",
            ]),
            properties: strings(&["username", "password", "host", "port", "token"]),
            secret_properties: strings(&["password", "token"]),
            config_properties: strings(&[
                "url", "endpoint", "address", "database", "region", "bucket",
            ]),
            read_scope: ReadScopeConfig::default(),
            read_grants: BTreeMap::new(),
            publishers: BTreeMap::new(),
        }
    }
}

impl Default for ExternalSecrets {
    fn default() -> Self {
        Self {
            max_refresh_interval: "1h".into(),
            // The Generate-Push-Pull pattern the RFC's derived class describes
            // (docs/rfc-digest.md §2, "Derived"): a Password generator's value is generated
            // once and published to Vault. Generators that read elsewhere (VaultDynamicSecret:
            // its path is not checked against the read scope), invent values (Fake) or call
            // out (Webhook) stay opt-in.
            allowed_generators: strings(&["Password"]),
            refresh_policy_exceptions: Vec::new(),
        }
    }
}

/// Why a policy file was refused. The message names the field to fix.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The YAML did not parse or a field has the wrong type or an unknown name.
    #[error("invalid policy: {0}")]
    Syntax(String),
    /// The YAML parsed but a value is not acceptable.
    #[error("invalid policy: field `{field}`: {message}")]
    Field { field: String, message: String },
}

impl Policy {
    /// Parses and validates a policy document. Every missing field takes its default.
    pub fn from_yaml(text: &str) -> Result<Self, PolicyError> {
        // An empty or comment-only file means "all defaults".
        let has_content = text.lines().any(|l| {
            let t = l.trim();
            !t.is_empty() && !t.starts_with('#') && t != "---"
        });
        if !has_content {
            return Ok(Self::default());
        }
        let mut policy: Policy = serde_saphyr::from_str(text).map_err(|e| {
            // The parser's text is `error: line L column C: what` and a source excerpt (which
            // shows the key); callers print their own `error:`, so the parser's is dropped.
            let text = e.to_string();
            PolicyError::Syntax(text.strip_prefix("error: ").unwrap_or(&text).to_owned())
        })?;
        policy.validate()?;
        policy.reserved = keys::ReservedKeys::new(&policy.prefix);
        policy.exceptions.iter_mut().for_each(Exception::resolve);
        Ok(policy)
    }

    fn validate(&self) -> Result<(), PolicyError> {
        let field = |field: &str, message: String| PolicyError::Field {
            field: field.into(),
            message,
        };
        if !self.prefix.is_empty() && !self.prefix.ends_with('/') {
            return Err(field(
                "prefix",
                format!("must end with '/', got {:?}", self.prefix),
            ));
        }
        for key in self.rules.keys() {
            if Rule::lookup(key).is_none() {
                return Err(field(
                    &format!("rules.{key}"),
                    "unknown rule: use an id like VG101 or a slug like unmanaged-secret (see README)".into(),
                ));
            }
        }
        self.max_refresh_interval().ok_or_else(|| {
            field(
                "externalSecrets.maxRefreshInterval",
                format!(
                    "must be a duration like 1h or 30m, got {:?}",
                    self.external_secrets.max_refresh_interval
                ),
            )
        })?;
        if self.stores.approved.is_empty() {
            return Err(field(
                "stores.approved",
                "must name at least one Vault store".into(),
            ));
        }
        for (i, op) in self.identities.operators.iter().enumerate() {
            if !matches!(
                op.class,
                Class::Derived | Class::Internal | Class::InternalConfig
            ) {
                return Err(field(
                    &format!("identities.operators[{i}].class"),
                    "must be derived, internal or internal-config".into(),
                ));
            }
        }
        for (i, e) in self
            .external_secrets
            .refresh_policy_exceptions
            .iter()
            .enumerate()
        {
            if e.namespace.is_empty() || e.name.is_empty() || e.justification.trim().is_empty() {
                return Err(field(
                    &format!("externalSecrets.refreshPolicyExceptions[{i}]"),
                    "needs namespace, name and a non-empty justification".into(),
                ));
            }
        }
        for p in self
            .vault
            .push_prefixes
            .iter()
            .chain(&self.vault.extra_push_prefixes)
        {
            if p.is_empty() || p.contains('/') || p.chars().any(|c| c.is_ascii_uppercase()) {
                return Err(field(
                    "vault.pushPrefixes",
                    format!("{p:?} must be one lowercase path segment without '/'"),
                ));
            }
        }
        exception::validate(self)
    }

    /// The configured maximum refresh interval (validated at load time).
    pub fn max_refresh_interval(&self) -> Option<Duration> {
        parse_go_duration(&self.external_secrets.max_refresh_interval)
    }

    /// The justification when the ExternalSecret `namespace/name` may use a refresh policy
    /// that does not follow rotations by itself (`Manual`, `OnChange`).
    pub fn refresh_policy_exception(&self, namespace: Option<&str>, name: &str) -> Option<&str> {
        let ns = namespace?;
        self.external_secrets
            .refresh_policy_exceptions
            .iter()
            .find(|e| e.namespace == ns && e.name == name)
            .map(|e| e.justification.as_str())
    }

    /// A key vaultgate owns, e.g. `key("secret-class")` → `platform.pnats.cloud/secret-class`,
    /// as an owned string (map keys, tests). The review path uses [`Policy::reserved_key`].
    pub fn key(&self, name: &str) -> String {
        self.reserved_key(name).into_owned()
    }

    /// [`Policy::key`] borrowed from the set built with the policy: no allocation for the
    /// reserved names a review looks up a dozen times.
    pub fn reserved_key(&self, name: &str) -> std::borrow::Cow<'_, str> {
        self.reserved.get(&self.prefix, name)
    }
}

/// The built-in default, as YAML with comments: what `vaultgate policy default` prints.
pub const DEFAULT_POLICY_YAML: &str = include_str!("default-policy.yaml");

mod keys;
#[cfg(test)]
mod tests;
