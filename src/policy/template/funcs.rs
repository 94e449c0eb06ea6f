//! The functions a template may call: an allowlist of pure formatting functions (Go's
//! builtins, sprig's, ESO's), each with what its arguments may be. Anything else is denied
//! with its name.

/// What one argument of an allowed function may be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Arg {
    /// A value read from a fetched key (a pipeline starting at `.key`, `index . "key"`, `.`).
    Value,
    /// What to select (`index`/`get`/`dig` keys, a PEM type): a constant or a value. Never
    /// printed.
    Key,
    /// What to cut from the value (`trimPrefix`, `replace`'s old text, `split`'s separator):
    /// a string constant that must match as a whole (never a cutset, so `trimAll` is off the
    /// list). Never printed; a value here could cancel the value out.
    Pattern,
    /// Printed between or in place of pieces of the value (`join`, `replace`'s new text): a
    /// string constant of at most [`SEP_MAX`] whitespace or ASCII punctuation characters.
    Sep,
    /// A layout width (`indent`): a decimal integer constant up to [`WIDTH_MAX`].
    Width,
    /// `dig`'s default, printed when the keys miss: the empty string.
    Empty,
}

/// The longest separator constant: enough for `", "`, `"://"`, `"\r\n"`.
pub(super) const SEP_MAX: usize = 4;
/// The widest `indent`/`nindent`.
pub(super) const WIDTH_MAX: u32 = 64;

/// How an allowed function takes its arguments (a piped value is the last one).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Shape {
    Fixed(&'static [Arg]),
    /// One or more values (`print`, `quote`, `urlquery`).
    Values,
    /// `index collection key...`.
    Index,
    /// `dig key... "" dict`.
    Dig,
    /// `printf format value...`: the format is `%s`/`%v`/`%q` verbs and separators.
    Printf,
}

use Arg::{Key, Pattern, Sep, Value, Width};

const V: &[Arg] = &[Value];
const VV: &[Arg] = &[Value, Value];
const VVV: &[Arg] = &[Value, Value, Value];

/// The allowlist.
#[rustfmt::skip]
const ALLOWED: &[(&str, Shape)] = &[
    // Encodings and case: the value, spelled another way.
    ("toString", Shape::Fixed(V)), ("b64enc", Shape::Fixed(V)), ("b64dec", Shape::Fixed(V)),
    ("b32enc", Shape::Fixed(V)), ("b32dec", Shape::Fixed(V)), ("upper", Shape::Fixed(V)),
    ("lower", Shape::Fixed(V)), ("title", Shape::Fixed(V)), ("trim", Shape::Fixed(V)),
    ("toJson", Shape::Fixed(V)), ("toRawJson", Shape::Fixed(V)),
    ("toPrettyJson", Shape::Fixed(V)), ("mustToJson", Shape::Fixed(V)),
    ("mustToRawJson", Shape::Fixed(V)), ("mustToPrettyJson", Shape::Fixed(V)),
    ("fromJson", Shape::Fixed(V)), ("mustFromJson", Shape::Fixed(V)),
    ("toYaml", Shape::Fixed(V)), ("fromYaml", Shape::Fixed(V)),
    ("quote", Shape::Values), ("squote", Shape::Values), ("print", Shape::Values),
    ("println", Shape::Values), ("cat", Shape::Values), ("urlquery", Shape::Values),
    ("html", Shape::Values), ("js", Shape::Values), ("printf", Shape::Printf),
    // Selection and layout.
    ("index", Shape::Index), ("dig", Shape::Dig), ("get", Shape::Fixed(&[Value, Key])),
    ("trimPrefix", Shape::Fixed(&[Pattern, Value])), ("trimSuffix", Shape::Fixed(&[Pattern, Value])),
    ("split", Shape::Fixed(&[Pattern, Value])),
    ("splitList", Shape::Fixed(&[Pattern, Value])),
    ("replace", Shape::Fixed(&[Pattern, Sep, Value])), ("join", Shape::Fixed(&[Sep, Value])),
    ("indent", Shape::Fixed(&[Width, Value])), ("nindent", Shape::Fixed(&[Width, Value])),
    // ESO's certificate and key helpers: every input, a password included, is a value.
    ("filterPEM", Shape::Fixed(&[Key, Value])), ("filterCertChain", Shape::Fixed(&[Key, Value])),
    ("pkcs12key", Shape::Fixed(V)), ("pkcs12cert", Shape::Fixed(V)),
    ("pkcs12keyPass", Shape::Fixed(VV)), ("pkcs12certPass", Shape::Fixed(VV)),
    ("pemToPkcs12", Shape::Fixed(VV)), ("pemToPkcs12Pass", Shape::Fixed(VVV)),
    ("fullPemToPkcs12", Shape::Fixed(VV)), ("fullPemToPkcs12Pass", Shape::Fixed(VVV)),
    ("pemTruststoreToPKCS12", Shape::Fixed(V)), ("pemTruststoreToPKCS12Pass", Shape::Fixed(VV)),
    ("jwkPublicKeyPem", Shape::Fixed(V)), ("jwkPrivateKeyPem", Shape::Fixed(V)),
];

