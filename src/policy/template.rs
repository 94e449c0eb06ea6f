//! ESO templates — `ExternalSecret.spec.target.template` and `PushSecret.spec.template` — and
//! what they may do (VG210 template-source, VG309 push-template).
//!
//! A Secret's values come from Vault (README, "What it enforces"): a template may *format* the
//! values it is given, never add one. The rule is an allowlist, so what is not named here is
//! denied:
//!
//! - **Sources.** `templateFrom[].configMap` and `templateFrom[].secret` are denied: the
//!   template (with `templateAs: KeysAndValues`, its keys too) comes from a ConfigMap in Git or
//!   from another Secret, not from Vault.
//! - **Inputs.** Every `data` value and every key of a `Data` literal (below) must reference an
//!   input key: `.key`, `$.key`, `index . "key"`, `get . "key"` or `dig "key" ... "" .`. The
//!   whole input (`.`/`$`) is never a value otherwise (not printed, not a function's argument,
//!   not `toJson .`): its key names (`spec.data[].secretKey`, `rewrite` targets) are chosen in
//!   Git, and `print .` or `toJson .` cut by `split`/`index` prints one exactly. An
//!   ExternalSecret's input is the keys `spec.data[].secretKey` fetches,
//!   matched by exact name; with `spec.dataFrom` the names are Vault's, so any name counts. A
//!   PushSecret's input is its source Secret, whose keys vaultgate does not hold, so any name
//!   counts. An empty value (or `""`) carries nothing and is allowed.
//! - **Actions.** No control structures (`if`, `with`, `range`, `else`, `end`, `define`,
//!   `template`, `block`, `break`, `continue`) and no variables (`$x`, `:=`): each action is one
//!   pipeline that prints one value. That value starts at an input reference and passes only
//!   through the functions in `funcs::ALLOWED`: encodings and case (`toString`, `b64enc`,
//!   `b64dec`, `b32enc`/`b32dec`, `upper`, `lower`, `title`, `trim`, `quote`, `squote`,
//!   `toJson` and kin, `fromJson`, `toYaml`, `fromYaml`, `urlquery`, `html`, `js`, `print`,
//!   `println`, `cat`), selection and layout (`index`, `get`, `dig`, `trimPrefix`,
//!   `trimSuffix`, `split`, `splitList`, `replace`, `join`, `indent`, `nindent`),
//!   ESO's certificate helpers (`filterPEM`, `filterCertChain`, `pkcs12key`, `pkcs12cert`,
//!   `pkcs12keyPass`, `pkcs12certPass`, `pemToPkcs12`, `pemToPkcs12Pass`, `fullPemToPkcs12`,
//!   `fullPemToPkcs12Pass`, `pemTruststoreToPKCS12`, `pemTruststoreToPKCS12Pass`,
//!   `jwkPublicKeyPem`, `jwkPrivateKeyPem`) and `printf`. Any other function is denied by name:
//!   generators (`randAlphaNum`, `uuidv4`, `htpasswd`, `now`), readers (`env`, `getSecretKey`,
//!   `getHostByName`), fallbacks (`default`, `or`, `ternary`), and everything that computes
//!   (`len`, `repeat`, `trunc`, `substr`, arithmetic, comparisons, hashes) — numbers and
//!   character constants become characters through those — and cutsets (`trimAll`,
//!   `trimLeft`, `trimRight`), which erase any value.
//! - **Constants inside actions** are allowed only where an allowed function takes a
//!   parameter, each by role: *keys* (`index`/`get`/`dig` keys, the PEM type) are never
//!   printed, any constant or value; *patterns* (`trimPrefix`, `trimSuffix`, `split`,
//!   `replace`'s old text) are never printed, string constants only (a value there
//!   could cancel the value out); *separators* (`join`, `replace`'s new text) are printed:
//!   string constants of at most 4 whitespace or ASCII punctuation characters; *widths*
//!   (`indent`, `nindent`) are decimal integers up to 64; `dig`'s default is `""`. A `printf`
//!   format is `%s`, `%v`, `%q` and `%%` with at most 4 separator characters between verbs, one
//!   verb per argument, and every argument is a value. Every other argument (a PKCS#12
//!   password included) is a value. An action that prints a constant is denied, except one
//!   that prints only ASCII whitespace (`{{ "\n" }}`; space, tab, `\r`, `\n`, not the other
//!   Unicode spaces). So everything an action prints is a function of fetched values (never of
//!   their key names), plus separators and whitespace: by construction, not by heuristic. An
//!   action may still print nothing (`index` of a `split` piece that is not there prints
//!   `""`), so the literal text is judged as if every action printed nothing.
//! - **Literal text** (outside actions) is scaffolding: URL and DSN syntax, hostnames, ports,
//!   words, identifiers, config-file structure. It is the one channel left for a value from
//!   Git, and it is held to a heuristic (`text`), read across actions (each a hole that may
//!   print nothing) so a token cut into pieces is still one run. First, at most 512 literal
//!   characters per value (a template formats values; a file belongs in a ConfigMap); `%XX`
//!   escapes are decoded, and one of a letter, digit or non-printable byte is denied, as is a
//!   backslash escape (`\x67`, `\u0067`, `\147`). Then, denied: a run of letters, digits and
//!   `_` of 24+ characters (unless a snake-case identifier of short single-case parts), of 12+
//!   mixing letters and digits, or of 8+ mixing lower case, upper case and digits (both unless
//!   a name: letters then 1-4 digits, at most 16 characters, as `Cluster0`); a token (split at
//!   whitespace and `/:=&?,;.'"()[]{}<>|` and backquote) of 12+ characters with a symbol,
//!   mixing 3 of lower case, upper case, digits, symbols (`-` and `_` are not symbols); more
//!   than 7 switches between letters and digits or from lower to upper case in any 20
//!   consecutive literal letters and digits, read across all punctuation and actions (so
//!   `Xk9mQ2p-L7vB4zR` or `XkmQpLvBzRaQ` is read whole; scaffolding such as `k8s.io/v1beta1`
//!   peaks at 6); a run of more than 5 consonants in a row (`y` a vowel; `https` has 5); a GUID
//!   (8-4-4-4-12 hex) unless it is a setting's value (right after `=`, `:` or `/`, optionally
//!   quoted) with no action next to it; and a setting named like a credential (`password`,
//!   `*_password`, `secret`, `client_secret`, `token`, `*apikey`, `*privatekey`, ...) given
//!   literal text rather than an action (`${VAR}`, `true`/`false`/`null` and block indicators
//!   excepted). The residue is accepted and documented in the README ("What a webhook cannot
//!   stop"): short or word-shaped text (`hunter2`, `Summer2024`, a passphrase of words,
//!   lower-case pieces joined by punctuation, numbers) outside a credential-named setting, up
//!   to the 512-character bound; a labelled GUID; and what an allowed selection prints when it
//!   misses (`dig`'s `""`, `index`'s `<no value>`, a missing `split` piece, a `trimPrefix` that
//!   removes a whole value Vault happens to hold).
//! - **`templateFrom[].literal`** with target `Data` (or anything but `Labels`/`Annotations`)
//!   is rendered and then read by ESO as a YAML map (`mapScopeApply`), one Secret key per
//!   top-level key. YAML has many ways to change what a line means, and a reader that differs
//!   from ESO's lets a second key or a decoded value through, so `yaml` reads only a strict
//!   subset and denies everything else: no control character but `\n` (no tab, `\r`, U+0085),
//!   no U+2028/U+2029/U+FEFF, whitespace actions of spaces and `\n` only (`{{ "" }}` prints
//!   nothing); every non-blank line is `<key>: <value>` with a literal key of
//!   `[A-Za-z0-9_.-]` at column 0 (no action before the `:`, no indentation or continuation
//!   lines, no block scalars, comments, document markers or directives); a value's literal text
//!   holds no `"`, `'`, `\` or `#` (quote in an action: `| quote`, `| toJson`) and does not
//!   start with a YAML indicator (tags, anchors, aliases, flow collections); a value written as
//!   `""` is empty. Each value is then held to the rules above on its own, like a `data`
//!   value, and a key that reads like a credential is denied. A value an action prints that
//!   holds a line break can still shift the YAML it lands in; that is data from Vault. A
//!   literal with target `Labels` or `Annotations` is metadata, like `template.metadata`: it
//!   is held to the action and literal-text rules but need not reference a key.
//! - ExternalSecret only: `template.type` may not be a type Kubernetes or Helm writes itself
//!   (`kubernetes.io/service-account-token`, `bootstrap.kubernetes.io/token`,
//!   `helm.sh/release.v1`), compared ignoring case and surrounding space.
//! - Field names are case-sensitive (the apiserver drops `ConfigMap`), so a known field spelled
//!   in another case is denied rather than read past.
//!
//! The template is read as Go reads it: comments render nothing, trim markers (`{{- `, ` -}}`)
//! are applied before the literal text is judged, string escapes are decoded (an escape Go
//! rejects is a parse error here too), and the default `{{ }}` delimiters are assumed (ESO's
//! `--template-left-delimiter` flags are not read). `template.metadata` (labels, annotations)
//! is allowed: Argo CD repository Secrets are made this way
//! (`argocd.argoproj.io/secret-type: repository`). Findings name the field path and a
//! character offset, never the text: it may be a credential.

