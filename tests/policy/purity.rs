//! The policy stays pure: no module under src/policy (outside its tests) reaches the edge
//! layers, an async runtime, a Kubernetes or HTTP client, the file system, the network or a
//! clock. The rules read the cluster only through the port they define (`policy::view`), and
//! time is passed in. This is what a crate split would let the compiler enforce.

use std::path::{Path, PathBuf};

const FORBIDDEN: [&str; 16] = [
    "crate::cluster",
    "crate::admission",
    "crate::server",
    "crate::controller",
    "crate::cli",
    "crate::metrics",
    "crate::telemetry",
    "tokio",
    "kube::",
    "hyper",
    "reqwest",
    "axum",
    "std::fs",
    "std::net",
    "::now(",
    "std::env",
];

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src/policy") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_name().is_some_and(|n| n != "tests.rs")
        {
            out.push(path);
        }
    }
}

#[test]
fn the_policy_module_imports_nothing_from_the_edge_and_does_no_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/policy");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 20, "found only {files:?}");
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        // Unit tests may build a MemoryView; only the code above them must stay pure.
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        for (n, line) in code.lines().enumerate() {
            let line = line.split("//").next().unwrap_or("");
            for bad in FORBIDDEN {
                if line.contains(bad) {
                    found.push(format!("{}:{}: {bad}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "policy is not pure:\n{}",
        found.join("\n")
    );
}
