//! Files and documents `check` reads but does not judge, each with why and what to do instead:
//! Helm chart files, kustomizations and their patches, CI definitions, YAML that is no
//! Kubernetes object, binary or oversized files. Listing them, rather than failing or staying
//! silent, is what lets a whole repository be checked while showing what was not.

use std::path::Path;

use serde::Serialize;

/// One file (or one document of a file) that was not judged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    pub file: String,
    /// Line of the document, when one document of a manifest is meant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    /// What it is, e.g. `Helm chart file`.
    pub what: String,
    /// What to run instead, when there is something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Listed {
    fn file(file: &str, what: impl Into<String>, hint: Option<String>) -> Self {
        Self {
            file: file.into(),
            line: None,
            document: None,
            what: what.into(),
            hint,
        }
    }

    /// `file[:line]: what; hint`.
    pub fn text(&self) -> String {
        let at = match self.line {
            Some(line) => format!("{}:{line}", self.file),
            None => self.file.clone(),
        };
        match &self.hint {
            Some(hint) => format!("{at}: {}; {hint}", self.what),
            None => format!("{at}: {}", self.what),
        }
    }
}

fn shown(dir: &Path) -> String {
    let text = dir.display().to_string();
    if text.is_empty() { ".".into() } else { text }
}

/// Whether `kustomize` or `kubectl` is on PATH, so `--kustomize` can be offered.
fn kustomize_available() -> bool {
    static FOUND: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| super::Kustomizer::find().is_some())
}

/// The one-line way to check a kustomization's output.
pub fn kustomize_hint(dir: &Path) -> String {
    let rerun = if kustomize_available() {
        " (or rerun with --kustomize)"
    } else {
        ""
    };
    format!(
        "check its output: kubectl kustomize {} | vaultgate check -{rerun}",
        shown(dir)
    )
}

/// A file inside a Helm chart.
pub fn chart_file(file: &str, chart: &Path) -> Listed {
    Listed::file(
        file,
        format!("part of the Helm chart {}", shown(chart)),
        Some(format!(
            "render it: helm template <release> {} | vaultgate check -",
            shown(chart)
        )),
    )
}

/// A kustomization file.
pub fn kustomization(file: &str, dir: &Path) -> Listed {
    Listed::file(
        file,
        "kustomization (its resources here are checked as written, without its patches or transformers)",
        Some(kustomize_hint(dir)),
    )
}

/// A patch a kustomization lists.
pub fn patch(file: &str, kustomization: &Path) -> Listed {
    Listed::file(
        file,
        format!("patch applied by {}", kustomization.display()),
        Some(kustomize_hint(
            kustomization.parent().unwrap_or(Path::new(".")),
        )),
    )
}

/// A CI pipeline definition.
pub fn ci(file: &str) -> Listed {
    Listed::file(
        file,
        "CI pipeline definition, not applied to a cluster",
        None,
    )
}

/// A file that is not text or too large to read.
pub fn unreadable(file: &str, why: &str) -> Listed {
    Listed::file(file, format!("not read: {why}"), None)
}

/// A document without apiVersion/kind inside a manifest.
pub fn document_without_kind(file: &str, index: usize, line: usize) -> Listed {
    Listed {
        file: file.into(),
        line: Some(line),
        document: Some(index),
        what: format!("document {index} has no apiVersion/kind, so it is not a Kubernetes object"),
        hint: None,
    }
}

/// What a file that holds no Kubernetes object contains.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    pub documents: usize,
    /// Line of the first document that is not valid YAML.
    pub invalid_at: Option<usize>,
    /// Some document contains `{{`.
    pub templated: bool,
    /// Every document is a JSON6902 operation list.
    pub json6902: bool,
}

/// A YAML or JSON file without Kubernetes objects; None for an empty file.
pub fn not_a_manifest(file: &str, s: &Summary) -> Option<Listed> {
    let parent = Path::new(file).parent().unwrap_or(Path::new("."));
    let entry = if s.documents == 0 {
        return None;
    } else if s.json6902 {
        Listed::file(
            file,
            "JSON6902 patch (a list of op/path operations)",
            Some(kustomize_hint(parent)),
        )
    } else if let (Some(line), true) = (s.invalid_at, s.templated) {
        Listed::file(
            file,
            format!("a template, not YAML (line {line})"),
            Some(
                "render it first, e.g. helm template <release> <chart-dir> | vaultgate check -"
                    .into(),
            ),
        )
    } else if let Some(line) = s.invalid_at {
        Listed::file(
            file,
            format!("not valid YAML (line {line}) and not recognisably a Kubernetes manifest"),
            None,
        )
    } else {
        Listed::file(
            file,
            "YAML without apiVersion/kind (configuration or documentation), not a Kubernetes object",
            None,
        )
    };
    Some(entry)
}
