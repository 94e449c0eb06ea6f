#!/usr/bin/env python3
"""Fills a test cluster for tests/bench/readiness.sh: ExternalSecrets, PushSecrets and Secrets
spread over namespaces, POSTed straight to kube-apiserver over keep-alive HTTPS connections from
several processes (kubectl would pay a process and a discovery per file; this is ~10x faster).
What is created looks like a running cluster's: every ExternalSecret's target Secret exists,
owned by it (real uid) and labelled as ESO labels it; a PushSecret per few ExternalSecrets
publishes one of them; the rest of the Secrets are Opaque application Secrets, TLS Secrets and
Helm release Secrets. Values are random bytes of realistic sizes (never printed).

    populate.py --api https://127.0.0.1:PORT --ca ca.crt --token-file F \
        [--secrets 100000] [--externalsecrets 20000] [--pushsecrets 5000] [--namespaces 100] [--procs 4] [--conns 4]

An object that already exists (409) counts as created, so a re-run completes a partial fill.
Prints one line per phase with the count and rate; exits non-zero on any other API error.
"""
import argparse, base64, http.client, json, os, ssl, sys, threading, time
from multiprocessing import Pool
from urllib.parse import urlparse

ARGS = None


def b64(n):
    return base64.b64encode(os.urandom(n)).decode()


def conn():
    u = urlparse(ARGS.api)
    ctx = ssl.create_default_context(cafile=ARGS.ca)
    return http.client.HTTPSConnection(u.hostname, u.port, context=ctx, timeout=60)


def post_all(jobs):
    """jobs: [(path, body, key)]; returns {key: uid}. Runs ARGS.conns threads, one connection each."""
    token = open(ARGS.token_file).read().strip()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    out, errors, lock = {}, [], threading.Lock()

    def worker(part):
        c = conn()
        for path, body, key in part:
            for attempt in range(5):
                try:
                    c.request("POST", path, body=json.dumps(body), headers=headers)
                    r = c.getresponse()
                    data = r.read()
                    break
                except (http.client.HTTPException, OSError):
                    c.close()
                    c = conn()
                    time.sleep(0.2 * (attempt + 1))
            else:
                with lock:
                    errors.append(f"POST {path}: connection failed 5 times")
                return
            if r.status == 201:
                uid = json.loads(data)["metadata"]["uid"]
            elif r.status == 409:
                uid = None
            elif r.status == 429:
                time.sleep(0.5)
                part.append((path, body, key))
                continue
            else:
                with lock:
                    errors.append(f"POST {path}: HTTP {r.status} {data[:300]!r}")
                return
            if key is not None:
                with lock:
                    out[key] = uid

    parts = [jobs[i :: ARGS.conns] for i in range(ARGS.conns)]
    threads = [threading.Thread(target=worker, args=(p,)) for p in parts]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError("; ".join(errors[:3]))
    return out


def chunks(items, n):
    return [items[i::n] for i in range(n)]


def run(phase, jobs):
    t0 = time.time()
    with Pool(ARGS.procs, initializer=init, initargs=(ARGS,)) as pool:
        results = pool.map(post_all, chunks(jobs, ARGS.procs))
    merged = {}
    for r in results:
        merged.update(r)
    dt = time.time() - t0
    print(f"populate.py: {phase}: {len(jobs)} objects in {dt:.1f}s ({len(jobs) / max(dt, 1e-9):.0f}/s)", flush=True)
    return merged


def init(args):
    global ARGS
    ARGS = args


