use super::*;

fn run(text: &str) -> Scan {
    scan(text, &BTreeMap::new())
}

#[test]
fn create_secret_names_namespace_name_and_keys_never_values() {
    let s = run(
        "kubectl create secret generic vault-init -n vault --from-literal=root_token=CANARY --from-file=unseal_keys=/tmp/keys",
    );
    let w = &s.writes[0];
    assert_eq!(w.namespace.as_deref(), Some("vault"));
    assert_eq!(w.name.as_deref(), Some("vault-init"));
    assert_eq!(w.keys, ["root_token", "unseal_keys"]);
    assert!(!format!("{s:?}").contains("CANARY"));
}

#[test]
fn a_get_piped_into_apply_is_a_copy_into_the_applying_namespace() {
    let s = run(
        "set -e\nkubectl get secret vault-init -n vault -o yaml \\\n  | sed 's/namespace: vault/namespace: crossplane-system/' \\\n  | kubectl apply -n crossplane-system -f -\n",
    );
    let w = &s.writes[0];
    assert_eq!(w.namespace.as_deref(), Some("crossplane-system"));
    assert_eq!(
        w.copied_from,
        Some((Some("vault".into()), "vault-init".into()))
    );
    assert_eq!(w.line, 2);
}

#[test]
fn a_dry_run_create_writes_only_when_piped_into_a_write() {
    assert!(
        run("kubectl create secret generic x --dry-run=client -o yaml > x.yaml")
            .writes
            .is_empty()
    );
    let s = run(
        "kubectl create secret generic x --namespace=payments --dry-run=client -o yaml | kubectl apply -f -",
    );
    assert_eq!(s.writes[0].namespace.as_deref(), Some("payments"));
}

#[test]
fn variables_heredocs_curl_and_operator_init_are_recognised() {
    let env = BTreeMap::from([("TARGET_NS".to_owned(), "crossplane-system".to_owned())]);
    let s = scan(
        "INIT=$(vault operator init -format=json)\nNAME=argocd-admin-token\ncat <<EOF | kubectl apply -f -\napiVersion: v1\nkind: Secret\nmetadata:\n  name: $NAME\n  namespace: x\nstringData:\n  token: abc\nEOF\nkubectl patch secret/$NAME -n \"$TARGET_NS\" -p '{}'\ncurl -sk -X POST https://kubernetes.default.svc/api/v1/namespaces/argocd/secrets -d @s.json",
        &env,
    );
    assert_eq!(s.vault_init, Some(1));
    assert_eq!(s.writes[0].keys, ["token"]);
    assert_eq!(s.writes[0].namespace.as_deref(), Some("x"));
    assert_eq!(s.writes[1].namespace.as_deref(), Some("crossplane-system"));
    assert_eq!(s.writes[1].name.as_deref(), Some("argocd-admin-token"));
    assert_eq!(s.writes[2].namespace.as_deref(), Some("argocd"));
}

#[test]
fn reads_labels_and_other_resources_are_not_writes() {
    for text in [
        "kubectl get secret db -n payments -o jsonpath='{.data.password}'",
        "kubectl label secret db -n payments team=a",
        "kubectl create configmap cfg --from-literal=a=b",
        "kubectl get configmap cfg -o yaml | kubectl apply -n other -f -",
        "curl -s https://kubernetes.default.svc/api/v1/namespaces/payments/secrets/db",
        "echo kubectl create secret generic x",
    ] {
        assert!(run(text).writes.is_empty(), "{text}");
    }
}

#[test]
fn the_script_is_the_argument_of_a_shells_dash_c() {
    let sh = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    assert_eq!(
        script_of(&sh(&["/bin/sh", "-ec"]), &sh(&["kubectl get x"])),
        "kubectl get x"
    );
    assert_eq!(
        script_of(
            &sh(&["kubectl"]),
            &sh(&["create", "secret", "generic", "a b"])
        ),
        "kubectl create secret generic 'a b'"
    );
}
