//! Go template functions (Go's builtins, sprig's, ESO's) by what a template rule needs to know
//! of them: which make a value up, and which take constants that never reach the output.

/// Functions that make a value up instead of reading one (sprig's and ESO's), or read the
/// controller's environment.
#[rustfmt::skip]
pub(super) const GENERATORS: &[&str] = &[
    "randAlphaNum", "randAlpha", "randNumeric", "randAscii", "randBytes", "randInt", "uuidv4",
    "derivePassword", "genPrivateKey", "genCA", "genCAWithKey", "genSelfSignedCert",
    "genSelfSignedCertWithKey", "genSignedCert", "genSignedCertWithKey", "env", "expandenv",
];

/// Functions whose constant arguments select, compare or lay out input and never become
/// output by themselves (`join`'s separator is output, and held to the literal-text rule).
#[rustfmt::skip]
pub(super) const SELECTORS: &[&str] = &[
    "index", "filterPEM", "filterCertChain", "trimPrefix", "trimSuffix", "trimAll", "split",
    "splitList", "splitn", "join", "hasPrefix", "hasSuffix", "contains", "regexFind",
    "regexFindAll", "regexMatch", "regexSplit", "eq", "ne", "lt", "le", "gt", "ge", "get",
    "hasKey", "trunc", "substr", "indent", "nindent", "abbrev", "abbrevboth", "wrap", "repeat",
];

/// Which explicit argument of a selector is the value it works on (and would print): that one
/// may not be a constant (`trimPrefix "" "hunter2"` prints a constant). Comparisons print only
/// `true`/`false`; a piped value is the last argument, so every explicit one is a parameter.
pub(super) fn subject(f: &str, args: usize, piped: bool) -> Option<usize> {
    match f {
        "index" | "get" | "hasKey" => Some(0),
        "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "hasPrefix" | "hasSuffix" | "contains"
        | "regexMatch" => None,
        _ if piped => None,
        "regexFindAll" | "regexSplit" => Some(1),
        _ => args.checked_sub(1),
    }
}
