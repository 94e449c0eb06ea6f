//! `vaultgate check PATH…`: evaluates manifests offline with the webhook's engine, as a CREATE
//! by a given identity (by default the Argo CD sync). Cross-object rules see every object in
//! the set, so a PushSecret is judged with its source Secret, and two writers of one Secret or
//! two namespaces claiming one Vault path are caught before they reach a cluster. A
//! SealedSecret is judged as the Secret its decrypter will write. A rule that needs an object
//! the set does not hold says so (NOT EVALUATED) instead of allowing.
//!
//! Exit codes: see [`EXIT_CODES`]. Output (`-o`): text, JSON, SARIF 2.1.0, JUnit XML or GitHub
//! Actions annotations, each rendered from one [`Report`], bad input included (exit code 2).

mod github;
mod junit;
mod kustomize;
mod layout;
mod listed;
mod load;
pub(crate) mod parse;
mod report;
pub mod sarif;
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
    /// One line per object at `file:line`, denials and missing context under it, a summary.
    Text,
    /// The report as one JSON object; unreadable input in `errors`.
    Json,
    /// SARIF 2.1.0, for code-scanning uploads.
    Sarif,
    /// JUnit XML: a suite per file, a test case per object.
    Junit,
    /// GitHub Actions workflow commands (annotations on the files).
    Github,
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
    /// Output format (`--format` is an alias).
    #[arg(
        short = 'o',
        long = "output",
        visible_alias = "format",
        value_enum,
        default_value = "text"
    )]
    pub output: Format,
    /// Print only what fails the run (denied and not-evaluated objects) and the summary.
    #[arg(long, short = 'q')]
    pub quiet: bool,
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

/// The standard groups the apiserver gives a user (one definition, in `policy::identity`).
pub use crate::policy::identity::standard_groups as default_groups;

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
    let mut report = Report {
        files: docs
            .iter()
            .map(|d| d.file.as_str())
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        ..Report::default()
    };
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

/// Loads `text` as one file named `file` and evaluates it: the objects' report, or why it
/// cannot be read.
pub fn evaluate_text(
    file: &str,
    text: &str,
    user: &Identity,
    policy: &policy::Policy,
) -> Result<Report, Vec<LoadError>> {
    let mut loaded = Loaded::default();
    let options = Options {
        namespace: "default".into(),
        kustomize: None,
    };
    load::parse_text(file, text, false, &options, &mut loaded);
    if loaded.errors.is_empty() {
        Ok(evaluate(&loaded.docs, user, policy, SystemTime::now()))
    } else {
        Err(loaded.errors)
    }
}

/// Like [`evaluate_text`] for an UPDATE: `old` (one object) is what the cluster holds, and is the
/// view's copy of it; `text` is the write. `vaultgate explain` shows the rules only an UPDATE
/// breaks with it.
pub fn evaluate_update_text(
    old: &str,
    text: &str,
    user: &Identity,
    policy: &policy::Policy,
) -> Result<Report, Vec<LoadError>> {
    let options = Options {
        namespace: "default".into(),
        kustomize: None,
    };
    let mut before = Loaded::default();
    load::parse_text("old.yaml", old, false, &options, &mut before);
    let mut after = Loaded::default();
    load::parse_text("example.yaml", text, false, &options, &mut after);
    let mut errors = before.errors;
    errors.extend(after.errors);
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut view = MemoryView::from_policy(policy);
    let previous = before
        .docs
        .first()
        .and_then(|d| Some((d.object.as_ref()?, d)));
    if let Some((object, doc)) = previous {
        view.insert(object, doc.namespace.as_deref());
    }
    let mut report = Report {
        files: 1,
        ..Report::default()
    };
    for doc in &after.docs {
        let Some(object) = &doc.object else {
            report.skipped += 1;
            continue;
        };
        let review = Review {
            uid: "vaultgate-explain",
            operation: Operation::Update,
            namespace: doc.namespace.as_deref(),
            name: object.name(),
            user,
            object,
            old: previous.map(|(o, _)| o),
            dry_run: true,
            now: SystemTime::now(),
        };
        let decision = policy::evaluate(&review, policy, &view);
        report.push(doc, object, decision, None);
    }
    Ok(report)
}

/// Renders the report in the chosen format.
pub fn render(report: &Report, output: Format, quiet: bool, policy: &policy::Policy) -> String {
    if output == Format::Text {
        return if quiet {
            report.text_quiet()
        } else {
            report.text()
        };
    }
    let filtered;
    let report = if quiet {
        filtered = Report {
            results: report.failures().cloned().collect(),
            not_manifests: Vec::new(),
            ..report.clone()
        };
        &filtered
    } else {
        report
    };
    match output {
        Format::Text | Format::Json => format!("{}\n", report.json()),
        Format::Sarif => format!("{}\n", sarif::render(report, policy)),
        Format::Junit => junit::render(report),
        Format::Github => github::render(report),
    }
}

/// Reports input that cannot be judged (exit code 2): on standard error, and inside the
/// output unless it is text, so a JSON, SARIF or JUnit consumer still reads a valid document.
fn fail(args: &CheckArgs, mut report: Report, policy: &policy::Policy) -> ExitCode {
    if args.output != Format::Github {
        for e in &report.errors {
            eprintln!("error: {e}");
        }
    }
    if args.output != Format::Text {
        report.results.clear();
        print!("{}", render(&report, args.output, args.quiet, policy));
    }
    ExitCode::from(2)
}

fn error(file: &str, message: impl Into<String>) -> LoadError {
    LoadError {
        file: file.into(),
        index: None,
        line: None,
        column: None,
        message: message.into(),
    }
}

pub fn run(args: CheckArgs) -> ExitCode {
    let policy = match super::policy_cmd::load_or_default(args.policy.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            let report = Report {
                errors: vec![error("", e.to_string())],
                ..Report::default()
            };
            return fail(&args, report, &policy::Policy::default());
        }
    };
    let kustomize = if args.kustomize {
        match Kustomizer::find() {
            Some(k) => Some(k),
            None => {
                let report = Report {
                    errors: vec![error("", "--kustomize needs kustomize or kubectl on PATH")],
                    ..Report::default()
                };
                return fail(&args, report, &policy);
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
        let report = Report {
            errors: loaded.errors,
            not_manifests: loaded.listed,
            ..Report::default()
        };
        return fail(&args, report, &policy);
    }
    let groups = if args.as_groups.is_empty() {
        default_groups(&args.as_user)
    } else {
        args.as_groups.clone()
    };
    let user = Identity::new(args.as_user.clone(), groups);
    let mut report = evaluate(&loaded.docs, &user, &policy, SystemTime::now());
    report.not_manifests = loaded.listed;
    if loaded.docs.is_empty() {
        let paths: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        report.errors.push(error(
            "",
            format!(
                "no Kubernetes objects found in {}; nothing was checked",
                paths.join(", ")
            ),
        ));
        if args.output == Format::Text {
            print!("{}", render(&report, args.output, args.quiet, &policy));
        }
        return fail(&args, report, &policy);
    }
    print!("{}", render(&report, args.output, args.quiet, &policy));
    if report.denied > 0 {
        ExitCode::from(1)
    } else if report.not_evaluated > 0 && !args.allow_partial {
        if args.output != Format::Github {
            eprintln!(
                "{} not evaluated: the objects they need are not in the set (add them, or pass --allow-partial)",
                report::plural(report.not_evaluated, "object", "objects")
            );
        }
        ExitCode::from(3)
    } else {
        ExitCode::SUCCESS
    }
}
