//! The minted PEM files on disk: the layout of a `kubernetes.io/tls` Secret plus the CA, each
//! file replaced atomically so the serving certificate's reload poll never reads half a file,
//! and private keys created 0600 before a byte is written.

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use super::MintedCerts;

/// File names written by [`MintedCerts::write_to`], in the layout of a `kubernetes.io/tls`
/// Secret plus the CA.
pub const CA_CERT_FILE: &str = "ca.crt";
pub const CA_KEY_FILE: &str = "ca.key";
pub const CERT_FILE: &str = "tls.crt";
pub const KEY_FILE: &str = "tls.key";

impl MintedCerts {
    /// The four files and their contents; keys are the ones written with mode 0600.
    fn files(&self) -> [(&'static str, &str, bool); 4] {
        [
            (CA_CERT_FILE, self.ca_cert_pem.as_str(), false),
            (CA_KEY_FILE, self.ca_key_pem.as_str(), true),
            (CERT_FILE, self.cert_pem.as_str(), false),
            (KEY_FILE, self.key_pem.as_str(), true),
        ]
    }

    /// Writes `ca.crt`, `ca.key`, `tls.crt`, `tls.key` into `dir` (created if missing), each
    /// atomically (temporary file + rename), keys with mode 0600. Without `overwrite`, fails
    /// before writing anything if one of them exists. Returns the paths written.
    pub fn write_to(&self, dir: &Path, overwrite: bool) -> std::io::Result<Vec<PathBuf>> {
        std::fs::create_dir_all(dir)?;
        let existing = self
            .files()
            .into_iter()
            .map(|(name, _, _)| dir.join(name))
            .find(|path| path.exists());
        if let (false, Some(path)) = (overwrite, existing) {
            return Err(std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                format!("{} already exists", path.display()),
            ));
        }
        let mut written = Vec::with_capacity(4);
        for (name, contents, secret) in self.files() {
            let path = dir.join(name);
            write_atomic(&path, contents.as_bytes(), secret)?;
            written.push(path);
        }
        Ok(written)
    }
}

/// Writes `path` through a temporary sibling and a rename, so a reader (the reload poll) never
/// sees a half-written file. `secret` files are created with mode 0600 before any byte is
/// written.
pub fn write_atomic(path: &Path, contents: &[u8], secret: bool) -> std::io::Result<()> {
    let file_name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    let tmp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if secret { 0o600 } else { 0o644 });
    }
    let result = (|| {
        let mut file = options.open(&tmp)?;
        #[cfg(unix)]
        {
            // `mode` applies only on creation; a stale temporary file may have other bits.
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(std::fs::Permissions::from_mode(if secret {
                0o600
            } else {
                0o644
            }))?;
        }
        file.write_all(contents)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
