//! The literal-text rule: text a template writes as-is is scaffolding (separators, URL syntax,
//! words, hostnames, ports, identifiers), never something that reads like a credential.
//!
//! It reads the *skeleton* of a value: its literal text, with each action that prints a value
//! as a hole (`None`). Holes join what is on either side of them (an action may print nothing,
//! so a token cut into pieces by actions is still one run), but a hole next to a GUID or
//! after a setting's name counts as a value there.

/// One element of a skeleton: a literal character or a hole, and its byte offset in the
/// template.
pub(super) type Skel = [(Option<char>, usize)];

/// Characters that end a token: structure in URLs, JSON, YAML, INI and DSNs.
fn is_sep(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '/' | ':'
                | '='
                | '&'
                | '?'
                | ','
                | ';'
                | '.'
                | '"'
                | '\''
                | '`'
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '<'
                | '>'
                | '|'
        )
}

/// A setting whose name says it holds a credential: exact names, then name endings (compared
/// lower case, without `-` and `_`).
const CREDENTIAL_NAMES: &[&str] = &[
    "secret",
    "clientsecret",
    "token",
    "pwd",
    "passphrase",
    "credential",
    "credentials",
];
const CREDENTIAL_ENDINGS: &[&str] = &[
    "password",
    "passwd",
    "apikey",
    "secretkey",
    "privatekey",
    "accesskey",
    "accesstoken",
    "authtoken",
    "refreshtoken",
];

struct Token {
    /// Skeleton indices of its characters (holes skipped).
    chars: Vec<usize>,
    /// A hole inside it or right before it.
    holed: bool,
}

/// What in a skeleton reads like a credential, as (byte offset, description).
pub(super) fn literal_problems(s: &Skel) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let tokens = tokens(s, |_, c| !is_sep(c));
    let mut quiet: Vec<(usize, usize)> = Vec::new();
    for t in &tokens {
        let (Some(&first), Some(&last)) = (t.chars.first(), t.chars.last()) else {
            continue;
        };
        let text: String = t.chars.iter().filter_map(|&i| s[i].0).collect();
        if is_guid(&text) {
            quiet.push((first, last));
            if t.holed || !labelled(s, first) {
                out.push((
                    s[first].1,
                    "a GUID-shaped literal that is not a setting's value (after =, : or /)"
                        .to_owned(),
                ));
            }
            continue;
        }
        let (len, [lower, upper, digit, symbol]) = classes(&text);
        let mixed = [lower, upper, digit, symbol].iter().filter(|b| **b).count();
        if len >= 12 && symbol && mixed >= 3 {
            quiet.push((first, last));
            out.push((
                s[first].1,
                format!("a {len}-character literal run mixing letters, digits and symbols"),
            ));
        }
    }
    for w in tokens_of_words(s) {
        let (Some(&first), Some(&last)) = (w.chars.first(), w.chars.last()) else {
            continue;
        };
        if quiet.iter().any(|&(a, b)| a <= first && last <= b) {
            continue;
        }
        let text: String = w.chars.iter().filter_map(|&i| s[i].0).collect();
        let (len, [lower, upper, digit, _]) = classes(&text);
        let letter = lower || upper;
        if (len >= 24 && !is_snake(&text))
            || (!is_name(&text)
                && ((len >= 12 && letter && digit) || (len >= 8 && lower && upper && digit)))
        {
            out.push((
                s[first].1,
                format!("a {len}-character literal run that reads like a credential"),
            ));
        }
    }
    settings(s, &mut out);
    out.sort_by_key(|(at, _)| *at);
    out
}

/// Whether a literal (a key) reads like a credential by itself.
pub(super) fn reads_like_credential(text: &str) -> bool {
    let s: Vec<_> = text.char_indices().map(|(i, c)| (Some(c), i)).collect();
    !literal_problems(&s).is_empty()
}

/// Maximal runs of characters `keep` accepts, holes skipped.
fn tokens(s: &Skel, keep: impl Fn(usize, char) -> bool) -> Vec<Token> {
    let mut out = Vec::new();
    let mut cur: Option<Token> = None;
    let mut hole_before = false;
    for (i, (c, _)) in s.iter().enumerate() {
        match c {
            None => {
                hole_before = true;
                if let Some(t) = cur.as_mut() {
                    t.holed = true;
                }
            }
            Some(c) if keep(i, *c) => {
                cur.get_or_insert_with(|| Token {
                    chars: Vec::new(),
                    holed: hole_before,
                })
                .chars
                .push(i);
            }
            Some(_) => {
                hole_before = false;
                out.extend(cur.take());
            }
        }
    }
    out.extend(cur);
    out
}

