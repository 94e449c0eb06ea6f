//! The admission protocol adapter: AdmissionReview bytes in, AdmissionReview bytes out. Decodes
//! the request into typed policy values, calls [`policy::evaluate`] (validate) or
//! [`policy::mutate`] (mutate), and encodes the verdict — a denial is a normal 200 response.
//! Only unreadable reviews are errors ([`BadReview`], HTTP 400), and their messages name the
//! position of the problem, never the content: a value from the request never reaches a log.

mod decode;
mod engine;
mod error;
mod log;
mod notices;
pub mod patch;
pub mod review;
mod tally;

pub use engine::Engine;
pub use error::BadReview;

use std::{sync::Arc, time::Instant};

use crate::{
    cluster::ClusterView,
    metrics::{BadRequestLabels, Metrics, RuleLabels},
    policy::{
        self, Decision, Identity, Object, Operation, Policy, Review, classify, identity::Writer,
        mutate, objects::Kind,
    },
};
use error::describe;
use log::{Call, Trace};
use review::{Payload, RequestIn, ResponseOut, Status};

/// Which webhook endpoint was called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    Validate,
    Mutate,
}

impl Route {
    fn as_str(self) -> &'static str {
        match self {
            Self::Validate => "validate",
            Self::Mutate => "mutate",
        }
    }
}

/// What a review came to: the `decision` of the review metrics and the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Allowed,
    /// Allowed with warnings (warn mode or break-glass).
    Warned,
    Denied,
    /// Allowed with a patch (the mutating route).
    Patched,
}

impl Outcome {
    /// Every outcome, in the order the metrics cache slots them.
    pub const ALL: [Outcome; 4] = [Self::Allowed, Self::Warned, Self::Denied, Self::Patched];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allowed => "allowed",
            Self::Warned => "warned",
            Self::Denied => "denied",
            Self::Patched => "patched",
        }
    }
}

/// The webhook: the engine (policy and cluster view, swapped whole on a policy reload) and
/// the metrics, shared by every request.
pub struct Webhook {
    engine: engine::Current,
    metrics: Arc<Metrics>,
    tally: tally::Tally,
    notices: notices::Notices,
    /// Whether /validate requires the stamps /mutate writes (VG112): set by `serve`, which is
    /// deployed with its mutating webhook ([`Webhook::after_mutating_webhook`]).
    stamps_expected: bool,
}

impl Webhook {
    pub fn new(policy: Arc<Policy>, view: Arc<dyn ClusterView>, metrics: Arc<Metrics>) -> Self {
        Self {
            engine: engine::Current::new(Engine { policy, view }),
            metrics,
            tally: tally::Tally::new(),
            notices: notices::Notices::default(),
            stamps_expected: false,
        }
    }

    /// /validate judges requests that have been through the apiserver's mutating admission with
    /// vaultgate's mutating webhook registered (manifests/base, the chart): a bootstrap Secret
    /// without the stamps it writes is denied (VG112). Without it (the default, for tests and
    /// tools that post reviews as built) /validate judges the review as sent, like `check`.
    pub fn after_mutating_webhook(mut self) -> Self {
        self.stamps_expected = true;
        self
    }

    /// The metrics text, with the exception gauges computed from the policy at `now`.
    pub fn metrics_text(&self, now: std::time::SystemTime) -> String {
        notices::set_gauges(&self.metrics, &self.engine.load().policy, now);
        self.metrics.encode()
    }

    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// The engine in effect: the policy reviews are judged with now, and its view.
    pub fn engine(&self) -> Arc<Engine> {
        self.engine.load_full()
    }

    /// Judges every review from now on with `engine`. Reviews in flight finish with the engine
    /// they started with.
    pub fn replace_engine(&self, engine: Engine) {
        self.engine.store(engine);
    }

    /// True once the cluster view is usable (drives `/readyz`).
    pub fn ready(&self) -> bool {
        self.engine.load().view.synced()
    }

    /// Answers one AdmissionReview.
    pub fn review(&self, route: Route, body: &[u8]) -> Result<Vec<u8>, BadReview> {
        let started = Instant::now();
        let result = self.review_inner(route, body, started);
        if let Err(e) = &result {
            self.metrics
                .bad_requests
                .get_or_create(&BadRequestLabels { reason: e.reason })
                .inc();
            tracing::warn!(route = route.as_str(), reason = e.reason, error = %e.message, "refused an unreadable admission review");
        }
        result
    }

