//! Rules compiled once, evaluated per event, turned into findings.
//!
//! Conditions are CEL expressions (the `cel` crate) over the event model of `detect::model`, with the
//! policy's named lists as the variable `lists`. A condition that fails to evaluate on an event (a
//! type error) counts as "no match" and is counted, never a crash. Compilation errors are load errors.
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::time::SystemTime;

use std::cell::RefCell;
use std::sync::Arc;

use cel::extractors::This;
use cel::{Context, ExecutionError, Program, Value};

use runwarden_contract::virustotal_uri;

use super::model::{basename, ExecModel, FileModel, ProcModel, Relative};
use super::policy::{EventKind, LoadedRule, Policy, PolicyError, PolicyErrors, RuleAction};
use super::redact::{redact, redact_args, redact_env};
use crate::events::{rfc3339, ExecEvent, FileEvent};
use runwarden_contract::{
    Action, AncestorRef, EnvVariable, FileRef, Finding, Indicator, Process, Resource, RuleRef, Signature,
    StdioWiring,
};

/// Enforcement mode (`RUNWARDEN_MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every action is reported as it would have been, nothing is blocked.
    Detect,
    Enforce,
}

pub struct CompiledRule {
    pub rule: LoadedRule,
    program: Program,
    /// The rule's place in its policy: evaluation (and so finding) order.
    position: usize,
}

/// Compiled regular expressions of `matches()`, per thread (the tracer's enforcer and the pipeline each
/// have their own). cel's own `matches` compiles the pattern at every call, which cost more than all the
/// rest of rule evaluation together; patterns come from the policy, so this map stays small.
fn cached_regex_match(text: &str, pattern: &str) -> Result<bool, ExecutionError> {
    thread_local! {
        static CACHE: RefCell<HashMap<String, regex::Regex>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(re) = cache.get(pattern) {
            return Ok(re.is_match(text));
        }
        let re = regex::Regex::new(pattern).map_err(|e| ExecutionError::FunctionError {
            function: "matches".to_string(),
            message: format!("'{pattern}' is not a valid regular expression: {e}"),
        })?;
        let hit = re.is_match(text);
        cache.insert(pattern.to_string(), re);
        Ok(hit)
    })
}

fn matches(This(this): This<Arc<String>>, pattern: Arc<String>) -> Result<bool, ExecutionError> {
    cached_regex_match(&this, &pattern)
}

/// The rules of `kind` whose condition is true in `ctx`. A condition that fails to evaluate (a type
/// error on this event) counts as no match and is counted in `errors`.
pub(super) fn run_rules<'r>(
    rules: &'r [CompiledRule],
    kind: EventKind,
    ctx: &Context,
    errors: &mut u64,
) -> Vec<&'r CompiledRule> {
    let mut out = Vec::new();
    for r in rules.iter().filter(|r| r.rule.spec.event == kind) {
        match r.program.execute(ctx) {
            Ok(Value::Bool(true)) => out.push(r),
            Ok(_) => {}
            Err(e) => {
                *errors += 1;
                tracing::debug!(rule = %r.rule.spec.id, error = %e, "condition failed to evaluate");
            }
        }
    }
    out
}

/// The rules of `kind` that match in `ctx`, each with its description rendered from `model`.
pub(super) fn matched_rules<M: serde::Serialize>(
    rules: &[CompiledRule],
    kind: EventKind,
    ctx: &Context,
    errors: &mut u64,
    model: &M,
) -> Vec<(LoadedRule, String)> {
    run_rules(rules, kind, ctx, errors)
        .into_iter()
        .map(|r| (r.rule.clone(), render(&r.rule.spec.description, model)))
        .collect()
}

/// Adds the variables of the process an event is about: `proc`, `parent`, `ancestors`.
pub(super) fn add_process(ctx: &mut Context, proc: &ProcModel, parent: &Relative, ancestors: &Vec<Relative>) {
    ctx.add_variable_from_value("proc", value_from(proc));
    ctx.add_variable_from_value("parent", value_from(parent));
    ctx.add_variable_from_value("ancestors", value_from(ancestors));
}

