//! The wire contract between runwarden and its collector (`docs/FINDINGS.md`, `docs/HEARTBEAT.md`).
//!
//! The finding is runwarden's unit of output, shaped like Security Command Center's `Finding` so the
//! same runbooks, queries and routing work. Fields that do not apply are omitted, never filled with
//! placeholders. Every type serializes (runwarden) and deserializes (the collector); decoding is
//! lenient about absent fields (`#[serde(default)]`): which fields a receiver requires, and the
//! precise error when one is wrong, is the receiver's decision (the collector's `model`).
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The VirusTotal page of a file, by its sha256: a finding's `externalUri`.
pub fn virustotal_uri(sha256: &str) -> String {
    format!("https://www.virustotal.com/gui/file/{sha256}")
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    #[default]
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// Most severe first.
    pub const ALL: [Severity; 4] = [Severity::Critical, Severity::High, Severity::Medium, Severity::Low];

    /// The name in any case ("critical", "CRITICAL").
    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_uppercase().as_str() {
            "CRITICAL" => Some(Severity::Critical),
            "HIGH" => Some(Severity::High),
            "MEDIUM" => Some(Severity::Medium),
            "LOW" => Some(Severity::Low),
            _ => None,
        }
    }

    /// 1 (LOW) to 4 (CRITICAL), for sorting in storage.
    pub fn rank(self) -> i64 {
        self as i64 + 1
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "LOW",
            Severity::Medium => "MEDIUM",
            Severity::High => "HIGH",
            Severity::Critical => "CRITICAL",
        }
    }
}

/// What runwarden did about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    Alert,
    Killed,
    /// The exec was refused before the program ran (the seccomp sensor answered it with EPERM).
    Blocked,
    ContainerStopped,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Alert => "ALERT",
            Action::Killed => "KILLED",
            Action::Blocked => "BLOCKED",
            Action::ContainerStopped => "CONTAINER_STOPPED",
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct FileRef {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Script {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub contents: String,
    pub sha256: String,
    pub contents_truncated: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnvVariable {
    pub name: String,
    pub val: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StdioWiring {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Process {
    pub name: String,
    pub pid: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_pid: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<FileRef>,
    pub args: Vec<String>,
    pub arguments_truncated: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub script: Option<Script>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub env_variables: Vec<EnvVariable>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub libraries: Vec<FileRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stdio: Option<StdioWiring>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AncestorRef {
    pub pid: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<FileRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Connection {
    pub protocol: String,
    /// Unknown for a connect seen before it runs (the syscall mode): omitted, not filled in.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub source_ip: String,
    #[serde(skip_serializing_if = "is_zero")]
    pub source_port: u16,
    /// Absent for a listening socket.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_ip: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_port: Option<u16>,
}

fn is_zero(v: &u16) -> bool {
    *v == 0
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileChange {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub operation: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Signature {
    YaraRuleSignature { yara_rule: String },
    MemoryHashSignature { binary_family: String },
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Indicator {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub domains: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub uris: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signatures: Vec<Signature>,
}

impl Indicator {
    pub fn is_empty(&self) -> bool {
        self.ip_addresses.is_empty()
            && self.domains.is_empty()
            && self.uris.is_empty()
            && self.signatures.is_empty()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase", default)]
pub struct MitreAttack {
    pub primary_tactic: String,
    pub primary_techniques: Vec<String>,
    #[serde(default)]
    pub additional_techniques: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Resource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_index: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    /// The image URI (`RUNWARDEN_IMAGE`): shown in the finding's `containers`, not in `resource`.
    #[serde(skip)]
    pub image: Option<String>,
}

impl Resource {
    /// The finding's `containers`: the service's (or job's) container with its image, when known.
    pub fn containers(&self) -> Vec<Container> {
        match (self.service.as_ref().or(self.job.as_ref()), &self.image) {
            (None, None) => Vec::new(),
            (name, image) => vec![Container {
                name: name.cloned().unwrap_or_else(|| "workload".to_string()),
                uri: image.clone(),
                image_id: None,
            }],
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RuleRef {
    pub id: String,
    pub source: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Finding {
    pub finding_id: String,
    pub category: String,
    pub severity: Severity,
    /// ACTIVE
    pub state: String,
    /// THREAT
    pub finding_class: String,
    pub event_time: String,
    pub create_time: String,
    pub description: String,
    /// Empty (omitted) only for file findings whose process inotify could not tell.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub processes: Vec<Process>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ancestors: Vec<AncestorRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub connections: Vec<Connection>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileChange>,
    #[serde(skip_serializing_if = "Indicator::is_empty")]
    pub indicator: Indicator,
    pub mitre_attack: MitreAttack,
    pub resource: Resource,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<Container>,
    /// Always set by runwarden; optional for a receiver.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    pub rule: RuleRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_steps: Option<String>,
    pub source_properties: serde_json::Value,
}

/// The heartbeat object (`docs/HEARTBEAT.md`): alone as `{"findings": [], "heartbeat": {...}}`, or
/// riding in a batch of findings.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Heartbeat {
    /// A new UUIDv7 for every heartbeat built.
    pub heartbeat_id: String,
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    pub interval_seconds: u64,
    /// Sent once, at shutdown: the instance ended on purpose.
    #[serde(rename = "final")]
    pub is_final: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runwarden_version: Option<String>,
    /// ptrace | poll | off
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sensor: Option<String>,
    /// detect | enforce
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    pub resource: Resource,
    /// Tells instances apart where the resource does not (a local Docker run: the container id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    /// Cumulative since start: events, findings, delivered, retries, shed, spooled, rejected.
    pub counts: BTreeMap<String, u64>,
}

/// What one `POST /v1/findings` carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Batch {
    pub findings: Vec<Finding>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat: Option<Heartbeat>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_finding_round_trips() {
        let f = Finding {
            finding_id: "id".into(),
            category: "Reverse Shell".into(),
            severity: Severity::Critical,
            state: "ACTIVE".into(),
            processes: vec![Process { name: "sh".into(), pid: 4, ..Default::default() }],
            indicator: Indicator {
                signatures: vec![Signature::YaraRuleSignature { yara_rule: "r".into() }],
                ..Default::default()
            },
            action: Some(Action::ContainerStopped),
            source_properties: serde_json::json!({"sensor": "ptrace"}),
            ..Default::default()
        };
        let text = serde_json::to_string(&f).unwrap();
        assert!(text.contains("\"action\":\"CONTAINER_STOPPED\""), "{text}");
        assert!(text.contains("\"yaraRuleSignature\":{\"yaraRule\":\"r\"}"), "{text}");
        assert_eq!(serde_json::from_str::<Finding>(&text).unwrap(), f);
    }

    #[test]
    fn absent_fields_decode_to_their_defaults() {
        let f: Finding = serde_json::from_str(r#"{"findingId": "a", "severity": "HIGH"}"#).unwrap();
        assert_eq!((f.severity, f.action, f.processes.len()), (Severity::High, None, 0));
        assert_eq!(Severity::parse("critical"), Some(Severity::Critical));
        assert_eq!(Severity::Critical.rank(), 4);
    }
}