    fn review_inner(
        &self,
        route: Route,
        body: &[u8],
        started: Instant,
    ) -> Result<Vec<u8>, BadReview> {
        // Loaded once: the whole review is judged with one policy even if a reload swaps it.
        let engine = self.engine.load();
        // The raw Secret is kept only when its values are to be digested (content-copy evidence).
        let decode_objects = !(route == Route::Validate && engine.policy.content_copy.enabled);
        let mut parsed = decode::read(body, decode_objects).map_err(|e| {
            BadReview::new(
                "malformed_json",
                format!("the body is not an AdmissionReview: {}", describe(&e)),
            )
        })?;
        if parsed.api_version.as_deref() != Some("admission.k8s.io/v1")
            || parsed.kind.as_deref() != Some("AdmissionReview")
        {
            return Err(BadReview::new(
                "wrong_api_version",
                "expected apiVersion admission.k8s.io/v1 and kind AdmissionReview (set admissionReviewVersions: [v1])",
            ));
        }
        let mut req = parsed.request.take().ok_or_else(|| {
            BadReview::new("missing_request", "the AdmissionReview has no request")
        })?;
        let kind = Kind::from_group_kind(&req.kind.group, &req.kind.kind).ok_or_else(|| {
            BadReview::new(
                "unknown_kind",
                format!(
                    "vaultgate does not govern {}/{}; check the webhook configuration's rules",
                    if req.kind.group.is_empty() {
                        "core"
                    } else {
                        &req.kind.group
                    },
                    req.kind.kind
                ),
            )
        })?;
        let operation = match &*req.operation {
            "CREATE" => Operation::Create,
            "UPDATE" => Operation::Update,
            "DELETE" => Operation::Delete,
            "CONNECT" => Operation::Connect,
            _ => {
                return Err(BadReview::new(
                    "bad_operation",
                    "request.operation must be CREATE, UPDATE, DELETE or CONNECT",
                ));
            }
        };
        let call = Call {
            route,
            kind,
            operation,
        };
        let object = std::mem::take(&mut req.object);
        let old_object = std::mem::take(&mut req.old_object);
        let mut response = ResponseOut::allow(&req.uid);
        let mut trace = Trace::default();
        // Moved out of the request, not cloned: the identity is all the rules need of userInfo.
        let user = Identity::new(
            req.user_info.username.take().unwrap_or_default(),
            req.user_info.groups.take().unwrap_or_default(),
        );
        let decision_label = if matches!(operation, Operation::Create | Operation::Update) {
            Judge {
                metrics: &self.metrics,
                engine: &engine,
                notices: &self.notices,
                stamps_expected: self.stamps_expected,
            }
            .decide(
                call,
                &req,
                (object, old_object),
                &user,
                &mut response,
                &mut trace,
            )?
        } else {
            Outcome::Allowed
        };
        // Every response says what vaultgate decided, so the apiserver's audit log records a
        // plain allow too (README: every response carries audit annotations).
        response
            .audit_annotations
            .insert("decision", decision_label.as_str().to_owned());
        let out = serde_json::to_vec(&response.into_review())
            .map_err(|_| BadReview::new("encode", "the response could not be encoded"))?;

        let elapsed = started.elapsed();
        self.tally
            .record(&self.metrics, call, decision_label, elapsed);
        trace.log(call, &req, &user, decision_label, elapsed);
        Ok(out)
    }
}

/// One review's judge: the webhook's metrics and the engine loaded for this review.
struct Judge<'e> {
    metrics: &'e Metrics,
    engine: &'e Engine,
    notices: &'e notices::Notices,
    stamps_expected: bool,
}

impl Judge<'_> {
    fn decide<'r>(
        &self,
        Call {
            route,
            kind,
            operation,
        }: Call,
        req: &'r RequestIn<'r>,
        (object, old_object): (Payload<'r>, Payload<'r>),
        user: &Identity,
        response: &mut ResponseOut<'r>,
        trace: &mut Trace,
    ) -> Result<Outcome, BadReview> {
        let decoded = |payload: Payload<'_>, field: &str| match payload {
            Payload::Decoded(object) => Ok(Some(object)),
            Payload::Raw(raw) => Object::from_json(kind, raw.get())
                .map(|o| Some(Box::new(o)))
                .map_err(|e| {
                    BadReview::new(
                        "undecodable_object",
                        format!(
                            "request.{field} is not a valid {}: {}",
                            kind.as_str(),
                            describe(&e)
                        ),
                    )
                }),
            Payload::Absent => Ok(None),
        };
        let raw = match object {
            Payload::Raw(raw) => Some(raw),
            _ => None,
        };
        let object = decoded(object, "object")?.ok_or_else(|| {
            BadReview::new(
                "missing_object",
                format!("request.object is required for {}", operation.as_str()),
            )
        })?;
        let old = match operation {
            Operation::Update => decoded(old_object, "oldObject")?,
            _ => None,
        };
        let name = req
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| object.name());
        name.clone_into(&mut trace.name);
        let review = Review {
            uid: &req.uid,
            operation,
            namespace: req.namespace.as_deref().filter(|n| !n.is_empty()),
            name,
            user,
            object: &object,
            old: old.as_deref(),
            dry_run: req.dry_run.unwrap_or(false),
            now: std::time::SystemTime::now(),
        };
        let mut evidence = match route {
            Route::Validate if kind == Kind::Secret && self.engine.policy.content_copy.enabled => {
                raw.map(|raw| evidence(self.engine.view.as_ref(), raw.get()))
                    .unwrap_or_default()
            }
            _ => policy::Evidence::default(),
        };
        // A review on /validate has been through the apiserver's mutating admission, which
        // calls /mutate for every write that can need a stamp (`mutate::scope`), so the
        // stamps must be there (VG112).
        evidence.after_mutation = route == Route::Validate && self.stamps_expected;
        match route {
            Route::Validate => Ok(self.validate(&review, kind, &evidence, response, trace)),
            Route::Mutate => Ok(mutate(self.engine, &review, response, trace)),
        }
    }
}

