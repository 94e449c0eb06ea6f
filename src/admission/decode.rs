//! Reading an AdmissionReview in one pass. The apiserver writes `request.kind` and
//! `request.operation` before `request.object`, so the object can be decoded into the typed view
//! of its kind as the parser reaches it, instead of being scanned once to borrow it raw and again
//! to decode it — the object is most of the body, and that scan was a quarter of a review's cost.
//!
//! The one-pass reading is an optimisation, never a second dialect: it runs only on UTF-8 bodies,
//! and any failure at all hands the body to the two-pass reading (object borrowed raw, decoded by
//! the caller once the whole request is known), whose results and errors are the ones a client
//! sees. So a one-pass success must equal the two-pass result — `tests` checks every fixture.

use std::{borrow::Cow, fmt};

use serde::{
    Deserialize, Deserializer,
    de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor},
};
use serde_json::value::RawValue;

use super::review::{GroupVersionKind, Payload, RequestIn, ReviewIn, UserInfo};
use crate::policy::{Object, objects::Kind};

/// Reads a review. With `decode_objects`, objects whose kind is already known are decoded in the
/// same pass; without (the caller needs the raw object, e.g. to digest a Secret's values), or
/// when that reading fails, objects come back as [`Payload::Raw`].
pub(super) fn read(body: &[u8], decode_objects: bool) -> Result<ReviewIn<'_>, serde_json::Error> {
    if decode_objects
        && let Ok(text) = std::str::from_utf8(body)
        && let Ok(review) = parse(serde_json::Deserializer::from_str(text), true)
    {
        return Ok(review);
    }
    parse(serde_json::Deserializer::from_slice(body), false)
}

fn parse<'a, R: serde_json::de::Read<'a>>(
    mut de: serde_json::Deserializer<R>,
    decode_objects: bool,
) -> Result<ReviewIn<'a>, serde_json::Error> {
    let review = ReviewSeed { decode_objects }.deserialize(&mut de)?;
    de.end()?;
    Ok(review)
}

/// A string borrowed from the body unless an escape forces a copy.
#[derive(Deserialize)]
#[serde(transparent)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

fn once<T, E: de::Error>(slot: &mut Option<T>, field: &'static str, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(field));
    }
    *slot = Some(value);
    Ok(())
}

struct ReviewSeed {
    decode_objects: bool,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum ReviewField {
    ApiVersion,
    Kind,
    Request,
    #[serde(other)]
    Other,
}

impl<'de> DeserializeSeed<'de> for ReviewSeed {
    type Value = ReviewIn<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ReviewSeed {
    type Value = ReviewIn<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AdmissionReview object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut api_version, mut kind, mut request) = (None, None, None);
        while let Some(field) = map.next_key()? {
            match field {
                ReviewField::ApiVersion => once(&mut api_version, "apiVersion", map.next_value()?)?,
                ReviewField::Kind => once(&mut kind, "kind", map.next_value()?)?,
                ReviewField::Request => once(
                    &mut request,
                    "request",
                    map.next_value_seed(OptionSeed(RequestSeed {
                        decode_objects: self.decode_objects,
                    }))?,
                )?,
                ReviewField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(ReviewIn {
            api_version: api_version.flatten(),
            kind: kind.flatten(),
            request: request.flatten(),
        })
    }
}

/// `null` or the seed's value.
struct OptionSeed<S>(S);

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for OptionSeed<S> {
    type Value = Option<S::Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for OptionSeed<S> {
    type Value = Option<S::Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null or a value")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        self.0.deserialize(d).map(Some)
    }
}

struct RequestSeed {
    decode_objects: bool,
}

#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum RequestField {
    Uid,
    Kind,
    Namespace,
    Name,
    Operation,
    UserInfo,
    Object,
    OldObject,
    DryRun,
    #[serde(other)]
    Other,
}

impl<'de> DeserializeSeed<'de> for RequestSeed {
    type Value = RequestIn<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RequestSeed {
    type Value = RequestIn<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an AdmissionReview request")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut uid = None;
        let mut kind: Option<GroupVersionKind<'de>> = None;
        let (mut namespace, mut name) = (None, None);
        let mut operation: Option<Text<'de>> = None;
        let mut user_info: Option<UserInfo> = None;
        let (mut object, mut old_object) = (None, None);
        let mut dry_run = None;
        while let Some(field) = map.next_key()? {
            match field {
                RequestField::Uid => once(&mut uid, "uid", map.next_value::<Text<'de>>()?)?,
                RequestField::Kind => once(&mut kind, "kind", map.next_value()?)?,
                RequestField::Namespace => {
                    once(
                        &mut namespace,
                        "namespace",
                        map.next_value::<Option<Text<'de>>>()?,
                    )?;
                }
                RequestField::Name => {
                    once(&mut name, "name", map.next_value::<Option<Text<'de>>>()?)?;
                }
                RequestField::Operation => once(&mut operation, "operation", map.next_value()?)?,
                RequestField::UserInfo => once(&mut user_info, "userInfo", map.next_value()?)?,
                RequestField::Object => {
                    // Only CREATE and UPDATE objects are ever evaluated.
                    let seed = self.payload(&kind, &operation, &["CREATE", "UPDATE"]);
                    once(&mut object, "object", map.next_value_seed(seed)?)?;
                }
                RequestField::OldObject => {
                    let seed = self.payload(&kind, &operation, &["UPDATE"]);
                    once(&mut old_object, "oldObject", map.next_value_seed(seed)?)?;
                }
                RequestField::DryRun => once(&mut dry_run, "dryRun", map.next_value()?)?,
                RequestField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(RequestIn {
            uid: uid.ok_or_else(|| de::Error::missing_field("uid"))?.0,
            kind: kind.unwrap_or_default(),
            namespace: namespace.flatten().map(|t| t.0),
            name: name.flatten().map(|t| t.0),
            operation: operation.map(|t| t.0).unwrap_or_default(),
            user_info: user_info.unwrap_or_default(),
            object: object.unwrap_or_default(),
            old_object: old_object.unwrap_or_default(),
            dry_run: dry_run.flatten(),
        })
    }
}

impl RequestSeed {
    /// Decode the payload now when its kind and operation are already known and it will be
    /// evaluated; otherwise borrow it raw.
    fn payload(
        &self,
        kind: &Option<GroupVersionKind<'_>>,
        operation: &Option<Text<'_>>,
        evaluated: &[&str],
    ) -> PayloadSeed {
        let known = || {
            let kind = kind.as_ref()?;
            let operation = operation.as_ref()?;
            evaluated.contains(&&*operation.0).then_some(())?;
            Kind::from_group_kind(&kind.group, &kind.kind)
        };
        PayloadSeed(if self.decode_objects { known() } else { None })
    }
}

/// An object, decoded as `Some(kind)` or borrowed raw; `null` is absent.
struct PayloadSeed(Option<Kind>);

impl<'de> DeserializeSeed<'de> for PayloadSeed {
    type Value = Payload<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for PayloadSeed {
    type Value = Payload<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("null or an object")
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Payload::Absent)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Payload::Absent)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        match self.0 {
            Some(kind) => Object::deserialize_kind(kind, d).map(|o| Payload::Decoded(Box::new(o))),
            None => <&'de RawValue>::deserialize(d).map(Payload::Raw),
        }
    }
}

#[cfg(test)]
mod tests;
