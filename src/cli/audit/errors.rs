//! What `vaultgate audit` says when the cluster's answer cannot be used: each message names the
//! object or list, what is wrong with it, and what to fix; never serde's or kube's raw text
//! (which may quote a value and which carries its own `Error …` prefix under the CLI's
//! `error:`).

use serde_json::Value;

use crate::{
    audit::Listed,
    cli::check::parse::schema_message,
    policy::{Object, objects::Kind},
};

/// `what` (`listing secrets (metadata)`) failed with `e`: why, and what to fix.
pub fn list_failed(what: &str, e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => {
            let hint = match s.code {
                401 => "; the kubeconfig's credentials are not accepted: log in again",
                403 => "; grant the audit's user `list` on it (the ClusterRole in manifests/base)",
                _ => "",
            };
            let reason = if s.reason.is_empty() {
                "refused"
            } else {
                &s.reason
            };
            format!("{what}: the API server answered {} {reason}{hint}", s.code)
        }
        kube::Error::SerdeError(e) => format!(
            "{what}: the answer is not a Kubernetes list ({}); check that the kubeconfig's \
             server is the cluster's kube-apiserver, not a proxy or a login page",
            serde_problem(e)
        ),
        other => format!(
            "{what}: cannot reach the API server ({}); check the kubeconfig's server address and \
             the network",
            innermost(other)
        ),
    }
}

/// The kind of a decoding problem, never its text (which may quote the answer).
fn serde_problem(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Syntax => "not JSON",
        Category::Eof => "cut short",
        Category::Data => "JSON of another shape",
        Category::Io => "unreadable",
    }
}

/// The root cause's text (`Connection refused (os error 111)`), without the wrappers' prefixes.
fn innermost(e: &dyn std::error::Error) -> String {
    let mut at = e;
    while let Some(next) = at.source() {
        at = next;
    }
    at.to_string()
}

/// A listed object decoded for the engine, or a note naming it and the field to fix.
pub fn decode(
    kind: Kind,
    value: Value,
    managers: Vec<crate::audit::FieldManager>,
) -> Result<Listed, String> {
    let at = format!(
        "{} {}/{}",
        kind.as_str(),
        value
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("-"),
        value
            .pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("-"),
    );
    let mut track = serde_path_to_error::Track::new();
    let decoded = Object::deserialize_kind(
        kind,
        serde_path_to_error::Deserializer::new(value, &mut track),
    );
    match decoded {
        Ok(object) => Ok(Listed { object, managers }),
        Err(e) => Err(format!(
            "{at}: {}; fix the object (or its CRD version) and run the audit again; not judged",
            schema_message(kind.as_str(), &track.path().to_string(), &e)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_malformed_object_names_itself_and_the_field_never_the_value() {
        let value = json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": { "name": "db", "namespace": "payments" },
            "spec": { "data": "CANARY" }
        });
        let note = decode(Kind::ExternalSecret, value, Vec::new()).expect_err("malformed");
        assert!(note.starts_with("ExternalSecret payments/db: "), "{note}");
        assert!(note.contains("at spec.data"), "{note}");
        assert!(note.contains("fix the object"), "{note}");
        assert!(
            !note.contains("CANARY") && !note.contains("invalid type"),
            "{note}"
        );
    }

    #[test]
    fn a_list_that_is_no_list_says_what_to_check_without_serde_or_kube_text() {
        let serde = serde_json::from_str::<Value>("<html>login</html>").expect_err("not JSON");
        let text = list_failed(
            "listing secrets (metadata)",
            &kube::Error::SerdeError(serde),
        );
        assert_eq!(
            text,
            "listing secrets (metadata): the answer is not a Kubernetes list (not JSON); check \
             that the kubeconfig's server is the cluster's kube-apiserver, not a proxy or a login page"
        );
        let mut status =
            kube::core::Status::failure("secrets is forbidden: User \"x\"", "Forbidden");
        status.code = 403;
        let text = list_failed(
            "listing secrets (metadata)",
            &kube::Error::Api(Box::new(status)),
        );
        assert!(
            text.contains("403 Forbidden") && text.contains("grant"),
            "{text}"
        );
        assert!(!text.to_ascii_lowercase().contains("error"), "{text}");
    }
}
