//! Detection: policies (rules and lists as data), the event model they are written against, the
//! engine that evaluates them, and the findings it produces.
//!
//! [`Engine::evaluate`] is the one birthplace of findings: it takes an enriched event and returns
//! complete findings, which no later stage changes (de-duplication and storm control only admit,
//! hold or summarise them). The pipeline and the tracer's enforcer both call it.
#![forbid(unsafe_code)]

pub mod engine;
pub mod model;
pub mod policy;
pub mod redact;
pub mod scan;
pub mod syscall;

use runwarden_contract::Finding;

use crate::events::ProcessEvent;
use engine::{Engine, Mode};
use policy::EventKind;
use scan::ScanSubject;

impl Engine {
    /// The findings of an event: every rule of its kind evaluated, each match built into a complete
    /// finding. Process starts and exits raise none.
    pub fn evaluate(&mut self, ev: &ProcessEvent, mode: Mode) -> Vec<Finding> {
        match ev {
            ProcessEvent::Start(_) | ProcessEvent::Exit(_) => Vec::new(),
            ProcessEvent::Exec(e) => self.evaluate_exec(e, mode),
            ProcessEvent::File(f) => self.evaluate_file(f, mode),
            ProcessEvent::Syscall(c) => self.evaluate_syscall(c, mode),
            ProcessEvent::Stdio(e) => self.evaluate_scan(EventKind::Stdio, e, ScanSubject::Process, mode),
            ProcessEvent::Untraced(u) => match &u.process {
                Some(p) => self.evaluate_scan(EventKind::Untraced, p, ScanSubject::Process, mode),
                None => Vec::new(),
            },
            ProcessEvent::Connection(c) => {
                let subject =
                    ScanSubject::Connection { event: c, service_port: self.service_port, ioc: c.remote_ioc };
                self.evaluate_scan(EventKind::Connection, &c.process, subject, mode)
            }
            ProcessEvent::Mismatch(m) => {
                self.evaluate_scan(EventKind::Mismatch, &m.process, ScanSubject::Mismatch(&m.inspected), mode)
            }
            ProcessEvent::Library(l) => {
                self.evaluate_scan(EventKind::Library, &l.process, ScanSubject::Library(&l.library), mode)
            }
        }
    }
}

#[cfg(test)]
mod props_policy;
#[cfg(test)]
mod scan_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_policy;
#[cfg(test)]
mod tests_syscall;
