//! An indexed in-memory table fed by a kube-runtime watcher's events. Objects are keyed by
//! namespace then name (lookups borrow `&str`, no allocation) and held as `Arc`s, so a lookup
//! hands out a reference count rather than a copy. Secondary indexes map a derived key (an
//! ExternalSecret's target, a PushSecret's Vault path) to the objects themselves, so every
//! lookup the rules make is O(1) and needs no second probe. A relist builds a fresh table and
//! swaps it in whole, so readers never see half a list.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicBool, Ordering},
    },
};

use crate::policy::view::intern;

/// Derives secondary-index keys from a value, as `(scope, key)`: the scope is the namespace for
/// a namespaced key (an ExternalSecret's target) and `""` for a cluster-wide one (a Vault
/// path). Kept apart, both halves of a lookup are borrowed instead of joined into a new string.
pub type Indexer<V> = fn(&V) -> Vec<(&str, &str)>;

/// An object as an index holds it, ordered by namespace then name.
type Entry<V> = (Arc<str>, Box<str>, Arc<V>);
type Objects<V> = HashMap<Arc<str>, HashMap<Box<str>, Arc<V>>>;
type Index<V> = HashMap<Box<str>, HashMap<Box<str>, Vec<Entry<V>>>>;

struct State<V> {
    objects: Objects<V>,
    indexes: Vec<Index<V>>,
    len: usize,
}

impl<V> State<V> {
    fn new(n: usize) -> Self {
        Self {
            objects: HashMap::new(),
            indexes: (0..n).map(|_| HashMap::new()).collect(),
            len: 0,
        }
    }

    fn insert(&mut self, indexers: &[Indexer<V>], ns: &str, name: &str, value: V) {
        let value = Arc::new(value);
        // Namespaces are shared with every other table and record (see `intern`).
        let ns = match self.objects.get_key_value(ns) {
            Some((ns, _)) => ns.clone(),
            None => intern(ns),
        };
        let old = self
            .objects
            .entry(ns.clone())
            .or_default()
            .insert(name.into(), value.clone());
        for (index, f) in self.indexes.iter_mut().zip(indexers) {
            let keys = f(&value);
            for &(scope, key) in &keys {
                let Some(entries) = slot(index, scope, key) else {
                    continue;
                };
                match entries.binary_search_by(|e| position(e).cmp(&(&*ns, name))) {
                    Ok(i) => entries[i].2 = value.clone(),
                    Err(i) => entries.insert(i, (ns.clone(), name.into(), value.clone())),
                }
            }
            // Entries under keys the old value had and the new one does not.
            if let Some(old) = &old {
                for stale in f(old).into_iter().filter(|k| !keys.contains(k)) {
                    unindex(index, stale, &ns, name);
                }
            }
        }
        if old.is_none() {
            self.len += 1;
        }
    }

    fn delete(&mut self, indexers: &[Indexer<V>], ns: &str, name: &str) {
        let Some(names) = self.objects.get_mut(ns) else {
            return;
        };
        let Some(old) = names.remove(name) else {
            return;
        };
        if names.is_empty() {
            self.objects.remove(ns);
        }
        self.len -= 1;
        for (index, f) in self.indexes.iter_mut().zip(indexers) {
            for key in f(&old) {
                unindex(index, key, ns, name);
            }
        }
    }
}

fn position<V>((ns, name, _): &Entry<V>) -> (&str, &str) {
    (ns, name)
}

/// The entries under `(scope, key)`, created empty if absent (allocating the keys only then).
fn slot<'i, V>(index: &'i mut Index<V>, scope: &str, key: &str) -> Option<&'i mut Vec<Entry<V>>> {
    if !index.contains_key(scope) {
        index.insert(scope.into(), HashMap::new());
    }
    let keys = index.get_mut(scope)?;
    if !keys.contains_key(key) {
        keys.insert(key.into(), Vec::new());
    }
    keys.get_mut(key)
}

