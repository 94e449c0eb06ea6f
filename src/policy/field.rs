//! The field a [`Violation`](super::Violation) is about: its path in kubectl's dotted form with
//! indices (`spec.data[0].remoteRef.key`, `metadata.labels["app"]`), and [`Problems`], the
//! problems of one kind a violation lists, with the field of the first.

use super::Violation;

/// `metadata.labels["key"]` for `map` "label", `metadata.annotations["key"]` for "annotation".
pub(crate) fn metadata(map: &str, key: &str) -> String {
    format!("metadata.{map}s[{key:?}]")
}

/// `metadata.labels["key"]`.
pub(crate) fn label(key: &str) -> String {
    metadata("label", key)
}

/// `metadata.annotations["key"]`.
pub(crate) fn annotation(key: &str) -> String {
    metadata("annotation", key)
}

/// Re-roots the `spec.` fields of `found` under `spec.<inner>.`: the spec a cluster-scoped
/// External Secrets object wraps (`spec.externalSecretSpec`, `spec.pushSecretSpec`) is checked,
/// and named in the text, as the namespaced kind's `spec`.
pub(crate) fn nest(found: &mut [Violation], inner: &str) {
    for v in found {
        if let Some(f) = &mut v.field
            && let Some(rest) = f.strip_prefix("spec.")
        {
            *f = format!("spec.{inner}.{rest}");
        }
    }
}

/// Problems of one kind, in the order a violation's text lists them, and the field the first
/// is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Problems {
    pub(crate) list: Vec<String>,
    pub(crate) field: Option<String>,
}

impl Problems {
    /// Adds `problem`, which is about `field`.
    pub(crate) fn push(&mut self, field: &str, problem: String) {
        if self.field.is_none() {
            self.field = Some(field.to_owned());
        }
        self.list.push(problem);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    pub(crate) fn join(&self, sep: &str) -> String {
        self.list.join(sep)
    }
}

#[cfg(test)]
mod tests;
