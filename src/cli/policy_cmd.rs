//! `vaultgate policy default|validate|suggest` (`suggest` lives in `cli::suggest`).

use std::{path::Path, process::ExitCode, time::SystemTime};

use super::PolicyCommand;
use crate::policy::{Policy, config::DEFAULT_POLICY_YAML};

pub fn run(command: PolicyCommand) -> ExitCode {
    match command {
        PolicyCommand::Default => {
            print!("{DEFAULT_POLICY_YAML}");
            ExitCode::SUCCESS
        }
        PolicyCommand::Validate { file } => match load_at(&file, SystemTime::now(), true) {
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

/// Reads and parses a policy file; the error names the file and the field. Exceptions are
/// judged against the time of this load (`Policy::check_exception_times`): one lasting longer
/// than `exceptionMaxLifetime` from now is an error, an expired one only a warning (it no longer
/// applies, and a restart after an expiry must not stop the webhook).
pub fn load(path: &Path) -> anyhow::Result<Policy> {
    load_at(path, SystemTime::now(), false)
}

/// [`load`], also returning the bytes the policy was parsed from (the reload compares against
/// them, so a change between this read and the first poll is not missed).
pub fn load_with_bytes(path: &Path) -> anyhow::Result<(Policy, Vec<u8>)> {
    let bytes = std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("--policy {}: cannot read the file: {e}", path.display()))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| anyhow::anyhow!("--policy {}: the file is not UTF-8 text", path.display()))?;
    let policy = parse_at(path, text, SystemTime::now(), false)?;
    Ok((policy, bytes))
}

/// [`load`] at `now`; with `strict` (`policy validate`, the gate on the commit) an expired
/// exception is an error too.
pub fn load_at(path: &Path, now: SystemTime, strict: bool) -> anyhow::Result<Policy> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("--policy {}: cannot read the file: {e}", path.display()))?;
    parse_at(path, &text, now, strict)
}

fn parse_at(path: &Path, text: &str, now: SystemTime, strict: bool) -> anyhow::Result<Policy> {
    let policy =
        Policy::from_yaml(text).map_err(|e| anyhow::anyhow!("--policy {}: {e}", path.display()))?;
    let expired = policy
        .check_exception_times(now)
        .map_err(|e| anyhow::anyhow!("--policy {}: {e}", path.display()))?;
    for e in expired {
        if strict {
            anyhow::bail!(
                "--policy {}: invalid policy: field `{}`: {} is in the past: remove exception {} or renew it with a reviewed commit",
                path.display(),
                e.field,
                e.expires,
                e.exception
            );
        }
        tracing::warn!(
            policy = %path.display(),
            exception = %e.exception,
            expires = %e.expires,
            "a policy exception has expired and no longer applies; remove it from the policy file"
        );
    }
    Ok(policy)
}

/// The policy from `--policy`, or the built-in default.
pub fn load_or_default(path: Option<&Path>) -> anyhow::Result<Policy> {
    path.map_or_else(|| Ok(Policy::default()), load)
}
