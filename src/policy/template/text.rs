//! The literal-text rule: text a template writes as-is is scaffolding (separators, URL syntax,
//! words, hostnames, ports, identifiers), never something that reads like a credential.
//!
//! It reads the *skeleton* of a value: its literal text, with each action that prints a value
//! as a hole (`None`). Holes join what is on either side of them (an action may print nothing,
//! so a token cut into pieces by actions is still one run), but a hole next to a GUID or
//! after a setting's name counts as a value there.
//!
//! Since any selection can print nothing (`index` of a missing `split` piece prints `""`),
//! the text is judged as if every action printed nothing, and on its own terms: a bounded
//! length ([`LITERAL_MAX`]), percent and backslash escapes decoded or denied, and two rules
//! that read across punctuation and actions, so `Xk9mQ2p-L7vB4zR` or `xkmq.plvb` cut into
//! short pieces are still read whole: the density of case and letter/digit switches, and runs
//! of consonants.

/// The most literal characters (whitespace included) one value may hold: a template formats
/// values, it is not a file kept in Git.
pub(super) const LITERAL_MAX: usize = 512;
/// The density rule: in any [`WINDOW`] consecutive literal ASCII letters and digits (other
/// characters and actions skipped), more than [`SWITCHES_MAX`] switches between letters and
/// digits or from lower to upper case read like a random string (`Xk9mQ2p`, about 8.5 in 20
/// for random letters and digits). Scaffolding peaks at 6 (`k8s.io/v1beta1` then a word).
const WINDOW: usize = 20;
const SWITCHES_MAX: usize = 7;
/// More consecutive consonants than this (`y` a vowel) in a run of letters read like a random
/// string, not a word (`https` has 5).
const CONSONANTS_MAX: usize = 5;

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
    let length = s.iter().filter(|(c, _)| c.is_some()).count();
    if length > LITERAL_MAX
        && let Some((_, at)) = s.iter().find(|(c, _)| c.is_some())
    {
        out.push((
            *at,
            format!(
                "{length} characters of literal text (at most {LITERAL_MAX} per value: a template formats fetched values, a file belongs in a ConfigMap)"
            ),
        ));
    }
    let decoded = decode(s, &mut out);
    let s = &decoded[..];
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
            quiet.push((first, last));
            out.push((
                s[first].1,
                format!("a {len}-character literal run that reads like a credential"),
            ));
        }
    }
    let loud = |i: usize| !quiet.iter().any(|&(a, b)| a <= i && i <= b);
    density(s, &loud, &mut out);
    consonants(s, &loud, &mut out);
    settings(s, &mut out);
    out.sort_by_key(|(at, _)| *at);
    out
}

/// The skeleton with `%XX` escapes of punctuation or space decoded to that character (one
/// element, at the `%`). An escape of a letter, a digit or a byte that is not printable ASCII
/// spells text this check would not read, and is a problem; so is a backslash escape
/// (`\x67`, `\u0067`, `\U00000067`, `\147`), which decodes to any character where the value
/// is read (JSON, YAML, shells).
fn decode(s: &Skel, out: &mut Vec<(usize, String)>) -> Vec<(Option<char>, usize)> {
    let lit = |i: usize| s.get(i).and_then(|(c, _)| *c);
    let hex = |from: usize, n: usize| {
        (from..from + n).all(|j| lit(j).is_some_and(|c| c.is_ascii_hexdigit()))
    };
    let mut res = Vec::with_capacity(s.len());
    let (mut percent, mut backslash) = (false, false);
    let mut i = 0;
    while i < s.len() {
        let (c, at) = s[i];
        if c == Some('%') && hex(i + 1, 2) {
            let byte = (1..3)
                .filter_map(|j| lit(i + j).and_then(|c| c.to_digit(16)))
                .fold(0, |b, d| b * 16 + d);
            let ch = char::from_u32(byte).filter(|c| *c == ' ' || c.is_ascii_punctuation());
            if ch.is_none() && !percent {
                percent = true;
                out.push((
                    at,
                    "a percent escape of a letter, digit or non-printable byte (it spells text this check cannot read)".to_owned(),
                ));
            }
            res.push((Some(ch.unwrap_or('%')), at));
            i += 3;
            continue;
        }
        if c == Some('\\') && !backslash {
            let escape = match lit(i + 1) {
                Some('x') => hex(i + 2, 2),
                Some('u') => hex(i + 2, 4),
                Some('U') => hex(i + 2, 8),
                Some('0'..='7') => {
                    (i + 1..i + 4).all(|j| lit(j).is_some_and(|c| ('0'..='7').contains(&c)))
                }
                _ => false,
            };
            if escape {
                backslash = true;
                out.push((
                    at,
                    "a backslash escape in literal text (it decodes to any character where the value is read)".to_owned(),
                ));
            }
        }
        res.push((c, at));
        i += 1;
    }
    res
}

