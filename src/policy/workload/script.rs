//! A conservative reading of container scripts for Secret writes (VG502, VG503). It is not a
//! shell: it splits lines (joining `\` continuations), commands (`;`, `&&`, `||`) and pipelines
//! (`|`), splits words with shell quoting, resolves `$VAR` from literal env values and earlier
//! `VAR=value` lines, and recognises these writes:
//!
//! - `kubectl create secret <type> NAME` (not `--dry-run` unless piped into a write);
//! - `kubectl get secret NAME … | … | kubectl apply|create|replace -f -` (a copy);
//! - `kubectl apply|create|replace -f -` fed a heredoc holding `kind: Secret`;
//! - `kubectl patch|replace secret NAME`;
//! - `curl` with a write method or a body to `/api/v1/namespaces/NS/secrets`;
//!
//! and `vault operator init` / `bao operator init`. Anything else (a Secret manifest applied
//! from a file, a script fetched at run time, a client other than kubectl or curl) is not seen:
//! the rules miss it rather than guess. Values are never kept: a write records its namespace,
//! name and key names only.

use std::collections::BTreeMap;

/// One Secret write found in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretWrite {
    /// The namespace written; None means the pod's own (in-cluster kubectl's default).
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// Key names (`--from-literal`, `--from-file`, a heredoc's data keys).
    pub keys: Vec<String>,
    /// The recognised command form, e.g. `kubectl create secret`.
    pub how: &'static str,
    /// The Secret copied, for `get | apply`: (namespace, name).
    pub copied_from: Option<(Option<String>, String)>,
    /// 1-based line of the script.
    pub line: usize,
}

/// What a script does that the rules care about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scan {
    pub writes: Vec<SecretWrite>,
    /// Line of a `vault operator init` / `bao operator init`.
    pub vault_init: Option<usize>,
    /// Vault root or unseal material the script handles by name (a jsonpath
    /// `{.data.root_token}`, a `jq .unseal_keys_b64`, a variable `VAULT_ROOT_TOKEN`): (line, key).
    pub material: Vec<(usize, String)>,
}