mod funcs;
mod lex;
mod scan;
mod text;
mod yaml;

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::field::Problems;
use lex::lex;
use scan::{Scan, scan, scan_items};

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
    pub sources: Problems,
    /// Template text that adds a value of its own or reads no input.
    pub values: Problems,
    /// A Secret type Kubernetes or Helm writes itself.
    pub types: Problems,
    /// Known fields spelled in another case.
    pub spelling: Problems,
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
    out: &mut Problems,
) {
    for key in unknown.keys() {
        if let Some(k) = known.iter().find(|k| k.eq_ignore_ascii_case(key)) {
            let field = format!("{path}.{key}");
            out.push(
                &field,
                format!("{field} is not a field (field names are case-sensitive: {k})"),
            );
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
            let field = format!("{path}.type");
            f.types.push(&field, format!("{field} {t:?}"));
        }
        for (key, value) in &self.data {
            let at = format!("{path}.data[{key:?}]");
            match value {
                Value::String(text) => value_problems(&at, text, true, inputs, &mut f.values),
                Value::Null => {}
                _ => f
                    .values
                    .push(&at, format!("{at}: is not a string, so it is a constant")),
            }
        }
        for (i, from) in self.template_from.iter().enumerate() {
            let at = format!("{path}.templateFrom[{i}]");
            misspelled(&at, &from.unknown, &TEMPLATE_FROM_FIELDS, &mut f.spelling);
            if let Some(c) = &from.config_map {
                let field = format!("{at}.configMap");
                f.sources.push(
                    &field,
                    format!("{field} reads ConfigMap {:?} (from Git, not Vault)", c.name),
                );
            }
            if let Some(s) = &from.secret {
                let field = format!("{at}.secret");
                f.sources.push(
                    &field,
                    format!(
                        "{field} reads Secret {:?} (another Secret, not Vault)",
                        s.name
                    ),
                );
            }
            if let Some(text) = &from.literal {
                let at = format!("{at}.literal");
                if matches!(from.target.as_deref(), Some("Labels" | "Annotations")) {
                    value_problems(&at, text, false, inputs, &mut f.values);
                } else {
                    literal_problems(&at, text, inputs, &mut f.values);
                }
            }
        }
        f
    }
}

