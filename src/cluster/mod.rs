//! What the cluster already holds, as the rules need it: stores and their providers, Secret
//! metadata (never data), ExternalSecret targets, PushSecret sources and Vault paths.
//!
//! The policy defines the port ([`ClusterView`], `policy::view`); this module implements it and
//! re-exports its records. The port is the only way rules see beyond the object under review. Without a cluster
//! (`serve --dev`, `check`) it is a [`MemoryView`] built from the policy and the objects being
//! evaluated; in a cluster it is backed by kube-runtime reflectors, so a lookup is an in-memory
//! read and never an API call on the admission hot path.

pub mod live;
mod memory;
pub mod table;

pub use crate::policy::view::{
    ClusterView, ExternalSecretInfo, OwnerRef, Pairs, PushSecretInfo, SecretMeta, StoreInfo,
    compact_meta, group_of, intern, kept_key,
};
pub use live::LiveView;
pub use memory::MemoryView;
