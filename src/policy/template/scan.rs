//! Reads a lexed template for where its output can come from: the input keys it references,
//! and every place it could add a value of its own (constants, generator functions, long
//! literal runs). The rule itself is written down in the parent module's header.
//!
//! Problems name a character offset, never the text at it: the text may be a credential.
//! Which functions may take constants is `funcs`; the literal-text rule is `text`.

use super::{
    funcs::{GENERATORS, SELECTORS, subject},
    lex::{Item, Tok, lex},
    text::{credential_runs, strip_verbs},
};

/// What a template reads and what is wrong with it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Scan {
    /// Root keys referenced (`.key`, `$.key`, `index . "key"`), in order of appearance.
    pub refs: Vec<String>,
    /// Whether it reads the whole input (`.` or `$` at the root: `range .`, `toJson .`).
    pub whole: bool,
    pub problems: Vec<String>,
}

type Toks<'t, 'a> = &'t [(Tok<'a>, usize)];

/// An open `{{ if }}`/`{{ with }}`/`{{ range }}`: whether dot is the input outside it, and
/// whether it is rebound inside the current branch.
struct Block {
    outer: bool,
    rebound: bool,
}

struct Scanner<'s> {
    text: &'s str,
    out: Scan,
    blocks: Vec<Block>,
}

/// Scans one template.
pub(crate) fn scan(text: &str) -> Scan {
    let mut s = Scanner {
        text,
        out: Scan::default(),
        blocks: Vec::new(),
    };
    match lex(text) {
        Err((what, at)) => s.problem(at, &format!("does not parse as a Go template ({what})")),
        Ok(items) => {
            let mut text_parts = Vec::new();
            for item in &items {
                match item {
                    Item::Text(t, at) => text_parts.push((*t, *at)),
                    Item::Action(toks, at) => s.action(toks, *at),
                }
            }
            s.literal_text(&text_parts);
            if !s.blocks.is_empty() {
                s.problem(
                    text.len(),
                    "does not parse as a Go template (a block without {{ end }})",
                );
            }
        }
    }
    s.out
}

