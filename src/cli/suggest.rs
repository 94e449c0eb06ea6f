//! `vaultgate policy suggest PATH… | --cluster`: reads a repository's manifests (or lists a
//! cluster's workloads and ESO objects through the kubeconfig) and prints a commented policy
//! that fits what it found: the decrypter and operators actually deployed, the GitOps
//! controllers, bootstrap namespaces, the Vault store in use, and the read grants, aliases and
//! push prefixes the existing ExternalSecrets and PushSecrets need. The onboarding path is
//! `vaultgate policy suggest . > policy.yaml && vaultgate check --policy policy.yaml .`.
//!
//! Reading is here; what the objects mean is decided in `detect` (pure) and written in `render`.

mod detect;
mod render;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use serde_json::Value;

use detect::{Source, detect};
use render::render;

#[derive(Debug, Clone, clap::Args)]
pub struct SuggestArgs {
    /// Files or directories (recursive: *.yaml, *.yml, *.json); `-` reads standard input.
    pub paths: Vec<PathBuf>,
    /// Also list the cluster of the current kubeconfig context (or the in-cluster config).
    #[arg(long)]
    pub cluster: bool,
    /// Namespace assumed for objects in files that do not set one.
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
}

/// Every YAML document of `text` that parses to an object with a `kind`; `skipped` counts files
/// that are not plain YAML (Helm templates, for example).
fn parse(at: &str, text: &str, out: &mut Vec<Source>) -> bool {
    let docs: Vec<Value> = if at.ends_with(".json") {
        match serde_json::from_str(text) {
            Ok(v) => vec![v],
            Err(_) => return false,
        }
    } else {
        match serde_saphyr::from_multiple::<Value>(text) {
            Ok(v) => v,
            Err(_) => return false,
        }
    };
    for (i, doc) in docs.into_iter().enumerate() {
        let items = match doc.get("kind").and_then(Value::as_str) {
            Some(k) if k.ends_with("List") => doc
                .get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
            Some(_) => vec![doc],
            None => continue,
        };
        for value in items {
            out.push(Source {
                at: format!("{at} (document {i})"),
                value,
            });
        }
    }
    true
}

/// The manifests (`*.yaml`, `*.yml`, `*.json`) of `path`: the file itself, or every one under
/// the directory, hidden directories skipped ([`super::walk`]: no link loops, no escapes).
fn manifests(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let manifest = |f: &PathBuf| {
        f.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| matches!(e, "yaml" | "yml" | "json"))
    };
    Ok(super::walk::files(path, true)?
        .into_iter()
        .filter(manifest)
        .collect())
}

