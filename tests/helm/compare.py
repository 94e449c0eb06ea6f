"""Compares the rendered Helm chart with the rendered kustomize tree (see chart_matches_kustomize.sh).

Normalization: labels and annotations are not compared (kustomize's and Helm's differ by design),
except cert-manager's inject-ca-from; the label app.kubernetes.io/instance, which the chart adds to
selectors so that two releases never select each other's pods, is dropped from every selector;
caBundle is dropped (cert-manager injects it); whitespace runs in matchConditions' CEL
expressions count as one space. Everything else must be equal.
"""

import copy
import sys

import yaml

out = sys.argv[1]
failures = []


def load(name):
    with open(f"{out}/{name}") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def key(obj):
    return (obj["kind"], obj["metadata"]["name"], obj["metadata"].get("namespace", ""))


def strip_instance(node):
    """Drops app.kubernetes.io/instance from every mapping of labels (selectors, pod labels)."""
    if isinstance(node, dict):
        return {k: strip_instance(v) for k, v in node.items() if k != "app.kubernetes.io/instance"}
    if isinstance(node, list):
        return [strip_instance(v) for v in node]
    return node


def body(obj):
    """The object without metadata labels/annotations/comments, selectors without the instance label."""
    o = copy.deepcopy(obj)
    meta = o.get("metadata", {})
    meta.pop("labels", None)
    meta.pop("annotations", None)
    o = strip_instance(o)
    if o["kind"] == "ConfigMap" and "policy.yaml" in o.get("data", {}):
        o["data"]["policy.yaml"] = yaml.safe_load(o["data"]["policy.yaml"])
    for hook in o.get("webhooks", []):
        hook.get("clientConfig", {}).pop("caBundle", None)
        # CEL ignores whitespace between tokens (the expressions have no space inside a string
        # literal), and kustomize re-folds the `>-` scalar with an extra blank line.
        for cond in hook.get("matchConditions", []):
            cond["expression"] = " ".join(cond["expression"].split())
    if o["kind"] == "Deployment":
        o["spec"]["template"].get("metadata", {}).pop("annotations", None)
    return o


