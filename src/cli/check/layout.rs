//! What a file in a platform repository is, before it is parsed: part of a Helm chart, a
//! kustomization or a patch it lists, a CI definition, or a candidate manifest. These roles
//! come from the path (and, for kustomize, from the kustomization listing the file); what a
//! candidate turns out to be is decided from its content in `load`.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// File names kustomize reads as a kustomization.
pub const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

/// The role of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Inside the Helm chart rooted at this directory.
    Chart(PathBuf),
    /// A kustomization file.
    Kustomization,
    /// A patch listed by this kustomization file.
    Patch(PathBuf),
    /// A CI pipeline definition.
    Ci,
    /// YAML or JSON to parse.
    Candidate,
    /// Not YAML or JSON (README.md, scripts): not read.
    Ignored,
}

fn name_of(path: &Path) -> &str {
    path.file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
}

/// `*.yaml`, `*.yml` or `*.json`.
pub fn is_yaml_or_json(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "yaml" | "yml" | "json"))
}

/// The nearest directory at or above `path`'s directory holding a `Chart.yaml`.
pub fn chart_root(path: &Path) -> Option<PathBuf> {
    path.ancestors()
        .skip(1)
        .find(|dir| dir.join("Chart.yaml").is_file())
        .map(Path::to_path_buf)
}

/// GitHub Actions, GitLab CI, CircleCI, Azure Pipelines, Bitbucket, Drone, Woodpecker.
fn is_ci(path: &Path) -> bool {
    let text = path.to_string_lossy().replace('\\', "/");
    let name = name_of(path);
    text.contains(".github/workflows/")
        || text.contains(".github/actions/")
        || text.contains(".circleci/")
        || text.contains(".woodpecker/")
        || matches!(
            name,
            ".gitlab-ci.yml"
                | ".gitlab-ci.yaml"
                | "azure-pipelines.yml"
                | "azure-pipelines.yaml"
                | "bitbucket-pipelines.yml"
                | ".drone.yml"
                | ".woodpecker.yml"
                | "action.yml"
                | "action.yaml"
        )
}

/// The role of `path`, given the patch files the kustomizations in the run list.
pub fn role(path: &Path, patches: &[(PathBuf, PathBuf)]) -> Role {
    if let Some(chart) = chart_root(path) {
        let templated = path
            .strip_prefix(&chart)
            .is_ok_and(|rel| rel.starts_with("templates") || rel.starts_with("charts"));
        return if templated || is_yaml_or_json(path) {
            Role::Chart(chart)
        } else {
            Role::Ignored
        };
    }
    if KUSTOMIZATION_FILES.contains(&name_of(path)) {
        return Role::Kustomization;
    }
    if let Some((_, k)) = patches.iter().find(|(p, _)| p == path) {
        return Role::Patch(k.clone());
    }
    if !is_yaml_or_json(path) {
        return Role::Ignored;
    }
    if is_ci(path) {
        return Role::Ci;
    }
    Role::Candidate
}

/// What a kustomization lists, resolved against its directory.
#[derive(Debug, Clone, Default)]
pub struct Kustomization {
    /// `resources` and `components` (files or directories).
    pub resources: Vec<PathBuf>,
    /// `patches[].path`, `patchesStrategicMerge`, `patchesJson6902[].path`.
    pub patches: Vec<PathBuf>,
}

/// Reads the lists of a kustomization file; an unreadable one lists nothing.
pub fn read_kustomization(file: &Path) -> Kustomization {
    let dir = file.parent().unwrap_or(Path::new("."));
    let Ok(text) = std::fs::read_to_string(file) else {
        return Kustomization::default();
    };
    let Ok(value) = serde_saphyr::from_str::<Value>(&text) else {
        return Kustomization::default();
    };
    let strings = |key: &str| -> Vec<PathBuf> {
        value
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| v.as_str().or_else(|| v.get("path").and_then(Value::as_str)))
            // URLs and remote bases are not files here.
            .filter(|s| !s.contains("://") && !s.contains('\n'))
            .map(|s| normalize(&dir.join(s)))
            .collect()
    };
    let mut resources = strings("resources");
    resources.extend(strings("components"));
    resources.extend(strings("bases"));
    let mut patches = strings("patches");
    patches.extend(strings("patchesStrategicMerge"));
    patches.extend(strings("patchesJson6902"));
    Kustomization { resources, patches }
}

/// `a/b/../c` → `a/c`, lexically (no file system access; symlinks are not resolved).
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_definitions_are_recognised_by_path() {
        assert!(is_ci(Path::new("repo/.github/workflows/ci.yaml")));
        assert!(is_ci(Path::new("repo/.gitlab-ci.yml")));
        assert!(!is_ci(Path::new("repo/apps/ci.yaml")));
    }

    #[test]
    fn normalizes_parent_segments() {
        assert_eq!(normalize(Path::new("a/b/../c/./d")), PathBuf::from("a/c/d"));
    }
}
