//! A `templateFrom[].literal` with target `Data` is rendered, then read by ESO as a YAML map
//! of keys to values (`mapScopeApply`): each top-level key is a Secret key of its own. This
//! splits the template into those entries as written, so each value can be held to the rule
//! on its own.
//!
//! Only the YAML a literal needs is read: `key: value` lines at column 0 (keys plain or
//! quoted without escapes), values plain, quoted or block (`|`, `>`), continued on indented
//! lines, and `#` comment lines without actions. A line an action starts belongs to that
//! action's output (keys and values from Vault) and may not be followed by indented text.
//! Everything else that could change what ESO reads is denied: backslash escapes in
//! double-quoted values (they decode to any bytes), tags (`!!binary`), anchors and aliases,
//! flow collections, comments inside plain values, documents and directives.

use super::{lex::Item, scan::whitespace_action};

/// One top-level entry.
pub(super) struct Entry<'a> {
    /// The key as written; `None` for a line an action starts.
    pub key: Option<String>,
    /// Byte offset of the key (or of the line).
    pub at: usize,
    /// The value's template.
    pub items: Vec<Item<'a>>,
}

/// A rendered character of literal text, or an action.
#[derive(Clone, Copy)]
enum Atom<'t> {
    Ch(char, usize),
    /// An action; its whitespace when it prints only whitespace.
    Act(usize, Option<&'t str>),
}

impl Atom<'_> {
    fn ch(self) -> Option<char> {
        match self {
            Atom::Ch(c, _) => Some(c),
            Atom::Act(..) => None,
        }
    }

    /// Whether it prints only whitespace.
    fn blank(self) -> bool {
        match self {
            Atom::Ch(c, _) => c.is_whitespace(),
            Atom::Act(_, space) => space.is_some(),
        }
    }

    /// Whether a line ends in it, and whether the next line then starts at column 0.
    fn newline(self) -> Option<bool> {
        match self {
            Atom::Ch('\n', _) => Some(true),
            Atom::Act(_, Some(space)) if space.contains('\n') => Some(space.ends_with('\n')),
            _ => None,
        }
    }
}

/// Splits a literal's items into entries, with the problems that stop it, as (byte offset,
/// description).
pub(super) fn entries<'a>(
    text: &'a str,
    items: &[Item<'a>],
) -> (Vec<Entry<'a>>, Vec<(usize, &'static str)>) {
    let mut atoms = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            Item::Text(t, at) => atoms.extend(t.char_indices().map(|(j, c)| Atom::Ch(c, at + j))),
            Item::Action(toks, _) => atoms.push(Atom::Act(i, whitespace_action(toks))),
        }
    }
    let mut s = Splitter {
        text,
        items,
        atoms: &atoms,
        out: Vec::new(),
        problems: Vec::new(),
    };
    s.run();
    (s.out, s.problems)
}

struct Splitter<'a, 'x> {
    text: &'a str,
    items: &'x [Item<'a>],
    atoms: &'x [Atom<'x>],
    out: Vec<Entry<'a>>,
    problems: Vec<(usize, &'static str)>,
}

/// The entry being read: its key, where its value starts, and whether an action started it.
struct Open {
    key: Option<String>,
    at: usize,
    from: usize,
}

