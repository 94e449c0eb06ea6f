//! `vaultgate policy default|validate|suggest` (`suggest` lives in `cli::suggest`).

use std::process::ExitCode;

use super::PolicyCommand;
use crate::policy::{Policy, config::DEFAULT_POLICY_YAML};

pub fn run(command: PolicyCommand) -> ExitCode {
    match command {
        PolicyCommand::Default => {
            print!("{DEFAULT_POLICY_YAML}");
            ExitCode::SUCCESS
        }
        PolicyCommand::Validate { file } => match load(&file) {
            Ok(_) => {
                println!("{}: valid", file.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
        PolicyCommand::Suggest(args) => super::suggest::run(args),
    }
}

/// Reads and parses a policy file; the error names the file and the field.
pub fn load(path: &std::path::Path) -> anyhow::Result<Policy> {
    load_with_bytes(path).map(|(policy, _)| policy)
}

/// [`load`], also returning the bytes the policy was parsed from (the reload compares against
/// them, so a change between this read and the first poll is not missed).
pub fn load_with_bytes(path: &std::path::Path) -> anyhow::Result<(Policy, Vec<u8>)> {
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("--policy {}: cannot read the file: {e}", path.display()))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow::anyhow!("--policy {}: the file is not UTF-8 text", path.display()))?;
    let policy =
        Policy::from_yaml(text).map_err(|e| anyhow::anyhow!("--policy {}: {e}", path.display()))?;
    Ok((policy, bytes))
}

/// The policy from `--policy`, or the built-in default.
pub fn load_or_default(path: Option<&std::path::Path>) -> anyhow::Result<Policy> {
    path.map_or_else(|| Ok(Policy::default()), load)
}