/// The context every evaluation starts from: the named lists and the functions, built once.
fn root_context(lists: &HashMap<String, Vec<String>>) -> Context<'static, 'static> {
    let mut ctx = Context::default();
    ctx.add_variable_from_value("lists", value_from(lists));
    // Registered here because the crate's `regex` feature (whose `matches` recompiles) is off.
    let _ = ctx.add_function("matches", matches);
    ctx
}

pub struct Engine {
    pub(super) rules: Vec<CompiledRule>,
    pub(super) root: Context<'static, 'static>,
    /// The workload's captured environment at its first exec: `start.env` in conditions, the
    /// reference for "not present at start" (e.g. proxy variables).
    pub(super) start_env: Option<std::collections::BTreeMap<String, String>>,
    /// The pid and time of the workload's first exec (its entrypoint): `start.entrypoint` in conditions.
    pub(super) entrypoint: Option<(i32, std::time::SystemTime)>,
    pub resource: Resource,
    /// The service's port (`PORT`, set by Cloud Run): a listener there is the service's.
    pub service_port: Option<u16>,
    pub eval_errors: u64,
    /// Exec models (pids left out) for which no exec rule matched: the same program run again the
    /// same way by the same lineage (a shell loop, a server's helper per request) matches nothing
    /// again, so its rules are not evaluated again. Conditions see only the model, `start` and the
    /// lists, all fixed for a run, and no exec condition reads a pid (`quiet_exec_key`).
    pub(super) quiet_execs: std::collections::HashSet<u64>,
}

/// Quiet exec models remembered at most (cleared when full; a miss only costs one evaluation).
const QUIET_EXECS_MAX: usize = 4096;

