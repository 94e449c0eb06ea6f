//! What a review is judged with: the policy and the cluster view built for it, held together so
//! a policy reload swaps both at once and one review never mixes two policies.
//!
//! The [`Webhook`](super::Webhook) keeps its engine in an [`ArcSwap`]: each review loads it once
//! (a few atomic operations, no lock), and a reload stores a new one without waiting for the
//! reviews in flight, which finish with the engine they loaded.

use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::{cluster::ClusterView, policy::Policy};

/// One policy and the view its rules read.
pub struct Engine {
    pub policy: Arc<Policy>,
    pub view: Arc<dyn ClusterView>,
}

/// The engine in effect, replaceable while reviews run.
pub(super) struct Current(ArcSwap<Engine>);

impl Current {
    pub(super) fn new(engine: Engine) -> Self {
        Self(ArcSwap::from_pointee(engine))
    }

    /// The engine for one review: loaded once, kept until the review ends.
    pub(super) fn load(&self) -> arc_swap::Guard<Arc<Engine>> {
        self.0.load()
    }

    pub(super) fn load_full(&self) -> Arc<Engine> {
        self.0.load_full()
    }

    pub(super) fn store(&self, engine: Engine) {
        self.0.store(Arc::new(engine));
    }
}