/// The density rule ([`WINDOW`], [`SWITCHES_MAX`]) over the literal ASCII letters and digits
/// `loud` keeps, read across everything else.
fn density(s: &Skel, loud: &impl Fn(usize) -> bool, out: &mut Vec<(usize, String)>) {
    let stream: Vec<(char, usize)> = s
        .iter()
        .enumerate()
        .filter_map(|(i, (c, at))| {
            c.filter(|c| c.is_ascii_alphanumeric() && loud(i))
                .map(|c| (c, *at))
        })
        .collect();
    let switch = |a: char, b: char| {
        usize::from(
            a.is_ascii_digit() != b.is_ascii_digit()
                || (a.is_ascii_lowercase() && b.is_ascii_uppercase()),
        )
    };
    let switches: Vec<usize> = stream.windows(2).map(|p| switch(p[0].0, p[1].0)).collect();
    let width = (WINDOW - 1).min(switches.len()).max(1);
    for (start, w) in switches.windows(width).enumerate() {
        let n: usize = w.iter().sum();
        if n > SWITCHES_MAX {
            out.push((
                stream[start].1,
                format!(
                    "literal text that switches case or between letters and digits {n} times in {WINDOW} characters (it reads like a credential, read across punctuation and actions)"
                ),
            ));
            return;
        }
    }
}

/// Runs of letters (across actions) with more than [`CONSONANTS_MAX`] consonants in a row.
fn consonants(s: &Skel, loud: &impl Fn(usize) -> bool, out: &mut Vec<(usize, String)>) {
    for t in tokens(s, |_, c| c.is_ascii_alphabetic()) {
        let mut run = 0;
        for &i in &t.chars {
            let c = s[i].0.map(|c| c.to_ascii_lowercase());
            if loud(i) && c.is_some_and(|c| !"aeiouy".contains(c)) {
                run += 1;
            } else {
                run = 0;
            }
            if run > CONSONANTS_MAX {
                out.push((
                    s[t.chars[0]].1,
                    format!(
                        "a run of more than {CONSONANTS_MAX} consonants in literal text (it reads like a random string, not a word)"
                    ),
                ));
                return;
            }
        }
    }
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

/// Runs of letters, digits and `_` (`%XX` escapes are decoded before).
fn tokens_of_words(s: &Skel) -> Vec<Token> {
    tokens(s, |_, c| c.is_alphanumeric() || c == '_')
}

/// Length in characters and which of lower case, upper case, digits and symbols (not `-`,
/// `_`) occur.
fn classes(text: &str) -> (usize, [bool; 4]) {
    let mut len = 0;
    let mut c = [false; 4];
    for ch in text.chars() {
        len += 1;
        c[0] |= ch.is_lowercase();
        c[1] |= ch.is_uppercase();
        c[2] |= ch.is_numeric();
        c[3] |= !(ch.is_alphanumeric() || ch == '-' || ch == '_');
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

    /// Second attack pass, finding 2: credentials the run rules let through, read whole.
    #[test]
    fn credentials_cut_by_punctuation_or_escaped_are_problems() {
        for bad in [
            "\u{1}XkmQpLvBzRaQwErTyUiOpAs",
            "\u{1}Xk9mQ2p-L7vB4zR-8aQw3Er-T5yU7iO",
            "\u{1}Xk9mQ2p.L7vB4zR.8aQw3Er",
            "\u{1}Xk9,mQ2 p;L7v B4z(R8a)Qw3",
            "\u{1}%4B%6D%51%70%4C%76%42%7A%52%61%51%77%45%72%54%79",
            "\u{1}xkmqplvbzraq_XKMQPLVBZRAQ_wertyuiopasd",
            "\u{1}\\x67\\x68\\x70",
            "\u{1}\\u0067hp",
        ] {
            assert!(!problems(bad).is_empty(), "{bad}");
        }
        let long = format!("\u{1}{}", "word ".repeat(103));
        assert!(!problems(&long).is_empty());
        assert!(problems(&"word ".repeat(102)).is_empty());
        // Scaffolding at the edge of the density rule, and escapes of punctuation.
        for ok in [
            "apiVersion: rbac.authorization.k8s.io/v1beta1\nuser: \u{1}",
            "ip-10-0-1-23.ec2.internal us-east-1 TLSv1.2 sha256",
            "jdbc:postgresql://\u{1}:5432/app?options=-c%20search_path%3Dapp",
        ] {
            assert_eq!(problems(ok), Vec::<usize>::new(), "{ok}");
        }
    }
}