/// An allowed function's shape.
pub(super) fn shape(f: &str) -> Option<Shape> {
    ALLOWED.iter().find(|(n, _)| *n == f).map(|(_, s)| *s)
}

/// Why a function off the list is denied, for the common cases; the rest are "not a
/// formatting function".
pub(super) fn why_not(f: &str) -> &'static str {
    match f {
        "randAlphaNum"
        | "randAlpha"
        | "randNumeric"
        | "randAscii"
        | "randBytes"
        | "randInt"
        | "uuidv4"
        | "derivePassword"
        | "genPrivateKey"
        | "genCA"
        | "genCAWithKey"
        | "genSelfSignedCert"
        | "genSelfSignedCertWithKey"
        | "genSignedCert"
        | "genSignedCertWithKey"
        | "buildCustomCert"
        | "htpasswd"
        | "bcrypt"
        | "encryptAES"
        | "shuffle"
        | "now"
        | "date"
        | "dateInZone"
        | "unixEpoch" => "makes a value up instead of reading it",
        "trimAll" | "trimLeft" | "trimRight" => {
            "takes a cutset that can erase any value, leaving only the template's own text"
        }
        "env" | "expandenv" | "getHostByName" | "getSecretKey" => {
            "reads something other than the fetched keys"
        }
        "default" | "coalesce" | "ternary" | "or" | "and" | "list" | "dict" | "tuple" | "set"
        | "append" | "prepend" | "concat" | "merge" | "mergeOverwrite" | "decryptAES"
        | "rsaDecrypt" => "can print a constant of the template's own",
        "len"
        | "repeat"
        | "trunc"
        | "substr"
        | "abbrev"
        | "abbrevboth"
        | "wrap"
        | "wrapWith"
        | "add"
        | "add1"
        | "sub"
        | "mul"
        | "div"
        | "mod"
        | "max"
        | "min"
        | "int"
        | "int64"
        | "float64"
        | "atoi"
        | "seq"
        | "until"
        | "untilStep"
        | "eq"
        | "ne"
        | "lt"
        | "le"
        | "gt"
        | "ge"
        | "not"
        | "empty"
        | "has"
        | "hasKey"
        | "contains"
        | "hasPrefix"
        | "hasSuffix"
        | "regexMatch"
        | "regexFind"
        | "regexFindAll"
        | "regexReplaceAll"
        | "regexReplaceAllLiteral"
        | "regexSplit"
        | "kindOf"
        | "typeOf"
        | "first"
        | "last"
        | "rest"
        | "initial"
        | "reverse"
        | "keys"
        | "values"
        | "sortAlpha"
        | "sha1sum"
        | "sha256sum"
        | "sha512sum"
        | "adler32sum"
        | "call"
        | "slice" => {
            "computes a new value (numbers, lengths, cut text), and constants become characters through it"
        }
        _ => "is not one of the formatting functions a template may call",
    }
}

/// A separator constant: short, whitespace or ASCII punctuation only.
pub(super) fn is_sep(s: &str) -> bool {
    s.chars().count() <= SEP_MAX
        && s.chars()
            .all(|c| c.is_ascii_punctuation() || matches!(c, ' ' | '\t' | '\r' | '\n'))
}

/// A printf format's problem, if any: only `%s`, `%v`, `%q` (no flags or widths) and `%%`,
/// with at most [`SEP_MAX`] separator characters between them. Otherwise the verb count.
pub(super) fn printf_verbs(format: &str) -> Result<usize, &'static str> {
    let mut verbs = 0;
    let mut run = String::new();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        let c = if c == '%' {
            match chars.next() {
                Some('%') => '%',
                Some('s' | 'v' | 'q') => {
                    if !is_sep(&run) {
                        return Err(
                            "a printf format whose text is not a short separator (write text outside {{ }})",
                        );
                    }
                    run.clear();
                    verbs += 1;
                    continue;
                }
                _ => return Err("a printf verb other than %s, %v or %q"),
            }
        } else {
            c
        };
        run.push(c);
    }
    if is_sep(&run) {
        Ok(verbs)
    } else {
        Err("a printf format whose text is not a short separator (write text outside {{ }})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printf_formats_are_verbs_and_separators() {
        assert_eq!(printf_verbs("%s:%s"), Ok(2));
        assert_eq!(printf_verbs("%s://%v@%q%%"), Ok(3));
        assert!(printf_verbs("%c%c").is_err());
        assert!(printf_verbs("%-8s").is_err());
        assert!(printf_verbs("ghp_%s").is_err());
        assert!(printf_verbs("%s!!!!!").is_err());
        assert!(is_sep("\r\n") && is_sep(", ") && !is_sep("a") && !is_sep("-----"));
    }

    #[test]
    fn the_allowlist_has_no_generator_or_arithmetic() {
        for f in [
            "len",
            "repeat",
            "trunc",
            "printf",
            "getSecretKey",
            "default",
            "env",
            "trimAll",
            "trimLeft",
        ] {
            assert_eq!(shape(f).is_some(), f == "printf", "{f}");
        }
        assert!(why_not("trimAll").contains("cutset"));
        assert_eq!(
            why_not("getSecretKey"),
            "reads something other than the fetched keys"
        );
    }
}
