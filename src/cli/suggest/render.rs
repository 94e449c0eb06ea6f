//! [`Found`] written as a policy file: only the fields the input gives evidence for, each entry
//! under a comment that says where it was seen; every other field keeps the built-in default.
//! Values are written as double-quoted scalars, so any name round-trips through the parser.

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt::Write,
};

use super::detect::{Found, Role, Seen};

/// Each user name and where it was seen.
type Users = BTreeMap<String, BTreeSet<Seen>>;

/// At most this many sightings are quoted per entry; the rest are counted.
const MAX_SEEN: usize = 3;

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn why(out: &mut String, indent: usize, seen: &BTreeSet<Seen>) {
    let pad = " ".repeat(indent);
    for s in seen.iter().take(MAX_SEEN) {
        let _ = writeln!(out, "{pad}# {} ({})", s.what, s.at);
    }
    if seen.len() > MAX_SEEN {
        let _ = writeln!(out, "{pad}# ... and {} more", seen.len() - MAX_SEEN);
    }
}

fn users_of(found: &Found, pick: impl Fn(Role) -> bool) -> BTreeMap<String, BTreeSet<Seen>> {
    let mut users: BTreeMap<String, BTreeSet<Seen>> = BTreeMap::new();
    for ((role, user), seen) in &found.identities {
        if pick(*role) {
            users
                .entry(user.clone())
                .or_default()
                .extend(seen.iter().cloned());
        }
    }
    users
}

fn user_list(out: &mut String, key: &str, users: &BTreeMap<String, BTreeSet<Seen>>) {
    if users.is_empty() {
        let _ = writeln!(
            out,
            "  # {key}: nothing found; the built-in default applies"
        );
        return;
    }
    let _ = writeln!(out, "  {key}:");
    for (user, seen) in users {
        why(out, 4, seen);
        let _ = writeln!(out, "    - {}", q(user));
    }
}

fn ns_of(user: &str) -> Option<&str> {
    user.strip_prefix("system:serviceaccount:")
        .and_then(|r| r.split_once(':'))
        .map(|(ns, _)| ns)
}

/// The namespaces where bootstrap Secrets may live: Vault's, and those of the platform
/// components (decrypter, ESO, GitOps) that also hold encrypted bootstrap Secrets. An
/// application namespace with SealedSecrets is not suggested: `check` reports what is there.
fn bootstrap_namespaces(found: &Found) -> (BTreeMap<String, BTreeSet<Seen>>, Vec<String>) {
    let mut platform: BTreeMap<String, BTreeSet<Seen>> = BTreeMap::new();
    for ((role, user), seen) in &found.identities {
        let platform_role = matches!(
            role,
            Role::Vault | Role::Decrypter(_) | Role::Eso | Role::Gitops | Role::Helm
        );
        if let (true, Some(ns)) = (platform_role, ns_of(user)) {
            platform
                .entry(ns.to_owned())
                .or_default()
                .extend(seen.iter().cloned());
        }
    }
    let mut chosen = BTreeMap::new();
    let mut left = Vec::new();
    for (ns, seen) in &found.sealed_namespaces {
        if platform.contains_key(ns) {
            let mut all = seen.clone();
            all.extend(platform[ns].iter().cloned());
            chosen.insert(ns.clone(), all);
        } else {
            left.push(ns.clone());
        }
    }
    for ((role, user), seen) in &found.identities {
        if let (Role::Vault, Some(ns)) = (role, ns_of(user)) {
            chosen.entry(ns.to_owned()).or_insert_with(|| seen.clone());
        }
    }
    (chosen, left)
}

fn nested(out: &mut String, key: &str, map: &BTreeMap<String, BTreeMap<String, BTreeSet<Seen>>>) {
    if map.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {key}:");
    for (outer, inner) in map {
        let _ = writeln!(out, "    {}:", q(outer));
        for (value, seen) in inner {
            why(out, 6, seen);
            let _ = writeln!(out, "      - {}", q(value));
        }
    }
}

/// The commented policy for `found`; `inputs` names what was read.
pub fn render(found: &Found, inputs: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# vaultgate policy suggested by `vaultgate policy suggest` from {inputs}.\n\
         # Each entry is preceded by where it was seen. Review every entry, then run\n\
         #   vaultgate check --policy <this file> <your manifests>\n\
         # Fields not written here keep the built-in default (`vaultgate policy default`)."
    );
    if let Some((prefix, seen)) = found.prefix.iter().max_by_key(|(_, s)| s.len()) {
        out.push('\n');
        why(&mut out, 0, seen);
        let _ = writeln!(out, "prefix: {}", q(prefix));
    }

    let (bootstrap, left) = bootstrap_namespaces(found);
    if !bootstrap.is_empty() || !found.aliases.is_empty() {
        out.push_str("\nnamespaces:\n");
        if !bootstrap.is_empty() {
            out.push_str("  bootstrap:\n");
            for (ns, seen) in &bootstrap {
                why(&mut out, 4, seen);
                let _ = writeln!(out, "    - {}", q(ns));
            }
        }
        if !left.is_empty() {
            let _ = writeln!(
                out,
                "  # Not suggested as bootstrap namespaces (encrypted Secrets in application namespaces; `check` reports them): {}",
                left.join(", ")
            );
        }
        nested(&mut out, "aliases", &found.aliases);
    }

    let mut ids = String::new();
    user_list(&mut ids, "eso", &users_of(found, |r| r == Role::Eso));
    identities_decrypters(&mut ids, found);
    user_list(
        &mut ids,
        "gitops",
        &users_of(found, |r| matches!(r, Role::Gitops | Role::Helm)),
    );
    user_list(&mut ids, "helm", &users_of(found, |r| r == Role::Helm));
    user_list(
        &mut ids,
        "handover",
        &users_of(found, |r| r == Role::Handover),
    );
    operators(&mut ids, found);
    // A key with only comments under it would parse as null: write the section only when it
    // holds an entry, and keep its comments either way.
    let entries = ids.lines().any(|l| !l.trim_start().starts_with('#'));
    out.push_str(if entries {
        "\nidentities:\n"
    } else {
        "\n# identities:\n"
    });
    out.push_str(&ids);

    stores(&mut out, found);
    vault(&mut out, found);
    out
}

