//! Reads a lexed template for where its output can come from: the input keys it references,
//! and every place it could add a value of its own. The rule itself is written down in the
//! parent module's header; this is its action half (each action prints a fetched value through
//! allowed functions) and the hand-off of the literal text to [`text`](super::text).
//!
//! Problems name a character offset, never the text at it: the text may be a credential.

use super::{
    funcs::{Arg, Shape, WIDTH_MAX, is_sep, printf_verbs, shape, why_not},
    lex::{Item, Tok, lex},
    text::literal_problems,
};

/// What a template reads and what is wrong with it.
#[derive(Debug, Default, PartialEq)]
pub(crate) struct Scan {
    /// Root keys referenced (`.key`, `$.key`, `index . "key"`, `get . "key"`,
    /// `dig "key" ... "" .`), in order of appearance.
    pub refs: Vec<String>,
    pub problems: Vec<String>,
}

type Toks<'t, 'a> = &'t [(Tok<'a>, usize)];

/// What an expression evaluates to, as far as the rule cares.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Derived from fetched keys only.
    Value,
    /// A string constant.
    Str(String),
    /// A number, character, `true`, `false` or `nil`.
    Const,
    /// Already reported.
    Bad,
}

/// One argument of a call: an operand as written, or the value piped in.
#[derive(Clone, Copy)]
enum ArgOf<'t, 'a> {
    Op(Toks<'t, 'a>, usize),
    Piped(usize),
}

impl ArgOf<'_, '_> {
    fn at(&self) -> usize {
        match self {
            ArgOf::Op(_, at) | ArgOf::Piped(at) => *at,
        }
    }

    /// The string constant this argument is, if it is one token.
    fn string(&self) -> Option<&str> {
        match self {
            ArgOf::Op([(Tok::Str(s), _)], _) => Some(s),
            _ => None,
        }
    }
}

/// Keywords of Go's control structures.
const CONTROL: &[&str] = &[
    "if", "else", "with", "range", "end", "define", "template", "block", "break", "continue",
];

struct Scanner<'s> {
    text: &'s str,
    out: Scan,
    /// The value's literal text; `None` where an action prints a value.
    skel: Vec<(Option<char>, usize)>,
}

/// Scans one template.
pub(crate) fn scan(text: &str) -> Scan {
    match lex(text) {
        Err((what, at)) => {
            let mut s = Scanner::new(text);
            s.problem(at, &format!("does not parse as a Go template ({what})"));
            s.out
        }
        Ok(items) => scan_items(text, &items),
    }
}

