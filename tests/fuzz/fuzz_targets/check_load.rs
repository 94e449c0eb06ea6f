//! `vaultgate check`'s loader (multi-document YAML, JSON, `kind: List`) and evaluation of what
//! it loads. `parse_text` is private to the crate, so the input goes through `load_paths` on a
//! file in /dev/shm (one per process); every error names the file; the report renders.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;
use vaultgate::{
    cli::check::{evaluate, load_paths},
    policy::{Identity, Policy},
};

fuzz_target!(|data: &[u8]| {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let file = dir.join(format!("vaultgate-fuzz-check-{}.yaml", std::process::id()));
    std::fs::write(&file, data).expect("write the input");
    match load_paths(&[file.clone()], "default") {
        Ok(docs) => {
            let user = Identity::new(
                "system:serviceaccount:argocd:argocd-application-controller",
                vec![],
            );
            let report = evaluate(&docs, &user, &Policy::default(), std::time::SystemTime::UNIX_EPOCH);
            let _ = report.text();
            let _ = report.json();
        }
        Err(errors) => {
            assert!(!errors.is_empty());
            for e in errors {
                assert!(e.to_string().contains(&*file.to_string_lossy()), "{e}");
            }
        }
    }
});