/// Character offset of byte offset `at` in `text`.
fn chars(text: &str, at: usize) -> usize {
    text.get(..at).map_or(0, |t| t.chars().count())
}

/// Problems with one template text. `needs_input`: it must reference an input key.
fn value_problems(
    at: &str,
    text: &str,
    needs_input: bool,
    inputs: &Inputs<'_>,
    out: &mut Problems,
) {
    if text.trim().is_empty() {
        return;
    }
    report(at, scan(text), needs_input, inputs, out);
}

/// A `templateFrom[].literal` for `Data`: ESO reads its output as a YAML map, so each
/// top-level key is a value of its own and is held to the rule on its own.
fn literal_problems(at: &str, text: &str, inputs: &Inputs<'_>, out: &mut Problems) {
    if text.trim().is_empty() {
        return;
    }
    let items = match lex(text) {
        Ok(items) => items,
        Err((what, off)) => {
            out.push(
                at,
                format!(
                    "{at}: does not parse as a Go template ({what}) at character {}",
                    chars(text, off)
                ),
            );
            return;
        }
    };
    let (entries, problems) = yaml::entries(text, &items);
    for (off, what) in problems {
        out.push(
            at,
            format!("{at}: {what} at character {}", chars(text, off)),
        );
    }
    for e in entries {
        let n = chars(text, e.at);
        let label = if text::reads_like_credential(&e.key) {
            out.push(
                at,
                format!("{at}: a key that reads like a credential at character {n}"),
            );
            format!("{at}[key at character {n}]")
        } else {
            format!("{at}[{:?}]", e.key)
        };
        if e.empty {
            continue;
        }
        report(&label, scan_items(text, &e.items), true, inputs, out);
    }
}