/// Scans the items of one value; offsets are into `text`.
pub(super) fn scan_items(text: &str, items: &[Item<'_>]) -> Scan {
    let mut s = Scanner::new(text);
    for item in items {
        match item {
            Item::Text(t, at) => s
                .skel
                .extend(t.char_indices().map(|(i, c)| (Some(c), at + i))),
            Item::Action(toks, at) => match s.action(toks, *at) {
                Some(space) => s.skel.extend(space.chars().map(|c| (Some(c), *at))),
                None => s.skel.push((None, *at)),
            },
        }
    }
    for (at, what) in literal_problems(&s.skel) {
        s.problem(at, &what);
    }
    s.out
}

/// Whether an action is a bare whitespace constant (`{{ "\n" }}`): it prints layout only.
/// ASCII whitespace only (space, tab, `\r`, `\n`): the other Unicode spaces are characters a
/// Git constant could be spelled in.
pub(super) fn whitespace_action<'t>(toks: Toks<'t, '_>) -> Option<&'t str> {
    match toks {
        [(Tok::Str(s), _)] if s.chars().all(|c| matches!(c, ' ' | '\t' | '\r' | '\n')) => Some(s),
        _ => None,
    }
}

/// What the whole input is denied as: its key names (`spec.data[].secretKey`, `rewrite`
/// targets) are chosen in Git, and `print .`, `toJson .` print them.
const WHOLE_INPUT: &str = "uses the whole input (. or $) as a value: it prints the input's key names, which are chosen in Git (write .key or index . \"key\")";

impl<'s> Scanner<'s> {
    fn new(text: &'s str) -> Self {
        Scanner {
            text,
            out: Scan::default(),
            skel: Vec::new(),
        }
    }

    fn problem(&mut self, at: usize, what: &str) {
        let n = self.text.get(..at).map_or(0, |t| t.chars().count());
        self.out.problems.push(format!("{what} at character {n}"));
    }

    /// One action. Returns the whitespace it prints when it is a whitespace constant; `None`
    /// when it prints a value (or is denied).
    fn action(&mut self, toks: Toks<'_, '_>, at: usize) -> Option<String> {
        let Some((first, first_at)) = toks.first() else {
            self.problem(at, "does not parse as a Go template (an empty action)");
            return None;
        };
        if let Tok::Ident(kw) = first
            && CONTROL.contains(kw)
        {
            self.problem(
                at,
                &format!(
                    "uses {{{{ {kw} }}}}: control structures are not allowed, each action prints one fetched value"
                ),
            );
            return None;
        }
        for (t, t_at) in toks {
            let what = match t {
                Tok::Declare => "declares a variable: each action prints one fetched value",
                Tok::Var(name, _) if *name != "$" => {
                    "uses a variable: each action prints one fetched value"
                }
                Tok::Comma => "does not parse as a Go template (a comma outside range)",
                _ => continue,
            };
            self.problem(*t_at, what);
            return None;
        }
        if let Some(space) = whitespace_action(toks) {
            return Some(space.to_owned());
        }
        match self.pipeline(toks) {
            Kind::Value | Kind::Bad => {}
            Kind::Str(_) | Kind::Const => {
                self.problem(*first_at, "an action that prints a constant")
            }
        }
        None
    }

    /// A pipeline: commands joined by `|`.
    fn pipeline(&mut self, toks: Toks<'_, '_>) -> Kind {
        let mut depth = 0usize;
        let mut start = 0;
        let mut commands = Vec::new();
        for (i, (t, at)) in toks.iter().enumerate() {
            match t {
                Tok::LParen => depth += 1,
                Tok::RParen if depth == 0 => {
                    self.problem(
                        *at,
                        "does not parse as a Go template (an unmatched parenthesis)",
                    );
                    return Kind::Bad;
                }
                Tok::RParen => depth -= 1,
                Tok::Pipe if depth == 0 => {
                    commands.push(&toks[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
        if depth > 0 {
            let at = toks.first().map_or(0, |(_, at)| *at);
            self.problem(
                at,
                "does not parse as a Go template (an unclosed parenthesis)",
            );
            return Kind::Bad;
        }
        commands.push(&toks[start..]);
        let mut piped: Option<(Kind, usize)> = None;
        for cmd in commands {
            let at = cmd.first().map_or(0, |(_, at)| *at);
            let kind = self.command(cmd, piped.take());
            piped = Some((kind, at));
        }
        piped.map_or(Kind::Bad, |(k, _)| k)
    }

    /// One command: a function and its arguments, or a single operand. `piped`: the previous
    /// command's result, its last argument.
    fn command(&mut self, toks: Toks<'_, '_>, piped: Option<(Kind, usize)>) -> Kind {
        let ops = operands(toks);
        let Some(&(head, head_at)) = ops.first() else {
            let at = piped.as_ref().map_or(0, |(_, at)| *at);
            self.problem(at, "does not parse as a Go template (an empty command)");
            return Kind::Bad;
        };
        if let [(Tok::Ident(f), _)] = head
            && !matches!(*f, "true" | "false" | "nil")
        {
            return self.call(f, head_at, &ops[1..], piped);
        }
        if ops.len() > 1 || piped.is_some() {
            self.problem(
                head_at,
                "does not parse as a Go template (arguments to something that is not a function)",
            );
            return Kind::Bad;
        }
        self.operand(head, head_at)
    }

    /// A single operand.
    fn operand(&mut self, op: Toks<'_, '_>, at: usize) -> Kind {
        match op {
            [(Tok::LParen, _), inner @ .., (Tok::RParen, _)] => self.pipeline(inner),
            [(Tok::Str(s), _)] => Kind::Str(s.clone()),
            [(Tok::Num(_) | Tok::Char, _)] => Kind::Const,
            [(Tok::Ident("true" | "false" | "nil"), _)] => Kind::Const,
            [(Tok::Ident(f), _)] => self.call(f, at, &[], None),
            [(Tok::Dot, _)] => {
                self.problem(at, WHOLE_INPUT);
                Kind::Bad
            }
            [(Tok::Field(chain), _)] => {
                if let Some(k) = chain.first() {
                    self.out.refs.push((*k).to_owned());
                }
                Kind::Value
            }
            [(Tok::Var("$", chain), _)] => match chain.first() {
                Some(k) => {
                    self.out.refs.push((*k).to_owned());
                    Kind::Value
                }
                None => {
                    self.problem(at, WHOLE_INPUT);
                    Kind::Bad
                }
            },
            _ => {
                self.problem(at, "does not parse as a Go template (an unexpected token)");
                Kind::Bad
            }
        }
    }

    fn eval(&mut self, arg: ArgOf<'_, '_>, piped: &Option<(Kind, usize)>) -> Kind {
        match arg {
            ArgOf::Op(op, at) => self.operand(op, at),
            ArgOf::Piped(_) => piped.as_ref().map_or(Kind::Bad, |(k, _)| k.clone()),
        }
    }

    /// A call of `f` (at `at`) with `ops` and the piped value.
    fn call(
        &mut self,
        f: &str,
        at: usize,
        ops: &[(Toks<'_, '_>, usize)],
        piped: Option<(Kind, usize)>,
    ) -> Kind {
        let Some(shape) = shape(f) else {
            self.problem(at, &format!("calls {f}, which {}", why_not(f)));
            // Its arguments too, so one review names every problem.
            for &(op, op_at) in ops {
                self.operand(op, op_at);
            }
            return Kind::Bad;
        };
        let mut args: Vec<ArgOf<'_, '_>> = ops.iter().map(|&(op, at)| ArgOf::Op(op, at)).collect();
        if let Some((_, p_at)) = &piped {
            args.push(ArgOf::Piped(*p_at));
        }
        let n = args.len();
        // `get . "key"` and `dig "key" ... "" .`: a reference to that key, the one way besides
        // `index . "key"` the whole input may be named.
        let root_at = match shape {
            Shape::Fixed(_) if f == "get" && n == 2 => Some((0, 1)),
            Shape::Dig if n >= 3 => Some((n - 1, 0)),
            _ => None,
        };
        if let Some((root, key)) = root_at
            && let (ArgOf::Op([r], _), Some(k)) = (args[root], args[key].string())
            && is_root(r)
        {
            self.out.refs.push(k.to_owned());
            for (i, &arg) in args.iter().enumerate() {
                let role = match (f, i) {
                    _ if i == root || i == key => continue,
                    ("dig", i) if i == n - 2 => Arg::Empty,
                    _ => Arg::Key,
                };
                self.arg(f, role, arg, &piped);
            }
            return Kind::Value;
        }
        let roles: Vec<Arg> = match shape {
            Shape::Fixed(spec) => {
                if n != spec.len() {
                    self.problem(
                        at,
                        &format!("calls {f} with {n} arguments (it takes {})", spec.len()),
                    );
                    return Kind::Bad;
                }
                spec.to_vec()
            }
            Shape::Values if n > 0 => vec![Arg::Value; n],
            Shape::Index if n >= 2 => {
                if let (ArgOf::Op([root], _), Some(key)) = (args[0], args[1].string())
                    && is_root(root)
                {
                    // `index . "key"`: a reference to that key.
                    self.out.refs.push(key.to_owned());
                    for &arg in &args[2..] {
                        self.arg(f, Arg::Key, arg, &piped);
                    }
                    return Kind::Value;
                }
                let mut r = vec![Arg::Key; n];
                r[0] = Arg::Value;
                r
            }
            Shape::Dig if n >= 3 => {
                let mut r = vec![Arg::Key; n];
                r[n - 2] = Arg::Empty;
                r[n - 1] = Arg::Value;
                r
            }
            Shape::Printf if n >= 1 => {
                match args[0].string().map(printf_verbs) {
                    None => self.problem(
                        args[0].at(),
                        "a printf format that is not a string constant",
                    ),
                    Some(Err(what)) => self.problem(args[0].at(), what),
                    Some(Ok(verbs)) if verbs != n - 1 => self.problem(
                        args[0].at(),
                        &format!("a printf format with {verbs} verbs for {} values", n - 1),
                    ),
                    Some(Ok(_)) => {}
                }
                for &arg in &args[1..] {
                    self.arg(f, Arg::Value, arg, &piped);
                }
                return Kind::Value;
            }
            _ => {
                self.problem(at, &format!("calls {f} with {n} arguments"));
                return Kind::Bad;
            }
        };
        for (&arg, role) in args.iter().zip(roles) {
            self.arg(f, role, arg, &piped);
        }
        Kind::Value
    }

    /// Checks one argument of `f` against its role.
    fn arg(&mut self, f: &str, role: Arg, arg: ArgOf<'_, '_>, piped: &Option<(Kind, usize)>) {
        let at = arg.at();
        let what = match role {
            Arg::Value => match self.eval(arg, piped) {
                Kind::Value | Kind::Bad => return,
                Kind::Str(_) | Kind::Const => format!("a constant where {f} takes a fetched value"),
            },
            Arg::Key => {
                self.eval(arg, piped);
                return;
            }
            Arg::Pattern if arg.string().is_some() => return,
            Arg::Pattern => format!("{f} takes a string constant here"),
            Arg::Sep if arg.string().is_some_and(is_sep) => return,
            Arg::Sep => format!(
                "{f} prints a separator that is not a string constant of at most {} whitespace or punctuation characters",
                super::funcs::SEP_MAX
            ),
            Arg::Width => match arg {
                ArgOf::Op([(Tok::Num(n), _)], _)
                    if n.bytes().all(|b| b.is_ascii_digit())
                        && n.parse::<u32>().is_ok_and(|w| w <= WIDTH_MAX) =>
                {
                    return;
                }
                _ => format!("{f} takes a width from 0 to {WIDTH_MAX}"),
            },
            Arg::Empty if arg.string() == Some("") => return,
            Arg::Empty => "dig's default is not \"\" (it is printed when the keys miss)".to_owned(),
        };
        self.problem(at, &what);
    }
}

/// `.` or `$`: the whole input.
fn is_root(op: &(Tok<'_>, usize)) -> bool {
    match &op.0 {
        Tok::Dot => true,
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
        assert_eq!(refs("{{ .url | trimPrefix \"https://\" }}"), ["url"]);
        assert_eq!(
            refs("{{ .password | fromJson | dig \"db\" \"password\" \"\" }}"),
            ["password"]
        );
        assert_eq!(refs("{{ .password }}{{ \"\\n\" }}"), ["password"]);
        assert_eq!(refs("{{ .password | replace \"\\n\" \"\" }}"), ["password"]);
        assert_eq!(
            refs("{{ .list | fromJson | join \", \" | nindent 4 }}{{/* hunter2 */}}"),
            ["list"]
        );
        assert_eq!(
            refs("{{ pemToPkcs12Pass .crt .key .pass }}"),
            ["crt", "key", "pass"]
        );
        assert_eq!(refs("{{ get . \"password\" }}"), ["password"]);
        assert_eq!(refs("{{ dig \"config\" \"\" $ }}"), ["config"]);
    }

    /// Second attack pass, finding 1: the input's key names are Git text.
    #[test]
    fn the_whole_input_is_never_a_value() {
        for t in [
            "{{ . | toJson }}",
            "{{ toJson $ }}",
            "{{ index (split \":\" (print .)) \"_0\" | trimPrefix \"map[\" }}",
            "{{ index (split \"\\\"\" (toJson .)) \"_1\" }}",
            "{{ index (splitList \"\\\"\" (toJson $)) 1 }}",
            "{{ . }}",
            "{{ index . .password }}",
            "{{ .password | index . }}",
            "{{ get . .password }}",
            "{{ dig \"a\" \"\" (toJson .) }}",
        ] {
            let p = problems(t);
            assert!(
                p.iter().any(|m| m.contains("the whole input")),
                "{t}: {p:?}"
            );
        }
    }

    #[test]
    fn constants_inside_actions_are_problems() {
        for t in [
            "{{ \"hunter2\" }}",
            "{{ print \"secret\" }}",
            "{{ `hunter2` }}",
            "{{ .u | default \"hunter2\" }}",
            "{{ .u | replace .u \"x\" }}",
            "{{ .u | replace \"a\" \"hunter2\" }}",
            "{{ printf \"%s\" \"hunter2\" }}",
            "{{ printf \"%c%c\" 104 117 }}",
            "{{ printf \"ghp_%s\" .u }}",
            "{{ printf \"%s%s\" .u }}",
            "{{ 4242 }}",
            "{{ 'g' }}",
            "{{ (print \"a\") }}",
            "{{ trimPrefix \"\" \"hunter2\" }}{{ .password }}",
            "{{ index \"hunter2\" 0 }}{{ .password }}",
            "{{ .p | fromJson | dig \"x\" \"hunter2\" }}",
            "{{ .p | indent 'g' }}",
            "{{ .p | indent 100000 }}",
            "{{ .p | join \"-----\" }}",
            "{{ pemToPkcs12Pass .crt .key \"changeit\" }}",
            "{{ .p | printf }}",
            "{{ .p | trimAll \"abc\" }}",
            "{{ \"\\u2000\" }}",
            "{{ \"\\u00a0\" }}",
            "{{ dig \"a\" \"x\" . }}",
        ] {
            assert!(!problems(t).is_empty(), "{t}");
        }
    }

    #[test]
    fn functions_off_the_list_control_flow_and_variables_are_problems() {
        for t in [
            "{{ randAlphaNum 32 }}",
            "{{ uuidv4 }}",
            "{{ env \"HOME\" }}",
            "{{ .p | trunc 0 }}",
            "{{ .p | trunc 1 | repeat 'g' | len }}",
            "{{ printf \"%s\" (len .p) }}",
            "{{ getSecretKey \"x\" \"ns\" \"k\" }}",
            "{{ .p | sha256sum }}",
            "{{ printf \"%s\" now }}",
            "{{ if .password }}{{ end }}",
            "{{ with .password }}{{ . }}{{ end }}",
            "{{ range $k, $v := . }}{{ $k }}{{ end }}",
            "{{ $p := .password }}{{ $p }}",
            "{{ define \"x\" }}a{{ end }}{{ template \"x\" . }}",
            "{{ .a",
            "{{ }}",
            "{{ (.a }}",
            "{{ .a .b }}",
            "{{ .a | .b }}",
        ] {
            assert!(!problems(t).is_empty(), "{t}");
        }
        let p = problems("{{ .p | trunc 1 | repeat 104 }}");
        assert!(
            p.iter()
                .any(|m| m.starts_with("calls trunc, which computes")),
            "{p:?}"
        );
    }

    #[test]
    fn literal_text_is_read_across_actions() {
        // A token cut into short pieces by actions is still one run.
        let cut = scan("ghp_16C{{ .x }}7e42F29{{ .x }}2c6912E");
        assert_eq!(cut.problems.len(), 1, "{:?}", cut.problems);
        assert!(cut.problems[0].ends_with("at character 0"));
        assert_eq!(
            scan("{{ .password | b64enc }}Xk9#mQ2$pL7!vB4@zR8%")
                .problems
                .len(),
            1
        );
        assert!(refs("mongodb+srv://{{ .username }}:{{ .password }}@cluster0.abcde.mongodb.net/?retryWrites=true&w=majority&appName=Cluster0").len() == 2);
        assert!(refs("{{ .password }}\ntenant=72f988bf-86f1-41af-91ab-2d7cd011db47").len() == 1);
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
