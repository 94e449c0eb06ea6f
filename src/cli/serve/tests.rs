//! Tests of `serve`'s flags: the reload intervals, the probe port off by default and a malformed
//! one named.

use clap::Parser as _;

use super::*;
use crate::cli::{Cli, Command};

#[test]
fn a_rotated_certificate_is_picked_up_within_the_5_s_target_by_default() {
    let cli = Cli::try_parse_from(["vaultgate", "serve", "--tls-cert", "c", "--tls-key", "k"])
        .expect("serve parses");
    let Command::Serve(args) = cli.command else {
        panic!("not serve");
    };
    assert_eq!(args.cert_reload_interval, Duration::from_secs(2));
    assert!(args.cert_reload_interval < Duration::from_secs(5));
}

fn serve_args(extra: &[&str]) -> Result<ServeArgs, clap::Error> {
    let base = ["vaultgate", "serve", "--tls-cert", "c", "--tls-key", "k"];
    let cli = Cli::try_parse_from(base.iter().chain(extra))?;
    let Command::Serve(args) = cli.command else {
        panic!("not serve");
    };
    Ok(*args)
}

#[test]
fn the_probe_port_is_off_unless_probe_listen_is_given() {
    assert_eq!(serve_args(&[]).expect("parses").probe_listen, None);
    let args = serve_args(&["--probe-listen", "0.0.0.0:8081"]).expect("parses");
    assert_eq!(
        args.probe_listen,
        Some("0.0.0.0:8081".parse().expect("addr"))
    );
}

#[test]
fn a_probe_listen_without_a_port_names_the_flag_and_the_expected_form() {
    for bad in ["8081", "localhost:8081", "0.0.0.0", ":8081"] {
        let err = serve_args(&["--probe-listen", bad])
            .expect_err("rejected")
            .to_string();
        assert!(
            err.contains("--probe-listen must be ADDR:PORT") && err.contains(bad),
            "{err}"
        );
    }
}

#[test]
fn the_policy_file_is_re_read_every_2_s_unless_told_otherwise() {
    assert_eq!(
        serve_args(&[]).expect("parses").policy_reload_interval,
        Duration::from_secs(2)
    );
    let args = serve_args(&["--policy-reload-interval", "500ms"]).expect("parses");
    assert_eq!(args.policy_reload_interval, Duration::from_millis(500));
}

#[test]
fn the_installed_webhook_conditions_are_checked_under_the_base_name_every_5_min_by_default() {
    let args = serve_args(&[]).expect("parses");
    assert_eq!(args.webhook_configuration, "vaultgate");
    assert_eq!(args.webhook_check_interval, Duration::from_secs(300));
    let args = serve_args(&[
        "--webhook-configuration",
        "other-vaultgate",
        "--webhook-check-interval",
        "0",
    ])
    .expect("parses");
    assert_eq!(args.webhook_configuration, "other-vaultgate");
    assert!(args.webhook_check_interval.is_zero());
}

#[test]
fn an_interval_past_a_year_is_refused_at_parse_not_overflowing_a_deadline_later() {
    // `now + every` on an Instant panics past its range: the check's task would die after its
    // first read (and the policy reload's at start), silently.
    let err = serve_args(&["--webhook-check-interval", "18446744073709551615"])
        .expect_err("an unrepresentable interval");
    assert!(err.to_string().contains("at most 8760h"), "{err}");
    let err = serve_args(&["--policy-reload-interval", "9000h"]).expect_err("past a year");
    assert!(err.to_string().contains("at most 8760h"), "{err}");
    let args = serve_args(&["--webhook-check-interval", "8760h"]).expect("a year parses");
    assert_eq!(
        args.webhook_check_interval,
        Duration::from_secs(8760 * 3600)
    );
}

#[test]
fn a_webhook_configuration_name_kubernetes_cannot_hold_is_refused_at_parse() {
    // Otherwise it is read as missing forever, or spliced into the request path.
    for bad in ["Vaultgate", "../secrets/x", "", "vaultgate-", "a..b"] {
        let err = serve_args(&["--webhook-configuration", bad]).expect_err(bad);
        assert!(err.to_string().contains("lowercase"), "{bad}: {err}");
    }
    let args = serve_args(&["--webhook-configuration", "vaultgate.platform-1"]).expect("parses");
    assert_eq!(args.webhook_configuration, "vaultgate.platform-1");
}
