//! Every output format's escaping, one function per format, in one place: `check -o junit` and
//! `audit --format html` share one markup escape (they differ only in how a `'` is written),
//! `check -o github` writes the runner's own escapes, and the audit's Markdown tables escape
//! their cells.

/// The five markup characters escaped (`'` as `apos`), and characters XML 1.0 cannot hold (most
/// C0 controls, U+FFFE, U+FFFF) replaced by U+FFFD, which HTML renders the same way.
fn markup(text: &str, apos: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str(apos),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// Text as XML character data or an attribute value (JUnit).
pub fn xml(text: &str) -> String {
    markup(text, "&apos;")
}

/// Text as HTML element content or a quoted attribute value (`&apos;` is not HTML 4).
pub fn html(text: &str) -> String {
    markup(text, "&#39;")
}

/// A GitHub Actions workflow-command message (`@actions/core`'s `escapeData`): `%`, CR, LF.
pub fn github_data(text: &str) -> String {
    text.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// A workflow-command property value (`file=`, `title=`): as a message, and `:`, `,`.
pub fn github_property(text: &str) -> String {
    github_data(text).replace(':', "%3A").replace(',', "%2C")
}

/// A Markdown table cell: a `|` would end the cell, a newline the row.
pub fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_escapes_its_own_specials() {
        assert_eq!(
            xml("a<b & \"c\" 'd'>\u{1}"),
            "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\u{fffd}"
        );
        assert_eq!(
            html("<a href='x'>&\"</a>\u{1}"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;\u{fffd}"
        );
        assert_eq!(github_data("100%\r\nnext: a,b"), "100%25%0D%0Anext: a,b");
        assert_eq!(github_property("a:b,c%\n"), "a%3Ab%2Cc%25%0A");
        assert_eq!(markdown_cell("a|b\nc"), "a\\|b c");
    }
}
