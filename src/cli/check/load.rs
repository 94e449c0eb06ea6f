//! Reading what `check` is given: files, directories (recursively), stdin and, with
//! `--kustomize`, kustomize builds. Every YAML or JSON file is either a manifest (its objects are
//! judged; a document in it that is no object is listed) or listed as not a manifest with the
//! reason and a hint ([`super::listed`]). Only a manifest that cannot be read is an error.

use std::{
    fmt,
    io::Read,
    path::{Path, PathBuf},
};

use serde::Serialize;

pub use super::parse::parse_text;
use super::{
    kustomize::Kustomizer,
    layout::{self, Role},
    listed::{self, Listed},
    sealed::Sealed,
};
use crate::policy::objects::Object;

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

/// An unreadable manifest. Lines and columns are the file's (1-based), not a document's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LoadError {
    /// Empty when the problem is the run's, not a file's.
    pub file: String,
    /// 0-based index of the document in its file.
    #[serde(rename = "document", skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// What is wrong, never quoting a value of the input.
    pub message: String,
}

impl LoadError {
    /// `file`, `file:line` or `file:line:column`, as compilers and editors read it.
    pub fn at(&self) -> String {
        match (self.line, self.column) {
            (Some(line), Some(column)) => format!("{}:{line}:{column}", self.file),
            (Some(line), None) => format!("{}:{line}", self.file),
            _ => self.file.clone(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No file: a problem with the run itself (the policy, no objects at all).
        if self.file.is_empty() {
            write!(f, "{}", self.message)?;
        } else {
            write!(f, "{}: {}", self.at(), self.message)?;
        }
        match self.index {
            Some(i) => write!(f, " (document {i})"),
            None => Ok(()),
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
    pub(super) fn error(&mut self, file: &str, index: Option<usize>, message: impl Into<String>) {
        self.error_at(file, index, None, message);
    }

    /// An error at a file position: `(line, column)`, column 0 meaning unknown.
    pub(super) fn error_at(
        &mut self,
        file: &str,
        index: Option<usize>,
        at: Option<(usize, usize)>,
        message: impl Into<String>,
    ) {
        self.errors.push(LoadError {
            file: file.into(),
            index,
            line: at.map(|(line, _)| line),
            column: at.map(|(_, column)| column).filter(|c| *c > 0),
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
            match crate::cli::walk::files(path, false) {
                Ok(found) => files.extend(found),
                Err(e) => loaded.error(&path.display().to_string(), None, e.to_string()),
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
