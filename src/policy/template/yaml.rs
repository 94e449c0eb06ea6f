//! A `templateFrom[].literal` with target `Data` is rendered, then read by ESO as a YAML map
//! of keys to values (`mapScopeApply`): each top-level key is a Secret key of its own. This
//! splits the template into those entries, so each value can be held to the rule on its own.
//!
//! YAML has many ways to change what a line means (indentation, continuation lines, block
//! scalars, quoted scalars with escapes, `\`-newline joins, tags, anchors, comments, line
//! breaks other than `\n`), and a splitter that reads it differently from ESO's parser lets a
//! second key or a decoded value through. So only a strict subset is read and everything else
//! is denied:
//!
//! - The literal holds no control character but `\n` (no tab, no `\r`, no U+0085), no U+2028,
//!   U+2029 or U+FEFF; whitespace actions print only spaces and `\n`. An empty whitespace
//!   action (`{{ "" }}`) prints nothing and is read as nothing.
//! - Every line that is not blank is `<key>: <value>` (or `<key>:` for an empty value) with
//!   the key at column 0, literal, of `[A-Za-z0-9_.-]` and not starting with `-` or `..`. No
//!   indentation, no line an action starts, no key an action builds, no comment lines, no
//!   document markers or directives.
//! - A value's literal text holds no `"`, `'`, `\` or `#`, and its first literal character
//!   (actions before it may print nothing) is not a YAML indicator (`!&*{}[]|>%@` and
//!   backquote, or `-`, `?`, `:` before a space). Quoting belongs in an action (`| quote`,
//!   `| toJson`). A value written as exactly `""` or `''` is empty.
//!
//! A value an action prints that holds a line break can still shift the YAML it lands in;
//! that is data from Vault.

use super::{lex::Item, scan::whitespace_action};

/// One top-level entry.
pub(super) struct Entry<'a> {
    /// The key as written.
    pub key: String,
    /// Byte offset of the key.
    pub at: usize,
    /// The value's template (whitespace actions left out: they print layout only).
    pub items: Vec<Item<'a>>,
    /// Written as `""` or `''`, or nothing: an empty value.
    pub empty: bool,
}

/// A rendered character of the literal: literal text, a character a whitespace action prints
/// (with the action's offset), or an action that prints a value.
#[derive(Clone, Copy)]
enum Atom {
    Ch(char, usize),
    Ws(char, usize),
    Act(usize),
}

/// Characters a literal may not hold anywhere: YAML reads them as line breaks (`\r`, U+0085,
/// U+2028, U+2029) or as something other than text (other controls, U+FEFF).
fn forbidden(c: char) -> bool {
    (c.is_control() && c != '\n') || matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

/// Splits a literal's items into entries, with the problems that stop it, as (byte offset,
/// description). Any problem stops the split: the rest cannot be read with confidence.
pub(super) fn entries<'a>(
    text: &'a str,
    items: &[Item<'a>],
) -> (Vec<Entry<'a>>, Vec<(usize, &'static str)>) {
    let mut atoms = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Text(t, at) => atoms.extend(t.char_indices().map(|(j, c)| Atom::Ch(c, at + j))),
            Item::Action(toks, at) => match whitespace_action(toks) {
                Some(space) => atoms.extend(space.chars().map(|c| Atom::Ws(c, *at))),
                None => atoms.push(Atom::Act(i)),
            },
        }
    }
    let mut out = Vec::new();
    for a in &atoms {
        let bad = match *a {
            Atom::Ch(c, at) => forbidden(c).then_some(at),
            Atom::Ws(c, at) => (c != ' ' && c != '\n').then_some(at),
            Atom::Act(_) => None,
        };
        if let Some(at) = bad {
            return (
                out,
                vec![(
                    at,
                    "a tab, carriage return, Unicode line break or other control character (a literal is read as YAML: only spaces and \\n lay it out)",
                )],
            );
        }
    }
    let offset = |a: &Atom| match *a {
        Atom::Ch(_, at) | Atom::Ws(_, at) => at,
        Atom::Act(i) => match items.get(i) {
            Some(Item::Action(_, at) | Item::Text(_, at)) => *at,
            None => text.len(),
        },
    };
    let ch = |a: &Atom| match *a {
        Atom::Ch(c, _) | Atom::Ws(c, _) => Some(c),
        Atom::Act(_) => None,
    };
    for line in atoms.split(|a| ch(a) == Some('\n')) {
        if line.iter().all(|a| ch(a) == Some(' ')) {
            continue;
        }
        match entry(text, items, line, &offset) {
            Ok(e) => out.push(e),
            Err(p) => return (out, vec![p]),
        }
    }
    (out, Vec::new())
}

