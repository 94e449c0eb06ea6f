//! A conservative reading of container scripts for Secret writes (VG502, VG503). It is not a
//! shell, but it reads a script the way one does, structurally:
//!
//! - **words** with POSIX quoting (`'…'`, `"…"`, `\`), `\`-newline continuations, comments,
//!   `$(…)`/`` `…` `` (whose commands are read too) and `$VAR`/`${VAR}` resolved from literal
//!   container env values and earlier assignments (`X=v`, `export`, `alias k=kubectl`, a
//!   `for x in a b` list: the body is read once per value);
//! - **commands** split on every control operator (`;`, `&`, `&&`, `||`, `|`, `|&`, `(`, `)`,
//!   newlines, `;;`), with the reserved words of compound commands (`if`/`then`/`elif`/`else`/
//!   `fi`, `for`/`while`/`until`/`do`/`done`, `case`/`esac`, `{`/`}`, `!`) stripped, so a write
//!   inside a loop, a conditional, a subshell or a group is the same write;
//! - **redirections**: heredocs (`<<EOF`, `<<-EOF`, `<<'EOF'`), here-strings, `> file`;
//! - **prefix commands** stripped before the command word: `exec`, `command`, `builtin`,
//!   `nohup`, `time`, `setsid`, `env [-i] [-u X] [X=1]`, `sudo`/`doas`, `timeout [opts] DUR`,
//!   `nice`, `ionice`, `stdbuf`, `tini`/`dumb-init`/`catatonit [--]`, `k3s`/`microk8s`, and
//!   `xargs` (its `-I` placeholder filled from a literal `echo`/`printf` feeding it);
//! - **nested scripts**: `sh|bash|… -c '…'` (short option clusters only: `--norc` holds no
//!   `c`), a shell fed a heredoc, `su -c`, `eval …`, read recursively (depth-limited).
//!
//! `kubectl` and `oc` are parsed with their global flags that take a value (`--token`,
//! `--server`/`-s`, `--kubeconfig`, `--context`, `--as`, …) wherever they stand, and
//! `-n X`/`--namespace[=]X`/`-nX` anywhere. These writes are recognised:
//!
//! - `kubectl create secret <type> NAME` (a `--dry-run` only when its output is piped into, or
//!   written to a file later given to, `kubectl apply|create|replace -f`);
//! - `kubectl get secret NAME … | … | kubectl apply|create|replace -f -` (a copy: its source,
//!   and its target after a `sed`/`jq`/`yq`/`grep -v` that rewrites or drops the namespace);
//! - `kubectl apply|create|replace -f -` fed a Secret manifest (YAML or JSON) by a heredoc, a
//!   here-string, `echo`/`printf`, `cat FILE` or `< FILE` of a file the script wrote;
//! - `kubectl patch|replace secret NAME`, `oc set data secret/NAME`;
//! - `curl` with a write method or a body to `/api/v1/namespaces/NS/secrets`;
//!
//! and `vault operator init` / `bao operator init`. A namespace the script only knows at run
//! time (`-n "$NS"` from a `valueFrom`, `-n {}` of an unfed `xargs`) is [`Ns::Unknown`]. Anything
//! else (a Secret manifest applied from a file the script did not write, a script fetched at run
//! time or mounted from a ConfigMap, a client other than kubectl, oc or curl, shell functions)
//! is not seen: the rules miss it rather than guess. Values are never kept: a write records its
//! namespace, name and key names only. Why no shell-words crate: `shlex`/`shell-words` split a
//! single command line into words after quote removal; they know no control operators,
//! `$(…)`, heredocs or parameter expansion, which is where every gap of issue #14 was.

use std::collections::BTreeMap;

/// Nesting of `sh -c`, `eval` and `$(…)` read before giving up (hostile input stays linear).
const MAX_DEPTH: usize = 6;
/// Values of a `for` list or lines fed to `xargs` read per command.
const MAX_VALUES: usize = 8;

/// The namespace a write lands in, as far as the script says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ns {
    /// None given: the pod's own (in-cluster kubectl's default).
    Own,
    /// A namespace the script spells out (literally or through a known variable).
    Named(String),
    /// Given, but only known at run time: the expression as written (`$TARGET_NS`).
    Unknown(String),
}

impl Ns {
    /// The namespace, with [`Ns::Own`] resolved to `own`; None when only known at run time.
    pub fn resolve<'a>(&'a self, own: &'a str) -> Option<&'a str> {
        match self {
            Self::Own => Some(own),
            Self::Named(n) => Some(n),
            Self::Unknown(_) => None,
        }
    }

    fn of(w: &W) -> Self {
        if w.known {
            Self::Named(w.s.clone())
        } else {
            Self::Unknown(w.s.clone())
        }
    }
}

/// One Secret write found in a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretWrite {
    pub namespace: Ns,
    pub name: Option<String>,
    /// Key names (`--from-literal`, `--from-file`, a manifest's data keys).
    pub keys: Vec<String>,
    /// The recognised command form, e.g. `kubectl create secret`.
    pub how: &'static str,
    /// The Secret copied, for `get | apply`: (namespace, name).
    pub copied_from: Option<(Ns, String)>,
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

