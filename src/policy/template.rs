//! ESO templates — `ExternalSecret.spec.target.template` and `PushSecret.spec.template` — and
//! what they may do (VG210 template-source, VG309 push-template).
//!
//! A Secret's values come from Vault (README, "What it enforces"): a template may *format* the
//! values it is given, never add one. The rule, as enforced:
//!
//! - `templateFrom[].configMap` and `templateFrom[].secret` are denied: the template (with
//!   `templateAs: KeysAndValues`, its keys too) comes from a ConfigMap in Git or from another
//!   Secret, not from Vault.
//! - Every `data` value and every `templateFrom[].literal` must reference an input key:
//!   `.key`, `$.key`, `index . "key"`, or the whole input (`.`/`$` at the root, as in
//!   `range .` or `toJson .`). An ExternalSecret's input is the keys `spec.data[].secretKey`
//!   fetches, matched by exact name (Go's map lookup is case-sensitive); with `spec.dataFrom`
//!   the key names are Vault's, so any name counts. A PushSecret's input is its source Secret,
//!   whose keys vaultgate does not hold, so any name counts. An empty value carries nothing and
//!   is allowed. A literal whose `target` is `Labels` or `Annotations` is metadata, like
//!   `template.metadata`, and need not reference a key.
//! - Constants inside actions are denied (`{{ "hunter2" }}`, `{{ print "x" }}`, `default`,
//!   `replace`, numbers), except: the key of `index . "key"`; a `printf` format; and the
//!   parameters of functions that only select, compare or lay out input (`filterPEM`,
//!   `trimPrefix`, `split`, `join`, `eq`, `trunc`, `indent`, ...), never the value such a
//!   function works on (`trimPrefix "" "hunter2"` prints a constant). A format and a
//!   selector's string are held to the literal-text rule.
//! - Literal text (outside actions) is scaffolding: separators, URL syntax, words, hostnames
//!   and ports (`postgres://`, `@`, `:5432/app?sslmode=require`). A run of letters, digits and
//!   `_` of 24+ characters, of 12+ mixing letters and digits, or of 8+ mixing lower case, upper
//!   case and digits reads like a credential and is denied. The text is read across actions
//!   as if they printed nothing (`{{ .x | trunc 0 }}` does), so a token cut into pieces is
//!   still one run. A short word cannot be told from a short password: that residue is
//!   accepted, on top of a value that must still reference an input key.
//! - Functions that make a value up (`randAlphaNum`, `uuidv4`, `genPrivateKey`,
//!   `derivePassword`, ...) or read the controller's environment (`env`, `expandenv`) are
//!   denied, and so are `define`, `template` and `block`. Comments render nothing: ignored.
//! - ExternalSecret only: `template.type` may not be a type Kubernetes or Helm writes itself
//!   (`kubernetes.io/service-account-token`, `bootstrap.kubernetes.io/token`,
//!   `helm.sh/release.v1`), compared ignoring case and surrounding space.
//! - Field names are case-sensitive (the apiserver drops `ConfigMap`), so a known field spelled
//!   in another case is denied rather than read past.
//!
//! `template.metadata` (labels, annotations) is allowed: Argo CD repository Secrets are made
//! this way (`argocd.argoproj.io/secret-type: repository`). Findings name the field path and a
//! character offset, never the text: it may be a credential.

mod funcs;
mod lex;
mod scan;
mod text;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use scan::scan;

/// Treats an explicit `null` like an absent field, as the object decoders do.
fn nullable<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

/// `template` of an ExternalSecret's target or of a PushSecret.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Template {
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    #[serde(default)]
    pub engine_version: Option<String>,
    /// `Replace` (default) or `Merge` (template output merged over the fetched keys).
    #[serde(default)]
    pub merge_policy: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub metadata: TemplateMetadata,
    /// Output key → template. `map<string,string>` in the CRD; anything else is kept so it can
    /// be denied rather than fail the decode.
    #[serde(default, deserialize_with = "nullable")]
    pub data: BTreeMap<String, Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub template_from: Vec<TemplateFrom>,
    /// Fields the CRD does not have (kept to catch case-changed spellings).
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct TemplateMetadata {
    #[serde(default, deserialize_with = "nullable")]
    pub labels: BTreeMap<String, Value>,
    #[serde(default, deserialize_with = "nullable")]
    pub annotations: BTreeMap<String, Value>,
}

/// One `templateFrom[]` entry: exactly one of `configMap`, `secret`, `literal`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateFrom {
    #[serde(default)]
    pub config_map: Option<TemplateRef>,
    #[serde(default)]
    pub secret: Option<TemplateRef>,
    #[serde(default)]
    pub literal: Option<String>,
    /// `Data` (default), `Annotations` or `Labels`.
    #[serde(default)]
    pub target: Option<String>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

