//! An indexed in-memory table fed by a kube-runtime watcher's events. Objects are keyed by
//! namespace then name (lookups borrow `&str`, no allocation); secondary indexes map a derived
//! key (an ExternalSecret's target, a PushSecret's Vault path) to object keys, so every lookup
//! the rules make is O(1). A relist builds a fresh table and swaps it in whole, so readers never
//! see half a list.

use std::{
    collections::{BTreeSet, HashMap},
    sync::{
        Mutex, RwLock,
        atomic::{AtomicBool, Ordering},
    },
};

/// Derives secondary-index keys from a value.
pub type Indexer<V> = fn(&V) -> Vec<String>;

type Objects<V> = HashMap<String, HashMap<String, V>>;
type Index = HashMap<String, BTreeSet<(String, String)>>;

struct State<V> {
    objects: Objects<V>,
    indexes: Vec<Index>,
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
}

/// One watched resource type.
pub struct Table<V> {
    state: RwLock<State<V>>,
    staging: Mutex<Option<Vec<(String, String, V)>>>,
    indexers: Vec<Indexer<V>>,
    synced: AtomicBool,
}

fn unindex<V>(indexes: &mut [Index], indexers: &[Indexer<V>], ns: &str, name: &str, old: &V) {
    for (index, f) in indexes.iter_mut().zip(indexers) {
        for key in f(old) {
            if let Some(set) = index.get_mut(&key) {
                set.remove(&(ns.to_owned(), name.to_owned()));
                if set.is_empty() {
                    index.remove(&key);
                }
            }
        }
    }
}

fn insert<V>(state: &mut State<V>, indexers: &[Indexer<V>], ns: String, name: String, value: V) {
    for (index, f) in state.indexes.iter_mut().zip(indexers) {
        for key in f(&value) {
            index
                .entry(key)
                .or_default()
                .insert((ns.clone(), name.clone()));
        }
    }
    let old = state
        .objects
        .entry(ns.clone())
        .or_default()
        .insert(name.clone(), value);
    match old {
        Some(old) => unindex_changed(state, indexers, &ns, &name, &old),
        None => state.len += 1,
    }
}

/// After replacing a value: drop index entries the old value had and the new one does not.
fn unindex_changed<V>(
    state: &mut State<V>,
    indexers: &[Indexer<V>],
    ns: &str,
    name: &str,
    old: &V,
) {
    let Some(new) = state.objects.get(ns).and_then(|m| m.get(name)) else {
        return;
    };
    let keep: Vec<Vec<String>> = indexers.iter().map(|f| f(new)).collect();
    for ((index, f), keep) in state.indexes.iter_mut().zip(indexers).zip(keep) {
        for key in f(old).into_iter().filter(|k| !keep.contains(k)) {
            if let Some(set) = index.get_mut(&key) {
                set.remove(&(ns.to_owned(), name.to_owned()));
                if set.is_empty() {
                    index.remove(&key);
                }
            }
        }
    }
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
        if let Ok(mut s) = self.state.write() {
            *s = State::new(self.indexers.len());
        }
        self.synced.store(true, Ordering::Release);
    }

    pub fn len(&self) -> usize {
        self.state.read().map_or(0, |s| s.len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn apply(&self, ns: String, name: String, value: V) {
        if let Ok(mut s) = self.state.write() {
            insert(&mut s, &self.indexers, ns, name, value);
        }
    }

    pub fn delete(&self, ns: &str, name: &str) {
        if let Ok(mut s) = self.state.write() {
            let old = s.objects.get_mut(ns).and_then(|m| m.remove(name));
            if let Some(old) = old {
                s.len -= 1;
                unindex(&mut s.indexes, &self.indexers, ns, name, &old);
                if s.objects.get(ns).is_some_and(HashMap::is_empty) {
                    s.objects.remove(ns);
                }
            }
        }
    }

    /// A relist starts.
    pub fn init(&self) {
        if let Ok(mut staging) = self.staging.lock() {
            *staging = Some(Vec::new());
        }
    }

    pub fn init_apply(&self, ns: String, name: String, value: V) {
        if let Ok(mut staging) = self.staging.lock() {
            match staging.as_mut() {
                Some(items) => items.push((ns, name, value)),
                None => {
                    drop(staging);
                    self.apply(ns, name, value);
                }
            }
        }
    }

    /// The relist is complete: swap the fresh state in.
    pub fn init_done(&self) {
        let items = self
            .staging
            .lock()
            .ok()
            .and_then(|mut s| s.take())
            .unwrap_or_default();
        let mut fresh = State::new(self.indexers.len());
        for (ns, name, value) in items {
            insert(&mut fresh, &self.indexers, ns, name, value);
        }
        if let Ok(mut s) = self.state.write() {
            *s = fresh;
        }
        self.synced.store(true, Ordering::Release);
    }

    /// Reads one object.
    pub fn get<R>(&self, ns: &str, name: &str, f: impl FnOnce(&V) -> R) -> Option<R> {
        let s = self.state.read().ok()?;
        s.objects.get(ns).and_then(|m| m.get(name)).map(f)
    }

    /// Reads every object whose index `i` contains `key`.
    pub fn lookup<R>(&self, i: usize, key: &str, mut f: impl FnMut(&str, &str, &V) -> R) -> Vec<R> {
        let Ok(s) = self.state.read() else {
            return Vec::new();
        };
        let Some(set) = s.indexes.get(i).and_then(|idx| idx.get(key)) else {
            return Vec::new();
        };
        set.iter()
            .filter_map(|(ns, name)| {
                s.objects
                    .get(ns)
                    .and_then(|m| m.get(name))
                    .map(|v| f(ns, name, v))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn by_target(v: &(String, u32)) -> Vec<String> {
        vec![v.0.clone()]
    }

    #[test]
    fn secondary_index_follows_updates_and_deletes() {
        let t: Table<(String, u32)> = Table::new(vec![by_target]);
        t.apply("a".into(), "x".into(), ("t1".into(), 1));
        t.apply("a".into(), "y".into(), ("t1".into(), 2));
        assert_eq!(t.lookup(0, "t1", |_, n, _| n.to_owned()), ["x", "y"]);
        t.apply("a".into(), "x".into(), ("t2".into(), 3));
        assert_eq!(t.lookup(0, "t1", |_, n, _| n.to_owned()), ["y"]);
        assert_eq!(t.lookup(0, "t2", |_, _, v| v.1), [3]);
        t.delete("a", "y");
        assert!(t.lookup(0, "t1", |_, n, _| n.to_owned()).is_empty());
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn relist_replaces_the_table_atomically_and_marks_it_synced() {
        let t: Table<(String, u32)> = Table::new(vec![by_target]);
        assert!(!t.synced());
        t.apply("a".into(), "stale".into(), ("t".into(), 0));
        t.init();
        t.init_apply("a".into(), "fresh".into(), ("t".into(), 1));
        assert!(
            t.get("a", "fresh", |v| v.1).is_none(),
            "not visible before InitDone"
        );
        t.init_done();
        assert!(t.synced());
        assert!(t.get("a", "stale", |v| v.1).is_none());
        assert_eq!(t.get("a", "fresh", |v| v.1), Some(1));
        assert_eq!(t.lookup(0, "t", |_, n, _| n.to_owned()), ["fresh"]);
    }
}
