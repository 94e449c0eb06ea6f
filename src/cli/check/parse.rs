//! Parsing one file's (or stream's) text: YAML documents or JSON, `kind: List` items, and the
//! decision whether the file is a manifest (its broken documents are errors) or not (listed).
//! Governed kinds become typed objects; a SealedSecret becomes the Secret it will write.

use serde_json::Value;

use super::{Document, Loaded, Options, listed, sealed, split::split_documents};
use crate::policy::objects::{Kind, Object};

/// Why a document is not valid YAML or JSON, and where in the file (line, column; column 0
/// when unknown). The parser's own message can quote the input, so it is never kept.
struct Invalid {
    message: String,
    at: (usize, usize),
}

/// One parsed document: its first line, the value, and whether its raw text reads like a
/// Kubernetes object (for documents that are not valid YAML).
struct Parsed {
    line: usize,
    value: Result<Value, Invalid>,
    looks_like_object: bool,
    templated: bool,
}

fn looks_like_object(text: &str) -> bool {
    let starts = |key: &str| text.lines().any(|l| l.starts_with(key));
    starts("apiVersion:") && starts("kind:")
}

fn parse_documents(text: &str, json: bool) -> Vec<Parsed> {
    if json {
        let line = text
            .lines()
            .position(|l| !l.trim().is_empty())
            .map_or(1, |i| i + 1);
        let value = serde_json::from_str::<Value>(text).map_err(|e| Invalid {
            message: "invalid JSON".into(),
            at: (e.line().max(1), e.column()),
        });
        return vec![Parsed {
            line,
            value,
            looks_like_object: text.contains("\"apiVersion\"") && text.contains("\"kind\""),
            templated: text.contains("{{"),
        }];
    }
    split_documents(text)
        .into_iter()
        .map(|chunk| Parsed {
            line: chunk.line,
            // The parser's message can quote the input; only the position is kept, mapped from
            // the document's text to the file.
            value: serde_saphyr::from_str::<Value>(&chunk.text).map_err(|e| Invalid {
                message: format!("invalid YAML; the document starts at line {}", chunk.line),
                at: e
                    .location()
                    .filter(|l| l.line() > 0)
                    .map_or((chunk.line, 0), |l| {
                        let line = usize::try_from(l.line()).unwrap_or(usize::MAX);
                        let column = usize::try_from(l.column()).unwrap_or(0);
                        (chunk.start.saturating_add(line - 1), column)
                    }),
            }),
            looks_like_object: looks_like_object(&chunk.text),
            templated: chunk.text.contains("{{"),
        })
        .collect()
}

fn is_object(v: &Value) -> bool {
    v.get("apiVersion").is_some_and(Value::is_string) && v.get("kind").is_some_and(Value::is_string)
}

/// The items of a list: kubectl applies every item of any kind ending in `List` that holds an
/// `items` array (`List`, `SecretList`, `ConfigMapList`), so `check` judges each one, as the
/// webhook will see it.
fn list_items(v: &Value) -> Option<&Vec<Value>> {
    let kind = v.get("kind")?.as_str()?;
    kind.ends_with("List").then(|| v.get("items")?.as_array())?
}

/// The items of `v`, lists inside lists flattened, in order; `v` itself when it is no list.
fn flatten(v: Value, out: &mut Vec<Value>) {
    match list_items(&v) {
        Some(items) => items.clone().into_iter().for_each(|i| flatten(i, out)),
        None => out.push(v),
    }
}

/// Parses one file's (or stream's) text into documents, listing or rejecting what is not an
/// object. A file is a manifest when one of its documents is an object, or reads like one
/// without being valid YAML (and is not a template): then a broken document is an error.
pub fn parse_text(file: &str, text: &str, json: bool, options: &Options, loaded: &mut Loaded) {
    let parsed = parse_documents(text, json);
    let values: Vec<&Value> = parsed
        .iter()
        .filter_map(|p| p.value.as_ref().ok())
        .collect();
    let manifest = values
        .iter()
        .any(|v| is_object(v) || list_items(v).is_some())
        || parsed
            .iter()
            .any(|p| p.value.is_err() && p.looks_like_object && !p.templated);
    if !manifest {
        if let Some(entry) = listed::not_a_manifest(file, &parsed_summary(&parsed)) {
            loaded.listed.push(entry);
        }
        return;
    }
    let mut index = 0;
    for p in parsed {
        match p.value {
            Err(invalid) => {
                loaded.error_at(file, Some(index), Some(invalid.at), invalid.message);
                index += 1;
            }
            Ok(Value::Null) => {}
            Ok(v) if list_items(&v).is_some() => {
                let mut items = Vec::new();
                flatten(v, &mut items);
                for item in items {
                    push(file, index, p.line, item, options, loaded);
                    index += 1;
                }
            }
            Ok(v) => {
                push(file, index, p.line, v, options, loaded);
                index += 1;
            }
        }
    }
}