/// Keyed digests of the Secret's values. The values live only inside this function.
fn evidence(view: &dyn ClusterView, raw: &str) -> policy::Evidence {
    #[derive(serde::Deserialize)]
    struct Values {
        #[serde(default)]
        data: Option<std::collections::BTreeMap<String, String>>,
        #[serde(default, rename = "stringData")]
        string_data: Option<std::collections::BTreeMap<String, String>>,
    }
    use base64::Engine as _;
    let Ok(values) = serde_json::from_str::<Values>(raw) else {
        return policy::Evidence::default();
    };
    let mut digests: Vec<String> = values
        .data
        .iter()
        .flatten()
        .filter_map(|(_, v)| base64::engine::general_purpose::STANDARD.decode(v).ok())
        .filter_map(|bytes| view.digest_value(&bytes))
        .chain(
            values
                .string_data
                .iter()
                .flatten()
                .filter_map(|(_, v)| view.digest_value(v.as_bytes())),
        )
        .collect();
    digests.sort_unstable();
    digests.dedup();
    policy::Evidence {
        value_digests: digests,
        ..Default::default()
    }
}

impl Judge<'_> {
    fn validate(
        &self,
        review: &Review<'_>,
        kind: Kind,
        evidence: &policy::Evidence,
        response: &mut ResponseOut<'_>,
        trace: &mut Trace,
    ) -> Outcome {
        let decision: Decision = policy::evaluate_with(
            review,
            &self.engine.policy,
            self.engine.view.as_ref(),
            evidence,
        );
        for (list, label) in [(&decision.denied, "denied"), (&decision.warned, "warned")] {
            for v in list {
                let excepted = decision.excepted.iter().find(|e| e.rule == v.rule.id);
                let decision = match excepted {
                    Some(e) if label == "warned" && e.is_break_glass() => "break-glass",
                    Some(_) if label == "warned" => "excepted",
                    _ => label,
                };
                self.metrics
                    .rules
                    .get_or_create(&RuleLabels {
                        kind: kind.as_str(),
                        rule: v.rule.id,
                        decision,
                    })
                    .inc();
            }
        }
        let rules = decision.rule_ids();
        trace.rules.clone_from(&rules);
        if let Some(class) = decision.class {
            trace.class = class.as_str();
            response
                .audit_annotations
                .insert("class", class.as_str().to_owned());
        }
        if !rules.is_empty() {
            response.audit_annotations.insert("rules", rules);
        }
        if let Some(why) = decision.exempt {
            response
                .audit_annotations
                .insert("exempt", why.as_str().to_owned());
        }
        if !decision.excepted.is_empty() {
            let excepted: Vec<String> = decision
                .excepted
                .iter()
                .map(|e| format!("{}={}({})", e.rule, e.exception, e.ticket))
                .collect();
            response
                .audit_annotations
                .insert("excepted", excepted.join(","));
        }
        response.warnings = decision.warnings();
        self.notices.report(review, &decision);
        if let Some(ticket) = &decision.break_glass {
            self.metrics.break_glass.inc();
            tracing::warn!(uid = review.uid, ticket = %ticket, "break-glass annotation honoured; violations downgraded to warnings");
            response
                .audit_annotations
                .insert("break-glass", ticket.clone());
            response.warnings.insert(
                0,
                format!("vaultgate: break-glass {ticket:?} honoured; this write is audited"),
            );
        }
        if decision.allowed() {
            return if decision.warned.is_empty() {
                Outcome::Allowed
            } else {
                Outcome::Warned
            };
        }
        response.allowed = false;
        response.status = Some(Status {
            code: 403,
            reason: "Forbidden",
            message: decision.message(review.object.kind().as_str(), review.namespace, review.name),
        });
        Outcome::Denied
    }
}

fn mutate(
    engine: &Engine,
    review: &Review<'_>,
    response: &mut ResponseOut<'_>,
    trace: &mut Trace,
) -> Outcome {
    let Object::Secret(secret) = review.object else {
        return Outcome::Allowed;
    };
    let writer = Writer::of(review.user, &engine.policy);
    if policy::exemption(review, &writer, &engine.policy).is_some() {
        return Outcome::Allowed;
    }
    let provenance = classify::classify(
        secret,
        review,
        &writer,
        &engine.policy,
        engine.view.as_ref(),
    );
    if let Some(class) = provenance.class {
        trace.class = class.as_str();
    }
    // The request's one clock reading (`Review::now`), to the second.
    let now = time::OffsetDateTime::from(review.now)
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default();
    let Some(desired) = mutate::desired_metadata(secret, review, &provenance, &engine.policy, &now)
    else {
        return Outcome::Allowed;
    };
    match patch::metadata_patch(secret, &desired) {
        Some(p) => {
            response.patch = Some(patch::encode(&p));
            response.patch_type = Some("JSONPatch");
            Outcome::Patched
        }
        None => Outcome::Allowed,
    }
}
