use super::*;

fn run(text: &str) -> Scan {
    scan(text, &BTreeMap::new())
}

fn named(ns: &str) -> Ns {
    Ns::Named(ns.to_owned())
}

fn sv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn create_secret_names_namespace_name_and_keys_never_values() {
    let s = run(
        "kubectl create secret generic vault-init -n vault --from-literal=root_token=CANARY --from-file=unseal_keys=/tmp/keys",
    );
    let w = &s.writes[0];
    assert_eq!(w.namespace, named("vault"));
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
    assert_eq!(w.namespace, named("crossplane-system"));
    assert_eq!(w.copied_from, Some((named("vault"), "vault-init".into())));
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
    assert_eq!(s.writes[0].namespace, named("payments"));
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
    assert_eq!(s.writes[0].namespace, named("x"));
    assert_eq!(s.writes[1].namespace, named("crossplane-system"));
    assert_eq!(s.writes[1].name.as_deref(), Some("argocd-admin-token"));
    assert_eq!(s.writes[2].namespace, named("argocd"));
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

#[test]
fn compound_commands_prefixes_and_nested_shells_are_read() {
    let write = "kubectl create secret generic t -n crossplane-system --from-literal=token=x";
    for text in [
        format!("for ns in a b; do {write}; done"),
        format!("if {write}; then echo ok; fi"),
        format!("until {write}; do sleep 1; done"),
        format!("while true; do {write} && break; done"),
        format!("({write})"),
        format!("{{ {write}; }}"),
        format!("! {write}"),
        format!("true && {write} || false"),
        format!("sh -c '{write}'"),
        format!("bash -ec \"{write}\""),
        format!("eval \"{write}\""),
        format!("timeout 30 {write}"),
        format!("timeout -s KILL 5m {write}"),
        format!("env X=1 {write}"),
        format!("nice -n 10 {write}"),
        format!("exec {write}"),
        format!("command {write}"),
        format!("sudo -u root -E {write}"),
        format!("OUT=$({write})"),
        format!("echo \"$({write})\""),
        format!("case $X in\n  a) {write} ;;\nesac"),
        format!("f() {{\n  {write}\n}}"),
        format!("bash <<'EOS'\n{write}\nEOS"),
        "echo crossplane-system | xargs -I{} kubectl create secret generic t -n {} --from-literal=token=x".to_owned(),
        "kubectl --token \"$T\" create secret generic t -n crossplane-system".to_owned(),
        "kubectl -s https://k8s:6443 --kubeconfig /k --context c --as x create secret generic t -n crossplane-system".to_owned(),
        "oc --server=https://k8s create secret generic t --namespace crossplane-system".to_owned(),
        "k=kubectl; $k create secret generic t -ncrossplane-system".to_owned(),
        "alias k=kubectl\nk create secret generic t -n crossplane-system".to_owned(),
    ] {
        let s = run(&text);
        assert!(
            s.writes
                .iter()
                .any(|w| w.namespace == named("crossplane-system") && w.name.as_deref() == Some("t")),
            "{text}: {s:?}"
        );
    }
}

#[test]
fn a_for_list_is_read_once_per_value_and_a_runtime_namespace_is_unknown() {
    let s = run("for ns in a b; do kubectl create secret generic t -n \"$ns\"; done");
    let ns: Vec<&Ns> = s.writes.iter().map(|w| &w.namespace).collect();
    assert_eq!(ns, [&named("a"), &named("b")]);
    for text in [
        "kubectl create secret generic t -n \"$TARGET_NS\"",
        "kubectl create secret generic t -n $(cat /ns)",
        "xargs -I{} kubectl create secret generic t -n {} < /tmp/list",
        "for ns in $LIST; do kubectl create secret generic t -n $ns; done",
    ] {
        let s = run(text);
        assert!(
            matches!(s.writes[0].namespace, Ns::Unknown(_)),
            "{text}: {s:?}"
        );
    }
}

#[test]
fn a_dry_run_written_to_a_file_and_applied_is_a_write() {
    for text in [
        "kubectl create secret generic t -n crossplane-system --dry-run=client -o yaml > /tmp/s.yaml && kubectl apply -f /tmp/s.yaml",
        "kubectl create secret generic t -n crossplane-system --dry-run=client -o yaml | tee /tmp/s.yaml >/dev/null\nkubectl apply -f /tmp/s.yaml",
        "kubectl create secret generic t -n crossplane-system --dry-run=client -o yaml > s.json\ncat s.json | kubectl apply -f -",
        "kubectl create secret generic t -n crossplane-system --dry-run=client -o yaml > s.json\nkubectl apply -f - < s.json",
    ] {
        let s = run(text);
        assert_eq!(s.writes.len(), 1, "{text}: {s:?}");
        assert_eq!(s.writes[0].namespace, named("crossplane-system"), "{text}");
    }
}

#[test]
fn json_heredocs_here_strings_and_echo_manifests_are_read() {
    let json = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"t","namespace":"crossplane-system"},"stringData":{"token":"CANARY"}}"#;
    for text in [
        format!("cat <<EOF | kubectl apply -f -\n{json}\nEOF"),
        format!("kubectl apply -f - <<'EOF'\n{json}\nEOF"),
        format!("kubectl apply -f - <<< '{json}'"),
        format!("echo '{json}' | kubectl create -f -"),
        "kubectl apply --server-side -f - <<EOF\napiVersion: v1\nkind: Secret\nmetadata:\n  name: t\n  namespace: crossplane-system\nstringData:\n  token: CANARY\nEOF".to_owned(),
    ] {
        let s = run(&text);
        assert_eq!(s.writes.len(), 1, "{text}: {s:?}");
        assert_eq!(s.writes[0].namespace, named("crossplane-system"), "{text}");
        assert_eq!(s.writes[0].keys, ["token"], "{text}");
        assert!(!format!("{s:?}").contains("CANARY"));
    }
}