/// The script text a container runs: the argument of a shell's `-c` (behind `env`, `tini --`,
/// `dumb-init --`, `exec`, … and the shell's own options), or the argv itself, shell-quoted.
pub fn script_of(command: &[String], args: &[String]) -> String {
    let argv: Vec<W> = command.iter().chain(args).map(|a| W::lit(a)).collect();
    if let Some((start, None)) = strip_prefixes(&argv)
        && is_shell(&argv[start].s)
        && let Some(script) = dash_c(&argv[start + 1..])
    {
        return script.s.clone();
    }
    argv.iter()
        .map(|a| quote(&a.s))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(a: &str) -> String {
    if !a.is_empty()
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    {
        a.to_owned()
    } else {
        format!("'{}'", a.replace('\'', "'\\''"))
    }
}

/// Scans `text`, resolving variables from `env` (literal container env values).
pub fn scan(text: &str, env: &BTreeMap<String, String>) -> Scan {
    let mut out = Scan::default();
    for (line_no, line) in logical_lines(text) {
        if runs_operator_init(&line) {
            out.vault_init.get_or_insert(line_no);
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
                out.material.push((line_no, word.to_owned()));
            }
        }
    }
    let mut reader = Reader {
        vars: env
            .iter()
            .map(|(k, v)| (k.clone(), vec![v.clone()]))
            .collect(),
        aliases: BTreeMap::new(),
        files: BTreeMap::new(),
        writes: Vec::new(),
    };
    reader.script(text, 0, 0);
    out.writes = reader.writes;
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

// ---------------------------------------------------------------------------------------------
// Lexing: words (raw, quotes kept for expansion later), operators, redirections, heredocs.
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    /// A word as written (quotes kept) and its 1-based line.
    Word(String, usize),
    /// A control operator (`\n` for a newline).
    Op(&'static str, usize),
    /// A redirection operator; its target is the next word.
    Redir(&'static str),
    /// A heredoc: the index of its body.
    Heredoc(usize),
}

/// A heredoc body and whether its delimiter was quoted (no expansion then).
type Body = (String, bool);

const OPS: &[&str] = &[
    "&&", "||", ";;", "|&", "&>>", "&>", "<<<", "<<-", "<<", ">>", ">&", "<&", "<>", ">|", ";",
    "&", "|", "(", ")", "<", ">",
];

fn lex(text: &str) -> (Vec<Tok>, Vec<Body>) {
    let c: Vec<char> = text.chars().collect();
    let (mut toks, mut bodies) = (Vec::new(), Vec::<Body>::new());
    let mut pending: Vec<(usize, String, bool)> = Vec::new();
    let (mut i, mut line) = (0usize, 1usize);
    while i < c.len() {
        match c[i] {
            ' ' | '\t' | '\r' => i += 1,
            '\\' if c.get(i + 1) == Some(&'\n') => {
                i += 2;
                line += 1;
            }
            '\n' => {
                toks.push(Tok::Op("\n", line));
                i += 1;
                line += 1;
                for (idx, delim, strip) in pending.drain(..) {
                    let mut body = String::new();
                    while i < c.len() {
                        let end = c[i..]
                            .iter()
                            .position(|&x| x == '\n')
                            .map_or(c.len(), |p| i + p);
                        let l: String = c[i..end].iter().collect();
                        i = end + 1;
                        line += 1;
                        let cmp = if strip {
                            l.trim_start_matches('\t')
                        } else {
                            &l
                        };
                        if cmp.trim() == delim {
                            break;
                        }
                        body.push_str(&l);
                        body.push('\n');
                    }
                    bodies[idx].0 = body;
                }
            }
            '#' => {
                while i < c.len() && c[i] != '\n' {
                    i += 1;
                }
            }
            ';' | '&' | '|' | '(' | ')' | '<' | '>' => {
                let rest: String = c[i..c.len().min(i + 3)].iter().collect();
                let op = OPS
                    .iter()
                    .find(|o| rest.starts_with(**o))
                    .copied()
                    .unwrap_or(";");
                i += op.chars().count();
                match op {
                    "<<" | "<<-" => {
                        while i < c.len() && matches!(c[i], ' ' | '\t') {
                            i += 1;
                        }
                        let (raw, next) = word_end(&c, i, &mut line);
                        i = next;
                        let quoted = raw.contains(['\'', '"', '\\']);
                        let delim: String = raw
                            .chars()
                            .filter(|c| !matches!(c, '\'' | '"' | '\\'))
                            .collect();
                        bodies.push((String::new(), quoted));
                        toks.push(Tok::Heredoc(bodies.len() - 1));
                        pending.push((bodies.len() - 1, delim, op == "<<-"));
                    }
                    "<<<" | "&>>" | "&>" | ">>" | ">&" | "<&" | "<>" | ">|" | "<" | ">" => {
                        toks.push(Tok::Redir(op))
                    }
                    _ => toks.push(Tok::Op(op, line)),
                }
            }
            _ => {
                let start_line = line;
                let (raw, next) = word_end(&c, i, &mut line);
                i = next.max(i + 1);
                // `2>`, `2>&1`: a file-descriptor number glued to a redirection.
                if raw.chars().all(|d| d.is_ascii_digit()) && matches!(c.get(i), Some('<' | '>')) {
                    continue;
                }
                if !raw.is_empty() {
                    toks.push(Tok::Word(raw, start_line));
                }
            }
        }
    }
    (toks, bodies)
}

/// The raw word starting at `i` (quotes kept) and the index after it.
fn word_end(c: &[char], mut i: usize, line: &mut usize) -> (String, usize) {
    let start = i;
    while i < c.len() {
        match c[i] {
            ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>' => break,
            '\\' => i += 2,
            '\'' => i = close_single(c, i + 1),
            '"' => i = close_double(c, i + 1),
            '`' => i = close_backtick(c, i + 1),
            '$' if c.get(i + 1) == Some(&'(') => i = close_paren(c, i + 2),
            '$' if c.get(i + 1) == Some(&'{') => i = close_brace(c, i + 2),
            _ => i += 1,
        }
    }
    let i = i.min(c.len());
    let raw: String = c[start..i].iter().collect();
    *line += raw.matches('\n').count();
    (raw.replace("\\\n", ""), i)
}

/// Index after the `'` closing a single-quoted string whose content starts at `i`.
fn close_single(c: &[char], i: usize) -> usize {
    c[i.min(c.len())..]
        .iter()
        .position(|&x| x == '\'')
        .map_or(c.len(), |p| i + p + 1)
}

fn close_double(c: &[char], mut i: usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '"' => return i + 1,
            '`' => i = close_backtick(c, i + 1),
            '$' if c.get(i + 1) == Some(&'(') => i = close_paren(c, i + 2),
            '$' if c.get(i + 1) == Some(&'{') => i = close_brace(c, i + 2),
            _ => i += 1,
        }
    }
    c.len()
}

fn close_backtick(c: &[char], mut i: usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '`' => return i + 1,
            _ => i += 1,
        }
    }
    c.len()
}

/// Index after the `)` closing a `$(` whose content starts at `i` (quotes and nesting honoured).
fn close_paren(c: &[char], mut i: usize) -> usize {
    let mut depth = 1usize;
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '\'' => i = close_single(c, i + 1),
            '"' => i = close_double(c, i + 1),
            '`' => i = close_backtick(c, i + 1),
            '(' => {
                depth += 1;
                i += 1;
            }
            ')' => {
                depth -= 1;
                i += 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    c.len()
}

fn close_brace(c: &[char], mut i: usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' => i += 2,
            '\'' => i = close_single(c, i + 1),
            '"' => i = close_double(c, i + 1),
            '}' => return i + 1,
            _ => i += 1,
        }
    }
    c.len()
}

// ---------------------------------------------------------------------------------------------
// Commands and pipelines.
// ---------------------------------------------------------------------------------------------

/// One simple command as written.
#[derive(Debug, Default, Clone)]
struct Cmd {
    words: Vec<String>,
    line: usize,
    heredoc: Option<usize>,
    herestring: Option<String>,
    out_file: Option<String>,
    in_file: Option<String>,
}