/// Removes object `ns/name` from under `(scope, key)`, dropping emptied levels.
fn unindex<V>(index: &mut Index<V>, (scope, key): (&str, &str), ns: &str, name: &str) {
    let Some(keys) = index.get_mut(scope) else {
        return;
    };
    if let Some(entries) = keys.get_mut(key) {
        if let Ok(i) = entries.binary_search_by(|e| position(e).cmp(&(ns, name))) {
            entries.remove(i);
        }
        if entries.is_empty() {
            keys.remove(key);
        }
    }
    if keys.is_empty() {
        index.remove(scope);
    }
}

/// One watched resource type.
pub struct Table<V> {
    state: RwLock<State<V>>,
    /// The list being received during a relist, built off to the side.
    staging: Mutex<Option<State<V>>>,
    indexers: Vec<Indexer<V>>,
    synced: AtomicBool,
}

impl<V> Table<V> {
    pub fn new(indexers: Vec<Indexer<V>>) -> Self {
        let n = indexers.len();
        Self {
            state: RwLock::new(State::new(n)),
            staging: Mutex::new(None),
            indexers,
            synced: AtomicBool::new(false),
        }
    }

    /// True once a full list has been applied (or the resource is known to be absent).
    pub fn synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    /// Marks the table usable without a list (the resource type is not installed).
    pub fn mark_absent(&self) {
        self.replace(State::new(self.indexers.len()));
        self.synced.store(true, Ordering::Release);
    }

