//! Typed views of the workloads whose scripts and service accounts can act as hidden control
//! planes (RFC-SECOPS-0001 §2.4 Inv 6, §8.8): Pod, and the pod templates of Deployment,
//! StatefulSet, DaemonSet, Job and CronJob. Every shape decodes into one [`Workload`] holding
//! the pod spec's service account and, per container (init containers included), the command,
//! args and literal env values a script may use. Nothing else of the pod is decoded.

use serde::{Deserialize, Deserializer};

use super::{Kind, Meta, nullable};

/// A workload reduced to its pod spec.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Workload {
    pub metadata: Meta,
    pub pod: PodSpec,
}

/// The part of a pod spec the workload rules read.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSpec {
    #[serde(default)]
    pub service_account_name: Option<String>,
    /// The deprecated spelling, still honoured by the apiserver when the name is unset.
    #[serde(default)]
    pub service_account: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub init_containers: Vec<Container>,
    #[serde(default, deserialize_with = "nullable")]
    pub containers: Vec<Container>,
}

/// One container: what it runs.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct Container {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default, deserialize_with = "nullable")]
    pub command: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub args: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub env: Vec<EnvVar>,
}

/// An env entry; only a literal `value` is kept (`valueFrom` is a reference, not text).
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
pub struct EnvVar {
    #[serde(default, deserialize_with = "nullable")]
    pub name: String,
    #[serde(default)]
    pub value: Option<String>,
}

impl PodSpec {
    /// The service account the pods run as (`default` when unset, as the apiserver fills it).
    pub fn service_account(&self) -> &str {
        self.service_account_name
            .as_deref()
            .or(self.service_account.as_deref())
            .filter(|s| !s.is_empty())
            .unwrap_or("default")
    }

    /// Init containers first, then the main containers, each with its field path.
    pub fn all_containers(&self) -> impl Iterator<Item = (String, &Container)> {
        let init = self
            .init_containers
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("initContainers[{i}]"), c));
        let main = self
            .containers
            .iter()
            .enumerate()
            .map(|(i, c)| (format!("containers[{i}]"), c));
        init.chain(main)
    }
}

#[derive(Deserialize, Default)]
struct Template {
    #[serde(default, deserialize_with = "nullable")]
    spec: PodSpec,
}

#[derive(Deserialize, Default)]
struct WithTemplate {
    #[serde(default, deserialize_with = "nullable")]
    template: Template,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct CronSpec {
    #[serde(default, deserialize_with = "nullable")]
    job_template: JobTemplate,
}

#[derive(Deserialize, Default)]
struct JobTemplate {
    #[serde(default, deserialize_with = "nullable")]
    spec: WithTemplate,
}

#[derive(Deserialize)]
struct Shape<S> {
    #[serde(default, deserialize_with = "nullable")]
    metadata: Meta,
    #[serde(default = "Option::default")]
    spec: Option<S>,
}

/// Where the pod spec of a workload kind sits: `spec` (Pod), `spec.template.spec` (Deployment,
/// StatefulSet, DaemonSet, Job), `spec.jobTemplate.spec.template.spec` (CronJob).
pub fn pod_spec_path(kind: Kind) -> &'static str {
    match kind {
        Kind::Pod => "spec",
        Kind::CronJob => "spec.jobTemplate.spec.template.spec",
        _ => "spec.template.spec",
    }
}

impl Workload {
    /// Decodes a workload of `kind` (one of the workload kinds).
    pub fn deserialize_kind<'de, D: Deserializer<'de>>(kind: Kind, d: D) -> Result<Self, D::Error> {
        Ok(match kind {
            Kind::Pod => {
                let s = Shape::<PodSpec>::deserialize(d)?;
                Self {
                    metadata: s.metadata,
                    pod: s.spec.unwrap_or_default(),
                }
            }
            Kind::CronJob => {
                let s = Shape::<CronSpec>::deserialize(d)?;
                Self {
                    metadata: s.metadata,
                    pod: s.spec.unwrap_or_default().job_template.spec.template.spec,
                }
            }
            _ => {
                let s = Shape::<WithTemplate>::deserialize(d)?;
                Self {
                    metadata: s.metadata,
                    pod: s.spec.unwrap_or_default().template.spec,
                }
            }
        })
    }

    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.metadata
            .annotations
            .as_ref()?
            .get(key)
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shape_reaches_the_pod_spec() {
        let pod = serde_json::json!({"serviceAccountName": "copier", "containers": [{"name": "c", "command": ["sh", "-c", "true"]}]});
        let cases = [
            (Kind::Pod, serde_json::json!({"spec": pod})),
            (
                Kind::Job,
                serde_json::json!({"spec": {"template": {"spec": pod}}}),
            ),
            (
                Kind::CronJob,
                serde_json::json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": pod}}}}}),
            ),
        ];
        for (kind, json) in cases {
            let w = Workload::deserialize_kind(kind, json).unwrap();
            assert_eq!(w.pod.service_account(), "copier", "{kind:?}");
            assert_eq!(w.pod.containers[0].command[2], "true");
        }
        let empty = Workload::deserialize_kind(Kind::Deployment, serde_json::json!({})).unwrap();
        assert_eq!(empty.pod.service_account(), "default");
    }
}