def diff(path, a, b):
    """Lists the paths where a (kustomize) and b (chart) differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                failures.append(f"{path}.{k}: only in the chart: {b[k]!r}")
            elif k not in b:
                failures.append(f"{path}.{k}: only in kustomize: {a[k]!r}")
            else:
                diff(f"{path}.{k}", a[k], b[k])
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff(f"{path}[{i}]", x, y)
    elif a != b:
        failures.append(f"{path}: kustomize {a!r} != chart {b!r}")


def by_key(docs):
    return {key(d): d for d in docs}


# ---------------------------------------------------------------- chart == cert-manager overlay
def compare_install(kust_file, chart_file, label):
    """Every object of the kustomize install equal in the chart (bar the Namespace)."""
    kust = by_key(load(kust_file))
    chart = by_key(load(chart_file))
    # Helm installs into an existing namespace (helm install --create-namespace, or created first
    # with its Pod Security labels, README "Install with Helm"); the chart does not own it.
    expected = {k for k in kust if k[0] != "Namespace"}
    for k in sorted(expected - set(chart)):
        failures.append(f"{label} {k}: rendered by kustomize, missing from the chart")
    for k in sorted(set(chart) - expected):
        failures.append(f"{label} {k}: rendered by the chart, not by kustomize")
    for k in sorted(expected & set(chart)):
        diff(f"{k[0]}/{k[1]}", body(kust[k]), body(chart[k]))
        if k[0].endswith("WebhookConfiguration"):
            want = (kust[k]["metadata"].get("annotations") or {}).get("cert-manager.io/inject-ca-from")
            got = (chart[k]["metadata"].get("annotations") or {}).get("cert-manager.io/inject-ca-from")
            if want != got:
                failures.append(f"{label} {k}: cert-manager.io/inject-ca-from kustomize {want!r} != chart {got!r}")
            # Registered last (README "Install"): kustomize's step-2 label, the chart's hooks.
            step = (kust[k]["metadata"].get("labels") or {}).get("vaultgate.platform.pnats.cloud/install-step")
            if step != "webhooks":
                failures.append(f"{label} {k}: kustomize lacks label vaultgate.platform.pnats.cloud/install-step=webhooks")
            hook = (chart[k]["metadata"].get("annotations") or {}).get("helm.sh/hook")
            if hook != "post-install,post-upgrade":
                failures.append(f"{label} {k}: the chart's helm.sh/hook is {hook!r}, not post-install,post-upgrade")
        elif "vaultgate.platform.pnats.cloud/install-step" in (kust[k]["metadata"].get("labels") or {}):
            failures.append(f"{label} {k}: only webhook configurations belong to install step 2")
    return len(expected & set(chart))


compared = compare_install("kustomize.yaml", "chart.yaml", "cert-manager:")
# The opt-in overlays against the chart values that stand for them (README "Install with Helm").
for name in ("mtls", "hidden-control-planes"):
    compare_install(f"kustomize-{name}.yaml", f"chart-{name}.yaml", f"{name}:")


# ---------------------------------------------------------------- handover == manifests/handover
kh = load("kustomize-handover.yaml")
ch = load("chart-handover.yaml")
for kind in ("ClusterRole", "Role"):
    want = [d["rules"] for d in kh if d["kind"] == kind]
    got = [d["rules"] for d in ch if d["kind"] == kind and d["metadata"]["name"] == "vaultgate-handover"]
    if want != got:
        failures.append(f"handover {kind} rules: kustomize {want!r} != chart {got!r}")
want_ns = sorted(d["metadata"]["namespace"] for d in kh if d["kind"] == "RoleBinding")
got_ns = sorted(d["metadata"]["namespace"] for d in ch if d["kind"] == "RoleBinding" and d["metadata"]["name"] == "vaultgate-handover")
if want_ns != got_ns:
    failures.append(f"handover RoleBinding namespaces: kustomize {want_ns} != chart {got_ns}")
kdep = next(d for d in kh if d["kind"] == "Deployment")
cdep = next(d for d in ch if d["kind"] == "Deployment" and d["metadata"]["name"] == "vaultgate-handover")
kargs = kdep["spec"]["template"]["spec"]["containers"][0]["args"]
cargs = cdep["spec"]["template"]["spec"]["containers"][0]["args"]
missing = [a for a in kargs if a not in cargs]
if missing:
    failures.append(f"handover args of manifests/handover missing from the chart: {missing}")
kenv = {e["name"]: e for e in kdep["spec"]["template"]["spec"]["containers"][0]["env"]}
cenv = {e["name"]: e for e in cdep["spec"]["template"]["spec"]["containers"][0]["env"]}
if kenv != cenv:
    failures.append(f"handover env: kustomize {kenv} != chart {cenv}")

# ---------------------------------------------------------------- another namespace
other = load("chart-other-ns.yaml")
for obj in other:
    for hook in obj.get("webhooks", []):
        exempt = hook["namespaceSelector"]["matchExpressions"][0]["values"]
        if "platform-security" not in exempt or "vaultgate-system" in exempt:
            failures.append(f"{hook['name']} in release namespace platform-security exempts {exempt}")
        svc = hook["clientConfig"]["service"]
        if (svc["name"], svc["namespace"]) != ("other-vaultgate", "platform-security"):
            failures.append(f"{hook['name']} calls {svc}, not other-vaultgate.platform-security")
# The webhook configurations' own name, which serve reads to compare their matchConditions with
# the policy: passed as --webhook-configuration and the only name its RBAC may get.
for obj in other:
    if obj["kind"] == "Deployment" and obj["metadata"]["name"] == "other-vaultgate":
        args = obj["spec"]["template"]["spec"]["containers"][0]["args"]
        if "--webhook-configuration=other-vaultgate" not in args:
            failures.append(f"the release other does not pass --webhook-configuration=other-vaultgate: {args}")
    if obj["kind"] == "ClusterRole" and obj["metadata"]["name"] == "other-vaultgate-webhook":
        names = [r.get("resourceNames") for r in obj["rules"] if r["apiGroups"] == ["admissionregistration.k8s.io"]]
        if names != [["other-vaultgate"]]:
            failures.append(f"the release other's RBAC on webhook configurations is for {names}, not other-vaultgate")
    if obj["kind"].endswith("WebhookConfiguration") and obj["metadata"]["name"] != "other-vaultgate":
        failures.append(f"{obj['kind']} of the release other is named {obj['metadata']['name']}")
policy = yaml.safe_load(next(o for o in other if o["kind"] == "ConfigMap")["data"]["policy.yaml"])
if policy.get("mode") != "warn":
    failures.append(f"default mode is {policy.get('mode')!r}, expected warn (the warn-first install)")
if "platform-security" not in policy.get("namespaces", {}).get("exempt", []):
    failures.append(f"policy namespaces.exempt lacks the release namespace: {policy}")
if policy.get("identities", {}).get("handover") != ["system:serviceaccount:platform-security:vaultgate"]:
    failures.append(f"policy identities.handover is not the release's ServiceAccount: {policy}")

if failures:
    print("chart and kustomize differ:", file=sys.stderr)
    for f in failures:
        print(f"  {f}", file=sys.stderr)
    sys.exit(1)
print(f"chart == kustomize: {compared} objects equal (webhooks, RBAC, Deployment, Service, PDB, "
      f"policy, cert-manager; mtls and hidden-control-planes too), handover RBAC/args/env equal, other-namespace render checked")