/// Reads every path; returns the objects and how many files were not plain YAML/JSON.
pub fn read_paths(paths: &[PathBuf]) -> Result<(Vec<Source>, usize), String> {
    let mut sources = Vec::new();
    let mut skipped = 0;
    for path in paths {
        if path.as_os_str() == "-" {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .map_err(|e| format!("<stdin>: {e}"))?;
            skipped += usize::from(!parse("<stdin>", &text, &mut sources));
            continue;
        }
        let files = manifests(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for file in files {
            let at = file.display().to_string();
            match std::fs::read(&file) {
                Ok(bytes) => {
                    let text = String::from_utf8_lossy(&bytes);
                    skipped += usize::from(!parse(&at, &text, &mut sources));
                }
                Err(e) => return Err(format!("{at}: cannot read: {e}")),
            }
        }
    }
    Ok((sources, skipped))
}

/// The kinds listed from a cluster: (group, versions to try, kind, plural).
const CLUSTER_KINDS: &[(&str, &[&str], &str, &str)] = &[
    ("apps", &["v1"], "Deployment", "deployments"),
    ("apps", &["v1"], "StatefulSet", "statefulsets"),
    ("apps", &["v1"], "DaemonSet", "daemonsets"),
    (
        "external-secrets.io",
        &["v1", "v1beta1"],
        "ExternalSecret",
        "externalsecrets",
    ),
    (
        "external-secrets.io",
        &["v1", "v1beta1"],
        "ClusterSecretStore",
        "clustersecretstores",
    ),
    (
        "external-secrets.io",
        &["v1alpha1"],
        "PushSecret",
        "pushsecrets",
    ),
    (
        "bitnami.com",
        &["v1alpha1"],
        "SealedSecret",
        "sealedsecrets",
    ),
    ("argoproj.io", &["v1alpha1"], "Application", "applications"),
    (
        "helm.toolkit.fluxcd.io",
        &["v2", "v2beta2"],
        "HelmRelease",
        "helmreleases",
    ),
    (
        "kustomize.toolkit.fluxcd.io",
        &["v1"],
        "Kustomization",
        "kustomizations",
    ),
];

/// Lists [`CLUSTER_KINDS`] (metadata and spec only: Secrets are never read). Kinds the cluster
/// does not serve are noted, not errors.
async fn read_cluster(notes: &mut Vec<String>) -> anyhow::Result<Vec<Source>> {
    let client = kube::Client::try_default().await.map_err(|e| {
        anyhow::anyhow!("--cluster: no usable kubeconfig or in-cluster config: {e}")
    })?;
    let mut sources = Vec::new();
    for (group, versions, kind, plural) in CLUSTER_KINDS {
        let listed = super::listing::list_dynamic(&client, group, versions, kind, plural)
            .await
            .map_err(|e| anyhow::anyhow!("--cluster: {e}"))?;
        let Some(items) = listed else {
            notes.push(format!("{plural}.{group} is not served by this cluster"));
            continue;
        };
        for mut obj in items {
            obj.metadata.managed_fields = None;
            let at = format!(
                "cluster {kind} {}/{}",
                obj.metadata.namespace.as_deref().unwrap_or("-"),
                obj.metadata.name.as_deref().unwrap_or("-")
            );
            let value = serde_json::to_value(&obj)?;
            sources.push(Source { at, value });
        }
    }
    Ok(sources)
}

pub fn run(args: SuggestArgs) -> ExitCode {
    if args.paths.is_empty() && !args.cluster {
        eprintln!("error: name a repository path (or `-`), or pass --cluster");
        return ExitCode::from(2);
    }
    let (mut sources, skipped) = match read_paths(&args.paths) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut notes = Vec::new();
    if args.cluster {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error: cannot start the runtime: {e}");
                return ExitCode::from(2);
            }
        };
        match runtime.block_on(read_cluster(&mut notes)) {
            Ok(found) => sources.extend(found),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    if sources.is_empty() {
        eprintln!(
            "error: no Kubernetes objects found in the given paths{}",
            if args.cluster { " or the cluster" } else { "" }
        );
        return ExitCode::from(2);
    }
    let mut inputs: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
    if args.cluster {
        inputs.push("the cluster".into());
    }
    let found = detect(&sources, &args.namespace);
    print!("{}", render(&found, &inputs.join(", ")));
    if skipped > 0 {
        println!(
            "\n# {skipped} file(s) were not plain YAML (Helm templates?) and were not read: render them with `helm template` and pass the output."
        );
    }
    for note in notes {
        println!("# {note}");
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_loop_ends_and_a_link_out_of_the_repository_is_not_read() {
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            outside.path().join("elsewhere.yaml"),
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: elsewhere}\n",
        )
        .expect("write");
        let repo = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(repo.path().join("apps")).expect("mkdir");
        std::fs::write(
            repo.path().join("apps/ns.yaml"),
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: apps}\n",
        )
        .expect("write");
        std::os::unix::fs::symlink("..", repo.path().join("apps/loop")).expect("loop");
        std::os::unix::fs::symlink(outside.path(), repo.path().join("vendor")).expect("dir link");
        std::os::unix::fs::symlink(
            outside.path().join("elsewhere.yaml"),
            repo.path().join("linked.yaml"),
        )
        .expect("file link");
        let (sources, skipped) = read_paths(&[repo.path().to_path_buf()]).expect("read ends");
        assert_eq!(skipped, 0);
        let names: Vec<_> = sources
            .iter()
            .map(|s| s.value["metadata"]["name"].as_str().unwrap_or(""))
            .collect();
        assert_eq!(names, ["apps"]);
    }
}
