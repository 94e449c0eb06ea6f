//! Dashboards acting as a control plane stay denied (RFC Inv 6), and the denial shows the Git
//! way: an ExternalSecret whose template carries the dashboard's own label.

use super::*;

const ARGOCD_SERVER: &str = "system:serviceaccount:argocd:argocd-server";
const SECRET_TYPE: &str = "argocd.argoproj.io/secret-type";

fn repository(meta: Value) -> Value {
    let mut object = secret("repo-2417340457", "argocd", meta);
    object["metadata"]["labels"][SECRET_TYPE] = json!("repository");
    object["data"] =
        json!({ "url": "aHR0cHM6Ly9naXQuZXhhbXBsZS5jb20vYXBwLmdpdA==", "password": "cGFzcw==" });
    object
}

#[test]
fn argocd_server_adding_a_repository_stays_denied_and_the_fix_templates_the_secret_type() {
    let d = Write::create(Kind::Secret, "argocd", ARGOCD_SERVER, repository(json!({}))).evaluate();
    assert_denied_by(&d, "VG101", "a repository added in the Argo CD UI");
    let fix = &d
        .denied
        .iter()
        .find(|v| v.rule.id == "VG101")
        .expect("VG101")
        .fix;
    assert!(
        fix.contains("kind: ExternalSecret") && fix.contains("template"),
        "the fix is an ExternalSecret with a target template: {fix}"
    );
    assert!(
        fix.contains(SECRET_TYPE) && fix.contains("repository"),
        "the template carries {SECRET_TYPE}: repository: {fix}"
    );

    // Control: the same repository Secret materialized by ESO (what the fix leads to) is allowed.
    let d = Write::create(Kind::Secret, "argocd", ESO, repository(es_owner())).evaluate();
    assert_allowed(&d, "ESO materializes the repository Secret");
}
