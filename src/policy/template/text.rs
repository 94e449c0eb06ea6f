//! The literal-text rule: text a template writes as-is is scaffolding (separators, URL syntax,
//! words, hostnames, ports), never something that reads like a credential.

/// A printf format with its verbs (`%s`, `%-8.2f`, `%%`) replaced by a space.
pub(super) fn strip_verbs(format: &str) -> String {
    let mut out = String::with_capacity(format.len());
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        for v in chars.by_ref() {
            if !matches!(v, '+' | '-' | '#' | ' ' | '.' | '*' | '[' | ']' | '0'..='9') {
                break;
            }
        }
        out.push(' ');
    }
    out
}

/// Runs of letters, digits and `_` in literal text that read like a credential, as (byte
/// offset, length in characters): 24 or more characters; 12 or more mixing letters and
/// digits; 8 or more mixing lower case, upper case and digits. Words, hostnames, ports and
/// URL scaffolding (`postgres`, `5432`, `sslmode`, `application_name`) stay below all three.
pub(super) fn credential_runs(text: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut run: Option<(usize, usize, [bool; 4])> = None;
    for (i, c) in text.char_indices().chain([(text.len(), ' ')]) {
        if c.is_alphanumeric() || c == '_' {
            let (_, len, classes) = run.get_or_insert((i, 0, [false; 4]));
            *len += 1;
            classes[0] |= c.is_lowercase();
            classes[1] |= c.is_uppercase();
            classes[2] |= c.is_numeric();
            classes[3] |= c.is_alphabetic();
        } else if let Some((start, len, [lower, upper, digit, letter])) = run.take()
            && (len >= 24
                || (len >= 12 && letter && digit)
                || (len >= 8 && lower && upper && digit))
        {
            out.push((start, len));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_or_mixed_literal_runs_read_like_credentials() {
        assert!(
            credential_runs("postgres://:@:5432/app?sslmode=require&application_name=x").is_empty()
        );
        assert!(
            credential_runs("temporal-postgres.postgres.svc.cluster.local utf8mb4 X509").is_empty()
        );
        assert_eq!(
            credential_runs("a ghp_16C7e42F292c6912E7710c838347Ae178B4a"),
            [(2, 40)]
        );
        assert_eq!(credential_runs("x=abc123def456"), [(2, 12)]);
        assert_eq!(credential_runs("Tr0ub4dor"), [(0, 9)]);
        assert_eq!(credential_runs("correcthorsebatterystaple"), [(0, 25)]);
        assert_eq!(strip_verbs("%s:%-8.2f%%x"), " :  x");
    }
}
