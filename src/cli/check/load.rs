//! Reading what `check` is given: files, directories (recursively), stdin and, with
//! `--kustomize`, kustomize builds. Every YAML or JSON file is either a manifest (its objects are
//! judged; a document in it that is no object is listed) or listed as not a manifest with the
//! reason and a hint ([`super::listed`]). Only a manifest that cannot be read is an error.

use std::{
    fmt,
    io::Read,
    path::{Path, PathBuf},
};

use serde_json::Value;

use super::{
    kustomize::Kustomizer,
    layout::{self, Role},
    listed::{self, Listed},
    sealed::{self, Sealed},
    split::split_documents,
};
use crate::policy::objects::{Kind, Object};

/// Files larger than this are listed, not read.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;

/// One Kubernetes object of the input.
#[derive(Debug, Clone)]
pub struct Document {
    pub file: String,
    /// 0-based index of the document (or `List` item) in its file.
    pub index: usize,
    /// 1-based line of the document's first content line.
    pub line: usize,
    /// Set for the kinds vaultgate governs (for a SealedSecret: the Secret it will write).
    pub object: Option<Object>,
    /// Namespace the object is evaluated in (None: cluster-scoped).
    pub namespace: Option<String>,
    /// The namespace came from `-n`, not from the manifest.
    pub namespace_defaulted: bool,
    /// Set when `object` is the Secret this SealedSecret will write.
    pub sealed: Option<Sealed>,
}

/// An unreadable manifest.
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

/// Everything read.
#[derive(Debug, Default)]
pub struct Loaded {
    pub docs: Vec<Document>,
    pub listed: Vec<Listed>,
    pub errors: Vec<LoadError>,
}

impl Loaded {
    fn error(&mut self, file: &str, index: Option<usize>, message: impl Into<String>) {
        self.errors.push(LoadError {
            file: file.into(),
            index,
            message: message.into(),
        });
    }
}

/// How to read.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Namespace for namespaced objects that set none (`-n`).
    pub namespace: String,
    /// Build kustomization directories instead of reading their files raw.
    pub kustomize: Option<Kustomizer>,
}

/// Every file under `dir`, sorted; `.git` is skipped and symlinked directories are not
/// followed (a link cycle would never end).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        if kind.is_dir() {
            if entry.file_name() != ".git" {
                walk(&path, out)?;
            }
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads a file's bytes as text, or says why it is not text.
fn read_text(bytes: Vec<u8>) -> Result<String, &'static str> {
    if bytes.contains(&0) {
        return Err("a binary file");
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text")
}

/// [`load`] without kustomize: the objects, or every unreadable manifest.
pub fn load_paths(
    paths: &[PathBuf],
    default_namespace: &str,
) -> Result<Vec<Document>, Vec<LoadError>> {
    let options = Options {
        namespace: default_namespace.to_owned(),
        kustomize: None,
    };
    let loaded = load(paths, &options);
    if loaded.errors.is_empty() {
        Ok(loaded.docs)
    } else {
        Err(loaded.errors)
    }
}

/// Loads every path. Problems are collected, not returned early, so a CI run shows them all.
pub fn load(paths: &[PathBuf], options: &Options) -> Loaded {
    let mut loaded = Loaded::default();
    let mut files = Vec::new();
    for path in paths {
        if path.as_os_str() == "-" {
            let mut bytes = Vec::new();
            let read = std::io::stdin()
                .take(MAX_FILE_BYTES + 1)
                .read_to_end(&mut bytes);
            match read.map(|_| read_text(bytes)) {
                Err(e) => loaded.error("<stdin>", None, e.to_string()),
                Ok(Err(why)) => loaded.error("<stdin>", None, format!("{why}, not YAML")),
                Ok(Ok(text)) => parse_text("<stdin>", &text, false, options, &mut loaded),
            }
        } else if path.is_dir() {
            if let Err(e) = walk(path, &mut files) {
                loaded.error(&path.display().to_string(), None, e.to_string());
            }
        } else if path.exists() {
            files.push(path.clone());
        } else {
            loaded.error(&path.display().to_string(), None, "does not exist");
        }
    }
    let files: Vec<PathBuf> = files.iter().map(|f| layout::normalize(f)).collect();

    let kustomizations: Vec<(PathBuf, layout::Kustomization)> = files
        .iter()
        .filter(|f| matches!(layout::role(f, &[]), Role::Kustomization))
        .map(|f| (f.clone(), layout::read_kustomization(f)))
        .collect();
    let patches: Vec<(PathBuf, PathBuf)> = kustomizations
        .iter()
        .flat_map(|(k, list)| list.patches.iter().map(|p| (p.clone(), k.clone())))
        .collect();
    let kustomize_dirs: Vec<PathBuf> = kustomizations
        .iter()
        .filter_map(|(k, _)| k.parent().map(Path::to_path_buf))
        .collect();
    if let Some(kustomizer) = &options.kustomize {
        build_kustomizations(kustomizer, &kustomizations, options, &mut loaded);
    }

    for file in &files {
        let name = file.display().to_string();
        // With --kustomize, whatever lives in a kustomization directory is in its build.
        if options.kustomize.is_some() && kustomize_dirs.iter().any(|d| file.starts_with(d)) {
            continue;
        }
        match layout::role(file, &patches) {
            Role::Ignored => {}
            Role::Chart(chart) => loaded.listed.push(listed::chart_file(&name, &chart)),
            Role::Kustomization => loaded.listed.push(listed::kustomization(
                &name,
                file.parent().unwrap_or(Path::new(".")),
            )),
            Role::Patch(by) => loaded.listed.push(listed::patch(&name, &by)),
            Role::Ci => loaded.listed.push(listed::ci(&name)),
            Role::Candidate => read_candidate(file, &name, options, &mut loaded),
        }
    }
    loaded
}