fn pipelines(toks: Vec<Tok>) -> Vec<Vec<Cmd>> {
    let (mut out, mut pipe, mut cmd) = (Vec::new(), Vec::new(), Cmd::default());
    let mut it = toks.into_iter().peekable();
    let flush = |cmd: &mut Cmd, pipe: &mut Vec<Cmd>| {
        if !cmd.words.is_empty() || cmd.heredoc.is_some() {
            pipe.push(std::mem::take(cmd));
        }
        *cmd = Cmd::default();
    };
    while let Some(t) = it.next() {
        match t {
            Tok::Word(w, line) => {
                if cmd.words.is_empty() {
                    cmd.line = line;
                }
                cmd.words.push(w);
            }
            Tok::Heredoc(i) => cmd.heredoc = Some(i),
            Tok::Redir(op) => {
                let Some(Tok::Word(target, _)) = it.next_if(|t| matches!(t, Tok::Word(..))) else {
                    continue;
                };
                match op {
                    "<<<" => cmd.herestring = Some(target),
                    "<" => cmd.in_file = Some(target),
                    ">" | ">>" | ">|" | "&>" | "&>>" => cmd.out_file = Some(target),
                    _ => {}
                }
            }
            Tok::Op("|" | "|&", _) => flush(&mut cmd, &mut pipe),
            Tok::Op(..) => {
                flush(&mut cmd, &mut pipe);
                if !pipe.is_empty() {
                    out.push(std::mem::take(&mut pipe));
                }
            }
        }
    }
    flush(&mut cmd, &mut pipe);
    if !pipe.is_empty() {
        out.push(pipe);
    }
    out
}

/// An expanded word: its text, and whether all of it is known before run time.
#[derive(Debug, Clone, PartialEq, Eq)]
struct W {
    s: String,
    known: bool,
}

impl W {
    fn lit(s: &str) -> Self {
        Self {
            s: s.to_owned(),
            known: true,
        }
    }
}

/// Expands `raw`: quote removal, `$VAR`/`${VAR}` from `vars` (kept as written when unknown),
/// `$(…)` and backticks left as written (their text pushed to `subs` to be read as scripts).
fn expand(raw: &str, vars: &BTreeMap<String, Vec<String>>, subs: &mut Vec<String>) -> W {
    let c: Vec<char> = raw.chars().collect();
    let (mut s, mut known, mut dq) = (String::new(), true, false);
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '\'' if !dq => {
                let end = close_single(&c, i + 1);
                s.extend(&c[i + 1..inner_end(&c, i + 1, end, '\'')]);
                i = end;
            }
            '"' => {
                dq = !dq;
                i += 1;
            }
            '\\' => {
                if let Some(&n) = c.get(i + 1) {
                    if dq && !matches!(n, '$' | '`' | '"' | '\\') {
                        s.push('\\');
                    }
                    s.push(n);
                }
                i += 2;
            }
            '`' => {
                let end = close_backtick(&c, i + 1);
                subs.push(c[i + 1..inner_end(&c, i + 1, end, '`')].iter().collect());
                s.extend(&c[i..end]);
                known = false;
                i = end;
            }
            '$' if c.get(i + 1) == Some(&'(') => {
                let end = close_paren(&c, i + 2);
                if c.get(i + 2) != Some(&'(') {
                    subs.push(c[i + 2..inner_end(&c, i + 2, end, ')')].iter().collect());
                }
                s.extend(&c[i..end]);
                known = false;
                i = end;
            }
            '$' if c.get(i + 1) == Some(&'{') => {
                let end = close_brace(&c, i + 2);
                let inner: String = c[i + 2..inner_end(&c, i + 2, end, '}')].iter().collect();
                match vars.get(&inner).and_then(|v| v.first()) {
                    Some(v) if is_var_name(&inner) => s.push_str(v),
                    _ => {
                        s.extend(&c[i..end]);
                        known = false;
                    }
                }
                i = end;
            }
            '$' => {
                let name: String = c[i + 1..]
                    .iter()
                    .take_while(|n| n.is_ascii_alphanumeric() || **n == '_')
                    .collect();
                if name.is_empty() {
                    match c.get(i + 1) {
                        Some('@' | '*' | '#' | '?' | '$' | '!' | '-') => {
                            s.extend(&c[i..i + 2]);
                            known = false;
                            i += 2;
                        }
                        _ => {
                            s.push('$');
                            i += 1;
                        }
                    }
                    continue;
                }
                match vars.get(&name).and_then(|v| v.first()) {
                    Some(v) if is_var_name(&name) => s.push_str(v),
                    _ => {
                        s.push('$');
                        s.push_str(&name);
                        known = false;
                    }
                }
                i += 1 + name.chars().count();
            }
            ch => {
                s.push(ch);
                i += 1;
            }
        }
    }
    W { s, known }
}

/// Where the content of a quoted or bracketed part that starts at `start` and ends (closer
/// included) at `end` stops: before the closer, or at the end of an unclosed one.
fn inner_end(c: &[char], start: usize, end: usize, closer: char) -> usize {
    if end > start && c.get(end - 1) == Some(&closer) {
        end - 1
    } else {
        end.max(start)
    }
}

