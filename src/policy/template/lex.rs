//! Splits a Go `text/template` into literal text, comments and actions, and an action into
//! tokens: as much of Go's lexer as [`scan`](super::scan) needs to tell a reference from a
//! constant. Anything it does not recognise is an error, so an unusual spelling is denied
//! rather than read past (ESO would fail to parse it anyway).

/// One token inside `{{ }}`, with the byte offset it starts at.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok<'a> {
    /// `.` alone.
    Dot,
    /// `.a.b`: the chain of field names.
    Field(Vec<&'a str>),
    /// `$`, `$x`, `$.a`, `$x.a`: the variable and the fields after it.
    Var(&'a str, Vec<&'a str>),
    /// A function name or keyword (`if`, `printf`, `true`, ...).
    Ident(&'a str),
    /// A quoted or raw string, unescaped.
    Str(String),
    /// A number or character constant.
    Num,
    Pipe,
    LParen,
    /// `)` (fields after it are dropped: they read the group's result).
    RParen,
    Comma,
    /// `:=` or `=`.
    Declare,
}

/// A piece of the template.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Item<'a> {
    /// Text outside actions, with its byte offset.
    Text(&'a str, usize),
    /// An action's tokens, with its byte offset.
    Action(Vec<(Tok<'a>, usize)>, usize),
}

/// Why a template does not lex; the offset is in bytes.
pub(super) type LexError = (&'static str, usize);

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn rest(&self) -> &'a str {
        self.s.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn eat_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let start = self.pos;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        self.s.get(start..self.pos).unwrap_or("")
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Lexes a whole template.
pub(super) fn lex(s: &str) -> Result<Vec<Item<'_>>, LexError> {
    let mut cur = Cursor { s, pos: 0 };
    let mut items = Vec::new();
    loop {
        let Some(i) = cur.rest().find("{{") else {
            if !cur.rest().is_empty() {
                items.push(Item::Text(cur.rest(), cur.pos));
            }
            return Ok(items);
        };
        if i > 0 {
            items.push(Item::Text(cur.rest().get(..i).unwrap_or(""), cur.pos));
        }
        let open = cur.pos + i;
        cur.pos = open + 2;
        // `{{- ` trims the text before; the marker needs the space after it.
        if cur.peek() == Some('-') && cur.peek2().is_some_and(is_space) {
            cur.bump();
            cur.eat_while(is_space);
        }
        if cur.rest().starts_with("/*") {
            let Some(end) = cur.rest().find("*/") else {
                return Err(("an unclosed comment", open));
            };
            cur.pos += end + 2;
            let close = cur.rest().trim_start_matches(is_space);
            let skipped = cur.rest().len() - close.len();
            if close.starts_with("}}") || (skipped > 0 && close.starts_with("-}}")) {
                cur.pos += skipped + if close.starts_with('-') { 3 } else { 2 };
                continue;
            }
            return Err(("a comment that does not end the action", open));
        }
        items.push(Item::Action(action(&mut cur, open)?, open));
    }
}

/// Lexes one action up to and including its `}}`.
fn action<'a>(cur: &mut Cursor<'a>, open: usize) -> Result<Vec<(Tok<'a>, usize)>, LexError> {
    let mut toks = Vec::new();
    loop {
        let spaced = !cur.eat_while(is_space).is_empty();
        let at = cur.pos;
        let rest = cur.rest();
        if rest.starts_with("}}") {
            cur.pos += 2;
            return Ok(toks);
        }
        if spaced && rest.starts_with("-}}") {
            cur.pos += 3;
            return Ok(toks);
        }
        let Some(c) = cur.peek() else {
            return Err(("an unclosed action", open));
        };
        let tok = match c {
            '|' => single(cur, Tok::Pipe),
            '(' => single(cur, Tok::LParen),
            ',' => single(cur, Tok::Comma),
            '=' => single(cur, Tok::Declare),
            ':' if cur.peek2() == Some('=') => {
                cur.pos += 2;
                Tok::Declare
            }
            ')' => {
                cur.bump();
                // `(...).a` reads a field of the group's result, never a root key.
                fields(cur);
                Tok::RParen
            }
            '"' => Tok::Str(quoted(cur, '"').ok_or(("an unterminated string", at))?),
            '\'' => {
                quoted(cur, '\'').ok_or(("an unterminated character constant", at))?;
                Tok::Num
            }
            '`' => {
                cur.bump();
                let Some(end) = cur.rest().find('`') else {
                    return Err(("an unterminated raw string", at));
                };
                let text = cur.rest().get(..end).unwrap_or("").to_owned();
                cur.pos += end + 1;
                Tok::Str(text)
            }
            '$' => {
                cur.bump();
                cur.eat_while(is_ident);
                Tok::Var(cur.s.get(at..cur.pos).unwrap_or("$"), fields(cur))
            }
            '.' if cur.peek2().is_some_and(|d| d.is_ascii_digit()) => number(cur),
            '.' if cur.peek2().is_some_and(is_ident) => Tok::Field(fields(cur)),
            '.' => single(cur, Tok::Dot),
            '+' | '-' if cur.peek2().is_some_and(|d| d.is_ascii_digit() || d == '.') => number(cur),
            d if d.is_ascii_digit() => number(cur),
            d if is_ident(d) => Tok::Ident(cur.eat_while(is_ident)),
            _ => return Err(("a character Go templates do not allow here", at)),
        };
        toks.push((tok, at));
    }
}

fn single<'a>(cur: &mut Cursor<'a>, tok: Tok<'a>) -> Tok<'a> {
    cur.bump();
    tok
}

/// `.a.b` after the cursor (nothing when no field follows).
fn fields<'a>(cur: &mut Cursor<'a>) -> Vec<&'a str> {
    let mut chain = Vec::new();
    while cur.peek() == Some('.') && cur.peek2().is_some_and(is_ident) {
        cur.bump();
        chain.push(cur.eat_while(is_ident));
    }
    chain
}

