//! Reading manifests for `check`: files, directories, stdin; multi-document YAML, JSON, and
//! `kind: List`. Every problem names the file and the document index (0-based).

use std::{
    fmt,
    io::Read,
    path::{Path, PathBuf},
};

use serde_json::Value;

use crate::policy::objects::{Kind, Object};

/// One document of the input.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: String,
    pub index: usize,
    /// Set for the kinds vaultgate governs.
    pub object: Option<Object>,
    /// Namespace the object is evaluated in (None: cluster-scoped).
    pub namespace: Option<String>,
    /// For a SealedSecret: the Secret it will write (namespace, name).
    pub sealed_output: Option<(String, String)>,
}

/// An unreadable input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub file: String,
    pub index: Option<usize>,
    pub message: String,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index {
            Some(i) => write!(f, "{} (document {i}): {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

fn collect(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries {
            let manifest = entry
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"));
            if entry.is_dir() || manifest {
                collect(&entry, out)?;
            }
        }
    } else {
        out.push(path.to_path_buf());
    }
    Ok(())
}

/// Loads every path. Returns all errors at once so a CI run shows every broken file.
pub fn load_paths(
    paths: &[PathBuf],
    default_namespace: &str,
) -> Result<Vec<Document>, Vec<LoadError>> {
    let mut docs = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            match std::io::stdin().read_to_string(&mut text) {
                Ok(_) => parse_text("<stdin>", &text, default_namespace, &mut docs, &mut errors),
                Err(e) => errors.push(LoadError {
                    file: "<stdin>".into(),
                    index: None,
                    message: e.to_string(),
                }),
            }
            continue;
        }
        let mut files = Vec::new();
        if let Err(e) = collect(path, &mut files) {
            errors.push(LoadError {
                file: path.display().to_string(),
                index: None,
                message: e.to_string(),
            });
            continue;
        }
        for file in files {
            let name = file.display().to_string();
            match std::fs::read_to_string(&file) {
                Ok(text) => parse_text(&name, &text, default_namespace, &mut docs, &mut errors),
                Err(e) => errors.push(LoadError {
                    file: name,
                    index: None,
                    message: format!("cannot read: {e}"),
                }),
            }
        }
    }
    if errors.is_empty() {
        Ok(docs)
    } else {
        Err(errors)
    }
}

/// Splits YAML text into documents at `---` lines, keeping each document's first line number.
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = vec![(1, String::new())];
    for (i, line) in text.lines().enumerate() {
        if line == "---" || line.starts_with("--- ") || line == "..." {
            docs.push((i + 2, String::new()));
            continue;
        }
        if let Some((_, current)) = docs.last_mut() {
            current.push_str(line);
            current.push('\n');
        }
    }
    docs.retain(|(_, d)| {
        d.lines()
            .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
    });
    docs
}

/// Parses one file's text (YAML or JSON) into documents.
pub fn parse_text(
    file: &str,
    text: &str,
    default_namespace: &str,
    docs: &mut Vec<Document>,
    errors: &mut Vec<LoadError>,
) {
    let values: Vec<(usize, Result<Value, String>)> = if file.ends_with(".json") {
        vec![(
            0,
            serde_json::from_str(text)
                .map_err(|e| format!("invalid JSON at line {} column {}", e.line(), e.column())),
        )]
    } else {
        split_documents(text)
            .into_iter()
            .map(|(line, doc)| {
                (
                    line,
                    serde_saphyr::from_str::<Value>(&doc)
                        .map_err(|e| format!("invalid YAML (document starts at line {line}): {e}")),
                )
            })
            .collect()
    };
    let mut index = 0;
    for (_, value) in values {
        match value {
            Err(message) => {
                errors.push(LoadError {
                    file: file.into(),
                    index: Some(index),
                    message,
                });
                index += 1;
            }
            Ok(Value::Null) => {}
            Ok(v) if v.get("kind").and_then(Value::as_str) == Some("List") => {
                for item in v
                    .get("items")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default()
                {
                    push(file, index, item, default_namespace, docs, errors);
                    index += 1;
                }
            }
            Ok(v) => {
                push(file, index, v, default_namespace, docs, errors);
                index += 1;
            }
        }
    }
}

fn push(
    file: &str,
    index: usize,
    value: Value,
    default_namespace: &str,
    docs: &mut Vec<Document>,
    errors: &mut Vec<LoadError>,
) {
    let err = |message: String| LoadError {
        file: file.into(),
        index: Some(index),
        message,
    };
    let (Some(api_version), Some(kind)) = (
        value.get("apiVersion").and_then(Value::as_str),
        value.get("kind").and_then(Value::as_str),
    ) else {
        errors.push(err(
            "not a Kubernetes object (apiVersion and kind are required)".into(),
        ));
        return;
    };
    let (api_version, kind) = (api_version.to_owned(), kind.to_owned());
    let namespace = value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let Some(governed) = Kind::from_api_version(&api_version, &kind) else {
        let sealed_output = (kind == "SealedSecret" && api_version.starts_with("bitnami.com/"))
            .then(|| {
                let name = value
                    .pointer("/spec/template/metadata/name")
                    .or_else(|| value.pointer("/metadata/name"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                (
                    namespace
                        .clone()
                        .unwrap_or_else(|| default_namespace.to_owned()),
                    name.to_owned(),
                )
            });
        docs.push(Document {
            file: file.into(),
            index,
            object: None,
            namespace,
            sealed_output,
        });
        return;
    };
    let cluster_scoped = matches!(
        governed,
        Kind::ClusterExternalSecret | Kind::ClusterPushSecret | Kind::ClusterSecretStore
    );
    match Object::from_value(governed, value) {
        Ok(object) => docs.push(Document {
            file: file.into(),
            index,
            object: Some(object),
            namespace: if cluster_scoped {
                None
            } else {
                Some(namespace.unwrap_or_else(|| default_namespace.to_owned()))
            },
            sealed_output: None,
        }),
        // serde's message may quote a value; name the kind and the problem category only.
        Err(e) => errors.push(err(format!(
            "{kind} does not match its schema ({})",
            match e.classify() {
                serde_json::error::Category::Data => "a field has the wrong type or shape",
                _ => "malformed",
            }
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_multi_document_yaml_and_skips_empty_documents() {
        let docs = split_documents("---\na: 1\n---\n# only a comment\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].0, 6);
    }
}