/// `templateFrom[].configMap` / `.secret`.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRef {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub items: Vec<TemplateRefItem>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRefItem {
    #[serde(default, deserialize_with = "nullable")]
    pub key: String,
    /// `Values` (default) or `KeysAndValues`.
    #[serde(default)]
    pub template_as: Option<String>,
}

/// What a template may reference.
pub(crate) enum Inputs<'a> {
    /// An ExternalSecret: the keys `spec.data[].secretKey` fetches; `open` when `dataFrom`
    /// adds keys only Vault knows.
    Fetched { keys: Vec<&'a str>, open: bool },
    /// A PushSecret: its source Secret's keys, not known here.
    Source,
}

/// What is wrong with a template, by kind of fix. Each entry starts with its field path.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Findings {
    /// `templateFrom` entries that read a ConfigMap or another Secret.
    pub sources: Vec<String>,
    /// Template text that adds a value of its own or reads no input.
    pub values: Vec<String>,
    /// A Secret type Kubernetes or Helm writes itself.
    pub types: Vec<String>,
    /// Known fields spelled in another case.
    pub spelling: Vec<String>,
}

/// Secret types only Kubernetes (the token controller, bootstrap tokens) or Helm (its release
/// records) write; a template claiming one forges that Secret.
const SYSTEM_TYPES: [&str; 3] = [
    "kubernetes.io/service-account-token",
    "bootstrap.kubernetes.io/token",
    "helm.sh/release.v1",
];

const TEMPLATE_FIELDS: [&str; 6] = [
    "type",
    "engineVersion",
    "mergePolicy",
    "metadata",
    "data",
    "templateFrom",
];
const TEMPLATE_FROM_FIELDS: [&str; 4] = ["configMap", "secret", "literal", "target"];

/// Unknown keys of `unknown` that are a known field in another case.
pub(crate) fn misspelled(
    path: &str,
    unknown: &BTreeMap<String, Value>,
    known: &[&str],
    out: &mut Vec<String>,
) {
    for key in unknown.keys() {
        if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(key)) {
            out.push(format!(
                "{path}.{key} is not a field (field names are case-sensitive: {k})"
            ));
        }
    }
}

impl Template {
    /// Checks the template at `path` (e.g. `spec.target.template`).
    pub(crate) fn check(&self, path: &str, inputs: &Inputs<'_>) -> Findings {
        let mut f = Findings::default();
        misspelled(path, &self.unknown, &TEMPLATE_FIELDS, &mut f.spelling);
        if let Some(t) = self.type_.as_deref()
            && SYSTEM_TYPES
                .iter()
                .any(|s| s.eq_ignore_ascii_case(t.trim()))
        {
            f.types.push(format!("{path}.type {t:?}"));
        }
        for (key, value) in &self.data {
            let at = format!("{path}.data[{key:?}]");
            match value {
                Value::String(text) => value_problems(&at, text, true, inputs, &mut f.values),
                Value::Null => {}
                _ => f
                    .values
                    .push(format!("{at}: is not a string, so it is a constant")),
            }
        }
        for (i, from) in self.template_from.iter().enumerate() {
            let at = format!("{path}.templateFrom[{i}]");
            misspelled(&at, &from.unknown, &TEMPLATE_FROM_FIELDS, &mut f.spelling);
            if let Some(c) = &from.config_map {
                f.sources.push(format!(
                    "{at}.configMap reads ConfigMap {:?} (from Git, not Vault)",
                    c.name
                ));
            }
            if let Some(s) = &from.secret {
                f.sources.push(format!(
                    "{at}.secret reads Secret {:?} (another Secret, not Vault)",
                    s.name
                ));
            }
            if let Some(text) = &from.literal {
                let data = !matches!(from.target.as_deref(), Some("Labels" | "Annotations"));
                value_problems(&format!("{at}.literal"), text, data, inputs, &mut f.values);
            }
        }
        f
    }
}