    pub fn len(&self) -> usize {
        self.state.read().map_or(0, |s| s.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn apply(&self, ns: &str, name: &str, value: V) {
        if let Ok(mut s) = self.state.write() {
            s.insert(&self.indexers, ns, name, value);
        }
    }

    pub fn delete(&self, ns: &str, name: &str) {
        if let Ok(mut s) = self.state.write() {
            s.delete(&self.indexers, ns, name);
        }
    }

    /// A relist starts.
    pub fn init(&self) {
        let mut staging = self.staging.lock().unwrap_or_else(PoisonError::into_inner);
        *staging = Some(State::new(self.indexers.len()));
    }

    pub fn init_apply(&self, ns: &str, name: &str, value: V) {
        let mut staging = self.staging.lock().unwrap_or_else(PoisonError::into_inner);
        match staging.as_mut() {
            Some(fresh) => fresh.insert(&self.indexers, ns, name, value),
            None => {
                drop(staging);
                self.apply(ns, name, value);
            }
        }
    }

    /// The relist is complete: swap the fresh state in.
    pub fn init_done(&self) {
        let fresh = self
            .staging
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
            .unwrap_or_else(|| State::new(self.indexers.len()));
        self.replace(fresh);
        self.synced.store(true, Ordering::Release);
    }

    fn replace(&self, fresh: State<V>) {
        let old = match self.state.write() {
            Ok(mut s) => std::mem::replace(&mut *s, fresh),
            Err(_) => return,
        };
        // Freeing 100k records takes a while: not while readers wait on the lock.
        drop(old);
    }

    /// Reads one object.
    pub fn get<R>(&self, ns: &str, name: &str, f: impl FnOnce(&Arc<V>) -> R) -> Option<R> {
        let s = self.state.read().ok()?;
        s.objects.get(ns).and_then(|m| m.get(name)).map(f)
    }

    /// Visits every object (in no particular order) under the read lock: keep `f` short.
    pub fn for_each(&self, mut f: impl FnMut(&str, &str, &Arc<V>)) {
        let Ok(s) = self.state.read() else {
            return;
        };
        for (ns, names) in &s.objects {
            for (name, v) in names {
                f(ns, name, v);
            }
        }
    }

    /// The namespaces holding at least one object (in no particular order).
    pub fn namespaces(&self) -> Vec<Arc<str>> {
        self.state
            .read()
            .map_or_else(|_| Vec::new(), |s| s.objects.keys().cloned().collect())
    }

    /// The objects of one namespace, ordered by name: reference counts taken under the read
    /// lock, so a caller may read other tables (or this one) while it works through them.
    pub fn entries_in(&self, ns: &str) -> Vec<(Box<str>, Arc<V>)> {
        let Ok(s) = self.state.read() else {
            return Vec::new();
        };
        let mut out: Vec<(Box<str>, Arc<V>)> = s
            .objects
            .get(ns)
            .into_iter()
            .flatten()
            .map(|(name, v)| (name.clone(), v.clone()))
            .collect();
        drop(s);
        out.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Reads every object whose index `i` holds `(scope, key)`, ordered by namespace and name.
    pub fn lookup<R>(
        &self,
        i: usize,
        scope: &str,
        key: &str,
        mut f: impl FnMut(&str, &str, &Arc<V>) -> R,
    ) -> Vec<R> {
        let Ok(s) = self.state.read() else {
            return Vec::new();
        };
        s.indexes
            .get(i)
            .and_then(|index| index.get(scope))
            .and_then(|keys| keys.get(key))
            .map_or_else(Vec::new, |entries| {
                entries.iter().map(|(n, m, v)| f(n, m, v)).collect()
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_target(v: &(String, u32)) -> Vec<(&str, &str)> {
        vec![("", &v.0)]
    }

    #[test]
    fn a_namespace_reads_back_by_name_and_an_emptied_one_is_gone() {
        let t: Table<(String, u32)> = Table::new(vec![]);
        t.apply("a", "y", ("".into(), 1));
        t.apply("a", "x", ("".into(), 2));
        t.apply("b", "z", ("".into(), 3));
        let mut namespaces = t.namespaces();
        namespaces.sort();
        assert_eq!(namespaces, [Arc::from("a"), Arc::from("b")]);
        let a: Vec<(String, u32)> = t
            .entries_in("a")
            .into_iter()
            .map(|(n, v)| (n.into(), v.1))
            .collect();
        assert_eq!(a, [("x".to_owned(), 2), ("y".to_owned(), 1)]);
        t.delete("b", "z");
        assert_eq!(t.namespaces(), [Arc::from("a")]);
        assert!(t.entries_in("b").is_empty());
    }

    #[test]
    fn secondary_index_follows_updates_and_deletes() {
        let t: Table<(String, u32)> = Table::new(vec![by_target]);
        t.apply("a", "y", ("t1".into(), 2));
        t.apply("a", "x", ("t1".into(), 1));
        t.apply("b", "x", ("t1".into(), 0));
        let names = |key| t.lookup(0, "", key, |n, m, _| format!("{n}/{m}"));
        assert_eq!(
            names("t1"),
            ["a/x", "a/y", "b/x"],
            "ordered by namespace, name"
        );
        t.apply("a", "x", ("t2".into(), 3));
        assert_eq!(names("t1"), ["a/y", "b/x"]);
        assert_eq!(t.lookup(0, "", "t2", |_, _, v| v.1), [3]);
        t.apply("a", "y", ("t1".into(), 4));
        assert_eq!(
            t.lookup(0, "", "t1", |_, _, v| v.1),
            [4, 0],
            "replaced in place"
        );
        t.delete("a", "y");
        t.delete("b", "x");
        assert!(names("t1").is_empty());
        assert!(t.lookup(0, "other-scope", "t2", |_, _, v| v.1).is_empty());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn relist_replaces_the_table_atomically_and_marks_it_synced() {
        let t: Table<(String, u32)> = Table::new(vec![by_target]);
        assert!(!t.synced());
        t.apply("a", "stale", ("t".into(), 0));
        t.init();
        t.init_apply("a", "fresh", ("t".into(), 1));
        assert!(
            t.get("a", "fresh", |v| v.1).is_none(),
            "not visible before InitDone"
        );
        t.init_done();
        assert!(t.synced());
        assert!(t.get("a", "stale", |v| v.1).is_none());
        assert_eq!(t.get("a", "fresh", |v| v.1), Some(1));
        assert_eq!(t.lookup(0, "", "t", |_, n, _| n.to_owned()), ["fresh"]);
        assert_eq!(t.len(), 1);
    }
}
