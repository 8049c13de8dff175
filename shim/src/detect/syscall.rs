//! Rules with `event: syscall`: the model of one call seen by the opt-in syscall mode
//! (`RUNWARDEN_SYSCALLS`), its evaluation, and its findings (documented in `policies/README.md`).
//!
//! The model is `syscall` (the call, decoded) beside the same `proc`, `parent` and `ancestors` as exec
//! rules, filled from the process table: for a call, the table knows the program, its arguments and
//! lineage, not its stdio or environment at the time (those fields stay empty).
#![forbid(unsafe_code)]

use serde::Serialize;

use super::engine::{
    add_process, ancestor_ref, base_finding, matched_rules, process_of_ref, value_from, Engine, Mode,
};
use super::model::{ProcModel, Relative};
use super::policy::{EventKind, LoadedRule, RuleAction};
use crate::events::SyscallEvent;
use runwarden_contract::{Connection, Finding, Indicator, Process};

/// `syscall`: every field is present on every call ("" or 0 when it does not apply), so a condition
/// never fails on a missing key.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyscallFields {
    pub name: String,
    /// x86_64 | i386 | x32
    pub abi: String,
    /// The raw argument registers (as signed 64-bit integers).
    pub args: Vec<i64>,
    /// "connect(fd 3, inet 10.0.0.7:4444)", "ptrace(PTRACE_ATTACH, pid 42)".
    pub summary: String,
    /// connect: inet | inet6 | unix | the family number.
    pub family: String,
    /// connect: the IP address or the unix socket path ("@name" when abstract).
    pub address: String,
    pub port: i64,
    /// connect: TCP | UDP | UNIX ... ("" when unknown, e.g. under gVisor).
    pub protocol: String,
    /// ptrace: PTRACE_ATTACH, PTRACE_SEIZE, PTRACE_TRACEME, ...
    pub request: String,
    /// ptrace and process_vm_*: the process acted on (0 when none).
    pub target_pid: i64,
    /// finit_module/setns: the file of the fd; memfd_create: the name; mount & co.: the target.
    pub path: String,
    /// Module parameters; mount: source and filesystem type.
    pub params: String,
}

/// Everything a condition sees for one call.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SyscallModel {
    pub syscall: SyscallFields,
    pub proc: ProcModel,
    pub parent: Relative,
    pub ancestors: Vec<Relative>,
}

impl SyscallModel {
    pub fn from_event(e: &SyscallEvent) -> SyscallModel {
        let d = &e.detail;
        let syscall = SyscallFields {
            name: e.name.to_string(),
            abi: e.abi.to_string(),
            args: e.args.iter().map(|a| *a as i64).collect(),
            summary: d.summary.clone(),
            family: d.family.clone().unwrap_or_default(),
            address: d.address.clone().unwrap_or_default(),
            port: d.port.map(i64::from).unwrap_or(0),
            protocol: d.protocol.clone().unwrap_or_default(),
            request: d.request.clone().unwrap_or_default(),
            target_pid: d.target_pid.map(i64::from).unwrap_or(0),
            path: d.path.clone().unwrap_or_default(),
            params: d.params.clone().unwrap_or_default(),
        };
        let (proc, ancestors) = match &e.process {
            Some(a) => {
                let proc = ProcModel { pid: e.pid.into(), ..ProcModel::from_ref(a) };
                (proc, a.ancestors.iter().map(Relative::from_ref).collect())
            }
            None => (ProcModel { pid: e.pid.into(), ..Default::default() }, Vec::new()),
        };
        let parent: Relative = ancestors.first().cloned().unwrap_or_default();
        SyscallModel { syscall, proc, parent, ancestors }
    }
}

impl Engine {
    /// Evaluates a call and builds its findings (through [`Engine::evaluate`]).
    pub(super) fn evaluate_syscall(&mut self, ev: &SyscallEvent, mode: Mode) -> Vec<Finding> {
        let model = SyscallModel::from_event(ev);
        let resource = self.resource.clone();
        let mut ctx = self.root.new_inner_scope();
        ctx.add_variable_from_value("syscall", value_from(&model.syscall));
        add_process(&mut ctx, &model.proc, &model.parent, &model.ancestors);
        matched_rules(&self.rules, EventKind::Syscall, &ctx, &mut self.eval_errors, &model)
            .into_iter()
            .map(|(rule, description)| build_syscall_finding(&rule, description, ev, &model, &resource, mode))
            .collect()
    }
}

/// A finding for a call: the caller, its lineage, the peer of a connect, and the call itself under
/// `sourceProperties.syscall`.
pub fn build_syscall_finding(
    rule: &LoadedRule,
    description: String,
    ev: &SyscallEvent,
    model: &SyscallModel,
    resource: &runwarden_contract::Resource,
    mode: Mode,
) -> Finding {
    let mut f = base_finding(rule, description, resource, mode, ev.time, "seccomp");
    let caller = ev.process.as_ref().map(process_of_ref).unwrap_or_default();
    f.processes = vec![Process { name: model.proc.name.clone(), pid: ev.pid, ..caller }];
    f.ancestors = ev.process.iter().flat_map(|a| a.ancestors.iter()).map(ancestor_ref).collect();
    let d = &ev.detail;
    if let (Some("inet" | "inet6"), Some(ip), Some(port)) = (d.family.as_deref(), &d.address, d.port) {
        // The protocol is known only where the kernel says (not under gVisor): no connection entry
        // with a placeholder protocol, the address is in the indicator and the syscall properties.
        if let Some(protocol) = &d.protocol {
            f.connections = vec![Connection {
                protocol: protocol.clone(),
                destination_ip: Some(ip.clone()),
                destination_port: Some(port),
                ..Default::default()
            }];
        }
        f.indicator = Indicator { ip_addresses: vec![ip.clone()], ..Default::default() };
    }
    if let serde_json::Value::Object(props) = &mut f.source_properties {
        props.insert("syscall".into(), serde_json::to_value(&model.syscall).unwrap_or_default());
        props.insert("tid".into(), ev.tid.into());
        if mode == Mode::Detect && rule.spec.action != RuleAction::Alert {
            let would = if rule.spec.action == RuleAction::Kill { "KILLED" } else { "CONTAINER_STOPPED" };
            props.insert("wouldHaveBeen".into(), would.into());
        }
    }
    f
}