/// Reads one line as `<key>: <value>`.
fn entry<'a>(
    text: &'a str,
    items: &[Item<'a>],
    line: &[Atom],
    offset: &impl Fn(&Atom) -> usize,
) -> Result<Entry<'a>, (usize, &'static str)> {
    let at = offset(&line[0]);
    let not_a_key = (
        at,
        "a line that is not `key: value` with a literal key at column 0 (ESO reads a literal as YAML; only that form is read)",
    );
    let mut key = String::new();
    let mut k = 0;
    loop {
        match line.get(k) {
            Some(Atom::Ch(':', _)) => break,
            Some(Atom::Ch(c, _)) if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') => {
                key.push(*c);
            }
            Some(a @ Atom::Act(_)) => {
                return Err((
                    offset(a),
                    "an action before a YAML key's `:` (the action would print the key)",
                ));
            }
            _ => return Err(not_a_key),
        }
        k += 1;
    }
    if key.is_empty() || key.starts_with('-') || key.starts_with("..") {
        return Err(not_a_key);
    }
    let value = &line[k + 1..];
    match value.first() {
        None => {
            return Ok(Entry {
                key,
                at,
                items: Vec::new(),
                empty: true,
            });
        }
        Some(Atom::Ch(' ', _) | Atom::Ws(' ', _)) => {}
        Some(_) => return Err(not_a_key),
    }
    let literal: String = value
        .iter()
        .filter_map(|a| match a {
            Atom::Ch(c, _) => Some(*c),
            _ => None,
        })
        .collect();
    let acts = value.iter().any(|a| matches!(a, Atom::Act(_)));
    if !acts && matches!(literal.trim(), "" | "\"\"" | "''") {
        return Ok(Entry {
            key,
            at,
            items: Vec::new(),
            empty: true,
        });
    }
    for a in value {
        if let Atom::Ch(c @ ('"' | '\'' | '\\' | '#'), at) = a {
            return Err((
                *at,
                if *c == '#' {
                    "a # in a literal YAML value (YAML may read a comment)"
                } else {
                    "a quote or backslash in a literal YAML value (YAML decodes quoted values; quote in an action: | quote, | toJson)"
                },
            ));
        }
    }
    let lits: Vec<(usize, char, usize)> = value
        .iter()
        .enumerate()
        .filter_map(|(j, a)| match a {
            Atom::Ch(c, at) if *c != ' ' => Some((j, *c, *at)),
            _ => None,
        })
        .collect();
    if let Some(&(j, c, at)) = lits.first() {
        let spaced = || {
            value
                .get(j + 1)
                .is_none_or(|a| matches!(a, Atom::Ch(' ', _) | Atom::Ws(' ', _)))
        };
        if "!&*{}[]|>%@`".contains(c) || ("-?:".contains(c) && spaced()) {
            return Err((
                at,
                "a literal YAML value starting with an indicator (a tag, anchor, alias, flow collection or block scalar)",
            ));
        }
    }
    Ok(Entry {
        key,
        at,
        items: items_of(text, items, value),
        empty: false,
    })
}

