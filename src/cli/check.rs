//! `vaultgate check PATH…`: evaluates manifests offline with the webhook's engine, as a CREATE
//! by a given identity (by default the Argo CD sync). Cross-object rules see every object in
//! the set, so a PushSecret is judged with its source Secret, and two writers of one Secret or
//! two namespaces claiming one Vault path are caught before they reach a cluster.
//!
//! Exit codes: 0 all allowed, 1 something denied, 2 unreadable input (file and document named).

mod load;
mod report;

use std::{path::PathBuf, process::ExitCode};

use clap::ValueEnum;

use crate::{
    cluster::MemoryView,
    policy::{self, Identity, Operation, Review},
};
pub use load::{Document, LoadError, load_paths};
pub use report::{Outcome, Report};

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// Files or directories (recursive: *.yaml, *.yml, *.json); `-` reads standard input.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The identity that applies the manifests.
    #[arg(
        long = "as",
        default_value = "system:serviceaccount:argocd:argocd-application-controller"
    )]
    pub as_user: String,
    /// Groups of that identity (repeatable). Service accounts get their standard groups by default.
    #[arg(long = "as-group")]
    pub as_groups: Vec<String>,
    /// Namespace for namespaced objects that do not set one.
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Policy file (default: the built-in policy).
    #[arg(long, env = "VAULTGATE_POLICY")]
    pub policy: Option<PathBuf>,
}

/// The standard groups the apiserver gives a user: a service account's, or only
/// `system:authenticated`.
pub fn default_groups(user: &str) -> Vec<String> {
    match user
        .strip_prefix("system:serviceaccount:")
        .and_then(|rest| rest.split_once(':'))
    {
        Some((ns, _)) => vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{ns}"),
            "system:authenticated".into(),
        ],
        None => vec!["system:authenticated".into()],
    }
}

/// Evaluates loaded documents. Pure apart from the policy it is given.
pub fn evaluate(docs: &[Document], user: &Identity, policy: &policy::Policy) -> Report {
    let mut view = MemoryView::from_policy(policy);
    for doc in docs {
        match &doc.object {
            Some(object) => view.insert(object, doc.namespace.as_deref()),
            None => {
                if let Some((ns, name)) = &doc.sealed_output {
                    view.insert_sealed_output(ns, name);
                }
            }
        }
    }
    let mut report = Report::default();
    for doc in docs {
        let Some(object) = &doc.object else {
            report.skipped += 1;
            continue;
        };
        let review = Review {
            uid: "vaultgate-check",
            operation: Operation::Create,
            namespace: doc.namespace.as_deref(),
            name: object.name(),
            user,
            object,
            old: None,
            dry_run: true,
        };
        let decision = policy::evaluate(&review, policy, &view);
        report.push(doc, object, decision);
    }
    report
}

pub fn run(args: CheckArgs) -> ExitCode {
    let policy = match super::policy_cmd::load_or_default(args.policy.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let docs = match load_paths(&args.paths, &args.namespace) {
        Ok(docs) => docs,
        Err(errors) => {
            for e in errors {
                eprintln!("error: {e}");
            }
            return ExitCode::from(2);
        }
    };
    let groups = if args.as_groups.is_empty() {
        default_groups(&args.as_user)
    } else {
        args.as_groups
    };
    let user = Identity::new(args.as_user, groups);
    let report = evaluate(&docs, &user, &policy);
    match args.format {
        Format::Text => print!("{}", report.text()),
        Format::Json => println!("{}", report.json()),
    }
    if report.denied > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