impl Scanner<'_> {
    fn problem(&mut self, at: usize, what: &str) {
        let n = self.text.get(..at).map_or(0, |t| t.chars().count());
        self.out.problems.push(format!("{what} at character {n}"));
    }

    fn rebound(&self) -> bool {
        self.blocks.last().is_some_and(|b| b.rebound)
    }

    /// The text outside actions, read as if the actions between its parts printed nothing
    /// (`{{ .x | trunc 0 }}` does), so a token cut into short pieces is still one run.
    fn literal_text(&mut self, parts: &[(&str, usize)]) {
        let mut joined = String::new();
        let mut starts = Vec::with_capacity(parts.len());
        for (t, at) in parts {
            starts.push((joined.len(), *at));
            joined.push_str(t);
        }
        for (offset, len) in credential_runs(&joined) {
            let (j, at) = starts
                .iter()
                .rev()
                .find(|(j, _)| *j <= offset)
                .copied()
                .unwrap_or_default();
            self.problem(
                at + offset - j,
                &format!("a {len}-character literal run that reads like a credential"),
            );
        }
    }

    /// A printf format or a selector's constant argument.
    fn literal(&mut self, text: &str, at: usize) {
        for (offset, len) in credential_runs(text) {
            self.problem(
                at + offset,
                &format!("a {len}-character literal run that reads like a credential"),
            );
        }
    }

    fn action(&mut self, toks: Toks<'_, '_>, at: usize) {
        let cur = self.rebound();
        let rest = toks.get(1..).unwrap_or(&[]);
        match toks.first().map(|(t, _)| t) {
            None => self.problem(at, "does not parse as a Go template (an empty action)"),
            Some(Tok::Ident("if")) => {
                self.pipeline(rest, cur);
                self.blocks.push(Block {
                    outer: cur,
                    rebound: cur,
                });
            }
            Some(Tok::Ident("with" | "range")) => {
                self.pipeline(rest, cur);
                self.blocks.push(Block {
                    outer: cur,
                    rebound: true,
                });
            }
            Some(Tok::Ident("else")) => {
                let Some(outer) = self.blocks.last().map(|b| b.outer) else {
                    return self.problem(
                        at,
                        "does not parse as a Go template ({{ else }} outside a block)",
                    );
                };
                let chained = rest.first().map(|(t, _)| t);
                let body = rest.get(1..).unwrap_or(&[]);
                let rebound = match chained {
                    Some(Tok::Ident("if")) => {
                        self.pipeline(body, outer);
                        outer
                    }
                    Some(Tok::Ident("with")) => {
                        self.pipeline(body, outer);
                        true
                    }
                    _ => outer,
                };
                if let Some(b) = self.blocks.last_mut() {
                    b.rebound = rebound;
                }
            }
            Some(Tok::Ident("end")) => {
                if self.blocks.pop().is_none() {
                    self.problem(
                        at,
                        "does not parse as a Go template ({{ end }} outside a block)",
                    );
                }
            }
            Some(Tok::Ident(kw @ ("define" | "block" | "template"))) => {
                self.problem(
                    at,
                    &format!(
                        "uses {{{{ {kw} }}}} (a named template is text kept apart from this value)"
                    ),
                );
                if *kw != "template" {
                    self.blocks.push(Block {
                        outer: cur,
                        rebound: true,
                    });
                }
            }
            Some(Tok::Ident("break" | "continue")) => {}
            Some(_) => self.pipeline(toks, cur),
        }
    }

    /// A pipeline: optional `$x :=` declaration, then commands joined by `|`.
    fn pipeline(&mut self, toks: Toks<'_, '_>, rebound: bool) {
        let mut toks = toks;
        if let Some(i) = toks.iter().position(|(t, _)| *t == Tok::Declare)
            && toks[..i]
                .iter()
                .all(|(t, _)| matches!(t, Tok::Var(..) | Tok::Comma))
        {
            toks = &toks[i + 1..];
        }
        let mut depth = 0usize;
        let mut start = 0;
        for (i, (t, at)) in toks.iter().enumerate() {
            match t {
                Tok::LParen => depth += 1,
                Tok::RParen if depth == 0 => {
                    return self.problem(
                        *at,
                        "does not parse as a Go template (an unmatched parenthesis)",
                    );
                }
                Tok::RParen => depth -= 1,
                Tok::Pipe if depth == 0 => {
                    self.command(&toks[start..i], rebound, start > 0);
                    start = i + 1;
                }
                _ => {}
            }
        }
        if depth > 0 {
            let at = toks.first().map_or(0, |(_, at)| *at);
            return self.problem(
                at,
                "does not parse as a Go template (an unclosed parenthesis)",
            );
        }
        self.command(&toks[start..], rebound, start > 0);
    }

    /// One command: a function and its arguments, or a single operand. `piped`: the previous
    /// command's result is its last argument.
    fn command(&mut self, toks: Toks<'_, '_>, rebound: bool, piped: bool) {
        let ops = operands(toks);
        let Some(&(head, head_at)) = ops.first() else {
            return;
        };
        let args = ops.get(1..).unwrap_or(&[]);
        let func = match head {
            [(Tok::Ident(f), _)] if !matches!(*f, "true" | "false" | "nil") => Some(*f),
            _ => None,
        };
        if let Some(f) = func {
            if GENERATORS.contains(&f) {
                return self.problem(
                    head_at,
                    &format!("calls {f}, which makes a value up instead of reading it"),
                );
            }
            if f == "index"
                && let Some(&([first], _)) = args.first()
                && is_root(first, rebound)
                && let Some(&([(Tok::Str(key), _)], _)) = args.get(1)
            {
                self.out.refs.push(key.clone());
            }
        } else {
            self.operand(head, head_at, rebound, false);
        }
        let subject = func.and_then(|f| subject(f, args.len(), piped));
        for (i, &(op, at)) in args.iter().enumerate() {
            let parameter = func.is_some_and(|f| SELECTORS.contains(&f)) && subject != Some(i);
            match (func, op) {
                // `index . "key"` is a reference, recorded above.
                (Some("index"), [root]) if i == 0 && is_root(root, rebound) => {}
                (Some("printf"), [(Tok::Str(format), _)]) if i == 0 => {
                    self.literal(&strip_verbs(format), at);
                }
                (_, [(Tok::Str(s), _)]) if parameter => self.literal(s, at),
                (_, [(Tok::Num, _)]) if parameter => {}
                _ => self.operand(op, at, rebound, true),
            }
        }
    }

    /// An operand outside the allowances above.
    fn operand(&mut self, op: Toks<'_, '_>, at: usize, rebound: bool, argument: bool) {
        match op {
            [(Tok::LParen, _), inner @ .., (Tok::RParen, _)] => self.pipeline(inner, rebound),
            [(Tok::Str(_) | Tok::Num, _)] => self.problem(
                at,
                if argument {
                    "a constant argument inside {{ }}"
                } else {
                    "an action that prints a constant"
                },
            ),
            [(Tok::Dot, _)] if !rebound => self.out.whole = true,
            [(Tok::Field(chain), _)] if !rebound => {
                if let Some(k) = chain.first() {
                    self.out.refs.push((*k).to_owned());
                }
            }
            [(Tok::Var("$", chain), _)] => match chain.first() {
                Some(k) => self.out.refs.push((*k).to_owned()),
                None => self.out.whole = true,
            },
            _ => {}
        }
    }
}

