//! `vaultgate check PATH…`: evaluates manifests offline with the webhook's engine, as a CREATE
//! by a given identity (by default the Argo CD sync). Cross-object rules see every object in
//! the set, so a PushSecret is judged with its source Secret, and two writers of one Secret or
//! two namespaces claiming one Vault path are caught before they reach a cluster. A
//! SealedSecret is judged as the Secret its decrypter will write. A rule that needs an object
//! the set does not hold says so (NOT EVALUATED) instead of allowing.
//!
//! Exit codes: see [`EXIT_CODES`].

mod kustomize;
mod layout;
mod listed;
mod load;
mod parse;
mod report;
mod sealed;
mod split;

use std::{path::PathBuf, process::ExitCode, time::SystemTime};

use clap::ValueEnum;

use crate::{
    cluster::MemoryView,
    policy::{self, Identity, Operation, Review},
};
pub use kustomize::Kustomizer;
pub use listed::Listed;
pub use load::{Document, LoadError, Loaded, Options, load, load_paths};
pub use report::{Outcome, Report, Verdict, WrittenBy};
pub use sealed::Sealed;

/// The exit codes, as `check --help` prints them.
pub const EXIT_CODES: &str = "Exit codes: 0 every object evaluated and allowed; 1 something denied; 2 a manifest cannot be read or parsed, a path does not exist, or no Kubernetes object was found; 3 nothing denied but something not evaluated (a rule needed an object the set does not hold), 0 with --allow-partial.";

/// Output format of `check`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
#[command(after_help = EXIT_CODES)]
pub struct CheckArgs {
    /// Files or directories (recursive); `-` reads standard input. Files that are not
    /// Kubernetes manifests (Helm chart files, kustomizations, patches, CI definitions) are
    /// listed with a hint, not judged.
    #[arg(required = true)]
    pub paths: Vec<PathBuf>,
    /// The identity that applies the manifests (a SealedSecret's Secret is judged as written by
    /// the policy's sealed-secrets decrypter instead).
    #[arg(
        long = "as",
        default_value = "system:serviceaccount:argocd:argocd-application-controller"
    )]
    pub as_user: String,
    /// Groups of that identity (repeatable). Service accounts get their standard groups by default.
    #[arg(long = "as-group")]
    pub as_groups: Vec<String>,
    /// Namespace for namespaced objects that do not set one (reported as defaulted).
    #[arg(long, short = 'n', default_value = "default")]
    pub namespace: String,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Policy file (default: the built-in policy).
    #[arg(long, env = "VAULTGATE_POLICY")]
    pub policy: Option<PathBuf>,
    /// Exit 0 instead of 3 when nothing is denied but some object could not be evaluated.
    #[arg(long)]
    pub allow_partial: bool,
    /// Build each kustomization directory (`kustomize build`, else `kubectl kustomize`, from
    /// PATH) and check its output instead of the files under it.
    #[arg(long)]
    pub kustomize: bool,
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

/// The identity that writes a SealedSecret's Secret: the decrypter named `sealed-secrets` in
/// `identities.bootstrapDecrypters`, else the first one; its first user that is a plain name
/// (not a `*` pattern).
pub fn sealed_secrets_writer(policy: &policy::Policy) -> Option<(WrittenBy, Identity)> {
    let decrypters = &policy.identities.bootstrap_decrypters;
    let d = decrypters
        .iter()
        .find(|d| d.name == "sealed-secrets")
        .or_else(|| decrypters.first())?;
    let user = d
        .users
        .iter()
        .map(|u| u.as_str())
        .find(|u| !u.contains('*'))?;
    Some((
        WrittenBy {
            decrypter: d.name.clone(),
            user: user.to_owned(),
        },
        Identity::new(user, default_groups(user)),
    ))
}

/// Evaluates loaded documents at `now` (which decides whether the policy's exceptions still
/// apply). Pure apart from the policy it is given.
pub fn evaluate(
    docs: &[Document],
    user: &Identity,
    policy: &policy::Policy,
    now: SystemTime,
) -> Report {
    let mut view = MemoryView::from_policy(policy);
    for doc in docs {
        if let Some(object) = &doc.object {
            view.insert(object, doc.namespace.as_deref());
        }
    }
    let decrypter = sealed_secrets_writer(policy);
    let mut report = Report::default();
    for doc in docs {
        let Some(object) = &doc.object else {
            report.skipped += 1;
            continue;
        };
        let (user, written_by) = match (&doc.sealed, &decrypter) {
            (Some(_), Some((by, identity))) => (identity, Some(by.clone())),
            (Some(_), None) => {
                let mut decision = policy::Decision::default();
                decision.missing.push(policy::view::Missing {
                    kind: "bootstrap decrypter identity".into(),
                    namespace: None,
                    name: "identities.bootstrapDecrypters".into(),
                    field: None,
                    needed_for: "judging the Secret a SealedSecret writes as its decrypter".into(),
                });
                report.push(doc, object, decision, None);
                continue;
            }
            (None, _) => (user, None),
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
            now,
        };
        let decision = policy::evaluate(&review, policy, &view);
        report.push(doc, object, decision, written_by);
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
    let kustomize = if args.kustomize {
        match Kustomizer::find() {
            Some(k) => Some(k),
            None => {
                eprintln!("error: --kustomize needs kustomize or kubectl on PATH");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    let options = Options {
        namespace: args.namespace.clone(),
        kustomize,
    };
    let loaded = load(&args.paths, &options);
    if !loaded.errors.is_empty() {
        for e in &loaded.errors {
            eprintln!("error: {e}");
        }
        return ExitCode::from(2);
    }
    let groups = if args.as_groups.is_empty() {
        default_groups(&args.as_user)
    } else {
        args.as_groups
    };
    let user = Identity::new(args.as_user, groups);
    let mut report = evaluate(&loaded.docs, &user, &policy, SystemTime::now());
    report.not_manifests = loaded.listed;
    match args.format {
        Format::Text => print!("{}", report.text()),
        Format::Json => println!("{}", report.json()),
    }
    if loaded.docs.is_empty() {
        let paths: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!(
            "error: no Kubernetes objects found in {}; nothing was checked",
            paths.join(", ")
        );
        return ExitCode::from(2);
    }
    if report.denied > 0 {
        ExitCode::from(1)
    } else if report.not_evaluated > 0 && !args.allow_partial {
        eprintln!(
            "{} object(s) not evaluated: the objects they need are not in the set (add them, or pass --allow-partial)",
            report.not_evaluated
        );
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}
