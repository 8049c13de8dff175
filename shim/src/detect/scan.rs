//! Rules for what the periodic scanner finds (`event: stdio | connection | library | untraced`):
//! the process as an `exec` rule sees it, plus `conn` or `lib`. Findings are built like exec
//! findings (`engine::build_finding`) with the connection or library added.
#![forbid(unsafe_code)]

use super::engine::{add_process, build_finding, matched_rules, value_from, Engine, Mode};
use super::finding::{Connection, FileRef, Finding};
use super::model::{ConnModel, ExecModel, LibModel, ScanModel};
use super::policy::EventKind;
use crate::event::{Binary, ConnectionEvent, ExecEvent};

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
}

impl Engine {
    /// Evaluates the rules of `kind` against a scanner event about `process`.
    pub fn evaluate_scan(
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
        matched
            .into_iter()
            .map(|(rule, description)| {
                let mut f = build_finding(&rule, description, process, &model.exec, &resource, mode);
                if let serde_json::Value::Object(props) = &mut f.source_properties {
                    // Connections from the syscall mode's connect stops say so; the rest are the scanner's.
                    let sensor =
                        if process.sensor == crate::event::Sensor::Seccomp { "seccomp" } else { "scanner" };
                    props.insert("sensor".into(), sensor.into());
                }
                match &subject {
                    ScanSubject::Process => {}
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
                            p.libraries.push(FileRef {
                                path: b.path.clone(),
                                sha256: b.sha256.clone(),
                                size: b.size,
                            });
                        }
                        for s in &b.signatures {
                            f.indicator.signatures.push(super::finding::Signature::YaraRuleSignature {
                                yara_rule: s.rule.clone(),
                            });
                        }
                        if let Some(fam) = &b.ioc_family {
                            f.indicator.signatures.push(super::finding::Signature::MemoryHashSignature {
                                binary_family: fam.clone(),
                            });
                        }
                        // The VirusTotal link names the library, the thing to look at.
                        if let Some(h) = &b.sha256 {
                            f.external_uri = Some(format!("https://www.virustotal.com/gui/file/{h}"));
                        }
                    }
                }
                f
            })
            .collect()
    }
}