fn read_candidate(file: &Path, name: &str, options: &Options, loaded: &mut Loaded) {
    let too_big = file.metadata().is_ok_and(|m| m.len() > MAX_FILE_BYTES);
    if too_big {
        loaded.listed.push(listed::unreadable(
            name,
            &format!("larger than {} MiB", MAX_FILE_BYTES / 1024 / 1024),
        ));
        return;
    }
    match std::fs::read(file) {
        Err(e) => loaded.error(name, None, format!("cannot read: {e}")),
        Ok(bytes) => match read_text(bytes) {
            Err(why) => loaded.listed.push(listed::unreadable(name, why)),
            Ok(text) => {
                let json = name.to_ascii_lowercase().ends_with(".json");
                parse_text(name, &text, json, options, loaded);
            }
        },
    }
}

/// Builds each kustomization that no other one in the run includes (an overlay's base is
/// judged inside the overlay, once).
fn build_kustomizations(
    kustomizer: &Kustomizer,
    kustomizations: &[(PathBuf, layout::Kustomization)],
    options: &Options,
    loaded: &mut Loaded,
) {
    for (file, _) in kustomizations {
        let Some(dir) = file.parent() else { continue };
        let included = kustomizations
            .iter()
            .any(|(_, other)| other.resources.iter().any(|r| r == dir));
        if included {
            continue;
        }
        let name = format!("{} (built)", file.display());
        match kustomizer.build(dir) {
            Ok(text) => parse_text(&name, &text, false, options, loaded),
            Err(e) => loaded.error(&name, None, e),
        }
    }
}

/// One parsed document: its first line, the value, and whether its raw text reads like a
/// Kubernetes object (for documents that are not valid YAML).
struct Parsed {
    line: usize,
    value: Result<Value, String>,
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
        let value = serde_json::from_str::<Value>(text)
            .map_err(|e| format!("invalid JSON at line {} column {}", e.line(), e.column()));
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
            // The parser's message can quote the input; only the position is kept.
            value: serde_saphyr::from_str::<Value>(&chunk.text).map_err(|_| {
                format!(
                    "invalid YAML in the document starting at line {}",
                    chunk.line
                )
            }),
            looks_like_object: looks_like_object(&chunk.text),
            templated: chunk.text.contains("{{"),
        })
        .collect()
}

fn is_object(v: &Value) -> bool {
    v.get("apiVersion").is_some_and(Value::is_string) && v.get("kind").is_some_and(Value::is_string)
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
    let manifest = values.iter().any(|v| {
        is_object(v)
            || v.get("kind").and_then(Value::as_str) == Some("List")
                && v.get("items").is_some_and(Value::is_array)
    }) || parsed
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
            Err(message) => {
                loaded.error(file, Some(index), message);
                index += 1;
            }
            Ok(Value::Null) => {}
            Ok(v) if v.get("kind").and_then(Value::as_str) == Some("List") => {
                let items = match v.get("items") {
                    Some(Value::Array(items)) => items.clone(),
                    _ => Vec::new(),
                };
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
        let template_ns = value
            .pointer("/spec/template/metadata/namespace")
            .and_then(Value::as_str)
            .filter(|ns| !ns.is_empty())
            .map(str::to_owned);
        defaulted(&mut doc, own_namespace.or(template_ns));
        let ns = doc.namespace.clone().unwrap_or_default();
        let (secret, from) = sealed::output_secret(&value, &ns);
        doc.sealed = Some(from);
        (Kind::Secret, secret)
    } else {
        let Some(governed) = Kind::from_api_version(&api_version, &kind) else {
            loaded.docs.push(doc);
            return;
        };
        let cluster_scoped = matches!(
            governed,
            Kind::ClusterExternalSecret | Kind::ClusterPushSecret | Kind::ClusterSecretStore
        );
        if !cluster_scoped {
            defaulted(&mut doc, own_namespace);
        }
        (governed, value)
    };
    match Object::from_value(governed, value) {
        Ok(object) => {
            doc.object = Some(object);
            loaded.docs.push(doc);
        }
        // serde's message may quote a value; name the kind and the problem category only.
        Err(e) => loaded.error(
            file,
            Some(index),
            format!(
                "{kind} (line {line}) does not match its schema ({})",
                match e.classify() {
                    serde_json::error::Category::Data => "a field has the wrong type or shape",
                    _ => "malformed",
                }
            ),
        ),
    }
}
