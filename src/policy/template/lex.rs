//! Splits a Go `text/template` into literal text and actions, and an action into tokens: as
//! much of Go's lexer as [`scan`](super::scan) needs to tell a reference from a constant.
//! Comments are dropped and trim markers (`{{- `, ` -}}`) applied, so the text items are the
//! text Go writes. Anything it does not recognise is an error, so an unusual spelling is
//! denied rather than read past (ESO would fail to parse it anyway).

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
    /// A quoted or raw string, unescaped as Go does.
    Str(String),
    /// A number, as written.
    Num(&'a str),
    /// A character constant (`'g'`): a number to Go.
    Char,
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
    // ` -}}` ended the last action or comment: the text after it loses its leading space.
    let mut trim_next = false;
    loop {
        let found = cur.rest().find("{{");
        let text_end = found.map_or(s.len(), |i| cur.pos + i);
        let mut text_start = cur.pos;
        if trim_next {
            let t = s.get(text_start..text_end).unwrap_or("");
            text_start = text_end - t.trim_start_matches(is_space).len();
        }
        let Some(i) = found else {
            push_text(&mut items, s, text_start, text_end);
            return Ok(items);
        };
        let open = cur.pos + i;
        cur.pos = open + 2;
        // `{{- ` trims the text before; the marker needs the space after it.
        let mut text_end = text_end;
        if cur.peek() == Some('-') && cur.peek2().is_some_and(is_space) {
            cur.bump();
            cur.eat_while(is_space);
            let t = s.get(text_start..text_end).unwrap_or("");
            text_end = text_start + t.trim_end_matches(is_space).len();
        }
        push_text(&mut items, s, text_start, text_end);
        if cur.rest().starts_with("/*") {
            let Some(end) = cur.rest().find("*/") else {
                return Err(("an unclosed comment", open));
            };
            cur.pos += end + 2;
            let close = cur.rest().trim_start_matches(is_space);
            let skipped = cur.rest().len() - close.len();
            if close.starts_with("}}") || (skipped > 0 && close.starts_with("-}}")) {
                trim_next = close.starts_with('-');
                cur.pos += skipped + if trim_next { 3 } else { 2 };
                continue;
            }
            return Err(("a comment that does not end the action", open));
        }
        let (toks, trimmed) = action(&mut cur, open)?;
        trim_next = trimmed;
        items.push(Item::Action(toks, open));
    }
}

fn push_text<'a>(items: &mut Vec<Item<'a>>, s: &'a str, start: usize, end: usize) {
    if let Some(t) = s.get(start..end)
        && !t.is_empty()
    {
        items.push(Item::Text(t, start));
    }
}

/// Lexes one action up to and including its `}}`; also whether it ends with ` -}}`.
type Action<'a> = (Vec<(Tok<'a>, usize)>, bool);

fn action<'a>(cur: &mut Cursor<'a>, open: usize) -> Result<Action<'a>, LexError> {
    let mut toks = Vec::new();
    loop {
        let spaced = !cur.eat_while(is_space).is_empty();
        let at = cur.pos;
        let rest = cur.rest();
        if rest.starts_with("}}") {
            cur.pos += 2;
            return Ok((toks, false));
        }
        if spaced && rest.starts_with("-}}") {
            cur.pos += 3;
            return Ok((toks, true));
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
            '"' => Tok::Str(quoted(cur, '"').map_err(|e| (e, at))?),
            '\'' => {
                quoted(cur, '\'').map_err(|e| (e, at))?;
                Tok::Char
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
    let start = cur.pos;
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
    Tok::Num(cur.s.get(start..cur.pos).unwrap_or(""))
}

/// A `"`- or `'`-quoted constant, unescaped as Go's `strconv.Unquote` does (an escape Go
/// rejects is an error here too, so the text checked is the text ESO writes).
fn quoted(cur: &mut Cursor<'_>, quote: char) -> Result<String, &'static str> {
    const UNTERMINATED: &str = "an unterminated string or character constant";
    const BAD: &str = "an escape Go does not accept";
    cur.bump();
    let mut out = String::new();
    loop {
        match cur.bump().ok_or(UNTERMINATED)? {
            c if c == quote => return Ok(out),
            '\n' => return Err(UNTERMINATED),
            '\\' => {
                let e = cur.bump().ok_or(UNTERMINATED)?;
                let simple = match e {
                    'a' => Some('\u{7}'),
                    'b' => Some('\u{8}'),
                    'f' => Some('\u{c}'),
                    'n' => Some('\n'),
                    'r' => Some('\r'),
                    't' => Some('\t'),
                    'v' => Some('\u{b}'),
                    '\\' => Some('\\'),
                    c if c == quote => Some(c),
                    _ => None,
                };
                if let Some(c) = simple {
                    out.push(c);
                    continue;
                }
                let (digits, radix) = match e {
                    'x' => (2, 16),
                    'u' => (4, 16),
                    'U' => (8, 16),
                    '0'..='7' => (2, 8),
                    _ => return Err(BAD),
                };
                let mut n = if radix == 8 {
                    e.to_digit(8).unwrap_or(0)
                } else {
                    0
                };
                for _ in 0..digits {
                    let d = cur.bump().and_then(|c| c.to_digit(radix)).ok_or(BAD)?;
                    n = n
                        .checked_mul(radix)
                        .and_then(|n| n.checked_add(d))
                        .ok_or(BAD)?;
                }
                // `\x` and octal escapes are bytes; a byte past ASCII stands in as U+FFFD.
                let c = if matches!(e, 'x' | '0'..='7') && n > 0x7f {
                    Some('\u{fffd}')
                } else {
                    char::from_u32(n)
                };
                out.push(c.ok_or(BAD)?);
            }
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
                Tok::Num("3"),
            ]
        );
        assert_eq!(toks("{{-3}}"), [Tok::Num("-3")]);
        assert_eq!(toks("{{ 'g' }}"), [Tok::Char]);
        assert_eq!(toks(r#"{{ "\x67\u0068\n" }}"#), [Tok::Str("gh\n".into())]);
        assert_eq!(toks("{{- . -}}"), [Tok::Dot]);
        assert_eq!(toks("{{(.a).b}}").len(), 3);
    }

    #[test]
    fn comments_are_dropped_and_trim_markers_applied() {
        let items = lex("a{{/* x */}}b{{- /* y */ -}}c").unwrap();
        assert_eq!(
            items,
            [Item::Text("a", 0), Item::Text("b", 12), Item::Text("c", 28)]
        );
        let items = lex("a \n{{- .x -}}\n b{{ .y }} ").unwrap();
        assert_eq!(items.len(), 5, "{items:?}");
        assert_eq!(items[0], Item::Text("a", 0));
        assert_eq!(items[2], Item::Text("b", 15));
        assert_eq!(items[4], Item::Text(" ", 24));
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
            r#"{{ "\q" }}"#,
        ] {
            assert!(lex(bad).is_err(), "{bad}");
        }
    }
}
