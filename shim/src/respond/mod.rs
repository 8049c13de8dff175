//! Responding: enforcement decisions taken at the exec and syscall stops.
#![forbid(unsafe_code)]

pub mod enforce;