def get_uid(path):
    token = open(ARGS.token_file).read().strip()
    c = conn()
    c.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    r = c.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit(f"populate.py: GET {path}: HTTP {r.status} {data[:300]!r}")
    return json.loads(data)["metadata"]["uid"]


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--api", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--token-file", required=True)
    p.add_argument("--secrets", type=int, default=100_000)
    p.add_argument("--externalsecrets", type=int, default=20_000)
    p.add_argument("--pushsecrets", type=int, default=5_000)
    p.add_argument("--namespaces", type=int, default=100)
    p.add_argument("--procs", type=int, default=4)
    p.add_argument("--conns", type=int, default=4)
    ARGS = p.parse_args()
    if ARGS.externalsecrets > ARGS.secrets:
        sys.exit("populate.py: every ExternalSecret's target is one of the Secrets: --externalsecrets must be <= --secrets")
    nss = [f"bench-{i:03d}" for i in range(ARGS.namespaces)]
    ns_of = lambda i: nss[i % len(nss)]

    run("namespaces", [("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}, None) for n in nss])
    store = {"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore", "metadata": {"name": "vault-backend"},
             "spec": {"provider": {"vault": {"server": "https://vault.vault.svc:8200", "path": "secret", "version": "v2",
                                             "auth": {"kubernetes": {"mountPath": "kubernetes", "role": "external-secrets"}}}}}}
    run("clustersecretstore", [("/apis/external-secrets.io/v1/clustersecretstores", store, None)])

    es_jobs = []
    for i in range(ARGS.externalsecrets):
        ns, name = ns_of(i), f"app-{i:06d}"
        es_jobs.append((f"/apis/external-secrets.io/v1/namespaces/{ns}/externalsecrets", {
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret", "metadata": {"name": name, "namespace": ns},
            "spec": {"refreshInterval": "1h", "secretStoreRef": {"kind": "ClusterSecretStore", "name": "vault-backend"},
                     "target": {"name": name, "creationPolicy": "Owner"},
                     "data": [{"secretKey": k, "remoteRef": {"key": f"{ns}/{name}", "property": k}} for k in ("username", "password")]},
        }, (ns, name)))
    uids = run("externalsecrets", es_jobs)

    push_jobs = []
    for i in range(ARGS.pushsecrets):
        j = (i * max(1, ARGS.externalsecrets // max(1, ARGS.pushsecrets))) % max(1, ARGS.externalsecrets)
        ns, source = ns_of(j), f"app-{j:06d}"
        push_jobs.append((f"/apis/external-secrets.io/v1alpha1/namespaces/{ns}/pushsecrets", {
            "apiVersion": "external-secrets.io/v1alpha1", "kind": "PushSecret", "metadata": {"name": f"push-{i:06d}", "namespace": ns},
            "spec": {"refreshInterval": "1h", "secretStoreRefs": [{"kind": "ClusterSecretStore", "name": "vault-backend"}],
                     "selector": {"secret": {"name": source}},
                     "data": [{"match": {"secretKey": "password", "remoteRef": {"remoteKey": f"published/{ns}/{source}", "property": "password"}}}]},
        }, None))
    run("pushsecrets", push_jobs)

    secret_jobs = []
    for i in range(ARGS.secrets):
        ns = ns_of(i)
        if i < ARGS.externalsecrets:
            name = f"app-{i:06d}"
            uid = uids.get((ns, name)) or get_uid(f"/apis/external-secrets.io/v1/namespaces/{ns}/externalsecrets/{name}")
            body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": name, "namespace": ns,
                                 "labels": {"reconcile.external-secrets.io/managed": "true",
                                            "reconcile.external-secrets.io/created-by": "a" * 40},
                                 "annotations": {"reconcile.external-secrets.io/data-hash": "0123456789abcdef" * 2},
                                 "ownerReferences": [{"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                                                      "name": name, "uid": uid, "controller": True, "blockOwnerDeletion": True}]},
                    "data": {"username": b64(12), "password": b64(32)}}
        elif i % 5 == 0:
            name = f"tls-{i:06d}"
            body = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
                    "metadata": {"name": name, "namespace": ns, "annotations": {"cert-manager.io/issuer-name": "ca", "cert-manager.io/common-name": f"{name}.{ns}.svc"}},
                    "data": {"tls.crt": b64(1400), "tls.key": b64(1200), "ca.crt": b64(700)}}
        elif i % 5 == 1:
            name = f"sh.helm.release.v1.rel-{i:06d}.v1"
            body = {"apiVersion": "v1", "kind": "Secret", "type": "helm.sh/release.v1",
                    "metadata": {"name": name, "namespace": ns, "labels": {"owner": "helm", "name": f"rel-{i:06d}", "status": "deployed", "version": "1"}},
                    "data": {"release": b64(1500)}}
        else:
            name = f"cfg-{i:06d}"
            body = {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                    "metadata": {"name": name, "namespace": ns, "labels": {"app.kubernetes.io/name": f"app-{i % 500}"}},
                    "data": {"config": b64(200), "token": b64(24)}}
        secret_jobs.append((f"/api/v1/namespaces/{ns}/secrets", body, None))
    run("secrets", secret_jobs)


if __name__ == "__main__":
    main()
