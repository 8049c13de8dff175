//! Rules for what the periodic scanner finds (`event: stdio | connection | library | untraced`):
//! the process as an `exec` rule sees it, plus `conn` or `lib`. Findings are built like exec
//! findings (`engine::build_finding`) with the connection or library added.
#![forbid(unsafe_code)]

use super::engine::{add_process, build_finding, matched_rules, value_from, Built, Engine, Mode};
use super::model::{ConnModel, ExecModel, LibModel, ScanModel};
use super::policy::EventKind;
use crate::events::{Binary, ConnectionEvent, ExecEvent, Sensor};
use runwarden_contract::{Connection, FileRef, Finding, Signature};

/// What a scanner event adds to the process it is about.
pub enum ScanSubject<'a> {
    /// Stdio and untraced events: the process alone.
    Process,
    Connection {
        event: &'a ConnectionEvent,
        service_port: Option<u16>,
        ioc: bool,
    },
    Library(&'a Binary),
    /// What the seccomp sensor read at the exec, which the running process no longer matches.
    Mismatch(&'a ExecEvent),
}

impl Engine {
    /// Evaluates the rules of `kind` against a scanner event about `process` (through
    /// [`Engine::evaluate`]).
    pub(super) fn evaluate_scan(
        &mut self,
        kind: EventKind,
        process: &ExecEvent,
        subject: ScanSubject,
        mode: Mode,
    ) -> Vec<Finding> {
        let model = ScanModel {
            exec: ExecModel::from_event(process),
            conn: match &subject {
                ScanSubject::Connection { event, service_port, ioc } => {
                    ConnModel::from_event(event, *service_port, *ioc)
                }
                _ => ConnModel::default(),
            },
            lib: match &subject {
                ScanSubject::Library(b) => LibModel::from_binary(b),
                _ => LibModel::default(),
            },
        };
        let mut start = std::collections::BTreeMap::new();
        start.insert("env", self.start_env.clone().unwrap_or_default());
        let mut ctx = self.root.new_inner_scope();
        ctx.add_variable_from_value("start", value_from(&start));
        add_process(&mut ctx, &model.exec.proc, &model.exec.parent, &model.exec.ancestors);
        ctx.add_variable_from_value("script", value_from(&model.exec.script));
        ctx.add_variable_from_value("conn", value_from(&model.conn));
        ctx.add_variable_from_value("lib", value_from(&model.lib));
        let matched = matched_rules(&self.rules, kind, &ctx, &mut self.eval_errors, &model);
        let resource = self.resource.clone();
        // Connections from the syscall mode's connect stops say so; the rest are the scanner's.
        let sensor = match subject {
            ScanSubject::Mismatch(_) => "seccomp",
            _ if process.sensor == Sensor::Seccomp => "seccomp",
            _ => "scanner",
        };
        // The VirusTotal link of a library finding names the library, the thing to look at.
        let link = match &subject {
            ScanSubject::Library(b) => b.sha256.as_deref(),
            _ => None,
        };
        let built = Built { resource: &resource, mode, sensor, link };
        matched
            .into_iter()
            .map(|(rule, description)| {
                let mut f = build_finding(&rule, description, process, &model.exec, &built);
                add_subject(&mut f, &subject);
                f
            })
            .collect()
    }
}

/// What the connection or library adds to the finding of the process (while it is being built).
fn add_subject(f: &mut Finding, subject: &ScanSubject) {
    match subject {
        ScanSubject::Process => {}
        ScanSubject::Mismatch(inspected) => {
            if let serde_json::Value::Object(props) = &mut f.source_properties {
                props.insert(
                    "inspected".into(),
                    serde_json::json!({
                        "path": inspected.binary.path,
                        "args": super::redact::redact_args(&inspected.args),
                    }),
                );
            }
        }
        ScanSubject::Connection { event, ioc, .. } => {
            f.connections.push(Connection {
                protocol: event.protocol.to_string(),
                source_ip: event.local_ip.clone(),
                source_port: event.local_port,
                destination_ip: (!event.listening).then(|| event.remote_ip.clone()),
                destination_port: (!event.listening).then_some(event.remote_port),
            });
            if *ioc && !f.indicator.ip_addresses.contains(&event.remote_ip) {
                f.indicator.ip_addresses.push(event.remote_ip.clone());
            }
        }
        ScanSubject::Library(b) => {
            if let Some(p) = f.processes.first_mut() {
                p.libraries.push(FileRef { path: b.path.clone(), sha256: b.sha256.clone(), size: b.size });
            }
            for s in &b.signatures {
                f.indicator.signatures.push(Signature::YaraRuleSignature { yara_rule: s.rule.clone() });
            }
            if let Some(fam) = &b.ioc_family {
                f.indicator.signatures.push(Signature::MemoryHashSignature { binary_family: fam.clone() });
            }
        }
    }
}