/// The items a value's atoms were made of, text cut to them; whitespace actions left out.
fn items_of<'a>(text: &'a str, items: &[Item<'a>], value: &[Atom]) -> Vec<Item<'a>> {
    let mut out = Vec::new();
    let mut seg: Option<(usize, usize)> = None;
    let flush = |seg: &mut Option<(usize, usize)>, out: &mut Vec<Item<'a>>| {
        if let Some((from, to)) = seg.take() {
            out.push(Item::Text(text.get(from..to).unwrap_or(""), from));
        }
    };
    for a in value {
        match *a {
            Atom::Ch(c, at) => match &mut seg {
                Some((_, to)) if *to == at => *to = at + c.len_utf8(),
                _ => {
                    flush(&mut seg, &mut out);
                    seg = Some((at, at + c.len_utf8()));
                }
            },
            Atom::Ws(..) => flush(&mut seg, &mut out),
            Atom::Act(i) => {
                flush(&mut seg, &mut out);
                if let Some(item) = items.get(i) {
                    out.push(item.clone());
                }
            }
        }
    }
    flush(&mut seg, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::super::lex::lex;
    use super::*;

    /// Each entry's key and action count, or the problems.
    type Split = Result<Vec<(String, usize)>, Vec<(usize, &'static str)>>;

    fn split(text: &str) -> Split {
        let items = lex(text).unwrap();
        let (entries, problems) = entries(text, &items);
        if problems.is_empty() {
            Ok(entries
                .into_iter()
                .map(|e| {
                    let actions = e
                        .items
                        .iter()
                        .filter(|i| matches!(i, Item::Action(..)))
                        .count();
                    (e.key, actions)
                })
                .collect())
        } else {
            Err(problems)
        }
    }

    fn key(k: &str, actions: usize) -> (String, usize) {
        (k.to_owned(), actions)
    }

    #[test]
    fn splits_top_level_keys() {
        assert_eq!(
            split("password: {{ .password }}\ntoken: Xk9#mQ2\n"),
            Err(vec![(
                36,
                "a # in a literal YAML value (YAML may read a comment)"
            )])
        );
        assert_eq!(
            split(
                "password: {{ .password }}\n\n.dockerconfigjson: {{ .c | toJson }}\nempty: \"\"\nnone:\n"
            ),
            Ok(vec![
                key("password", 1),
                key(".dockerconfigjson", 1),
                key("empty", 0),
                key("none", 0)
            ])
        );
        assert_eq!(
            split("a: {{ .a }}{{ \"\\n\" }}b: x"),
            Ok(vec![key("a", 1), key("b", 0)])
        );
        assert_eq!(
            split("{{- \"\\n\" }}c: {{ .c }}\n{{ \"\" }}d: {{ .d }}"),
            Ok(vec![key("c", 1), key("d", 1)])
        );
        assert_eq!(
            split("dsn: postgres://{{ .u }}:{{ .p }}@{{ .h }}:5432/app?sslmode=require&x=%20"),
            Ok(vec![key("dsn", 3)])
        );
    }

    #[test]
    fn denies_what_changes_the_bytes_or_keys_eso_reads() {
        for bad in [
            "t: \"\\x67\\x68\\x70\"",
            "t: \"{{ .p }}\"",
            "t: '{{ .p }}'",
            "t: {{ \" \" }}\"x\"",
            "t: !!binary aGVsbG8=",
            "t: {{ .p }}!!binary aGVsbG8=",
            "t: &a {{ .p }}\nu: *a",
            "t: {{ .p }} # {{ .q }}",
            "t: {a: b}",
            "t: [a]",
            "t: |\n  {{ .p }}",
            "t: >-\n  {{ .p }}",
            "t: - a",
            "{{ .k }}: hunter2",
            "{{ .yaml }}",
            "{{ .k }}\n  hunter2",
            "t{{ .k }}: v",
            "  t: v",
            "t: {{ .p }}\n  v",
            "t: {{ .p }}\\\n  v",
            "- a",
            "# c\nt: v",
            "---\nt: v",
            "...\nt: v",
            "%YAML 1.1\nt: v",
            "just text",
            "\"k\": v",
            "k:v",
            "t: {{ .p }}\rv: x",
            "t: {{ .p }}{{ \"\\r\" }}v: x",
            "t: {{ .p }}\u{2028}v: x",
            "t: {{ .p }}\u{2029}v: x",
            "t: {{ .p }}\u{85}v: x",
            "t:\t{{ .p }}",
            "t: {{ .p }}{{ \"\\t\" }}",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }

    /// Second attack pass, finding 3: each of these hid a key or a decoded value.
    #[test]
    fn denies_the_attack_pass_differentials() {
        let cont = "\\\n  \\x70\\x5f\\\n  16C7e42\\\n  a\"";
        for bad in [
            format!(
                "password: {{{{ .password | toJson }}}}\n{{{{ \"\" }}}}token: \"{{{{ .password }}}}\\x67\\x68{cont}"
            ),
            format!("token: {{{{ \" \" }}}}\"{{{{ .password }}}}\\x67\\x68{cont}"),
            "password: {{ .username }}\rvalue: \"\\x67\\x68\"".to_owned(),
            "value: {{ \" \" }}!!binary Z2hw{{ .password }}".to_owned(),
        ] {
            assert!(split(&bad).is_err(), "{bad}");
        }
    }
}