/// Runs of letters, digits and `_` (the hex digits of a `%XX` escape are not part of one).
fn tokens_of_words(s: &Skel) -> Vec<Token> {
    let lit = |i: usize| s.get(i).and_then(|(c, _)| *c);
    let mut escape = vec![false; s.len()];
    for i in 0..s.len() {
        if lit(i) == Some('%')
            && lit(i + 1).is_some_and(|c| c.is_ascii_hexdigit())
            && lit(i + 2).is_some_and(|c| c.is_ascii_hexdigit())
        {
            escape[i..i + 3].fill(true);
        }
    }
    tokens(s, |i, c| (c.is_alphanumeric() || c == '_') && !escape[i])
}

/// Length in characters (a `%XX` escape is one symbol) and which of lower case, upper case,
/// digits and symbols (not `-`, `_`) occur.
fn classes(text: &str) -> (usize, [bool; 4]) {
    let chars: Vec<char> = text.chars().collect();
    let mut len = 0;
    let mut c = [false; 4];
    let mut i = 0;
    while let Some(&ch) = chars.get(i) {
        len += 1;
        let escape = ch == '%'
            && chars
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(char::is_ascii_hexdigit));
        if escape {
            c[3] = true;
            i += 3;
            continue;
        }
        c[0] |= ch.is_lowercase();
        c[1] |= ch.is_uppercase();
        c[2] |= ch.is_numeric();
        c[3] |= !(ch.is_alphanumeric() || ch == '-' || ch == '_');
        i += 1;
    }
    (len, c)
}