/// `.` (outside a `with`/`range`) or `$`: the whole input.
fn is_root(op: &(Tok<'_>, usize), rebound: bool) -> bool {
    match &op.0 {
        Tok::Dot => !rebound,
        Tok::Var("$", chain) => chain.is_empty(),
        _ => false,
    }
}

/// Splits a command into operands: single tokens, or a parenthesised group with its parens.
fn operands<'t, 'a>(toks: Toks<'t, 'a>) -> Vec<(Toks<'t, 'a>, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        let at = toks[i].1;
        let mut end = i + 1;
        if toks[i].0 == Tok::LParen {
            let mut depth = 0usize;
            for (j, (t, _)) in toks.iter().enumerate().skip(i) {
                match t {
                    Tok::LParen => depth += 1,
                    Tok::RParen => depth = depth.saturating_sub(1),
                    _ => {}
                }
                if depth == 0 {
                    end = j + 1;
                    break;
                }
            }
        }
        out.push((&toks[i..end.min(toks.len())], at));
        i = end;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refs(t: &str) -> Vec<String> {
        let s = scan(t);
        assert!(s.problems.is_empty(), "{t}: {:?}", s.problems);
        s.refs
    }

    fn problems(t: &str) -> Vec<String> {
        scan(t).problems
    }

    #[test]
    fn formatting_templates_only_reference_input() {
        assert_eq!(
            refs("postgres://{{ .username }}:{{ .password }}@{{ .host }}:5432/app?sslmode=require"),
            ["username", "password", "host"]
        );
        assert_eq!(refs("{{ .password | toString }}"), ["password"]);
        assert_eq!(refs("{{ index . \"tls.crt\" | b64dec }}"), ["tls.crt"]);
        assert_eq!(
            refs("{{ printf \"%s:%s\" .user $.pass | b64enc }}"),
            ["user", "pass"]
        );
        assert_eq!(refs("{{ .cert | filterPEM \"CERTIFICATE\" }}"), ["cert"]);
        assert_eq!(refs("{{ filterPEM \"CERTIFICATE\" .cert }}"), ["cert"]);
        assert_eq!(
            refs("{{ .url | trimPrefix \"https://\" | trunc 63 }}"),
            ["url"]
        );
        assert_eq!(
            refs("{{ if eq .env \"prod\" }}{{ .a }}{{ end }}"),
            ["env", "a"]
        );
        assert_eq!(
            refs("{{- $p := .password -}}{{ $p }}{{/* hunter2 */}}"),
            ["password"]
        );
        assert_eq!(
            refs("{{ with .cfg }}{{ .inner }}{{ else }}{{ .other }}{{ end }}"),
            ["cfg", "other"]
        );
        assert!(scan("{{ range $k, $v := . }}{{ $k }}={{ $v }}\n{{ end }}").whole);
    }

    #[test]
    fn constants_inside_actions_are_problems() {
        for t in [
            "{{ \"hunter2\" }}",
            "{{ print \"secret\" }}",
            "{{ `hunter2` }}",
            "{{ .u | default \"hunter2\" }}",
            "{{ .u | replace .u \"x\" }}",
            "{{ printf \"%s\" \"hunter2\" }}",
            "{{ printf \"%c%c\" 104 117 }}",
            "{{ 4242 }}",
            "{{ $x := \"hunter2\" }}{{ $x }}",
            "{{ with \"hunter2\" }}{{ . }}{{ end }}",
            "{{ (print \"a\") }}",
            "{{ trimPrefix \"\" \"hunter2\" }}{{ .password }}",
            "{{ trunc 7 \"hunter2xyz\" }}{{ .password }}",
            "{{ index \"hunter2\" 0 }}{{ .password }}",
        ] {
            assert!(!problems(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn made_up_values_named_templates_and_bad_syntax_are_problems() {
        for t in [
            "{{ randAlphaNum 32 }}",
            "{{ uuidv4 }}",
            "{{ env \"HOME\" }}",
            "{{ define \"x\" }}a{{ end }}{{ template \"x\" . }}",
            "{{ if .a }}",
            "{{ end }}",
            "{{ .a",
            "{{ }}",
            "{{ (.a }}",
        ] {
            assert!(!problems(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn literal_text_is_read_across_actions_that_print_nothing() {
        // A token cut into short pieces by actions that print nothing is still one run.
        let cut = scan("ghp_16C{{ .x | trunc 0 }}7e42F29{{ .x | trunc 0 }}2c6912E");
        assert_eq!(cut.problems.len(), 1, "{:?}", cut.problems);
        assert!(cut.problems[0].ends_with("at character 0"));
    }

    #[test]
    fn problems_name_an_offset_never_the_text() {
        let p =
            problems("{{ .username }}:{{ \"hunter2\" }} ghp_16C7e42F292c6912E7710c838347Ae178B4a");
        assert_eq!(p.len(), 2, "{p:?}");
        assert!(
            p.iter()
                .all(|m| !m.contains("hunter2") && !m.contains("ghp_"))
        );
        assert!(p[0].ends_with("at character 19"), "{p:?}");
    }
}
