//! Enrichment: the facts added to an event before rules see it. Content hashing with a metadata-keyed
//! cache, the image baseline (what "added" and "modified" mean at run time), signatures, IoC lists,
//! script capture and scoring, and the process table with lineage. [`enricher::Enricher`] runs them on
//! each event on the pipeline thread; it is the only place that adds facts to an event.
#![forbid(unsafe_code)]

pub mod baseline;
pub mod enricher;
pub mod hash;
pub mod ioc;
pub mod score;
pub mod script;
pub mod signatures;
pub mod table;
