//! Detection: policies (rules and lists as data), the event model they are written against, the
//! engine that evaluates them, and the findings it produces.
#![forbid(unsafe_code)]

pub mod engine;
pub mod finding;
pub mod ioc;
pub mod model;
pub mod policy;
pub mod redact;
pub mod resource;
pub mod scan;
pub mod score;
pub mod script;
pub mod signatures;
pub mod syscall;

#[cfg(test)]
mod scan_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_syscall;
