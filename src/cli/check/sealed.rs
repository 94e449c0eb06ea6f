//! A Bitnami SealedSecret judged as the Secret its controller will write: the SealedSecret's
//! name and namespace, `spec.template`'s labels, annotations and type, and the keys of
//! `spec.encryptedData` (and `spec.template.data`) with empty values. Nothing is decrypted and
//! no ciphertext is kept, so none can reach the output.

use serde::Serialize;
use serde_json::{Map, Value, json};

/// The annotations that widen where sealed-secrets agrees to unseal a ciphertext.
const NAMESPACE_WIDE: &str = "sealedsecrets.bitnami.com/namespace-wide";
const CLUSTER_WIDE: &str = "sealedsecrets.bitnami.com/cluster-wide";

/// Where the SealedSecret came from, for the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sealed {
    pub namespace: String,
    pub name: String,
    /// `strict` (bound to namespace and name), `namespace-wide` or `cluster-wide`.
    pub scope: &'static str,
}

/// Whether `apiVersion`/`kind` name a Bitnami SealedSecret.
pub fn is_sealed_secret(api_version: &str, kind: &str) -> bool {
    kind == "SealedSecret" && api_version.starts_with("bitnami.com/")
}

fn annotation_true(value: &Value, pointer: &str, key: &str) -> bool {
    value
        .pointer(pointer)
        .and_then(|a| a.get(key))
        .and_then(Value::as_str)
        == Some("true")
}

/// The Secret `value` (a SealedSecret) will produce, in `namespace` (already resolved: the
/// SealedSecret's, its template's, or `-n`).
pub fn output_secret(value: &Value, namespace: &str) -> (Value, Sealed) {
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let template = value.pointer("/spec/template");
    let meta_field = |field: &str| {
        template
            .and_then(|t| t.pointer(&format!("/metadata/{field}")))
            .filter(|v| v.is_object())
            .cloned()
    };
    let scope = if annotation_true(value, "/metadata/annotations", CLUSTER_WIDE)
        || annotation_true(value, "/spec/template/metadata/annotations", CLUSTER_WIDE)
    {
        "cluster-wide"
    } else if annotation_true(value, "/metadata/annotations", NAMESPACE_WIDE)
        || annotation_true(value, "/spec/template/metadata/annotations", NAMESPACE_WIDE)
    {
        "namespace-wide"
    } else {
        "strict"
    };
    // Keys only: each value is empty, never the ciphertext.
    let mut data = Map::new();
    for source in [
        value.pointer("/spec/encryptedData"),
        template.and_then(|t| t.get("data")),
    ] {
        for key in source
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(Map::keys)
        {
            data.insert(key.clone(), Value::String(String::new()));
        }
    }
    let mut metadata = json!({
        "name": name,
        "namespace": namespace,
        "ownerReferences": [{
            "apiVersion": value.get("apiVersion").and_then(Value::as_str).unwrap_or("bitnami.com/v1alpha1"),
            "kind": "SealedSecret",
            "name": name,
            "uid": value.pointer("/metadata/uid").and_then(Value::as_str).unwrap_or_default(),
            "controller": true,
        }],
    });
    for field in ["labels", "annotations"] {
        if let Some(v) = meta_field(field) {
            metadata[field] = v;
        }
    }
    let mut secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata,
        "data": data,
    });
    if let Some(t) = template
        .and_then(|t| t.get("type"))
        .filter(|t| t.is_string())
    {
        secret["type"] = t.clone();
    }
    (
        secret,
        Sealed {
            namespace: namespace.to_owned(),
            name,
            scope,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_keeps_template_metadata_and_key_names_but_never_ciphertext() {
        let sealed = json!({
            "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
            "metadata": {"name": "vault-unseal", "namespace": "vault",
                "annotations": {"sealedsecrets.bitnami.com/namespace-wide": "true"}},
            "spec": {
                "encryptedData": {"unseal_keys_b64": "AgBy3i4OJSWKciphertext"},
                "template": {"type": "Opaque", "metadata": {"labels": {"app": "vault"}},
                    "data": {"config": "{{ index . \"unseal_keys_b64\" }}"}}
            }
        });
        let (secret, from) = output_secret(&sealed, "vault");
        assert_eq!(secret["metadata"]["name"], "vault-unseal");
        assert_eq!(secret["metadata"]["labels"]["app"], "vault");
        assert_eq!(
            secret["metadata"]["ownerReferences"][0]["kind"],
            "SealedSecret"
        );
        assert_eq!(secret["type"], "Opaque");
        assert_eq!(secret["data"], json!({"unseal_keys_b64": "", "config": ""}));
        assert!(!secret.to_string().contains("AgBy3i4O"));
        assert_eq!(from.scope, "namespace-wide");
    }
}
