//! Enrichment: the facts added to an event before rules see it. Content hashing with a metadata-keyed
//! cache, the image baseline (what "added" and "modified" mean at run time), signatures, IoC lists,
//! script capture and scoring, and the process table with lineage. [`enricher::Enricher`] runs them on
//! each event on the pipeline thread; it is the only place that adds facts to an event. The process
//! table and the hash cache are [`SharedState`]: the enforcer (`respond::enforce`) reads and writes the
//! same ones on the exec sensor's thread, at the stop, before the pipeline has the event.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod bounded;
pub mod enricher;
pub mod hash;
pub mod ioc;
pub mod score;
pub mod script;
pub mod signatures;
pub mod table;

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A value used by the pipeline thread and the exec sensor's thread. A panic on one of them while it
/// held the lock leaves the value usable (fail open: a half-done update of a cache or a table costs one
/// event's facts, not the detection of every later one).
#[derive(Debug, Default)]
pub struct Shared<T>(Arc<Mutex<T>>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(Arc::clone(&self.0))
    }
}

impl<T> Shared<T> {
    pub fn lock(&self) -> MutexGuard<'_, T> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The facts the pipeline's enrichment and the enforcer at the exec stop share: one process table
/// (lineage) and one hash cache. Both threads write the table; each entry keeps the time of the newest
/// event applied to it, so an event that arrives twice or late changes nothing (`table`).
#[derive(Debug, Clone, Default)]
pub struct SharedState {
    pub table: Shared<table::ProcessTable>,
    pub hashes: Shared<hash::HashCache>,
}
