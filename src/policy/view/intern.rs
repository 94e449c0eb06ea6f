//! One shared copy of the strings the cluster view repeats across its records: namespaces, label
//! and annotation keys, label values, owner `apiVersion`/`kind`, Secret types. With 100k Secrets
//! these are a handful of distinct strings, so each record holds an `Arc<str>` (16 bytes, no
//! allocation of its own) instead of its own heap copy.

use std::{
    collections::HashSet,
    sync::{Arc, LazyLock, Mutex, PoisonError},
};

struct Pool {
    strings: HashSet<Arc<str>>,
    /// Pool size at which strings no record holds any more are dropped.
    sweep_at: usize,
}

/// Below this the pool is never swept: a sweep would cost more than the strings it frees.
const MIN_SWEEP: usize = 4096;

static POOL: LazyLock<Mutex<Pool>> = LazyLock::new(|| {
    Mutex::new(Pool {
        strings: HashSet::new(),
        sweep_at: MIN_SWEEP,
    })
});

/// The shared copy of `s`.
pub fn intern(s: &str) -> Arc<str> {
    // A poisoned lock only means another thread panicked mid-insert; the set is still valid.
    let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(shared) = pool.strings.get(s) {
        return shared.clone();
    }
    // Label values and annotation keys can churn (one per Secret, then deleted), so the pool
    // drops what only it still holds whenever it has doubled since the last sweep: bounded by
    // twice the live distinct strings, at amortised O(1) per call.
    if pool.strings.len() >= pool.sweep_at {
        pool.strings.retain(|s| Arc::strong_count(s) > 1);
        pool.sweep_at = (pool.strings.len() * 2).max(MIN_SWEEP);
    }
    let shared: Arc<str> = Arc::from(s);
    pool.strings.insert(shared.clone());
    shared
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_allocation() {
        let a = intern("platform.pnats.cloud/secret-class");
        let b = intern(&String::from("platform.pnats.cloud/secret-class"));
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*a, "platform.pnats.cloud/secret-class");
    }

    #[test]
    fn strings_nobody_holds_are_eventually_dropped() {
        let kept = intern("intern-test-kept");
        for i in 0..3 * MIN_SWEEP {
            drop(intern(&format!("intern-test-churn-{i}")));
        }
        let pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(pool.strings.len() < 3 * MIN_SWEEP, "{}", pool.strings.len());
        assert!(pool.strings.contains("intern-test-kept"));
        drop(pool);
        assert!(Arc::ptr_eq(&kept, &intern("intern-test-kept")));
    }
}
