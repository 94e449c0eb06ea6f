//! The one directory walk of the CLI (`check`, `policy suggest`): every file under a root,
//! sorted. A repository may hold symlinks, so a symlinked directory is never followed (a link
//! back up the tree would never end) and a symlinked file is read only when it resolves inside
//! the root (a link to `/etc` or a sibling checkout is not the repository's).

use std::path::{Path, PathBuf};

/// Every file under `root` (sorted, depth first); `.git` is skipped, and with `skip_hidden` so
/// is every directory whose name starts with a dot.
pub fn files(root: &Path, skip_hidden: bool) -> std::io::Result<Vec<PathBuf>> {
    let canonical = root.canonicalize()?;
    let mut out = Vec::new();
    walk(root, &canonical, skip_hidden, &mut out)?;
    Ok(out)
}

fn walk(dir: &Path, root: &Path, skip_hidden: bool, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        let kind = entry.file_type()?;
        let name = entry.file_name();
        if kind.is_dir() {
            let hidden = name.to_str().is_some_and(|n| n.starts_with('.'));
            if name != ".git" && !(skip_hidden && hidden) {
                walk(&path, root, skip_hidden, out)?;
            }
        } else if kind.is_file()
            || (kind.is_symlink()
                && path.is_file()
                && path.canonicalize().is_ok_and(|t| t.starts_with(root)))
        {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_not_followed_out_of_the_root_nor_round_a_loop() {
        let outside = tempfile::tempdir().expect("tempdir");
        std::fs::write(outside.path().join("secret.yaml"), "kind: Secret\n").expect("write");
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
        std::fs::write(root.join("a/b/app.yaml"), "kind: Deployment\n").expect("write");
        std::os::unix::fs::symlink("..", root.join("a/b/loop")).expect("loop link");
        std::os::unix::fs::symlink(outside.path(), root.join("a/outside-dir")).expect("dir link");
        std::os::unix::fs::symlink(outside.path().join("secret.yaml"), root.join("escape.yaml"))
            .expect("file link");
        std::os::unix::fs::symlink(root.join("a/b/app.yaml"), root.join("inside.yaml"))
            .expect("inside link");
        let found = files(root, false).expect("walk ends");
        let rel: Vec<_> = found
            .iter()
            .map(|p| p.strip_prefix(root).expect("under root").to_path_buf())
            .collect();
        assert_eq!(
            rel,
            [PathBuf::from("a/b/app.yaml"), PathBuf::from("inside.yaml")]
        );
    }
}
