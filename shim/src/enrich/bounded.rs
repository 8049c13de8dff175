//! A map of at most a fixed number of entries, in memory reserved once, for the caches keyed by file
//! identity: the hash cache (`hash`), the signature scans (`signatures`) and the seccomp sensor's
//! resolved programs (`sensors::notify::resolve::Known`).
//!
//! A workload that writes new programs all the time (a build, a test runner, a job copying a tool to a
//! new name per run; the soak, `integration/bench/soak.py`, copies one per round) brings a new file
//! identity with each, so these caches reach their bound in a long-running container. Reaching it must
//! neither grow memory nor forget everything at once.
//!
//! Two generations, each a `HashMap` reserved for half the bound when the map is made. Inserts go to
//! the young one; when it is full, the old one is cleared (its memory kept) and becomes the young one.
//! A hit in the old generation moves the entry to the young one, so what is in use stays and what went
//! unused for a whole generation goes: eviction in insertion order, a generation at a time, in O(1),
//! with no allocation and no free after [`BoundedMap::new`].
//!
//! Why not one map with first-in-first-out eviction: a std `HashMap` kept at a constant length while
//! entries are removed and inserted gathers tombstones, and when they use up its spare room it
//! reallocates at twice the size whenever more than half its capacity is in use (hashbrown's
//! `reserve_rehash`): a step in memory at a time nothing predicts, long after warm-up. The soak
//! measured exactly that on the process table (8,192 to 16,384 buckets at about 4,300 entries, a
//! 3 MiB step 11 to 19 minutes in). Here entries are never removed from the generation that takes
//! inserts, and `clear` resets the other one completely.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::hash::Hash;

#[derive(Debug)]
pub struct BoundedMap<K, V> {
    young: HashMap<K, V>,
    old: HashMap<K, V>,
    /// Entries per generation: half the bound.
    generation: usize,
}

impl<K: Eq + Hash, V> BoundedMap<K, V> {
    /// At most `max` entries (`max` rounded down to an even number, at least 2); the memory for all
    /// of them is reserved now (the pages are touched as entries land in them).
    pub fn new(max: usize) -> Self {
        let generation = (max / 2).max(1);
        BoundedMap {
            young: HashMap::with_capacity(generation),
            old: HashMap::with_capacity(generation),
            generation,
        }
    }

    /// The value for `key`; a hit in the old generation moves it to the young one.
    pub fn get(&mut self, key: &K) -> Option<&V> {
        if !self.young.contains_key(key) {
            let (k, v) = self.old.remove_entry(key)?;
            self.insert_young(k, v);
        }
        self.young.get(key)
    }

    /// Inserts or replaces; the entry is then the newest.
    pub fn insert(&mut self, key: K, value: V) {
        if let Some(slot) = self.young.get_mut(&key) {
            *slot = value;
            return;
        }
        self.old.remove(&key);
        self.insert_young(key, value);
    }

    /// A key is in at most one generation.
    pub fn len(&self) -> usize {
        self.young.len() + self.old.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound.
    pub fn max(&self) -> usize {
        2 * self.generation
    }

    /// `key` is not in the young generation: neither it nor the old one ever holds more than
    /// `generation` entries, so neither reallocates.
    fn insert_young(&mut self, key: K, value: V) {
        if self.young.len() >= self.generation {
            std::mem::swap(&mut self.young, &mut self.old);
            self.young.clear();
        }
        self.young.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_its_bound_and_keeps_the_recent_entries() {
        let mut m = BoundedMap::new(100);
        for i in 0..1000u32 {
            m.insert(i, i * 2);
            assert!(m.len() <= 100, "{} entries after {i}", m.len());
        }
        assert!(m.len() > 50, "at least one full generation is kept: {}", m.len());
        // The newest half of the bound is always there.
        for i in 950..1000u32 {
            assert_eq!(m.get(&i), Some(&(i * 2)), "{i}");
        }
        assert_eq!(m.get(&0), None);
        assert_eq!(m.get(&899), None);
    }

    #[test]
    fn what_is_used_stays() {
        let mut m = BoundedMap::new(10);
        m.insert("hot", 1);
        for i in 0..1000u32 {
            m.insert(if i % 2 == 0 { "even" } else { "odd" }, i);
            m.insert(["a", "b", "c", "d", "e", "f", "g"][i as usize % 7], i);
            // Used at least once per generation: never evicted.
            assert_eq!(m.get(&"hot"), Some(&1), "{i}");
        }
        assert!(m.len() <= 10);
    }

    #[test]
    fn replacing_a_value_keeps_one_entry() {
        let mut m = BoundedMap::new(4);
        m.insert(1, "a");
        m.insert(2, "b");
        m.insert(3, "c"); // 1 and 2 move to the old generation
        m.insert(1, "z"); // out of the old one, into the young one
        assert_eq!(m.len(), 3);
        assert_eq!(m.get(&1), Some(&"z"));
        assert_eq!(m.get(&2), Some(&"b"));
        assert_eq!(m.max(), 4);
    }

    #[test]
    fn memory_is_reserved_once() {
        let mut m = BoundedMap::new(4096);
        // The young generation never loses an entry (only `clear` empties it), so its capacity is
        // that of its allocation; a reallocation would show as a larger one.
        let reserved = m.young.capacity();
        assert!(reserved >= 2048 && m.old.capacity() == reserved);
        for i in 0..50_000u64 {
            m.insert(i, [0u8; 32]);
            // Lookups that hit the old generation move entries out of it.
            let _ = m.get(&(i / 2));
            assert_eq!(m.young.capacity(), reserved, "{i}");
            assert!(m.old.capacity() <= reserved, "{i}");
            assert!(m.len() <= 4096);
        }
    }
}