/// What a non-manifest file's documents are, for [`listed::not_a_manifest`].
fn parsed_summary(parsed: &[Parsed]) -> listed::Summary {
    let values: Vec<&Value> = parsed
        .iter()
        .filter_map(|p| p.value.as_ref().ok())
        .collect();
    listed::Summary {
        documents: parsed.len(),
        invalid_at: parsed.iter().find(|p| p.value.is_err()).map(|p| p.line),
        templated: parsed.iter().any(|p| p.templated),
        json6902: !values.is_empty() && values.iter().all(|v| is_json6902(v)),
    }
}

/// A JSON6902 patch: a list of `{op, path, ...}` operations.
fn is_json6902(v: &Value) -> bool {
    v.as_array().is_some_and(|ops| {
        !ops.is_empty()
            && ops.iter().all(|op| {
                op.get("op").is_some_and(Value::is_string)
                    && op.get("path").is_some_and(Value::is_string)
            })
    })
}

fn push(
    file: &str,
    index: usize,
    line: usize,
    value: Value,
    options: &Options,
    loaded: &mut Loaded,
) {
    if !is_object(&value) {
        loaded
            .listed
            .push(listed::document_without_kind(file, index, line));
        return;
    }
    let api_version = value["apiVersion"].as_str().unwrap_or_default().to_owned();
    let kind = value["kind"].as_str().unwrap_or_default().to_owned();
    let own_namespace = value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
        .map(str::to_owned);
    let mut doc = Document {
        file: file.into(),
        index,
        line,
        object: None,
        namespace: own_namespace.clone(),
        namespace_defaulted: false,
        sealed: None,
    };
    let defaulted = |doc: &mut Document, ns: Option<String>| match ns {
        Some(ns) => doc.namespace = Some(ns),
        None => {
            doc.namespace = Some(options.namespace.clone());
            doc.namespace_defaulted = true;
        }
    };
    let (governed, value) = if sealed::is_sealed_secret(&api_version, &kind) {
        // sealed-secrets writes the Secret into the SealedSecret's own namespace (where `-n`,
        // kustomize or Argo CD puts it); `spec.template.metadata.namespace` is not used.
        defaulted(&mut doc, own_namespace);
        let ns = doc.namespace.clone().unwrap_or_default();
        let (secret, from) = sealed::output_secret(&value, &ns);
        doc.sealed = Some(from);
        (Kind::Secret, secret)
    } else {
        let Some(governed) = Kind::from_api_version(&api_version, &kind) else {
            loaded.docs.push(doc);
            return;
        };
        // Crossplane's Vault kinds are cluster-scoped in the v1 groups; the `.m.` groups of
        // Crossplane v2 are namespaced, except a ClusterProviderConfig.
        let crossplane_cluster =
            matches!(governed, Kind::VaultProviderConfig | Kind::VaultKvSecret)
                && (!api_version.contains(".m.") || kind == "ClusterProviderConfig");
        let cluster_scoped = governed.is_cluster_scoped() || crossplane_cluster;
        if !cluster_scoped {
            defaulted(&mut doc, own_namespace);
        }
        (governed, value)
    };
    let mut track = serde_path_to_error::Track::new();
    let decoded = Object::deserialize_kind(
        governed,
        serde_path_to_error::Deserializer::new(value, &mut track),
    );
    match decoded {
        Ok(object) => {
            doc.object = Some(object);
            loaded.docs.push(doc);
        }
        Err(e) => {
            let path = track.path().to_string();
            loaded.error_at(
                file,
                Some(index),
                Some((line, 0)),
                schema_message(&kind, &path, &e),
            );
        }
    }
}

/// `ExternalSecret does not match its schema at spec.data: expected a sequence`. serde's
/// message may quote a value (`invalid type: string "hunter2"`), so only what it expected, or
/// the name of a missing field, is kept.
pub(crate) fn schema_message(kind: &str, path: &str, e: &serde_json::Error) -> String {
    let text = e.to_string();
    let detail = if text.starts_with("missing field") {
        text.split(" at line ")
            .next()
            .unwrap_or_default()
            .to_owned()
    } else if let Some((_, expected)) = text.rsplit_once(", expected ") {
        let expected = expected.split(" at line ").next().unwrap_or_default();
        format!("expected {expected}")
    } else {
        "a field has the wrong type or shape".to_owned()
    };
    let at = if path == "." {
        String::new()
    } else {
        format!(" at {path}")
    };
    format!("{kind} does not match its schema{at}: {detail}")
}