/// The script text a container runs: the argument after a shell's `-c`, or the argv itself.
pub fn script_of(command: &[String], args: &[String]) -> String {
    let argv: Vec<&str> = command.iter().chain(args).map(String::as_str).collect();
    let shell = argv.first().is_some_and(|a| {
        matches!(
            a.rsplit('/').next().unwrap_or(a),
            "sh" | "bash" | "ash" | "dash" | "zsh" | "ksh"
        )
    });
    if shell
        && let Some(i) = argv
            .iter()
            .position(|a| a.starts_with('-') && a.contains('c'))
        && let Some(script) = argv.get(i + 1)
    {
        return (*script).to_owned();
    }
    argv.iter()
        .map(|a| {
            if a.contains(char::is_whitespace) {
                format!("'{a}'")
            } else {
                (*a).to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Scans `text`, resolving variables from `env` (literal container env values).
pub fn scan(text: &str, env: &BTreeMap<String, String>) -> Scan {
    let mut vars = env.clone();
    let mut out = Scan::default();
    let lines = logical_lines(text);
    let mut i = 0;
    while i < lines.len() {
        let (line_no, line) = &lines[i];
        i += 1;
        if runs_operator_init(line) {
            out.vault_init.get_or_insert(*line_no);
        }
        for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-')) {
            // A compound name only: bare words such as `root` or `unseal` are everywhere in
            // scripts (`--user root`, `vault operator unseal`).
            let compound = word.contains(['_', '-'])
                || word
                    .as_bytes()
                    .windows(2)
                    .any(|p| p[0].is_ascii_lowercase() && p[1].is_ascii_uppercase());
            if compound
                && crate::policy::vault_material::classify_key(word).is_some()
                && !out.material.iter().any(|(_, w)| w == word)
            {
                out.material.push((*line_no, word.to_owned()));
            }
        }
        let mut heredoc = None;
        if let Some(delim) = heredoc_delimiter(line) {
            let mut body = String::new();
            while i < lines.len() && lines[i].1.trim() != delim {
                body.push_str(&lines[i].1);
                body.push('\n');
                i += 1;
            }
            i += 1;
            heredoc = Some(body);
        }
        for command in split_unquoted(line, &["&&", "||", ";"]) {
            let stages: Vec<Vec<String>> = split_unquoted(&command, &["|"])
                .iter()
                .map(|s| words(s, &vars))
                .collect();
            if let [only] = stages.as_slice()
                && let [assignment] = only.as_slice()
                && let Some((k, v)) = assignment.split_once('=')
                && is_var_name(k)
            {
                vars.insert(k.to_owned(), v.to_owned());
            }
            pipeline(&stages, heredoc.as_deref(), *line_no, &mut out);
        }
    }
    out
}

/// `vault operator init` or `bao operator init` anywhere on the line (also inside `$(...)`).
fn runs_operator_init(line: &str) -> bool {
    let w: Vec<&str> = line
        .split(|c: char| c.is_whitespace() || matches!(c, '(' | '`' | '"' | '\'' | ';' | '|'))
        .filter(|w| !w.is_empty())
        .collect();
    w.windows(3).any(|t| {
        matches!(t[0].rsplit('/').next(), Some("vault" | "bao"))
            && t[1] == "operator"
            && t[2] == "init"
    })
}

fn is_var_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with(|c: char| c.is_ascii_digit())
}

/// Lines with `\` continuations joined, each with its 1-based starting line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    let mut pending: Option<(usize, String)> = None;
    for (n, raw) in text.lines().enumerate() {
        let (start, mut acc) = pending.take().unwrap_or((n + 1, String::new()));
        if let Some(head) = raw.strip_suffix('\\') {
            acc.push_str(head);
            acc.push(' ');
            pending = Some((start, acc));
        } else {
            acc.push_str(raw);
            out.push((start, acc));
        }
    }
    out.extend(pending);
    out
}

/// The delimiter of a `<<EOF`, `<<-EOF`, `<<'EOF'` or `<<"EOF"` on this line.
fn heredoc_delimiter(line: &str) -> Option<String> {
    let at = line.find("<<")?;
    let rest = line[at + 2..].trim_start_matches('-').trim_start();
    let delim: String = rest
        .trim_start_matches(['\'', '"'])
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (!delim.is_empty()).then_some(delim)
}

/// Splits on any of `seps` outside quotes and `$(...)` (a `|` never splits a `||`).
fn split_unquoted(s: &str, seps: &[&str]) -> Vec<String> {
    let (mut out, mut cur) = (Vec::new(), String::new());
    let (mut quote, mut depth) = (None::<char>, 0usize);
    let mut chars = s.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => depth = depth.saturating_sub(1),
            (None, _) if depth == 0 => {
                let rest = &s[i..];
                if let Some(sep) = seps.iter().find(|sep| rest.starts_with(**sep)) {
                    if !(*sep == "|" && rest.starts_with("||")) {
                        out.push(std::mem::take(&mut cur));
                        for _ in 1..sep.len() {
                            chars.next();
                        }
                        continue;
                    }
                    cur.push_str(&rest[..2]);
                    chars.next();
                    continue;
                }
            }
            _ => {}
        }
        cur.push(c);
    }
    out.push(cur);
    out.into_iter().filter(|c| !c.trim().is_empty()).collect()
}