/// The memo key of an exec model: everything rules can see but the pids, which differ each time.
fn quiet_exec_key(model: &ExecModel) -> Option<u64> {
    use std::hash::{Hash, Hasher};
    let mut m = serde_json::to_value(model).ok()?;
    let clear = |v: &mut serde_json::Value, keys: &[&str]| {
        for k in keys {
            if let Some(x) = v.get_mut(*k) {
                *x = serde_json::Value::Null;
            }
        }
    };
    clear(&mut m["proc"], &["pid", "ppid"]);
    clear(&mut m["parent"], &["pid"]);
    if let Some(a) = m.get_mut("ancestors").and_then(|a| a.as_array_mut()) {
        a.iter_mut().for_each(|x| clear(x, &["pid"]));
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    m.to_string().hash(&mut h);
    Some(h.finish())
}

/// How long after the entrypoint's exec its direct children still count as its start-up (an entrypoint
/// script running `sh -c` helpers before it execs the server).
const ENTRYPOINT_STARTUP_MS: u64 = 10_000;

/// True for the entrypoint itself (the first exec's pid, through any `exec` chain) and for its direct
/// children exec'd during its start-up: `docker run -it` gives both a terminal without anyone typing.
fn is_entrypoint(ev: &ExecEvent, entry_pid: i32, entry_time: std::time::SystemTime) -> bool {
    let early = ev
        .time
        .duration_since(entry_time)
        .is_ok_and(|d| d <= std::time::Duration::from_millis(ENTRYPOINT_STARTUP_MS));
    ev.pid == entry_pid || (ev.ppid == entry_pid && early)
}

pub(super) fn value_from<T: serde::Serialize>(v: &T) -> Value {
    cel::to_value(v).unwrap_or(Value::Null)
}

impl Engine {
    /// Compiles every enabled rule. All compile errors are reported together.
    pub fn new(policy: Policy, resource: Resource) -> Result<Engine, PolicyErrors> {
        Engine::with_rules(policy, resource, |_| true)
    }

    /// Compiles the enabled rules that `keep` selects (the enforcer takes the kill/stop rules, the
    /// pipeline the others).
    pub fn with_rules(
        policy: Policy,
        resource: Resource,
        keep: impl Fn(&LoadedRule) -> bool,
    ) -> Result<Engine, PolicyErrors> {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (position, rule) in policy.rules.into_iter().enumerate() {
            if !rule.spec.enabled || !keep(&rule) {
                continue;
            }
            match Program::compile(&rule.spec.condition) {
                Ok(program) => rules.push(CompiledRule { rule, program, position }),
                Err(e) => errors.push(PolicyError {
                    file: rule.origin.source.clone(),
                    line: rule.origin.line,
                    column: 1,
                    rule: Some(rule.spec.id.clone()),
                    message: format!("condition does not compile: {e}"),
                    excerpt: None,
                }),
            }
        }
        if !errors.is_empty() {
            return Err(PolicyErrors(errors));
        }
        let lists: HashMap<String, Vec<String>> = policy.lists.into_iter().collect();
        Ok(Engine {
            rules,
            root: root_context(&lists),
            start_env: None,
            entrypoint: None,
            resource,
            service_port: None,
            eval_errors: 0,
            quiet_execs: std::collections::HashSet::new(),
        })
    }

    /// Adds the rules of `other`, compiled from another selection of the same policy, each in its place
    /// in the policy (the start-up check compiles the user's rules, the pipeline the built-in ones).
    pub fn absorb(&mut self, other: Engine) {
        self.rules.extend(other.rules);
        self.rules.sort_by_key(|r| r.position);
        // Remembered "quiet" execs were judged by fewer rules.
        self.quiet_execs.clear();
    }

    pub fn rules(&self) -> impl Iterator<Item = &CompiledRule> {
        self.rules.iter()
    }

    /// Evaluates an exec event and builds its findings (through [`Engine::evaluate`]).
    pub(super) fn evaluate_exec(&mut self, ev: &ExecEvent, mode: Mode) -> Vec<Finding> {
        let model = ExecModel::from_event(ev);
        let (entry_pid, entry_time) = *self.entrypoint.get_or_insert((ev.pid, ev.time));
        let entrypoint = is_entrypoint(ev, entry_pid, entry_time);
        // The key leaves pids out: whether the exec is the entrypoint's must still tell two execs apart.
        let key = quiet_exec_key(&model).map(|k| k ^ u64::from(entrypoint));
        if key.is_some_and(|k| self.quiet_execs.contains(&k)) {
            return Vec::new();
        }
        let resource = self.resource.clone();
        let start_env = self.start_env.get_or_insert_with(|| model.proc.env.clone());
        let start = serde_json::json!({"env": start_env, "entrypoint": entrypoint});
        let mut ctx = self.root.new_inner_scope();
        ctx.add_variable_from_value("start", value_from(&start));
        add_process(&mut ctx, &model.proc, &model.parent, &model.ancestors);
        ctx.add_variable_from_value("script", value_from(&model.script));
        let sensor = ev.sensor.as_str();
        let errors_before = self.eval_errors;
        let matched = matched_rules(&self.rules, EventKind::Exec, &ctx, &mut self.eval_errors, &model);
        // Only a clean "nothing matched" is remembered: an evaluation error must be retried.
        if let (Some(k), true, true) = (key, matched.is_empty(), self.eval_errors == errors_before) {
            if self.quiet_execs.len() >= QUIET_EXECS_MAX {
                self.quiet_execs.clear();
            }
            self.quiet_execs.insert(k);
        }
        matched
            .into_iter()
            .map(|(rule, description)| {
                let built = Built { resource: &resource, mode, sensor, link: None };
                build_finding(&rule, description, ev, &model, &built)
            })
            .collect()
    }
}

impl Engine {
    /// Evaluates a file event and builds its findings (file rules only alert).
    pub(super) fn evaluate_file(&mut self, ev: &FileEvent, mode: Mode) -> Vec<Finding> {
        let model = FileModel::from_event(ev);
        let resource = self.resource.clone();
        let mut ctx = self.root.new_inner_scope();
        ctx.add_variable_from_value("file", value_from(&model.file));
        ctx.add_variable_from_value("proc", value_from(&model.proc));
        ctx.add_variable_from_value("parent", value_from(&model.parent));
        matched_rules(&self.rules, EventKind::File, &ctx, &mut self.eval_errors, &model)
            .into_iter()
            .map(|(rule, description)| build_file_finding(&rule, description, ev, &resource, mode))
            .collect()
    }
}

/// A finding for a file event: the file in `files`, the process only when one was found holding it.
pub fn build_file_finding(
    rule: &LoadedRule,
    description: String,
    ev: &FileEvent,
    resource: &Resource,
    mode: Mode,
) -> Finding {
    let processes = ev.process.iter().map(process_of_ref).collect();
    let mut f = base_finding(rule, description, resource, mode, ev.time, "inotify");
    f.processes = processes;
    f.ancestors = ev.process.iter().flat_map(|a| a.ancestors.iter()).map(ancestor_ref).collect();
    f.files = vec![runwarden_contract::FileChange {
        path: ev.path.clone(),
        sha256: ev.sha256.clone(),
        operation: ev.operation.as_str().to_string(),
    }];
    f.external_uri = ev.sha256.as_deref().map(virustotal_uri);
    if let serde_json::Value::Object(props) = &mut f.source_properties {
        props.insert("fileClass".into(), ev.class.into());
        props.insert("processAttributed".into(), ev.process.is_some().into());
        if let Some(o) = &ev.other_path {
            props.insert("otherPath".into(), o.clone().into());
        }
        if ev.rescan {
            props.insert("foundByRescan".into(), true.into());
        }
    }
    f
}

/// The fields every finding of a rule shares; the caller adds processes, files, indicators and links.
pub(super) fn base_finding(
    rule: &LoadedRule,
    description: String,
    resource: &Resource,
    mode: Mode,
    event_time: SystemTime,
    sensor: &str,
) -> Finding {
    let mut source_properties = serde_json::Map::new();
    source_properties.insert("runwardenVersion".into(), env!("CARGO_PKG_VERSION").into());
    source_properties.insert("sensor".into(), sensor.into());
    Finding {
        finding_id: uuid::Uuid::now_v7().to_string(),
        category: rule.spec.category.clone(),
        severity: rule.spec.severity,
        state: "ACTIVE".into(),
        finding_class: "THREAT".into(),
        event_time: rfc3339::format(event_time),
        create_time: rfc3339::format(SystemTime::now()),
        description,
        processes: Vec::new(),
        ancestors: Vec::new(),
        connections: Vec::new(),
        files: Vec::new(),
        indicator: Indicator::default(),
        mitre_attack: rule.spec.mitre.to_attack(),
        resource: resource.clone(),
        containers: resource.containers(),
        action: Some(action_for(rule.spec.action, mode)),
        rule: RuleRef { id: rule.spec.id.clone(), source: rule.origin.source.clone() },
        external_uri: None,
        next_steps: rule.spec.next_steps.clone(),
        source_properties: serde_json::Value::Object(source_properties),
    }
}

/// A process known by reference (a file's holder, a syscall's caller) as findings describe it.
pub(super) fn process_of_ref(a: &crate::events::ProcessRef) -> Process {
    Process {
        name: basename(a.exe.as_deref().unwrap_or("")).to_string(),
        pid: a.pid,
        parent_pid: a.ppid,
        binary: a.exe.as_ref().map(|p| FileRef {
            path: p.clone(),
            sha256: a.sha256.clone(),
            ..Default::default()
        }),
        args: redact_args(&a.args),
        ..Default::default()
    }
}

pub(super) fn ancestor_ref(a: &crate::events::ProcessRef) -> AncestorRef {
    AncestorRef {
        pid: a.pid,
        binary: a.exe.as_ref().map(|p| FileRef { path: p.clone(), ..Default::default() }),
        args: redact_args(&a.args),
    }
}

/// Fills `{proc.name}`-style placeholders in a rule's description from the model. The values are
/// redacted (a command line can carry a password); the template is the rule author's text and is not
/// (redacting the whole sentence would mask words after a "passwords:" of the template itself).
pub fn render<M: serde::Serialize>(template: &str, model: &M) -> String {
    let json = serde_json::to_value(model).unwrap_or_default();
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let path = &rest[start + 1..start + end];
        let mut v = &json;
        for part in path.split('.') {
            v = &v[part];
        }
        match v {
            serde_json::Value::String(s) => out.push_str(&redact(s)),
            serde_json::Value::Null => out.push('?'),
            other => out.push_str(&redact(&other.to_string())),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

fn describe_fd(f: &super::model::Fd) -> String {
    let base = match f.kind.as_str() {
        "socket" if !f.peer.is_empty() => format!("socket {}", f.peer),
        "socket" => format!("socket inode {}", f.inode),
        "pipe" => format!("pipe inode {}", f.inode),
        "file" | "tty" => format!("{} {}", f.kind, f.path),
        other => other.to_string(),
    };
    // A pipe or FIFO leading to a socket holder says where it leads.
    if f.relay.is_empty() {
        base
    } else {
        format!("{base} {}", f.peer)
    }
}

/// The finding's indicator block: signatures that matched the binary, its IoC family, matched URLs.
fn indicator_of(ev: &ExecEvent) -> Indicator {
    let mut ind = Indicator::default();
    for s in &ev.binary.signatures {
        ind.signatures.push(Signature::YaraRuleSignature { yara_rule: s.rule.clone() });
    }
    if let Some(s) = ev.script.as_ref().filter(|s| s.malicious) {
        for h in &s.signatures {
            ind.signatures.push(Signature::YaraRuleSignature { yara_rule: h.rule.clone() });
        }
    }
    if let Some(f) = &ev.binary.ioc_family {
        ind.signatures.push(Signature::MemoryHashSignature { binary_family: f.clone() });
    }
    for url in &ev.indicators {
        ind.uris.push(redact(url));
        if let Some(host) = crate::enrich::ioc::host_of(url) {
            let host = host.to_string();
            let is_ip = host.parse::<std::net::IpAddr>().is_ok();
            let list = if is_ip { &mut ind.ip_addresses } else { &mut ind.domains };
            if !list.contains(&host) {
                list.push(host);
            }
        }
    }
    ind
}

/// The connection a socket descriptor's peer describes: "tcp 10.0.0.5:41234->203.0.113.7:4444
/// ESTABLISHED" (also through a relay: "through nc (pid 42) to tcp ..."). None for listeners,
/// unconnected and unix sockets.
fn connection_of(fd: &super::model::Fd) -> Option<runwarden_contract::Connection> {
    if !(fd.inet && fd.remote) {
        return None;
    }
    let desc = fd.peer.rsplit(" to ").next().unwrap_or(&fd.peer);
    let mut words = desc.split_whitespace();
    let proto = words.next()?;
    let (local, remote) = words.next()?.split_once("->")?;
    let local: std::net::SocketAddr = local.parse().ok()?;
    let remote: std::net::SocketAddr = remote.parse().ok()?;
    Some(runwarden_contract::Connection {
        protocol: if proto.starts_with("udp") { "UDP" } else { "TCP" }.to_string(),
        source_ip: local.ip().to_string(),
        source_port: local.port(),
        destination_ip: Some(remote.ip().to_string()),
        destination_port: Some(remote.port()),
    })
}

/// The finding's action given the rule and the mode.
pub fn action_for(rule: RuleAction, mode: Mode) -> Action {
    match (mode, rule) {
        (Mode::Enforce, RuleAction::Kill) => Action::Killed,
        (Mode::Enforce, RuleAction::Stop) => Action::ContainerStopped,
        _ => Action::Alert,
    }
}

/// How a finding about a process is built: where it runs, the mode, the sensor to name, and the file
/// its VirusTotal link names when it is not the program or script (a library).
#[derive(Clone, Copy)]
pub(super) struct Built<'a> {
    pub resource: &'a Resource,
    pub mode: Mode,
    pub sensor: &'a str,
    pub link: Option<&'a str>,
}

/// A finding about a process (exec and scanner events), complete: nothing is added after this.
pub(super) fn build_finding(
    rule: &LoadedRule,
    description: String,
    ev: &ExecEvent,
    model: &ExecModel,
    built: &Built,
) -> Finding {
    let Built { resource, mode, sensor, link } = *built;
    let sha = ev.binary.sha256.clone();
    let process = Process {
        name: basename(&ev.binary.path).to_string(),
        pid: ev.pid,
        parent_pid: Some(ev.ppid),
        binary: Some(FileRef { path: ev.binary.path.clone(), sha256: sha.clone(), size: ev.binary.size }),
        args: redact_args(&ev.args),
        arguments_truncated: ev.arguments_truncated,
        script: ev.script.as_ref().map(|s| runwarden_contract::Script {
            path: s.script.path.clone(),
            // Script text can hold credentials like any command line.
            contents: redact(&s.script.contents),
            sha256: s.script.sha256.clone(),
            contents_truncated: s.script.contents_truncated,
        }),
        env_variables: ev
            .env
            .iter()
            .map(|v| EnvVariable { name: v.name.clone(), val: redact_env(&v.name, &v.val) })
            .collect(),
        libraries: Vec::new(),
        stdio: Some(StdioWiring {
            stdin: describe_fd(&model.proc.stdin),
            stdout: describe_fd(&model.proc.stdout),
            stderr: describe_fd(&model.proc.stderr),
        }),
    };
    let mut f = base_finding(rule, description, resource, mode, ev.time, sensor);
    if ev.sensor == crate::events::Sensor::Seccomp && f.action == Some(Action::Killed) {
        // The seccomp sensor holds an exec before the kernel looks at the file: a kill rule
        // refuses it (EPERM) and the program never exists.
        f.action = Some(Action::Blocked);
    }
    f.processes = vec![process];
    f.ancestors = ev.ancestors.iter().map(ancestor_ref).collect();
    f.indicator = indicator_of(ev);
    // A standard stream on an internet socket is the finding's connection (a reverse shell's peer).
    for fd in [&model.proc.stdin, &model.proc.stdout] {
        if let Some(c) = connection_of(fd) {
            if !f
                .connections
                .iter()
                .any(|x| x.destination_ip == c.destination_ip && x.destination_port == c.destination_port)
            {
                f.connections.push(c);
            }
        }
    }
    // The VirusTotal link names the library of a library finding; else the malicious script when
    // there is one, else the binary.
    f.external_uri = link
        .map(str::to_string)
        .or_else(|| ev.script.as_ref().filter(|s| s.malicious).map(|s| s.script.sha256.clone()))
        .or(sha)
        .map(|s| virustotal_uri(&s));
    if mode == Mode::Detect && rule.spec.action != RuleAction::Alert {
        // Detect mode reports what enforcement would have done.
        let would = match rule.spec.action {
            RuleAction::Kill => "KILLED",
            RuleAction::Stop => "CONTAINER_STOPPED",
            RuleAction::Alert => "ALERT",
        };
        if let serde_json::Value::Object(props) = &mut f.source_properties {
            props.insert("wouldHaveBeen".into(), would.into());
        }
    }
    f
}