impl<'a> Splitter<'a, '_> {
    fn at(&self, k: usize) -> usize {
        match self.atoms.get(k) {
            Some(Atom::Ch(_, at)) => *at,
            Some(Atom::Act(i, _)) => match self.items.get(*i) {
                Some(Item::Action(_, at) | Item::Text(_, at)) => *at,
                None => self.text.len(),
            },
            None => self.text.len(),
        }
    }

    /// Whether the line after a line that ends just before atom `end` starts at column 0.
    fn next_col0(&self, end: usize) -> bool {
        end.checked_sub(1)
            .and_then(|j| self.atoms.get(j))
            .and_then(|a| a.newline())
            .unwrap_or(true)
    }

    /// The atom index just past the end of the line `k` is on.
    fn line_end(&self, k: usize) -> usize {
        (k..self.atoms.len())
            .find(|&j| self.atoms[j].newline().is_some())
            .map_or(self.atoms.len(), |j| j + 1)
    }

    fn run(&mut self) {
        let n = self.atoms.len();
        let mut open: Option<Open> = None;
        let mut col0 = true;
        let mut k = 0;
        while k < n {
            let atom = self.atoms[k];
            if !col0 {
                if let Some(next) = atom.newline() {
                    col0 = next;
                } else if !atom.blank() {
                    match &open {
                        None => {
                            self.problems
                                .push((self.at(k), "indented text before the first YAML key"));
                            return;
                        }
                        Some(o) if o.key.is_none() => {
                            self.problems.push((
                                self.at(k),
                                "indented text after a line an action starts (it would continue a key or value the action prints)",
                            ));
                            return;
                        }
                        Some(_) => {}
                    }
                }
                k += 1;
                continue;
            }
            // Column 0.
            match atom {
                Atom::Ch(c, _) if c.is_whitespace() => {
                    col0 = c == '\n';
                    k += 1;
                }
                Atom::Act(_, Some(_)) => {
                    col0 = atom.newline().unwrap_or(false);
                    k += 1;
                }
                Atom::Ch('#', _) => {
                    self.close(open.take(), k);
                    let end = self.line_end(k);
                    if self.atoms[k..end]
                        .iter()
                        .any(|a| !a.blank() && a.ch().is_none())
                    {
                        self.problems
                            .push((self.at(k), "an action inside a YAML comment line"));
                        return;
                    }
                    col0 = self.next_col0(end);
                    k = end;
                }
                Atom::Act(_, None) => {
                    self.close(open.take(), k);
                    let end = self.line_end(k);
                    if self.atoms[k..end]
                        .iter()
                        .any(|a| a.ch().is_some_and(|c| !c.is_whitespace()))
                    {
                        self.problems.push((
                            self.at(k),
                            "an action at the start of a line followed by literal text (the action would print the key)",
                        ));
                        return;
                    }
                    open = Some(Open {
                        key: None,
                        at: self.at(k),
                        from: k,
                    });
                    col0 = self.next_col0(end);
                    k = end;
                }
                Atom::Ch(..) => {
                    self.close(open.take(), k);
                    match self.key(k) {
                        Ok((key, from)) => {
                            open = Some(Open {
                                key: Some(key),
                                at: self.at(k),
                                from,
                            });
                            col0 = false;
                            k = from;
                        }
                        Err((at, what)) => {
                            self.problems.push((at, what));
                            return;
                        }
                    }
                }
            }
        }
        self.close(open, n);
    }

    /// Reads a key at `k`; returns it and where its value starts.
    fn key(&self, k: usize) -> Result<(String, usize), (usize, &'static str)> {
        let not_a_key = (
            self.at(k),
            "a line that is not a YAML `key: value` (ESO reads a literal as a map of keys to values)",
        );
        let ch = |j: usize| self.atoms.get(j).and_then(|a| a.ch());
        let first = ch(k).ok_or(not_a_key)?;
        let mut key = String::new();
        let mut j = k;
        if first == '"' || first == '\'' {
            j += 1;
            loop {
                match self.atoms.get(j) {
                    Some(Atom::Ch(c, _)) if *c == first => break,
                    Some(Atom::Ch('\\' | '\n', _)) | None => return Err(not_a_key),
                    Some(Atom::Ch(c, _)) => key.push(*c),
                    Some(Atom::Act(..)) => {
                        return Err((self.at(j), "a YAML key built by an action"));
                    }
                }
                j += 1;
            }
            j += 1;
            if ch(j) != Some(':') {
                return Err(not_a_key);
            }
        } else {
            if "-?{[!&*%@`|>\"'".contains(first) {
                return Err(not_a_key);
            }
            loop {
                match self.atoms.get(j) {
                    Some(Atom::Ch(':', _)) if self.atoms.get(j + 1).is_none_or(|a| a.blank()) => {
                        break;
                    }
                    Some(Atom::Ch('\n', _)) | None => return Err(not_a_key),
                    Some(Atom::Ch(c, _)) => key.push(*c),
                    Some(Atom::Act(..)) => {
                        return Err((self.at(j), "a YAML key built by an action"));
                    }
                }
                j += 1;
            }
            key = key.trim_end().to_owned();
        }
        Ok((key, j + 1))
    }

    /// Ends the open entry before atom `end`, checking its value's style.
    fn close(&mut self, open: Option<Open>, end: usize) {
        let Some(o) = open else { return };
        let value = &self.atoms[o.from..end];
        if o.key.is_some()
            && let Err((k, what)) = style(value)
        {
            self.problems.push((self.at(o.from + k), what));
            return;
        }
        let items = self.items_of(o.from, end);
        self.out.push(Entry {
            key: o.key,
            at: o.at,
            items,
        });
    }

    /// The items atoms `from..end` were made of, text cut to them.
    fn items_of(&self, from: usize, end: usize) -> Vec<Item<'a>> {
        let mut out = Vec::new();
        let mut k = from;
        while k < end {
            match self.atoms[k] {
                Atom::Act(i, _) => {
                    if let Some(item) = self.items.get(i) {
                        out.push(item.clone());
                    }
                    k += 1;
                }
                Atom::Ch(_, start) => {
                    let mut stop = k;
                    while stop < end && matches!(self.atoms[stop], Atom::Ch(..)) {
                        stop += 1;
                    }
                    let last = match self.atoms[stop - 1] {
                        Atom::Ch(c, at) => at + c.len_utf8(),
                        Atom::Act(..) => start,
                    };
                    // Consecutive characters of one text item are contiguous; two text items
                    // are never adjacent (an action or comment lies between them), but a
                    // comment may, so split where the offsets jump.
                    let mut seg = start;
                    let mut prev_end = start;
                    for a in &self.atoms[k..stop] {
                        if let Atom::Ch(c, at) = a {
                            if *at != prev_end {
                                out.push(Item::Text(
                                    self.text.get(seg..prev_end).unwrap_or(""),
                                    seg,
                                ));
                                seg = *at;
                            }
                            prev_end = at + c.len_utf8();
                        }
                    }
                    debug_assert_eq!(prev_end, last);
                    out.push(Item::Text(self.text.get(seg..prev_end).unwrap_or(""), seg));
                    k = stop;
                }
            }
        }
        out
    }
}

