//! `check --kustomize`: builds kustomization directories with `kustomize build` or
//! `kubectl kustomize`, whichever is on PATH, so the objects judged are the ones kustomize
//! would apply (patches, namespace and name prefixes included).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

/// A kustomize front end found on PATH.
#[derive(Debug, Clone)]
pub struct Kustomizer {
    program: PathBuf,
    /// `build` for kustomize, `kustomize` for kubectl.
    verb: &'static str,
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

impl Kustomizer {
    /// `kustomize` if on PATH, else `kubectl`.
    pub fn find() -> Option<Self> {
        on_path("kustomize")
            .map(|program| Self {
                program,
                verb: "build",
            })
            .or_else(|| {
                on_path("kubectl").map(|program| Self {
                    program,
                    verb: "kustomize",
                })
            })
    }

    /// The command line, for messages: `kustomize build` or `kubectl kustomize`.
    pub fn command(&self) -> String {
        let name = self
            .program
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        format!("{name} {}", self.verb)
    }

    /// The rendered YAML stream of `dir`, or the first line of the tool's error.
    pub fn build(&self, dir: &Path) -> Result<String, String> {
        let out = Command::new(&self.program)
            .arg(self.verb)
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run {}: {e}", self.command()))?;
        if !out.status.success() {
            // Never the tool's own text: kustomize quotes a malformed secretGenerator literal
            // (`invalid literal source …`), which would reach SARIF and GitHub annotations.
            return Err(format!(
                "{} failed ({}); run it yourself to see why",
                self.command(),
                out.status
            ));
        }
        String::from_utf8(out.stdout)
            .map_err(|_| format!("{} printed non-UTF-8 output", self.command()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_never_repeats_what_the_tool_printed() {
        let tool = Kustomizer {
            program: PathBuf::from("sh"),
            verb: "-c",
        };
        let err = tool
            .build(Path::new(
                "echo 'invalid literal source =s3cr3t-canary' >&2; exit 1",
            ))
            .expect_err("the build fails");
        assert!(!err.contains("s3cr3t-canary"), "{err}");
        assert!(err.contains("failed"), "{err}");
    }
}
