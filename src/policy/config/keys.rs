//! The label and annotation keys vaultgate owns, built once for the policy's prefix: every
//! Secret review looks up a dozen of them, and each `prefix + name` was an allocation.

use std::borrow::Cow;

/// The names below the prefix that vaultgate reserves (README "Mutation", "Handover controller").
pub const RESERVED: [&str; 13] = [
    "secret-class",
    "bootstrap-source",
    "handover-state",
    "handover-to",
    "handover-retire",
    "handover-at",
    "vault-version",
    "content-digest",
    "first-seen",
    "created-by",
    "admission-uid",
    "git-source",
    "break-glass",
];

/// The reserved keys with the prefix they were built for. Derived data: it compares equal to
/// any other set and is never serialized.
#[derive(Debug, Clone, Default)]
pub struct ReservedKeys {
    prefix: String,
    keys: Vec<String>,
}

impl ReservedKeys {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
            keys: RESERVED.iter().map(|n| format!("{prefix}{n}")).collect(),
        }
    }

    /// `prefix + name`, borrowed when `name` is reserved and the set was built for `prefix`
    /// (a policy whose prefix was changed after loading still gets correct, owned keys).
    pub fn get<'a>(&'a self, prefix: &str, name: &str) -> Cow<'a, str> {
        if self.prefix == prefix
            && let Some(i) = RESERVED.iter().position(|n| *n == name)
            && let Some(key) = self.keys.get(i)
        {
            return Cow::Borrowed(key);
        }
        Cow::Owned(format!("{prefix}{name}"))
    }
}

impl PartialEq for ReservedKeys {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_names_are_borrowed_and_others_or_another_prefix_are_built() {
        let keys = ReservedKeys::new("p.io/");
        assert!(matches!(
            keys.get("p.io/", "secret-class"),
            Cow::Borrowed("p.io/secret-class")
        ));
        assert_eq!(keys.get("p.io/", "other"), "p.io/other");
        assert_eq!(keys.get("q.io/", "secret-class"), "q.io/secret-class");
        assert!(matches!(keys.get("q.io/", "secret-class"), Cow::Owned(_)));
    }
}