#[test]
fn a_copy_names_its_source_and_the_namespace_a_filter_leaves() {
    let from = Some((named("postgres"), "db".to_owned()));
    for (text, target) in [
        (
            "kubectl get secret db -n postgres -o yaml | kubectl apply -n apps -f -",
            named("apps"),
        ),
        (
            "kubectl get secret db -n postgres -o yaml | sed 's/namespace: postgres/namespace: crossplane-system/' | kubectl apply -f -",
            named("crossplane-system"),
        ),
        (
            "kubectl get secret db -n postgres -o json | jq '.metadata.namespace = \"apps\"' | kubectl apply -f -",
            named("apps"),
        ),
        (
            "kubectl get secret db -n postgres -o json | jq 'del(.metadata.namespace)' | kubectl apply -f -",
            Ns::Own,
        ),
        (
            "kubectl get secret db -n postgres -o yaml | sed '/namespace:/d' | kubectl apply -f -",
            Ns::Own,
        ),
        (
            "kubectl get secret db -n postgres -o yaml | sed \"s/namespace: .*/namespace: $TO/\" | kubectl apply -f -",
            Ns::Unknown("$TO".into()),
        ),
        (
            "kubectl get secret db -n postgres -o yaml | kubectl apply -f -",
            named("postgres"),
        ),
    ] {
        let s = run(text);
        assert_eq!(s.writes.len(), 1, "{text}: {s:?}");
        assert_eq!(s.writes[0].namespace, target, "{text}");
        assert_eq!(s.writes[0].copied_from, from, "{text}");
    }
}

#[test]
fn the_script_is_found_behind_wrappers_and_long_options() {
    for command in [
        &["/usr/bin/env", "sh", "-c"][..],
        &["/tini", "--", "/bin/sh", "-c"][..],
        &["dumb-init", "--", "sh", "-c"][..],
        &["bash", "--norc", "-c"][..],
        &["bash", "--rcfile", "/etc/rc", "-o", "pipefail", "-ec"][..],
        &["/usr/bin/env", "-i", "PATH=/bin", "bash", "-lc"][..],
    ] {
        assert_eq!(
            script_of(&sv(command), &sv(&["kubectl get x"])),
            "kubectl get x",
            "{command:?}"
        );
    }
    // Without `-c` the shell runs a file: the argv is the script, quoted.
    assert_eq!(
        script_of(&sv(&["bash", "--norc", "/s.sh"]), &[]),
        "bash --norc /s.sh"
    );
}

#[test]
fn hostile_input_stays_bounded() {
    let deep = "sh -c '".repeat(200) + "kubectl create secret generic t -n x";
    let _ = run(&deep);
    let parens = "$(".repeat(10_000);
    let _ = run(&parens);
    let unclosed = "kubectl create secret generic 't -n \"x";
    let _ = run(unclosed);
    let _ = run("cat <<EOF\n");
    let _ = run("\\");
    let _ = run("é'é\"é`é$(é${é");
}

#[test]
fn a_manifest_takes_its_name_from_metadata_never_from_a_value_or_label() {
    // Each body writes Secret `t` in `x`; `CANARY` is a value (or a label) that must never be
    // read as the name, whichever field comes first and however `stringData` is written.
    let bodies = [
        // Not valid JSON (a `$T` where a value goes), stringData before metadata.
        r#"{"apiVersion":"v1","kind":"Secret","stringData":{"name":"CANARY","token":$T},"metadata":{"name":"t","namespace":"x"}}"#,
        r#"{"kind":"Secret","metadata":{"labels":{"name":"CANARY"},"name":"t","namespace":"x"},"stringData":{"token":$T}}"#,
        // YAML: stringData first, with a comment after its key.
        "apiVersion: v1\nkind: Secret\nstringData:  # from the pipeline\n  name: CANARY\n  token: $T\nmetadata:\n  name: t\n  namespace: x\n",
        // YAML: a label called `name` before the name.
        "apiVersion: v1\nkind: Secret\nmetadata:\n  labels:\n    name: CANARY\n  name: t\n  namespace: x\nstringData:\n  token: $T\n",
        // YAML that is not valid YAML (a template expression), stringData first.
        "kind: Secret\nstringData:\n  name: {{ .CANARY }}\n  token: {{ .T }}\nmetadata:\n  name: t\n  namespace: x\n",
    ];
    for body in bodies {
        let s = run(&format!("kubectl apply -f - <<EOF\n{body}\nEOF"));
        assert_eq!(s.writes.len(), 1, "{body}: {s:?}");
        let w = &s.writes[0];
        assert_eq!(w.name.as_deref(), Some("t"), "{body}");
        assert_eq!(w.namespace, named("x"), "{body}");
        assert!(w.keys.contains(&"token".to_owned()), "{body}: {:?}", w.keys);
        assert!(!format!("{s:?}").contains("CANARY"), "{body}: {s:?}");
    }
}

#[test]
fn a_block_value_under_string_data_is_no_key() {
    let s = run(
        "kubectl apply -f - <<EOF\nkind: Secret\nmetadata:\n  name: t\n  namespace: x\nstringData:\n  config.yaml: |\n    name: other\n    password: CANARY\n  token: abc\nEOF",
    );
    assert_eq!(s.writes[0].keys, ["config.yaml", "token"]);
    assert_eq!(s.writes[0].name.as_deref(), Some("t"));
}
