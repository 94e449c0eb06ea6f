//! `vaultgate certs`: mints a CA and a serving certificate for the webhook Service into a
//! directory (`ca.crt`, `ca.key`, `tls.crt`, `tls.key`; keys mode 0600) and prints the
//! `caBundle` (base64 of `ca.crt`) as the only line on stdout, so it can be captured by a script.
//! Everything meant for a human goes to stderr.

use std::{net::IpAddr, path::PathBuf, process::ExitCode};

use base64::Engine as _;

use crate::certs::{self, CA_CERT_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE};

#[derive(Debug, clap::Args)]
pub struct CertsArgs {
    /// Name of the webhook Service; the certificate covers `<service>.<namespace>.svc`.
    #[arg(long, default_value = "vaultgate")]
    pub service: String,
    /// Namespace of the webhook Service.
    #[arg(long, default_value = "vaultgate-system")]
    pub namespace: String,
    /// An IP SAN to add (repeatable), e.g. `--ip 127.0.0.1` for a local webhook.
    #[arg(long = "ip", value_name = "IP")]
    pub ips: Vec<IpAddr>,
    /// An extra DNS SAN to add (repeatable), e.g. `--dns localhost`.
    #[arg(long = "dns", value_name = "NAME")]
    pub dns: Vec<String>,
    /// Validity of the serving certificate in days (the CA gets 10 years).
    #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=i64::from(certs::MAX_DAYS)))]
    pub days: u32,
    /// Directory to write the four files into (created if missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Overwrite existing files.
    #[arg(long)]
    pub force: bool,
}

pub fn run(args: CertsArgs) -> ExitCode {
    let CertsArgs {
        service,
        namespace,
        ips,
        dns,
        days,
        out,
        force,
    } = args;
    let files = [CA_CERT_FILE, CA_KEY_FILE, CERT_FILE, KEY_FILE];
    let existing: Vec<String> = files
        .iter()
        .map(|f| out.join(f))
        .filter(|p| p.exists())
        .map(|p| p.display().to_string())
        .collect();
    if !force && !existing.is_empty() {
        eprintln!(
            "error: --out {}: {} already exist; pass --force to overwrite",
            out.display(),
            existing.join(", ")
        );
        return ExitCode::from(2);
    }
    let minted = match certs::mint(&service, &namespace, &ips, &dns, days) {
        Ok(minted) => minted,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = minted.write_to(&out, force) {
        eprintln!(
            "error: --out {}: cannot write the certificates: {e}",
            out.display()
        );
        return ExitCode::FAILURE;
    }
    let names = certs::serving_dns_names(&service, &namespace, &dns).unwrap_or_default();
    let ip_list: Vec<String> = ips.iter().map(ToString::to_string).collect();
    let dir = out.display();
    eprintln!(
        "wrote {dir}/{CA_CERT_FILE}, {dir}/{CA_KEY_FILE} (0600), {dir}/{CERT_FILE}, {dir}/{KEY_FILE} (0600)"
    );
    eprintln!(
        "  serving certificate: valid {days} days, signed by CN={}, valid 10 years",
        certs::CA_COMMON_NAME
    );
    eprintln!("    DNS: {}", names.join(", "));
    if !ip_list.is_empty() {
        eprintln!("    IP:  {}", ip_list.join(", "));
    }
    eprintln!("  stdout: the caBundle (base64 of {CA_CERT_FILE}) for the webhook configurations");
    // Both shipped ways to use the files, so neither contradicts the install docs: the
    // static-certs overlay builds the Secret and caBundle itself (manifests/overlays/static-certs),
    // and only the Helm install (certs.mode=existingSecret) needs the Secret created by hand, in a
    // namespace that must exist first.
    eprintln!(
        "  next (kustomize): with --out manifests/overlays/static-certs/certs, that overlay builds Secret {service}-tls and every caBundle from these files; install it in two steps (README \"Install\")"
    );
    eprintln!(
        "  next (Helm, certs.mode=existingSecret): once namespace {namespace} exists (README \"Install with Helm\" creates it), kubectl -n {namespace} create secret tls {service}-tls --cert={dir}/{CERT_FILE} --key={dir}/{KEY_FILE}, then --set certs.existingSecret={service}-tls --set-string certs.caBundle=<stdout>"
    );
    println!(
        "{}",
        base64::engine::general_purpose::STANDARD.encode(minted.ca_cert_pem.as_bytes())
    );
    ExitCode::SUCCESS
}