/// Go's number syntax, loosely: sign, digits, letters (hex, exponents, `i`), `_`, `.`, and a
/// sign right after an exponent letter.
fn number<'a>(cur: &mut Cursor<'a>) -> Tok<'a> {
    if matches!(cur.peek(), Some('+' | '-')) {
        cur.bump();
    }
    let mut prev = ' ';
    while let Some(c) = cur.peek() {
        let exp_sign = matches!(c, '+' | '-') && matches!(prev, 'e' | 'E' | 'p' | 'P');
        if !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || exp_sign) {
            break;
        }
        prev = c;
        cur.bump();
    }
    Tok::Num
}

/// A `"`- or `'`-quoted constant, unescaped well enough to compare a key name.
fn quoted(cur: &mut Cursor<'_>, quote: char) -> Option<String> {
    cur.bump();
    let mut out = String::new();
    loop {
        match cur.bump()? {
            c if c == quote => return Some(out),
            '\n' => return None,
            '\\' => match cur.bump()? {
                'n' => out.push('\n'),
                't' => out.push('\t'),
                c => out.push(c),
            },
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok<'_>> {
        match lex(s).unwrap().into_iter().next() {
            Some(Item::Action(t, _)) => t.into_iter().map(|(t, _)| t).collect(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn lexes_fields_variables_and_constants() {
        assert_eq!(
            toks("{{ .a.b | index $ \"k}}\" $x.y 3 }}"),
            [
                Tok::Field(vec!["a", "b"]),
                Tok::Pipe,
                Tok::Ident("index"),
                Tok::Var("$", vec![]),
                Tok::Str("k}}".into()),
                Tok::Var("$x", vec!["y"]),
                Tok::Num,
            ]
        );
        assert_eq!(toks("{{-3}}"), [Tok::Num]);
        assert_eq!(toks("{{- . -}}"), [Tok::Dot]);
        assert_eq!(toks("{{(.a).b}}").len(), 3);
    }

    #[test]
    fn comments_and_text_are_separate_items() {
        let items = lex("a{{/* x */}}b{{- /* y */ -}}c").unwrap();
        assert_eq!(
            items,
            [Item::Text("a", 0), Item::Text("b", 12), Item::Text("c", 28)]
        );
    }

    #[test]
    fn rejects_what_go_would_not_parse() {
        for bad in [
            "{{ .a",
            "{{ \"a }}",
            "{{ `a }}",
            "{{/* a }}",
            "{{/* a */ .b }}",
            "{{ # }}",
            "{{ 'a }}",
        ] {
            assert!(lex(bad).is_err(), "{bad}");
        }
    }
}