/// `$NAME`/`${NAME}` references in a raw word (outside single quotes).
fn references(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_single = false;
    let c: Vec<char> = raw.chars().collect();
    for (i, ch) in c.iter().enumerate() {
        match ch {
            '\'' => in_single = !in_single,
            '$' if !in_single => {
                let rest = &c[i + 1..];
                let rest = if rest.first() == Some(&'{') {
                    &rest[1..]
                } else {
                    rest
                };
                let name: String = rest
                    .iter()
                    .take_while(|n| n.is_ascii_alphanumeric() || **n == '_')
                    .collect();
                if is_var_name(&name) {
                    out.push(name);
                }
            }
            _ => {}
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Reading: state across commands, and what each command does.
// ---------------------------------------------------------------------------------------------

/// Where a namespace rewrite in a pipe leaves a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rewrite {
    /// `sed '/namespace:/d'`, `jq 'del(.metadata.namespace)'`, `grep -v namespace`.
    Dropped,
    To(Ns),
}

/// A Secret manifest flowing down a pipeline or kept in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Manifest {
    /// `metadata.namespace` of the manifest, None when absent.
    ns: Option<Ns>,
    name: Option<String>,
    keys: Vec<String>,
    how: &'static str,
    from: Option<(Ns, String)>,
}

impl Manifest {
    fn rewrite(&mut self, r: Rewrite) {
        self.ns = match r {
            Rewrite::Dropped => None,
            Rewrite::To(ns) => Some(ns),
        };
    }
}

/// What flows out of a pipeline stage.
#[derive(Debug, Clone, Default)]
struct Flow {
    manifest: Option<Manifest>,
    /// Literal lines an `echo`/`printf` printed (for `xargs`).
    lines: Option<Vec<String>>,
}

struct Reader {
    vars: BTreeMap<String, Vec<String>>,
    aliases: BTreeMap<String, String>,
    /// Files the script wrote a Secret manifest to (`> f`, `tee f`).
    files: BTreeMap<String, Manifest>,
    writes: Vec<SecretWrite>,
}

/// `xargs`' way of building the command line.
struct Xargs {
    replace: Option<String>,
}

impl Reader {
    /// Reads `text`; its line 1 is line `base + 1` of the container's script.
    fn script(&mut self, text: &str, base: usize, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let (toks, bodies) = lex(text);
        for pipe in pipelines(toks) {
            self.pipeline(&pipe, &bodies, base, depth);
        }
    }

    fn pipeline(&mut self, pipe: &[Cmd], bodies: &[Body], base: usize, depth: usize) {
        // Command substitutions run whatever the command is.
        let mut subs = Vec::new();
        for cmd in pipe {
            for w in &cmd.words {
                expand(w, &self.vars, &mut subs);
            }
        }
        let line = base + pipe.first().map_or(1, |c| c.line.max(1));
        for s in subs {
            self.script(&s, line - 1, depth + 1);
        }
        // A `for` value or a multi-valued variable: the pipeline once per value.
        let multi: Option<(String, Vec<String>)> = pipe
            .iter()
            .flat_map(|c| c.words.iter().flat_map(|w| references(w)))
            .find_map(|n| {
                let v = self.vars.get(&n)?;
                (v.len() > 1).then(|| (n, v.clone()))
            });
        match multi {
            Some((name, values)) => {
                for v in values.iter().take(MAX_VALUES) {
                    self.vars.insert(name.clone(), vec![v.clone()]);
                    self.run(pipe, bodies, base, depth);
                }
                self.vars.insert(name, values);
            }
            None => self.run(pipe, bodies, base, depth),
        }
    }

    fn run(&mut self, pipe: &[Cmd], bodies: &[Body], base: usize, depth: usize) {
        let mut flow = Flow::default();
        // A write is reported at the line its pipeline starts on.
        let line = base + pipe.first().map_or(1, |c| c.line.max(1));
        for cmd in pipe {
            let mut no_subs = Vec::new();
            let mut words: Vec<W> = cmd
                .words
                .iter()
                .map(|w| expand(w, &self.vars, &mut no_subs))
                .collect();
            let raw: Vec<&str> = cmd.words.iter().map(String::as_str).collect();
            let skip = self.reserved(&raw, &words);
            words.drain(..skip.min(words.len()));
            if let Some(first) = words.first()
                && let Some(a) = self.aliases.get(&first.s)
            {
                let mut aliased: Vec<W> = a.split_whitespace().map(W::lit).collect();
                aliased.extend(words.drain(1..));
                words = aliased;
            }
            let stdin = cmd
                .heredoc
                .and_then(|i| bodies.get(i))
                .map(|(b, quoted)| {
                    if *quoted {
                        b.clone()
                    } else {
                        expand_body(b, &self.vars)
                    }
                })
                .or_else(|| {
                    cmd.herestring
                        .as_ref()
                        .map(|h| expand(h, &self.vars, &mut no_subs).s)
                });
            let in_file = cmd
                .in_file
                .as_ref()
                .map(|f| expand(f, &self.vars, &mut no_subs).s);
            let ctx = Stage {
                line,
                stdin: stdin.as_deref(),
                in_file: in_file.as_deref(),
                depth,
            };
            let mut next = Flow::default();
            self.command(&words, &ctx, &flow, &mut next);
            if let Some(f) = &cmd.out_file {
                let f = expand(f, &self.vars, &mut no_subs).s;
                if let Some(m) = next.manifest.take() {
                    self.files.insert(f, m);
                }
                next.lines = None;
            }
            flow = next;
        }
    }

    /// How many leading words are shell syntax rather than a command: reserved words, a `for`
    /// or `case` header (a `for` binds its variable to its list), assignments (applied).
    fn reserved(&mut self, raw: &[&str], words: &[W]) -> usize {
        let mut i = 0;
        while let Some(r) = raw.get(i) {
            match *r {
                "if" | "then" | "else" | "elif" | "do" | "while" | "until" | "!" | "{" | "}"
                | "fi" | "done" | "esac" => i += 1,
                "for" | "select" => {
                    let name = raw.get(i + 1).copied().unwrap_or_default().to_owned();
                    let list: Vec<&W> = match raw.get(i + 2) {
                        Some(&"in") => words[i + 3..].iter().collect(),
                        _ => Vec::new(),
                    };
                    if !list.is_empty() && list.iter().all(|w| w.known) {
                        let values = list
                            .iter()
                            .flat_map(|w| w.s.split_whitespace())
                            .map(str::to_owned)
                            .collect();
                        self.vars.insert(name, values);
                    } else {
                        self.vars.remove(&name);
                    }
                    return raw.len();
                }
                "case" | "function" => return raw.len(),
                _ => break,
            }
        }
        // `X=1 Y=2` alone sets variables; before a command it is that command's environment.
        let assignments = raw[i..]
            .iter()
            .take_while(|w| w.split_once('=').is_some_and(|(k, _)| is_var_name(k)))
            .count();
        if i + assignments == raw.len() {
            for w in &words[i..] {
                self.assign(w);
            }
            return raw.len();
        }
        i
    }

    fn assign(&mut self, w: &W) {
        if let Some((k, v)) = w.s.split_once('=')
            && is_var_name(k)
        {
            if w.known {
                self.vars.insert(k.to_owned(), vec![v.to_owned()]);
            } else {
                self.vars.remove(k);
            }
        }
    }

    /// One command of a pipeline: what it writes, and what it passes on (`next`).
    fn command(&mut self, words: &[W], ctx: &Stage<'_>, flow: &Flow, next: &mut Flow) {
        let Some((start, xargs)) = strip_prefixes(words) else {
            return;
        };
        if let Some(x) = xargs {
            self.xargs(&words[start..], &x, ctx, flow);
            return;
        }
        let words = &words[start..];
        let Some(cmd) = words.first() else { return };
        let base = cmd.s.rsplit('/').next().unwrap_or(&cmd.s);
        let args = &words[1..];
        match base {
            b if is_shell(b) => {
                if let Some(script) = dash_c(args) {
                    self.script(&script.s, ctx.line - 1, ctx.depth + 1);
                } else if let Some(stdin) = ctx.stdin
                    && args.iter().all(|a| a.s.starts_with('-'))
                {
                    self.script(stdin, ctx.line, ctx.depth + 1);
                }
            }
            "su" => {
                let mut it = args.iter();
                while let Some(a) = it.next() {
                    if a.s == "-c" || a.s == "--command" {
                        if let Some(s) = it.next() {
                            self.script(&s.s, ctx.line - 1, ctx.depth + 1);
                        }
                        break;
                    }
                }
            }
            "eval" => {
                let text = args
                    .iter()
                    .map(|a| a.s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                self.script(&text, ctx.line - 1, ctx.depth + 1);
            }
            "export" | "local" | "declare" | "typeset" | "readonly" => {
                for a in args.iter().filter(|a| !a.s.starts_with('-')) {
                    self.assign(a);
                }
            }
            "alias" => {
                for a in args {
                    if let Some((k, v)) = a.s.split_once('=') {
                        self.aliases.insert(k.to_owned(), v.to_owned());
                    }
                }
            }
            "unset" | "read" => {
                for a in args.iter().filter(|a| !a.s.starts_with('-')) {
                    self.vars.remove(&a.s);
                }
            }
            "kubectl" | "oc" => self.kubectl(args, ctx, flow, next),
            "curl" => {
                if let Some((ns, name)) = curl_secret_write(args) {
                    self.push(
                        Manifest {
                            ns: Some(ns),
                            name,
                            keys: Vec::new(),
                            how: "curl to the Secrets API",
                            from: None,
                        },
                        ctx.line,
                    );
                }
            }
            "echo" | "printf" => {
                let args: Vec<&W> = args.iter().skip_while(|a| a.s.starts_with('-')).collect();
                let text = args
                    .iter()
                    .map(|a| a.s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ");
                next.manifest = manifest_of(&text);
                if args.iter().all(|a| a.known) {
                    next.lines = Some(if base == "printf" {
                        args.iter().skip(1).map(|a| a.s.clone()).collect()
                    } else {
                        vec![text]
                    });
                }
            }
            "cat" => {
                let files: Vec<&W> = args.iter().filter(|a| !a.s.starts_with('-')).collect();
                next.manifest = match files.as_slice() {
                    [] => ctx
                        .stdin
                        .and_then(manifest_of)
                        .or_else(|| ctx.in_file.and_then(|f| self.files.get(f).cloned()))
                        .or_else(|| flow.manifest.clone()),
                    [f] => self.files.get(&f.s).cloned(),
                    _ => None,
                };
            }
            other => {
                // A filter: the manifest flows through, its namespace as the filter leaves it.
                next.manifest = flow.manifest.clone();
                if let Some(m) = &mut next.manifest
                    && let Some(r) = ns_rewrite(other, args)
                {
                    m.rewrite(r);
                }
                if other == "tee"
                    && let Some(m) = &next.manifest
                {
                    for f in args.iter().filter(|a| !a.s.starts_with('-')) {
                        self.files.insert(f.s.clone(), m.clone());
                    }
                }
            }
        }
    }

    fn xargs(&mut self, words: &[W], x: &Xargs, ctx: &Stage<'_>, flow: &Flow) {
        let lines = flow.lines.clone();
        let runs: Vec<Vec<W>> = match (&x.replace, lines) {
            (Some(r), Some(lines)) => lines
                .iter()
                .take(MAX_VALUES)
                .map(|l| {
                    words
                        .iter()
                        .map(|w| W {
                            s: w.s.replace(r.as_str(), l),
                            known: w.known,
                        })
                        .collect()
                })
                .collect(),
            (Some(r), None) => vec![
                words
                    .iter()
                    .map(|w| {
                        if w.s.contains(r.as_str()) {
                            W {
                                s: w.s.replace(r.as_str(), "<xargs input>"),
                                known: false,
                            }
                        } else {
                            w.clone()
                        }
                    })
                    .collect(),
            ],
            (None, lines) => {
                let mut v = words.to_vec();
                match lines {
                    Some(lines) => v.extend(
                        lines
                            .iter()
                            .flat_map(|l| l.split_whitespace())
                            .take(64)
                            .map(W::lit),
                    ),
                    None => v.push(W {
                        s: "<xargs input>".into(),
                        known: false,
                    }),
                }
                vec![v]
            }
        };
        for run in runs {
            let mut sink = Flow::default();
            self.command(&run, ctx, &Flow::default(), &mut sink);
        }
    }

    fn kubectl(&mut self, args: &[W], ctx: &Stage<'_>, flow: &Flow, next: &mut Flow) {
        let k = Kubectl::parse(args);
        let verb = k.positional.first().map(|w| w.s.as_str());
        let ns = k.namespace.as_ref().map(Ns::of);
        match verb {
            Some("create") if secret_target(&k.positional).is_some() => {
                // `create secret <type> NAME`: the name follows the type.
                let m = Manifest {
                    ns: ns.clone(),
                    name: k.positional.get(3).map(|w| w.s.clone()),
                    keys: k.keys.clone(),
                    how: "kubectl create secret",
                    from: None,
                };
                if k.dry_run {
                    next.manifest = Some(m);
                } else {
                    self.push(m, ctx.line);
                }
            }
            Some("get") => {
                if let Some(Some(name)) = secret_target(&k.positional) {
                    let src = if k.all_namespaces {
                        Ns::Unknown("--all-namespaces".into())
                    } else {
                        ns.clone().unwrap_or(Ns::Own)
                    };
                    next.manifest = Some(Manifest {
                        ns: Some(src.clone()),
                        name: Some(name.clone()),
                        keys: Vec::new(),
                        how: "kubectl get secret | kubectl apply",
                        from: Some((src, name)),
                    });
                }
            }
            Some("apply" | "create" | "replace") if k.dry_run => {}
            Some("apply" | "create" | "replace")
                if k.stdin || !k.files.is_empty() || k.positional.len() == 1 =>
            {
                let mut found: Vec<Manifest> = Vec::new();
                if k.stdin || k.files.is_empty() {
                    let piped = flow.manifest.clone().or_else(|| {
                        ctx.stdin
                            .and_then(manifest_of)
                            .or_else(|| ctx.in_file.and_then(|f| self.files.get(f).cloned()))
                    });
                    found.extend(piped);
                }
                for f in &k.files {
                    if let Some(m) = self.files.get(&f.s) {
                        found.push(Manifest {
                            how: "kubectl apply -f of a Secret manifest the script wrote",
                            ..m.clone()
                        });
                    }
                }
                for mut m in found {
                    // The applying kubectl's namespace, else the manifest's, else its own.
                    if ns.is_some() {
                        m.ns = ns.clone();
                    }
                    self.push(m, ctx.line);
                }
            }
            Some("patch" | "replace" | "edit") => {
                if let Some(name) = secret_target(&k.positional) {
                    self.push(
                        Manifest {
                            ns,
                            name,
                            keys: Vec::new(),
                            how: "kubectl patch secret",
                            from: None,
                        },
                        ctx.line,
                    );
                }
            }
            Some("set") if k.positional.get(1).is_some_and(|w| w.s == "data") => {
                if let Some(Some(name)) = secret_target(&k.positional[1..]) {
                    self.push(
                        Manifest {
                            ns,
                            name: Some(name),
                            keys: k.keys.clone(),
                            how: "oc set data secret",
                            from: None,
                        },
                        ctx.line,
                    );
                }
            }
            // `kubectl label --local -f - -o yaml` and the like: the manifest flows on.
            _ => next.manifest = flow.manifest.clone(),
        }
    }

    fn push(&mut self, m: Manifest, line: usize) {
        let w = SecretWrite {
            namespace: m.ns.unwrap_or(Ns::Own),
            name: m.name,
            keys: m.keys,
            how: m.how,
            copied_from: m.from,
            line,
        };
        if !self.writes.contains(&w) {
            self.writes.push(w);
        }
    }
}

/// Where a command stands in its script.
struct Stage<'a> {
    line: usize,
    /// A heredoc or here-string fed to it.
    stdin: Option<&'a str>,
    /// `< file`.
    in_file: Option<&'a str>,
    depth: usize,
}

/// An unquoted heredoc body with known `$VAR`/`${VAR}` substituted.
fn expand_body(body: &str, vars: &BTreeMap<String, Vec<String>>) -> String {
    let mut out = String::new();
    let mut rest = body;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (braced, tail) = match after.strip_prefix('{') {
            Some(t) => (true, t),
            None => (false, after),
        };
        let name: String = tail
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        let closes = !braced || tail[name.len()..].starts_with('}');
        match vars.get(&name).and_then(|v| v.first()) {
            Some(v) if is_var_name(&name) && closes => {
                out.push_str(v);
                rest = &tail[name.len() + usize::from(braced)..];
            }
            _ => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_shell(word: &str) -> bool {
    matches!(
        word.rsplit('/').next().unwrap_or(word),
        "sh" | "bash" | "ash" | "dash" | "zsh" | "ksh" | "mksh"
    )
}

/// The command string of a shell's argv (after the shell): the first operand when a short
/// option cluster holds `c` (`-c`, `-ec`, `-xc`); long options (`--norc`, `--login`) are not
/// clusters, and `-o opt`, `--rcfile f`, `--init-file f` take a value.
fn dash_c(args: &[W]) -> Option<&W> {
    let mut has_c = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let s = a.s.as_str();
        if s == "--" {
            return it.next().filter(|_| has_c);
        }
        if s == "--rcfile" || s == "--init-file" {
            it.next();
        } else if (s.starts_with('-') || s.starts_with('+')) && s.len() > 1 && !s.starts_with("--")
        {
            has_c |= s[1..].contains('c');
            if s[1..].contains('o') || s[1..].contains('O') {
                it.next();
            }
        } else if !s.starts_with("--") {
            return has_c.then_some(a);
        }
    }
    None
}

/// The index of the command word after prefix commands and assignments, and the `xargs` that
/// builds its command line when there is one; None for `command -v` (a lookup, not a run).
fn strip_prefixes(words: &[W]) -> Option<(usize, Option<Xargs>)> {
    let mut i = 0;
    loop {
        let w = words.get(i)?;
        if w.s.split_once('=').is_some_and(|(k, _)| is_var_name(k)) {
            i += 1;
            continue;
        }
        let base = w.s.rsplit('/').next().unwrap_or(&w.s);
        let flag = |j: usize| words.get(j).is_some_and(|a| a.s.starts_with('-'));
        // (options that take a value, long options that take one without `=`)
        let takes: &[&str] = match base {
            "command" if words.get(i + 1).is_some_and(|a| a.s == "-v" || a.s == "-V") => {
                return None;
            }
            "exec" => &["-a"],
            "command" | "builtin" | "nohup" | "time" | "setsid" | "tini" | "dumb-init"
            | "catatonit" | "busybox" => &[],
            "env" => &["-u", "--unset", "-C", "--chdir"],
            "sudo" | "doas" => &["-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "-T"],
            "nice" => &["-n", "--adjustment"],
            "ionice" => &["-c", "-n", "-p"],
            "stdbuf" => &["-i", "-o", "-e"],
            "timeout" => &["-s", "--signal", "-k", "--kill-after"],
            "k3s" | "microk8s" if words.get(i + 1).is_some_and(|a| a.s == "kubectl") => {
                i += 1;
                continue;
            }
            "xargs" => {
                let mut replace = None;
                i += 1;
                while flag(i) {
                    let a = words[i].s.as_str();
                    i += 1;
                    if a == "--" {
                        break;
                    } else if a == "-I" || a == "--replace" {
                        replace = words.get(i).map(|r| r.s.clone());
                        i += 1;
                    } else if let Some(r) = a.strip_prefix("--replace=").or(a.strip_prefix("-I")) {
                        replace = Some(r.to_owned());
                    } else if let Some(r) = a.strip_prefix("-i") {
                        replace = Some(if r.is_empty() { "{}" } else { r }.to_owned());
                    } else if matches!(a, "-n" | "-L" | "-P" | "-d" | "-E" | "-s" | "-a") {
                        i += 1;
                    }
                }
                words.get(i)?;
                return Some((i, Some(Xargs { replace })));
            }
            _ => return Some((i, None)),
        };
        i += 1;
        while flag(i) {
            let a = words[i].s.as_str();
            i += 1;
            if a == "--" {
                break;
            }
            if takes.contains(&a) {
                i += 1;
            }
        }
        while words
            .get(i)
            .is_some_and(|a| a.s.split_once('=').is_some_and(|(k, _)| is_var_name(k)))
        {
            i += 1;
        }
        if base == "timeout" {
            i += 1; // the duration
        }
    }
}

/// kubectl's (and oc's) options that take a value as the next word: the global ones, and those
/// of the verbs that write or read Secrets. Any other option is read as a flag.
const KUBECTL_VALUED: &[&str] = &[
    "-n",
    "--namespace",
    "-s",
    "--server",
    "--token",
    "--kubeconfig",
    "--context",
    "--cluster",
    "--user",
    "--as",
    "--as-group",
    "--as-uid",
    "--certificate-authority",
    "--client-certificate",
    "--client-key",
    "--tls-server-name",
    "--request-timeout",
    "--cache-dir",
    "--password",
    "--username",
    "--profile",
    "--profile-output",
    "-v",
    "--v",
    "--vmodule",
    "--log-dir",
    "--log-file",
    "--log-file-max-size",
    "--log-flush-frequency",
    "--stderrthreshold",
    "--loglevel",
    "--config",
    "-o",
    "--output",
    "-l",
    "--selector",
    "--field-selector",
    "-f",
    "--filename",
    "-k",
    "--kustomize",
    "-p",
    "--patch",
    "--patch-file",
    "--type",
    "--field-manager",
    "--cert",
    "--key",
    "-c",
    "--container",
    "--template",
    "--from-literal",
    "--from-file",
    "--from-env-file",
    "--docker-server",
    "--docker-username",
    "--docker-password",
    "--docker-email",
    "--sort-by",
    "--subresource",
    "--timeout",
];

/// A kubectl invocation: its verb and positional words, namespace and flags.
struct Kubectl {
    positional: Vec<W>,
    namespace: Option<W>,
    all_namespaces: bool,
    dry_run: bool,
    stdin: bool,
    files: Vec<W>,
    keys: Vec<String>,
}

impl Kubectl {
    fn parse(args: &[W]) -> Self {
        let mut k = Self {
            positional: Vec::new(),
            namespace: None,
            all_namespaces: false,
            dry_run: false,
            stdin: false,
            files: Vec::new(),
            keys: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(w) = it.next() {
            let (flag, inline) = match w.s.split_once('=') {
                Some((f, v)) if f.starts_with('-') => (
                    f,
                    Some(W {
                        s: v.to_owned(),
                        known: w.known,
                    }),
                ),
                _ => (w.s.as_str(), None),
            };
            if !flag.starts_with('-') || flag == "-" {
                k.positional.push(w.clone());
                continue;
            }
            if flag == "--" {
                k.positional.extend(it.by_ref().cloned());
                break;
            }
            let value = match inline {
                Some(v) => Some(v),
                None if KUBECTL_VALUED.contains(&flag) => it.next().cloned(),
                None => None,
            };
            match flag {
                "-n" | "--namespace" => k.namespace = value,
                f if f.starts_with("-n") && !f.starts_with("--") => {
                    k.namespace = Some(W {
                        s: w.s[2..].to_owned(),
                        known: w.known,
                    })
                }
                "-A" | "--all-namespaces" => k.all_namespaces = true,
                "--dry-run" => k.dry_run = value.is_none_or(|v| v.s != "none"),
                "-f" | "--filename" => match value {
                    Some(v) if v.s == "-" || v.s == "/dev/stdin" => k.stdin = true,
                    Some(v) => k.files.push(v),
                    None => {}
                },
                "--from-literal" | "--from-file" | "--from-env-file" => {
                    if let Some(v) = value {
                        let key = match v.s.split_once('=') {
                            Some((key, _)) => key.to_owned(),
                            None if flag == "--from-file" => {
                                v.s.rsplit('/').next().unwrap_or(&v.s).into()
                            }
                            None => continue,
                        };
                        k.keys.push(key);
                    }
                }
                _ => {}
            }
        }
        k
    }
}

/// `secret NAME`, `secrets NAME` or `secret/NAME` at `positional[1..]`.
fn secret_target(positional: &[W]) -> Option<Option<String>> {
    let resource = &positional.get(1)?.s;
    if let Some(name) = resource
        .strip_prefix("secret/")
        .or_else(|| resource.strip_prefix("secrets/"))
    {
        return Some(Some(name.to_owned()));
    }
    matches!(resource.as_str(), "secret" | "secrets")
        .then(|| positional.get(2).map(|w| w.s.clone()))
}

/// What a filter stage does to a manifest's namespace, when it touches it at all.
fn ns_rewrite(cmd: &str, args: &[W]) -> Option<Rewrite> {
    let touched: Vec<&W> = args.iter().filter(|a| a.s.contains("namespace")).collect();
    if touched.is_empty() {
        return None;
    }
    let unknown = || Rewrite::To(Ns::Unknown(format!("rewritten by {cmd}")));
    for a in touched {
        let s = a.s.as_str();
        match cmd {
            "sed" | "gsed" => {
                if let Some(repl) = sed_replacement(s) {
                    return Some(match ns_in(&repl) {
                        Some(ns) if a.known => Rewrite::To(Ns::Named(ns)),
                        Some(ns) => Rewrite::To(Ns::Unknown(ns)),
                        None if repl.trim().is_empty() => Rewrite::Dropped,
                        None => unknown(),
                    });
                }
                if s.trim_end().ends_with('d') {
                    return Some(Rewrite::Dropped);
                }
            }
            "jq" | "yq" | "gojq" => {
                if s.contains("del(") {
                    return Some(Rewrite::Dropped);
                }
                if let Some((_, v)) = s.split_once(".namespace") {
                    let v = v.trim_start_matches([' ', '|', '=']);
                    let v = v.trim_start();
                    if let Some(lit) = v.strip_prefix('"').and_then(|v| v.split_once('"'))
                        && valid_ns(lit.0)
                        && a.known
                    {
                        return Some(Rewrite::To(Ns::Named(lit.0.to_owned())));
                    }
                    return Some(unknown());
                }
            }
            "grep"
                if args
                    .iter()
                    .any(|a| a.s.starts_with('-') && a.s.contains('v')) =>
            {
                return Some(Rewrite::Dropped);
            }
            _ => {}
        }
    }
    Some(unknown())
}

/// The replacement of a sed `s` command whose pattern or replacement mentions a namespace.
fn sed_replacement(expr: &str) -> Option<String> {
    let at = expr.char_indices().find_map(|(i, c)| {
        let next = expr[i + 1..].chars().next()?;
        (c == 's' && !next.is_alphanumeric() && !next.is_whitespace() && next != '\\').then_some(i)
    })?;
    let rest = &expr[at + 1..];
    let delim = rest.chars().next()?;
    let mut parts = rest[delim.len_utf8()..].split(delim);
    let _pattern = parts.next()?;
    let repl = parts.next()?;
    Some(repl.to_owned())
}

/// The namespace a replacement text sets: `namespace: x`, `"namespace": "x"`.
fn ns_in(repl: &str) -> Option<String> {
    let (_, v) = repl.split_once("namespace")?;
    let v = v.trim_start_matches(['"', '\'', ':', ' ', '\t', '\\']);
    let v: String = v
        .chars()
        .take_while(|c| {
            c.is_ascii_alphanumeric()
                || *c == '-'
                || *c == '$'
                || *c == '{'
                || *c == '}'
                || *c == '_'
        })
        .collect();
    (valid_ns(&v) || v.contains('$')).then_some(v)
}

fn valid_ns(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// A Secret manifest (YAML, or JSON on one line or many): its namespace, name and data keys.
fn manifest_of(body: &str) -> Option<Manifest> {
    let (name, ns, keys) = json_secret(body).or_else(|| yaml_secret(body))?;
    Some(Manifest {
        ns: ns.map(|n| {
            if n.contains('$') {
                Ns::Unknown(n)
            } else {
                Ns::Named(n)
            }
        }),
        name,
        keys,
        how: "kubectl apply of a Secret manifest",
        from: None,
    })
}

type Fields = (Option<String>, Option<String>, Vec<String>);

/// Name, namespace and data keys of a parsed Secret: the name only ever from `metadata`.
fn value_secret(v: &serde_json::Value) -> Option<Fields> {
    if v.get("kind")?.as_str()? != "Secret" {
        return None;
    }
    let field = |f: &str| {
        v.get("metadata")
            .and_then(|m| m.get(f))
            .and_then(|x| x.as_str())
            .map(str::to_owned)
    };
    let keys = ["data", "stringData"]
        .iter()
        .filter_map(|d| v.get(*d)?.as_object())
        .flat_map(|o| o.keys().cloned())
        .collect();
    Some((field("name"), field("namespace"), keys))
}

fn json_secret(body: &str) -> Option<Fields> {
    let t = body.trim();
    if !t.starts_with('{') {
        return None;
    }
    match serde_json::from_str::<serde_json::Value>(t) {
        Ok(v) => value_secret(&v),
        // Not valid JSON (a `$VAR` where a value goes): read it by its nesting.
        Err(_) => loose_json_secret(t),
    }
}

/// A JSON Secret with holes (`$VAR` values), read token by token with the path of object keys
/// kept, so a `"name"` under `stringData` or `labels` is never taken for the Secret's name.
fn loose_json_secret(t: &str) -> Option<Fields> {
    let chars: Vec<char> = t.chars().collect();
    // The key each open object or array was the value of ("" for the outermost and for arrays).
    let mut stack: Vec<String> = Vec::new();
    let mut key: Option<String> = None;
    let (mut kind, mut name, mut ns, mut keys) = (None, None, None, Vec::new());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '{' | '[' => stack.push(key.take().unwrap_or_default()),
            '}' | ']' => {
                stack.pop();
                key = None;
            }
            ',' => key = None,
            '"' => {
                let mut s = String::new();
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' {
                        i += 1;
                    }
                    if let Some(c) = chars.get(i) {
                        s.push(*c);
                    }
                    i += 1;
                }
                let is_key = chars[(i + 1).min(chars.len())..]
                    .iter()
                    .find(|c| !c.is_whitespace())
                    == Some(&':');
                let at: Vec<&str> = stack.iter().map(String::as_str).collect();
                if is_key {
                    if let ["", "data" | "stringData"] = at[..] {
                        keys.push(s.clone());
                    }
                    key = Some(s);
                } else {
                    match (&at[..], key.take().as_deref()) {
                        ([""], Some("kind")) => kind = Some(s),
                        (["", "metadata"], Some("name")) => name = Some(s),
                        (["", "metadata"], Some("namespace")) => ns = Some(s),
                        _ => {}
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    (kind.as_deref() == Some("Secret")).then_some((name, ns, keys))
}

/// A YAML Secret manifest: parsed when it is YAML, else read by lines (a template with
/// `{{ }}` is not YAML). Either way the name comes from `metadata` only and the keys are the
/// direct children of `data` and `stringData`.
fn yaml_secret(body: &str) -> Option<Fields> {
    if let Ok(docs) = serde_saphyr::from_multiple::<serde_json::Value>(body)
        && let Some(found) = docs.iter().find_map(value_secret)
    {
        return Some(found);
    }
    let text_of = |v: &str| {
        let v = v.split(" #").next().unwrap_or_default().trim();
        v.trim_matches(['"', '\'']).to_owned()
    };
    if !body.lines().any(|l| {
        l.trim()
            .strip_prefix("kind:")
            .is_some_and(|v| text_of(v) == "Secret")
    }) {
        return None;
    }
    let (mut name, mut namespace, mut keys) = (None, None, Vec::new());
    // The open section: its key, its indent, and the indent of its direct children.
    let mut section: Option<(String, usize, Option<usize>)> = None;
    for l in body.lines() {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let indent = l.len() - l.trim_start().len();
        let Some((k, v)) = t.split_once(':') else {
            continue;
        };
        let k = k.trim().trim_matches(['"', '\'']);
        if let Some((sec, at, child)) = &mut section
            && indent > *at
        {
            if *child.get_or_insert(indent) == indent {
                match (sec.as_str(), k) {
                    ("metadata", "name") => name = Some(text_of(v)),
                    ("metadata", "namespace") => namespace = Some(text_of(v)),
                    ("data" | "stringData", _) => keys.push(k.to_owned()),
                    _ => {}
                }
            }
            continue;
        }
        section = (matches!(k, "metadata" | "data" | "stringData") && text_of(v).is_empty())
            .then(|| (k.to_owned(), indent, None));
    }
    Some((name, namespace, keys))
}

/// `(namespace, name)` of a curl that writes to `/api/v1/namespaces/NS/secrets[/NAME]`.
fn curl_secret_write(args: &[W]) -> Option<(Ns, Option<String>)> {
    let mut write = false;
    let mut target = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.s.as_str() {
            "-X" | "--request" => {
                write |= it.next().is_some_and(|m| {
                    matches!(m.s.to_ascii_uppercase().as_str(), "POST" | "PUT" | "PATCH")
                })
            }
            "-d" | "--data" | "--data-raw" | "--data-binary" | "--json" | "-T"
            | "--upload-file" => {
                write = true;
                it.next();
            }
            s if s.starts_with("-X") && s.len() > 2 => {
                write |= matches!(
                    s[2..].to_ascii_uppercase().as_str(),
                    "POST" | "PUT" | "PATCH"
                )
            }
            s if s.starts_with("--data") || s.starts_with("--json") => write = true,
            s => {
                if let Some(at) = s.find("/api/v1/namespaces/") {
                    let rest = &s[at + "/api/v1/namespaces/".len()..];
                    let mut parts = rest.split(['/', '?']);
                    let ns = parts.next().unwrap_or("").to_owned();
                    if parts.next() == Some("secrets") {
                        let ns = if a.known || !ns.contains('$') {
                            Ns::Named(ns)
                        } else {
                            Ns::Unknown(ns)
                        };
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