/// Shell words with quotes removed and `$VAR`/`${VAR}` resolved when known (kept otherwise).
fn words(s: &str, vars: &BTreeMap<String, String>) -> Vec<String> {
    let (mut out, mut cur, mut in_word) = (Vec::new(), String::new(), false);
    let (mut quote, mut depth) = (None::<char>, 0usize);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (q, '$') if q != Some('\'') && depth == 0 => {
                in_word = true;
                let braced = chars.peek() == Some(&'{');
                if braced {
                    chars.next();
                }
                let mut name = String::new();
                while let Some(&n) = chars.peek() {
                    if n.is_ascii_alphanumeric() || n == '_' {
                        name.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                if braced && chars.peek() == Some(&'}') {
                    chars.next();
                }
                match vars.get(&name) {
                    Some(v) if !name.is_empty() => cur.push_str(v),
                    _ if name.is_empty() => {
                        cur.push('$');
                        if chars.peek() == Some(&'(') {
                            depth += 1;
                            cur.push('(');
                            chars.next();
                        }
                    }
                    _ => {
                        cur.push('$');
                        cur.push_str(&name);
                    }
                }
            }
            (q, '(') if depth > 0 && q != Some('\'') => {
                depth += 1;
                cur.push(c);
            }
            (q, ')') if depth > 0 && q != Some('\'') => {
                depth -= 1;
                cur.push(c);
            }
            (None, c) if c.is_whitespace() && depth == 0 => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            _ => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(cur);
    }
    out
}

/// A kubectl invocation: its verb and positional words, namespace and flags.
struct Kubectl {
    positional: Vec<String>,
    namespace: Option<String>,
    dry_run: bool,
    stdin: bool,
    keys: Vec<String>,
}

/// The index of the command word: after `VAR=value` assignments and `exec`, `sudo`, `command`,
/// `time`, `nohup` and `env`, if its base name is one of `names`.
fn command_word(words: &[String], names: &[&str]) -> Option<usize> {
    let i = words.iter().position(|w| {
        let assignment = w.split_once('=').is_some_and(|(k, _)| is_var_name(k));
        !assignment
            && !matches!(
                w.as_str(),
                "exec" | "sudo" | "command" | "time" | "nohup" | "env"
            )
    })?;
    let base = words[i].rsplit('/').next().unwrap_or(&words[i]);
    names.contains(&base).then_some(i)
}

fn kubectl(words: &[String]) -> Option<Kubectl> {
    let start = command_word(words, &["kubectl", "oc"])?;
    let mut k = Kubectl {
        positional: Vec::new(),
        namespace: None,
        dry_run: false,
        stdin: false,
        keys: Vec::new(),
    };
    let mut it = words[start + 1..].iter();
    while let Some(w) = it.next() {
        let (flag, inline) = match w.split_once('=') {
            Some((f, v)) if f.starts_with('-') => (f, Some(v.to_owned())),
            _ => (w.as_str(), None),
        };
        let mut value = || inline.clone().or_else(|| it.next().cloned());
        match flag {
            "-n" | "--namespace" => k.namespace = value(),
            f if f.starts_with("-n") && f.len() > 2 && !f.starts_with("--") => {
                k.namespace = Some(f[2..].to_owned())
            }
            "--dry-run" => k.dry_run = inline.as_deref() != Some("none"),
            "-f" | "--filename" => k.stdin |= value().as_deref() == Some("-"),
            "--from-literal" | "--from-file" | "--from-env-file" => {
                if let Some(v) = value() {
                    let key = match v.split_once('=') {
                        Some((key, _)) => key.to_owned(),
                        None if flag == "--from-file" => v.rsplit('/').next().unwrap_or(&v).into(),
                        None => continue,
                    };
                    k.keys.push(key);
                }
            }
            "-o" | "--output" | "-l" | "--selector" | "--type" | "-p" | "--patch" | "--context"
            | "--kubeconfig" | "-c" | "--container" | "--field-manager" | "--cert" | "--key" => {
                let _ = value();
            }
            f if f.starts_with('-') => {}
            _ => k.positional.push(w.clone()),
        }
    }
    Some(k)
}

/// `secret NAME`, `secrets NAME` or `secret/NAME` at `positional[1..]`.
fn secret_target(positional: &[String]) -> Option<Option<String>> {
    let resource = positional.get(1)?;
    if let Some(name) = resource
        .strip_prefix("secret/")
        .or_else(|| resource.strip_prefix("secrets/"))
    {
        return Some(Some(name.to_owned()));
    }
    matches!(resource.as_str(), "secret" | "secrets").then(|| positional.get(2).cloned())
}

/// A heredoc's Secret: (name, namespace, data keys), if it declares `kind: Secret`.
fn heredoc_secret(body: &str) -> Option<(Option<String>, Option<String>, Vec<String>)> {
    let field = |l: &str, f: &str| {
        l.trim()
            .strip_prefix(f)
            .map(|v| v.trim().trim_matches(['"', '\'']).to_owned())
    };
    if !body
        .lines()
        .any(|l| field(l, "kind:").as_deref() == Some("Secret"))
    {
        return None;
    }
    let (mut name, mut namespace, mut keys) = (None, None, Vec::new());
    let mut data_indent = None;
    for l in body.lines() {
        let indent = l.len() - l.trim_start().len();
        if data_indent.is_some_and(|d| indent <= d) {
            data_indent = None;
        }
        if data_indent.is_some_and(|d| indent > d) {
            if let Some((k, _)) = l.trim().split_once(':') {
                keys.push(k.trim().to_owned());
            }
            continue;
        }
        match l.trim() {
            "data:" | "stringData:" => data_indent = Some(indent),
            t if t.starts_with("name:") && name.is_none() => name = field(l, "name:"),
            t if t.starts_with("namespace:") => namespace = field(l, "namespace:"),
            _ => {}
        }
    }
    Some((name, namespace, keys))
}

/// A Secret manifest flowing down a pipeline, or written: (namespace, name, keys, how, copied
/// from).
type Emitted = (
    Option<String>,
    Option<String>,
    Vec<String>,
    &'static str,
    Option<(Option<String>, String)>,
);

fn pipeline(stages: &[Vec<String>], heredoc: Option<&str>, line: usize, out: &mut Scan) {
    let mut emitted: Option<Emitted> = None;
    for w in stages {
        if let Some(url) = curl_secret_write(w) {
            out.writes.push(SecretWrite {
                namespace: Some(url.0),
                name: url.1,
                keys: Vec::new(),
                how: "curl to the Secrets API",
                copied_from: None,
                line,
            });
            continue;
        }
        let Some(k) = kubectl(w) else { continue };
        let verb = k.positional.first().map(String::as_str);
        match verb {
            Some("create") if secret_target(&k.positional).is_some() => {
                // `create secret <type> NAME`: the name follows the type.
                let name = k.positional.get(3).cloned();
                let write = (
                    k.namespace.clone(),
                    name,
                    k.keys.clone(),
                    "kubectl create secret",
                    None,
                );
                if k.dry_run {
                    emitted = Some(write);
                } else {
                    push(out, write, line);
                }
            }
            Some("get") => {
                if let Some(Some(name)) = secret_target(&k.positional) {
                    emitted = Some((
                        None,
                        Some(name.clone()),
                        Vec::new(),
                        "kubectl get secret | kubectl apply",
                        Some((k.namespace.clone(), name)),
                    ));
                }
            }
            Some("apply" | "create" | "replace") if k.stdin || k.positional.len() == 1 => {
                if let Some((ns, name, keys, how, from)) = emitted.take() {
                    // A copy lands where the applying kubectl points; a dry-run create's own
                    // namespace is written into the manifest.
                    let ns = if from.is_some() {
                        k.namespace.clone()
                    } else {
                        ns.or(k.namespace.clone())
                    };
                    push(out, (ns, name, keys, how, from), line);
                } else if let Some((name, ns, keys)) = heredoc.and_then(heredoc_secret) {
                    let ns = ns.or(k.namespace.clone());
                    push(
                        out,
                        (ns, name, keys, "kubectl apply of a Secret manifest", None),
                        line,
                    );
                }
            }
            Some("patch" | "replace") => {
                if let Some(name) = secret_target(&k.positional) {
                    push(
                        out,
                        (
                            k.namespace.clone(),
                            name,
                            Vec::new(),
                            "kubectl patch secret",
                            None,
                        ),
                        line,
                    );
                }
            }
            _ => {}
        }
    }
}

fn push(out: &mut Scan, (namespace, name, keys, how, copied_from): Emitted, line: usize) {
    out.writes.push(SecretWrite {
        namespace,
        name,
        keys,
        how,
        copied_from,
        line,
    });
}

/// `(namespace, name)` of a curl that writes to `/api/v1/namespaces/NS/secrets[/NAME]`.
fn curl_secret_write(words: &[String]) -> Option<(String, Option<String>)> {
    let start = command_word(words, &["curl"])?;
    let args = &words[start + 1..];
    let mut write = false;
    let mut target = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-X" | "--request" => {
                write |= it.next().is_some_and(|m| {
                    matches!(m.to_ascii_uppercase().as_str(), "POST" | "PUT" | "PATCH")
                })
            }
            "-d" | "--data" | "--data-raw" | "--data-binary" | "--json" | "-T"
            | "--upload-file" => {
                write = true;
                it.next();
            }
            a if a.starts_with("-X") && a.len() > 2 => {
                write |= matches!(
                    a[2..].to_ascii_uppercase().as_str(),
                    "POST" | "PUT" | "PATCH"
                )
            }
            a if a.starts_with("--data") || a.starts_with("--json") => write = true,
            a => {
                if let Some(at) = a.find("/api/v1/namespaces/") {
                    let rest = &a[at + "/api/v1/namespaces/".len()..];
                    let mut parts = rest.split(['/', '?']);
                    let ns = parts.next().unwrap_or("").to_owned();
                    if parts.next() == Some("secrets") {
                        target = Some((
                            ns,
                            parts.next().filter(|n| !n.is_empty()).map(str::to_owned),
                        ));
                    }
                }
            }
        }
    }
    target.filter(|_| write)
}

#[cfg(test)]
mod tests;
