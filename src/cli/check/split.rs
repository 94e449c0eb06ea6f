//! Splitting a YAML stream into documents, each with the line its content starts on. Accepts
//! what YAML allows between documents: `---` alone, with a comment or with content on the same
//! line, `...` end markers, `%YAML`/`%TAG` directives, a byte-order mark and CRLF line ends.

/// One document of a stream: the 1-based line of its first content line, and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub line: usize,
    /// The file line of `text`'s first line (comments and blank lines before the content are
    /// kept), so a parser's line inside `text` maps to `start + line - 1` in the file.
    pub start: usize,
    pub text: String,
}

impl Chunk {
    fn empty() -> Self {
        Self {
            line: 0,
            start: 0,
            text: String::new(),
        }
    }

    fn push(&mut self, number: usize, line: &str) {
        if self.text.is_empty() {
            self.start = number;
        }
        self.text.push_str(line);
        self.text.push('\n');
    }
}

/// `---` followed by nothing, whitespace, or whitespace and more text (returned).
fn document_start(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("---")?;
    if rest.is_empty() {
        return Some("");
    }
    rest.starts_with([' ', '\t']).then(|| rest.trim_start())
}

/// `...` alone or followed by whitespace/a comment.
fn document_end(line: &str) -> bool {
    line.strip_prefix("...")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
}

fn is_blank_or_comment(line: &str) -> bool {
    let t = line.trim();
    t.is_empty() || t.starts_with('#')
}

/// Splits `text`, dropping documents with no content (only blank lines and comments).
pub fn split_documents(text: &str) -> Vec<Chunk> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut docs: Vec<Chunk> = Vec::new();
    let mut current = Chunk::empty();
    let mut finish = |current: &mut Chunk| {
        let done = std::mem::replace(current, Chunk::empty());
        if done.line != 0 {
            docs.push(done);
        }
    };
    for (i, raw) in text.lines().enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let number = i + 1;
        if let Some(rest) = document_start(line) {
            finish(&mut current);
            if !is_blank_or_comment(rest) {
                current.line = number;
                current.push(number, rest);
            }
            continue;
        }
        if document_end(line) {
            finish(&mut current);
            continue;
        }
        // A directive (`%YAML 1.2`) can only precede a document's content: `%` cannot start a
        // plain scalar, and nested lines are indented. It is blanked, so lines still count.
        if current.line == 0 && line.starts_with('%') {
            current.push(number, "");
            continue;
        }
        if current.line == 0 && !is_blank_or_comment(line) {
            current.line = number;
        }
        current.push(number, line);
    }
    finish(&mut current);
    docs
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<usize> {
        split_documents(text).iter().map(|c| c.line).collect()
    }

    #[test]
    fn splits_multi_document_yaml_and_skips_empty_documents() {
        let docs = split_documents("---\na: 1\n---\n# only a comment\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[1].line, 6);
    }

    #[test]
    fn accepts_every_separator_form_yaml_allows() {
        let text = "\u{feff}%YAML 1.2\r\n---\r\n# c\r\na: 1\r\n...\r\n--- # next\r\nb: 2\r\n--- c: 3\n---\t\nd: 4\n";
        let docs = split_documents(text);
        assert_eq!(lines(text), vec![4, 7, 8, 10]);
        assert_eq!(docs[2].text, "c: 3\n");
        assert!(docs.iter().all(|d| !d.text.contains('\r')));
    }

    #[test]
    fn a_line_inside_a_document_maps_back_to_its_file_line() {
        let text = "%YAML 1.2\n---\n# c\n\na: 1\nb: [\n--- c: 3\n";
        let docs = split_documents(text);
        // `b: [` is the fourth line of the first text: file line 3 + 4 - 1.
        assert_eq!((docs[0].line, docs[0].start), (5, 3));
        assert_eq!(docs[0].text.lines().nth(3), Some("b: ["));
        assert_eq!((docs[1].line, docs[1].start), (7, 7));
        let leading = split_documents("%YAML 1.2\n# c\na: 1\n");
        assert_eq!((leading[0].line, leading[0].start), (3, 1));
    }

    #[test]
    fn dashes_that_are_not_a_separator_stay_content() {
        let docs = split_documents("a: |\n  ---\n----: x\n");
        assert_eq!(docs.len(), 1);
    }
}