/// Problems with one template text. `needs_input`: it must reference an input key.
fn value_problems(
    at: &str,
    text: &str,
    needs_input: bool,
    inputs: &Inputs<'_>,
    out: &mut Vec<String>,
) {
    if text.trim().is_empty() {
        return;
    }
    let s = scan(text);
    for p in &s.problems {
        out.push(format!("{at}: {p}"));
    }
    let mut known = Vec::new();
    for r in &s.refs {
        match inputs {
            Inputs::Fetched { keys, open: false } if !keys.contains(&r.as_str()) => {
                out.push(format!(
                    "{at}: references {r:?}, which no spec.data[].secretKey fetches (fetched: {})",
                    if keys.is_empty() {
                        "none".to_owned()
                    } else {
                        keys.join(", ")
                    }
                ));
            }
            _ => known.push(r),
        }
    }
    if needs_input && known.is_empty() && !s.whole {
        out.push(format!(
            "{at}: references no {} key, so its value is text from Git",
            match inputs {
                Inputs::Fetched { .. } => "fetched",
                Inputs::Source => "source Secret",
            }
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn template(v: Value) -> Template {
        serde_json::from_value(v).unwrap()
    }

    fn fetched<'a>(keys: &[&'a str]) -> Inputs<'a> {
        Inputs::Fetched {
            keys: keys.to_vec(),
            open: false,
        }
    }

    #[test]
    fn formatting_only_templates_and_metadata_pass() {
        let t = template(json!({
            "engineVersion": "v2", "type": "kubernetes.io/basic-auth", "mergePolicy": "Merge",
            "metadata": { "labels": { "argocd.argoproj.io/secret-type": "repository" } },
            "data": {
                "dsn": "postgres://{{ .username }}:{{ .password }}@{{ .host }}:5432/app",
                "legacy": "{{ .password | toString }}",
                "empty": ""
            },
            "templateFrom": [
                { "literal": "url: https://github.com/org/repo.git\npassword: {{ .password }}" },
                { "literal": "team: payments", "target": "Labels" }
            ]
        }));
        let f = t.check(
            "spec.target.template",
            &fetched(&["username", "password", "host"]),
        );
        assert_eq!(f, Findings::default());
    }

    #[test]
    fn rejects_template_from_configmap_and_secret() {
        let t = template(json!({ "templateFrom": [
            { "configMap": { "name": "app-config", "items": [{ "key": "dsn", "templateAs": "Values" }] } },
            { "secret": { "name": "other" } }
        ]}));
        let f = t.check("spec.target.template", &fetched(&["password"]));
        assert_eq!(f.sources.len(), 2);
        assert!(f.sources[0].starts_with("spec.target.template.templateFrom[0].configMap"));
        assert!(f.sources[1].starts_with("spec.target.template.templateFrom[1].secret"));
    }

    #[test]
    fn rejects_values_that_reference_no_fetched_key() {
        for text in [
            "plain-text",
            "{{ \"hunter2\" }}",
            "{{- /* comment */ -}}",
            "{{ .nonexistent }}",
            "{{ .Password }}",
            "{{ .password }}abcdefgh12345678ijklmnop",
            "{{ print \"secret\" }}{{ .password }}",
        ] {
            let t = template(json!({ "data": { "k": text } }));
            let f = t.check("spec.target.template", &fetched(&["password"]));
            assert!(!f.values.is_empty(), "{text}");
            assert!(f.values[0].starts_with("spec.target.template.data[\"k\"]: "));
            assert!(f.values.iter().all(|v| !v.contains("hunter2")));
        }
        let number = template(json!({ "data": { "k": 5432 } }));
        assert_eq!(number.check("t", &fetched(&["password"])).values.len(), 1);
    }

    #[test]
    fn data_from_opens_the_key_set_and_push_secrets_read_their_source() {
        let t = template(json!({ "data": { "k": "{{ .anything }}" } }));
        let open = Inputs::Fetched {
            keys: vec![],
            open: true,
        };
        assert_eq!(t.check("t", &open), Findings::default());
        assert_eq!(t.check("t", &Inputs::Source), Findings::default());
        let constant = template(json!({ "data": { "k": "static" } }));
        assert_eq!(constant.check("t", &Inputs::Source).values.len(), 1);
    }

    #[test]
    fn rejects_secret_types_kubernetes_writes_in_any_case() {
        for ty in [
            "kubernetes.io/service-account-token",
            "Bootstrap.Kubernetes.io/Token",
            " helm.sh/release.v1",
        ] {
            let t = template(json!({ "type": ty }));
            assert_eq!(t.check("t", &fetched(&[])).types.len(), 1, "{ty}");
        }
    }

    #[test]
    fn rejects_known_fields_spelled_in_another_case() {
        let t = template(
            json!({ "TemplateFrom": [], "templateFrom": [{ "ConfigMap": { "name": "x" } }] }),
        );
        let f = t.check("t", &fetched(&[]));
        assert_eq!(f.spelling.len(), 2, "{f:?}");
        assert!(f.spelling[0].contains("t.TemplateFrom"));
        assert!(f.spelling[1].contains("t.templateFrom[0].ConfigMap"));
    }
}
