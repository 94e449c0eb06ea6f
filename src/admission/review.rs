//! `admission.k8s.io/v1` AdmissionReview on the wire. Requests are read by [`super::decode`];
//! responses carry `patch` as a base64
//! string with `patchType: JSONPatch`, the encoding the apiserver accepts.

use std::{borrow::Cow, collections::BTreeMap};

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::policy::Object;

/// The AdmissionReview as read by [`super::decode::read`].
#[derive(Debug, Default)]
pub struct ReviewIn<'a> {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    pub request: Option<RequestIn<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct GroupVersionKind<'a> {
    #[serde(default, borrow)]
    pub group: Cow<'a, str>,
    #[serde(default, borrow)]
    pub version: Cow<'a, str>,
    #[serde(default, borrow)]
    pub kind: Cow<'a, str>,
}

#[derive(Debug, Default, Deserialize)]
pub struct UserInfo {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub groups: Option<Vec<String>>,
}

/// `request`, with the strings rules read borrowed from the body where no JSON escape forces a
/// copy: they are read, never kept.
#[derive(Debug)]
pub struct RequestIn<'a> {
    pub uid: Cow<'a, str>,
    pub kind: GroupVersionKind<'a>,
    pub namespace: Option<Cow<'a, str>>,
    pub name: Option<Cow<'a, str>>,
    pub operation: Cow<'a, str>,
    pub user_info: UserInfo,
    pub object: Payload<'a>,
    pub old_object: Payload<'a>,
    pub dry_run: Option<bool>,
}

/// `request.object` or `request.oldObject`: absent (or `null`), already decoded into the typed view
/// of its kind, or borrowed raw for decoding once the kind is known.
#[derive(Debug, Default)]
pub enum Payload<'a> {
    #[default]
    Absent,
    /// Boxed: an [`Object`] is ~450 bytes, and the payload is moved a few times on its way.
    Decoded(Box<Object>),
    Raw(&'a RawValue),
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResponseOut<'a> {
    pub uid: &'a str,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<&'static str, String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewOut<'a> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub response: ResponseOut<'a>,
}

impl<'a> ResponseOut<'a> {
    pub fn allow(uid: &'a str) -> Self {
        Self {
            uid,
            allowed: true,
            status: None,
            patch: None,
            patch_type: None,
            warnings: Vec::new(),
            audit_annotations: BTreeMap::new(),
        }
    }

    pub fn into_review(self) -> ReviewOut<'a> {
        ReviewOut {
            api_version: "admission.k8s.io/v1",
            kind: "AdmissionReview",
            response: self,
        }
    }
}
