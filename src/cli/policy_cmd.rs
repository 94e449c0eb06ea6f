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
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("--policy {}: cannot read the file: {e}", path.display()))?;
    Policy::from_yaml(&text).map_err(|e| anyhow::anyhow!("--policy {}: {e}", path.display()))
}

/// The policy from `--policy`, or the built-in default.
pub fn load_or_default(path: Option<&std::path::Path>) -> anyhow::Result<Policy> {
    path.map_or_else(|| Ok(Policy::default()), load)
}