/// What in a value's style changes the bytes ESO writes, as (atom index in the value,
/// description).
fn style(value: &[Atom<'_>]) -> Result<(), (usize, &'static str)> {
    let Some(start) = value
        .iter()
        .position(|a| a.ch().is_none_or(|c| !matches!(c, ' ' | '\t')))
    else {
        return Ok(());
    };
    let last = value.iter().rposition(|a| !a.blank()).unwrap_or(start);
    match value[start].ch() {
        Some('!') => Err((start, "a YAML tag (such as !!binary) in a value")),
        Some('&' | '*') => Err((start, "a YAML anchor or alias in a value")),
        Some('{' | '[') => Err((start, "a YAML flow collection in a value")),
        Some('@' | '`' | '%') => Err((start, "a value starting with a character YAML reserves")),
        Some(q @ ('"' | '\'')) => {
            if q == '"'
                && let Some(k) = value.iter().position(|a| a.ch() == Some('\\'))
            {
                return Err((
                    k,
                    "a backslash escape in a double-quoted YAML value (YAML escapes decode to any bytes)",
                ));
            }
            if last == start || value[last].ch() != Some(q) {
                return Err((
                    start,
                    "a quoted YAML value with text after its closing quote",
                ));
            }
            Ok(())
        }
        Some('|' | '>') => {
            let header: String = value[start + 1..]
                .iter()
                .map_while(|a| a.ch().filter(|c| *c != '\n'))
                .collect();
            if header
                .trim_end()
                .chars()
                .all(|c| matches!(c, '+' | '-' | '1'..='9'))
                && header.trim_end().len() <= 2
            {
                Ok(())
            } else {
                Err((start, "a block scalar header vaultgate does not read"))
            }
        }
        _ => {
            // A plain value: ` #` starts a comment, and what follows is not written.
            for (k, pair) in value.windows(2).enumerate() {
                if pair[1].ch() == Some('#') && pair[0].ch().is_some_and(char::is_whitespace) {
                    return Err((k + 1, "a YAML comment inside a plain value"));
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::lex::lex;
    use super::*;

    /// Each entry's key and action count, or the problems.
    type Split = Result<Vec<(Option<String>, usize)>, Vec<(usize, &'static str)>>;

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

    fn key(k: &str, actions: usize) -> (Option<String>, usize) {
        (Some(k.to_owned()), actions)
    }

    #[test]
    fn splits_top_level_keys() {
        assert_eq!(
            split("password: {{ .password }}\ntoken: Xk9#mQ2\n"),
            Ok(vec![key("password", 1), key("token", 0)])
        );
        assert_eq!(
            split(
                "config.yaml: |\n  # settings\n  user: {{ .u }}\n\n  pass: {{ .p }}\n# c\n\"k 2\": '{{ .x }}'"
            ),
            Ok(vec![key("config.yaml", 2), key("k 2", 1)])
        );
        assert_eq!(
            split("a: {{ .a }}{{ \"\\n\" }}b: x"),
            Ok(vec![key("a", 2), key("b", 0)])
        );
        assert_eq!(
            split("{{ .yaml }}\n{{- \"\\n\" }}c: {{ .c }}"),
            Ok(vec![(None, 2), key("c", 1)])
        );
    }

    #[test]
    fn denies_what_changes_the_bytes_or_keys_eso_reads() {
        for bad in [
            "t: \"\\x67\\x68\\x70\"",
            "t: !!binary aGVsbG8=",
            "t: &a {{ .p }}\nu: *a",
            "t: {{ .p }} # {{ .q }}",
            "t: {a: b}",
            "t: \"{{ .p }}\" x",
            "{{ .k }}: hunter2",
            "{{ .k }}\n  hunter2",
            "t{{ .k }}: v",
            "  t: v",
            "- a",
            "# {{ .p }}\nt: v",
            "---\nt: v",
            "just text",
            "t: |x\n  a",
        ] {
            assert!(split(bad).is_err(), "{bad}");
        }
    }
}