/// Reports a scan at `at`: its problems, references to keys that are not fetched, and (when
/// `needs_input`) a value that references none.
fn report(at: &str, s: Scan, needs_input: bool, inputs: &Inputs<'_>, out: &mut Problems) {
    for p in &s.problems {
        out.push(at, format!("{at}: {p}"));
    }
    let mut known = Vec::new();
    for r in &s.refs {
        match inputs {
            Inputs::Fetched { keys, open: false } if !keys.contains(&r.as_str()) => {
                out.push(
                    at,
                    format!(
                        "{at}: references {r:?}, which no spec.data[].secretKey fetches (fetched: {})",
                        if keys.is_empty() {
                            "none".to_owned()
                        } else {
                            keys.join(", ")
                        }
                    ),
                );
            }
            _ => known.push(r),
        }
    }
    if needs_input && known.is_empty() {
        out.push(
            at,
            format!(
                "{at}: references no {} key, so its value is text from Git",
                match inputs {
                    Inputs::Fetched { .. } => "fetched",
                    Inputs::Source => "source Secret",
                }
            ),
        );
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
                { "literal": "url: https://{{ .host }}/org/repo.git\npassword: {{ .password }}" },
                { "literal": "team: payments", "target": "Labels" }
            ]
        }));
        let f = t.check(
            "spec.target.template",
            &fetched(&["username", "password", "host"]),
        );
        assert_eq!(f, Findings::default());
    }

    /// Review findings 1-3: each was admitted; the values must never show in a finding.
    #[test]
    fn review_bypasses_are_denied_without_quoting_them() {
        let number = |c: &str| format!("(len (.password | trunc 1 | repeat {c}))");
        let built = format!(
            "{{{{ printf \"%c%c%c\" {} {} {} }}}}",
            number("'g'"),
            number("104"),
            number("112")
        );
        let secret_read = format!(
            "{{{{ getSecretKey (printf \"%c\" {}) \"ns\" \"k\" }}}}",
            number("'g'")
        );
        let cases = [
            ("data", json!({ "data": { "k": built } }), "calls len"),
            (
                "data",
                json!({ "data": { "k": secret_read } }),
                "calls getSecretKey",
            ),
            (
                "literal escapes",
                json!({ "templateFrom": [{ "literal": "password: {{ .password }}\ntoken: \"\\x67\\x68\\x70\"" }] }),
                "literal: a quote or backslash in a literal YAML value",
            ),
            (
                "literal constant key",
                json!({ "templateFrom": [{ "literal": "password: {{ .password }}\ntoken: Xk9mQ2$pL7!vB4@zR8%" }] }),
                "literal[\"token\"]: references no ",
            ),
            (
                "empty print",
                json!({ "data": { "k": "{{ .password | trunc 0 }}Xk9#mQ2$pL7!vB4@zR8%" } }),
                "mixing letters, digits and symbols",
            ),
            (
                "symbols after a value",
                json!({ "data": { "k": "{{ .password }}Xk9#mQ2$pL7!vB4@zR8%" } }),
                "mixing letters, digits and symbols",
            ),
            (
                "if",
                json!({ "data": { "k": "{{ if .password }}{{ end }}550e8400-e29b-41d4-a716-446655440000" } }),
                "uses {{ if }}",
            ),
            (
                "GUID after a value",
                json!({ "data": { "k": "{{ .password }}550e8400-e29b-41d4-a716-446655440000" } }),
                "GUID-shaped",
            ),
        ];
        for (what, t, expect) in cases {
            for inputs in [fetched(&["password"]), Inputs::Source] {
                let f = template(t.clone()).check("spec.target.template", &inputs);
                let all = f.values.list.join("; ");
                assert!(all.contains(expect), "{what}: {all}");
                for leak in ["Xk9", "550e8400", "x67", "ghp"] {
                    assert!(!all.contains(leak), "{what}: {all}");
                }
            }
        }
    }

    /// Review finding 4: legitimate templates that were denied.
    #[test]
    fn review_false_positives_are_allowed() {
        for (what, text) in [
            (
                "dig",
                "{{ .password | fromJson | dig \"db\" \"password\" \"\" }}",
            ),
            (
                "Atlas DSN",
                "mongodb+srv://{{ .username }}:{{ .password }}@cluster0.abcde.mongodb.net/?retryWrites=true&w=majority&appName=Cluster0",
            ),
            (
                "tenant GUID",
                "[azure]\ntenant=72f988bf-86f1-41af-91ab-2d7cd011db47\nsecret={{ .password }}\n",
            ),
            ("newline", "{{ .password }}{{ \"\\n\" }}"),
            ("replace", "{{ .password | replace \"\\n\" \"\" }}"),
        ] {
            let t = template(json!({ "data": { "k": text } }));
            let f = t.check("t", &fetched(&["username", "password"]));
            assert_eq!(f, Findings::default(), "{what}");
        }
        let t = template(json!({ "templateFrom": [{ "literal":
            "dsn: mongodb+srv://{{ .username }}:{{ .password }}@cluster0.abcde.mongodb.net/?appName=Cluster0\nconfig.ini: {{ .password | fromJson | dig \"ini\" \"\" | quote }}\nempty: \"\"\n" }] }));
        assert_eq!(
            t.check("t", &fetched(&["username", "password"])),
            Findings::default()
        );
    }

    /// Second attack pass, findings 1, 2, 3 and 7: each was admitted; none is quoted back.
    #[test]
    fn attack_pass_two_is_denied_without_quoting_it() {
        let all: String = (' '..='~').collect();
        let all = serde_json::to_string(&all).unwrap();
        let erase = format!("{{{{ .password | trimAll {all} }}}}");
        let cont = "\\\n  \\x70\\x5f\\\n  16C7e42\\\n  F292c69\\\n  a\"";
        let cases = [
            json!({ "data": { "k": "{{ index (split \":\" (print .)) \"_0\" | trimPrefix \"map[\" }}" } }),
            json!({ "data": { "k": "{{ index (splitList \"\\\"\" (toJson $)) 1 }}" } }),
            json!({ "data": { "k": format!("{erase}XkmQpLvBzRaQwErTyUiOpAs") } }),
            json!({ "data": { "k": "{{ .password | trimPrefix \"x\" }}Xk9mQ2p-L7vB4zR-8aQw3Er" } }),
            json!({ "data": { "k": "{{ .password }}%4B%6D%51%70%4C%76%42%7A%52%61%51%77" } }),
            json!({ "data": { "k": "{{ .password }}xkmqplvbzraq_XKMQPLVBZRAQ_wertyuiopasd" } }),
            json!({ "data": { "k": "{{ .password }}{{ \"\\u2000\\u3000\\u00a0\" }}" } }),
            json!({ "templateFrom": [{ "literal": format!("password: {{{{ .password | toJson }}}}\n{{{{ \"\" }}}}token: \"{{{{ .password }}}}\\x67\\x68{cont}") }] }),
            json!({ "templateFrom": [{ "literal": format!("token: {{{{ \" \" }}}}\"{{{{ .password }}}}\\x67\\x68{cont}") }] }),
            json!({ "templateFrom": [{ "literal": "password: {{ .password }}\rvalue: gh" }] }),
            json!({ "templateFrom": [{ "literal": "value: {{ \" \" }}!!binary Z2hw{{ .password }}" }] }),
        ];
        for (i, t) in cases.into_iter().enumerate() {
            for inputs in [fetched(&["password"]), Inputs::Source] {
                let f = template(t.clone()).check("spec.target.template", &inputs);
                let all = f.values.list.join("; ");
                assert!(!all.is_empty(), "case {i}");
                for leak in ["Xk", "xkmq", "4B%", "x67", "16C7", "Z2hw", "map["] {
                    assert!(!all.contains(leak), "case {i}: {all}");
                }
            }
        }
        // Controls: the same shapes with fetched values only.
        for ok in [
            json!({ "data": { "k": "{{ index . \"password\" }}{{ \"\\n\" }}" } }),
            json!({ "data": { "k": "{{ get . \"password\" | trimPrefix \"Bearer \" }}" } }),
            json!({ "templateFrom": [{ "literal": "password: {{ .password | toJson }}\n{{ \"\" }}token: {{ .password | quote }}" }] }),
        ] {
            assert_eq!(
                template(ok.clone()).check("t", &fetched(&["password"])),
                Findings::default(),
                "{ok}"
            );
        }
    }

    #[test]
    fn literal_keys_are_values_of_their_own() {
        let check = |literal: &str| {
            template(json!({ "templateFrom": [{ "literal": literal }] }))
                .check("t", &fetched(&["password"]))
                .values
                .list
        };
        assert_eq!(
            check("a: {{ .password }}\nb: {{ .password | b64enc | quote }}"),
            Vec::<String>::new()
        );
        for bad in [
            "{{ .password | fromJson | toYaml }}",
            "b: \"{{ .password | b64enc }}\"",
            "a: {{ .password }}{{ \"\\n\" }}b: hunter2",
            "a: {{ .password }}\nb: !!binary aHVudGVyMg==",
            "a: {{ .password }} # {{ .password }}\nb: x",
            "{{ .password }}: hunter2",
            "ghp_16C7e42F292c6912E7710c838347Ae178B4a: {{ .password }}",
        ] {
            let v = check(bad);
            assert!(!v.is_empty(), "{bad}");
            assert!(
                v.iter()
                    .all(|m| !m.contains("hunter2") && !m.contains("ghp_")),
                "{v:?}"
            );
        }
    }

    #[test]
    fn rejects_template_from_configmap_and_secret() {
        let t = template(json!({ "templateFrom": [
            { "configMap": { "name": "app-config", "items": [{ "key": "dsn", "templateAs": "Values" }] } },
            { "secret": { "name": "other" } }
        ]}));
        let f = t.check("spec.target.template", &fetched(&["password"]));
        assert_eq!(f.sources.list.len(), 2);
        assert!(f.sources.list[0].starts_with("spec.target.template.templateFrom[0].configMap"));
        assert!(f.sources.list[1].starts_with("spec.target.template.templateFrom[1].secret"));
        assert_eq!(
            f.sources.field.as_deref(),
            Some("spec.target.template.templateFrom[0].configMap")
        );
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
            assert!(!f.values.list.is_empty(), "{text}");
            assert!(f.values.list[0].starts_with("spec.target.template.data[\"k\"]: "));
            assert!(f.values.list.iter().all(|v| !v.contains("hunter2")));
            assert_eq!(
                f.values.field.as_deref(),
                Some("spec.target.template.data[\"k\"]")
            );
        }
        let number = template(json!({ "data": { "k": 5432 } }));
        assert_eq!(
            number.check("t", &fetched(&["password"])).values.list.len(),
            1
        );
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
        assert_eq!(constant.check("t", &Inputs::Source).values.list.len(), 1);
    }

    #[test]
    fn rejects_secret_types_kubernetes_writes_in_any_case() {
        for ty in [
            "kubernetes.io/service-account-token",
            "Bootstrap.Kubernetes.io/Token",
            " helm.sh/release.v1",
        ] {
            let t = template(json!({ "type": ty }));
            assert_eq!(t.check("t", &fetched(&[])).types.list.len(), 1, "{ty}");
        }
    }

    #[test]
    fn rejects_known_fields_spelled_in_another_case() {
        let t = template(
            json!({ "TemplateFrom": [], "templateFrom": [{ "ConfigMap": { "name": "x" } }] }),
        );
        let f = t.check("t", &fetched(&[]));
        assert_eq!(f.spelling.list.len(), 2, "{f:?}");
        assert!(f.spelling.list[0].contains("t.TemplateFrom"));
        assert!(f.spelling.list[1].contains("t.templateFrom[0].ConfigMap"));
        assert_eq!(f.spelling.field.as_deref(), Some("t.TemplateFrom"));
    }
}