fn identities_decrypters(out: &mut String, found: &Found) {
    let mut by_name: BTreeMap<&str, BTreeMap<String, BTreeSet<Seen>>> = BTreeMap::new();
    for ((role, user), seen) in &found.identities {
        if let Role::Decrypter(name) = role {
            by_name
                .entry(name)
                .or_default()
                .entry(user.clone())
                .or_default()
                .extend(seen.iter().cloned());
        }
    }
    if !found.sops.is_empty() {
        let kc = users_of(found, |r| r == Role::Gitops)
            .into_keys()
            .filter(|u| u.ends_with(":kustomize-controller"))
            .collect::<Vec<_>>();
        let users = if kc.is_empty() {
            vec!["system:serviceaccount:flux-system:kustomize-controller".to_owned()]
        } else {
            kc
        };
        for u in users {
            by_name
                .entry("flux-sops")
                .or_default()
                .entry(u)
                .or_default()
                .extend(found.sops.iter().cloned());
        }
    }
    if by_name.is_empty() {
        out.push_str("  # bootstrapDecrypters: nothing found; the built-in default applies\n");
        return;
    }
    out.push_str("  bootstrapDecrypters:\n");
    for (name, users) in by_name {
        let _ = writeln!(out, "    - name: {}\n      users:", q(name));
        for (user, seen) in users {
            why(out, 8, &seen);
            let _ = writeln!(out, "        - {}", q(&user));
        }
    }
}

fn operators(out: &mut String, found: &Found) {
    let mut by_name: BTreeMap<&str, (&str, bool, Users)> = BTreeMap::new();
    for ((role, user), seen) in &found.identities {
        if let Role::Operator(name, class, own_ns) = role {
            let entry = by_name
                .entry(name)
                .or_insert((class, *own_ns, BTreeMap::new()));
            entry
                .2
                .entry(user.clone())
                .or_default()
                .extend(seen.iter().cloned());
        }
    }
    if by_name.is_empty() {
        out.push_str("  # operators: nothing found; the built-in default applies\n");
        return;
    }
    out.push_str("  operators:\n");
    for (name, (class, own_ns, users)) in by_name {
        let _ = writeln!(out, "    - name: {}\n      class: {}", q(name), q(class));
        let namespaces: BTreeSet<&str> = users.keys().filter_map(|u| ns_of(u)).collect();
        if own_ns {
            let list: Vec<String> = namespaces.iter().map(|n| q(n)).collect();
            let _ = writeln!(
                out,
                "      namespaces: [{}]   # its own namespace only",
                list.join(", ")
            );
        } else {
            out.push_str("      namespaces: []   # any governed namespace; narrow it if you can\n");
        }
        out.push_str("      users:\n");
        for (user, seen) in users {
            why(out, 8, &seen);
            let _ = writeln!(out, "        - {}", q(&user));
        }
    }
}

fn stores(out: &mut String, found: &Found) {
    if found.vault_stores.is_empty() {
        return;
    }
    out.push_str("\nstores:\n  approved:\n");
    let refs = |store: &(String, String)| found.store_refs.get(store).copied().unwrap_or(0);
    let mut ranked: Vec<_> = found.vault_stores.iter().collect();
    ranked.sort_by_key(|(store, _)| std::cmp::Reverse(refs(store)));
    for (store, seen) in ranked {
        let (kind, name) = store;
        let refs = refs(store);
        why(out, 4, seen);
        let _ = writeln!(
            out,
            "    # referenced by {refs} ExternalSecret/PushSecret object(s)\n    - kind: {}\n      name: {}",
            q(kind),
            q(name)
        );
    }
}

fn vault(out: &mut String, found: &Found) {
    if found.extra_push_prefixes.is_empty()
        && found.read_grants.is_empty()
        && found.publishers.is_empty()
    {
        return;
    }
    out.push_str("\nvault:\n");
    if !found.extra_push_prefixes.is_empty() {
        out.push_str("  extraPushPrefixes:\n");
        for (prefix, seen) in &found.extra_push_prefixes {
            why(out, 4, seen);
            let _ = writeln!(out, "    - {}", q(prefix));
        }
    }
    nested(out, "readGrants", &found.read_grants);
    nested(out, "publishers", &found.publishers);
}