/// `8-4-4-4-12` hex digits.
fn is_guid(t: &str) -> bool {
    t.len() == 36
        && t.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A name, not a credential: letters then 1 to 4 digits, 16 characters at most (`Cluster0`,
/// `PostgreSQL16`).
fn is_name(t: &str) -> bool {
    let letters = t.trim_end_matches(|c: char| c.is_ascii_digit());
    let digits = t.len() - letters.len();
    t.len() <= 16
        && (1..=4).contains(&digits)
        && !letters.is_empty()
        && letters.chars().all(|c| c.is_ascii_alphabetic())
}

/// An identifier in snake case (`SPRING_DATASOURCE_PASSWORD`, `application_name`): parts of
/// at most 12 characters, each in one case.
fn is_snake(t: &str) -> bool {
    t.contains('_')
        && t.split('_').all(|p| {
            p.chars().count() <= 12
                && (p.chars().all(|c| !c.is_uppercase()) || p.chars().all(|c| !c.is_lowercase()))
        })
}

/// Whether the literal before skeleton index `i` is a setting's `=`, `:` or a path's `/`
/// (with an optional quote and spaces between).
fn labelled(s: &Skel, i: usize) -> bool {
    let mut before = s[..i].iter().rev().map(|(c, _)| *c).peekable();
    if matches!(before.peek(), Some(Some('"' | '\''))) {
        before.next();
    }
    while matches!(before.peek(), Some(Some(' ' | '\t'))) {
        before.next();
    }
    matches!(before.next(), Some(Some('=' | ':' | '/')))
}

/// `password=hunter2`, `"token": "x"`, `client_secret: x`: a setting named like a credential
/// whose value is literal text rather than an action.
fn settings(s: &Skel, out: &mut Vec<(usize, String)>) {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '-';
    let mut i = 0;
    while i < s.len() {
        let start = i;
        while matches!(s.get(i), Some((Some(c), _)) if ident(*c)) {
            i += 1;
        }
        if i == start {
            i += 1;
            continue;
        }
        // A hole right before makes the name dynamic: not this rule's business.
        if start > 0 && s[start - 1].0.is_none() {
            continue;
        }
        let name: String = s[start..i]
            .iter()
            .filter_map(|(c, _)| *c)
            .filter(|c| *c != '-' && *c != '_')
            .flat_map(char::to_lowercase)
            .collect();
        let Some(kind) = CREDENTIAL_NAMES
            .iter()
            .find(|n| **n == name)
            .or_else(|| CREDENTIAL_ENDINGS.iter().find(|n| name.ends_with(**n)))
        else {
            continue;
        };
        let mut j = i;
        let lit = |j: usize| s.get(j).and_then(|(c, _)| *c);
        if matches!(lit(j), Some('"' | '\'')) {
            j += 1;
        }
        while matches!(lit(j), Some(' ' | '\t')) {
            j += 1;
        }
        if !matches!(lit(j), Some('=' | ':')) {
            continue;
        }
        j += 1;
        while matches!(lit(j), Some(' ' | '\t')) {
            j += 1;
        }
        if matches!(lit(j), Some('"' | '\'')) {
            j += 1;
        }
        let Some(Some(first)) = s.get(j).map(|(c, _)| *c) else {
            continue; // a hole (an action) or the end
        };
        if first.is_whitespace()
            || matches!(
                first,
                '"' | '\'' | ',' | ';' | '&' | '}' | ']' | '|' | '>' | '{' | '[' | '$' | '#'
            )
        {
            continue;
        }
        let word: String = s[j..]
            .iter()
            .map_while(|(c, _)| c.filter(|c| !is_sep(*c)))
            .flat_map(char::to_lowercase)
            .collect();
        if matches!(
            word.as_str(),
            "true" | "false" | "null" | "~" | "yes" | "no"
        ) {
            continue;
        }
        out.push((
            s[j].1,
            format!("a setting named like a credential (…{kind}) set to literal text"),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A skeleton of `text`, `\u{1}` marking a hole.
    fn skel(text: &str) -> Vec<(Option<char>, usize)> {
        text.char_indices()
            .map(|(i, c)| ((c != '\u{1}').then_some(c), i))
            .collect()
    }

    fn problems(text: &str) -> Vec<usize> {
        literal_problems(&skel(text))
            .into_iter()
            .map(|(at, _)| at)
            .collect()
    }

    #[test]
    fn scaffolding_is_not_a_credential() {
        for ok in [
            "postgres://\u{1}:\u{1}@\u{1}:5432/app?sslmode=require&application_name=x",
            "temporal-postgres.postgres.svc.cluster.local utf8mb4 X509",
            "mongodb+srv://\u{1}:\u{1}@cluster0.abcde.mongodb.net/?retryWrites=true&w=majority&appName=Cluster0",
            "tenant=72f988bf-86f1-41af-91ab-2d7cd011db47",
            "{\"tenantId\": \"72f988bf-86f1-41af-91ab-2d7cd011db47\"}",
            "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0",
            "options=-c%20search_path%3Dapp PostgreSQL16 kube-prometheus-stack-grafana",
            "password: \u{1}\npassword=\u{1}&token=\u{1} secret: |\n  \u{1} token: true",
            "-----BEGIN CERTIFICATE-----\n\u{1}\n-----END CERTIFICATE-----",
            "password_file: /run/secrets/db existingSecret: db-credentials",
            "SPRING_DATASOURCE_PASSWORD=\u{1} GOOGLE_APPLICATION_CREDENTIALS_JSON",
        ] {
            assert_eq!(problems(ok), Vec::<usize>::new(), "{ok}");
        }
    }

    #[test]
    fn credential_shaped_literals_are_problems() {
        assert_eq!(problems("a ghp_16C7e42F292c6912E7710c838347Ae178B4a"), [2]);
        assert_eq!(problems("x=abc123def456"), [2]);
        assert_eq!(problems("Tr0ub4dor"), [0]);
        assert_eq!(problems("correcthorsebatterystaple"), [0]);
        assert_eq!(problems("\u{1}Xk9#mQ2$pL7!vB4@zR8%"), [1]);
        assert_eq!(problems("\u{1}550e8400-e29b-41d4-a716-446655440000"), [1]);
        assert_eq!(
            problems("k: 550e8400-e29b-41d4-a716-4466554400\u{1}00"),
            [3]
        );
        assert_eq!(problems("ghp_16C\u{1}7e42F29\u{1}2c6912E"), [0]);
        assert_eq!(problems("admin_password = hunter2"), [17]);
        assert_eq!(problems("\"client_secret\": \"x\""), [18]);
        assert_eq!(problems("$2y$10$abcdefghijklmnopqrstuv"), [0]);
    }
}
