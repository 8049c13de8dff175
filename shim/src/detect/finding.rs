//! The finding: runwarden's unit of output, shaped like Security Command Center's `Finding` so the same
//! runbooks, queries and routing work (the contract is `shared/design/FINDINGS.md`). Fields that do not
//! apply are omitted, never filled with placeholders.
#![forbid(unsafe_code)]

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Action {
    Alert,
    Killed,
    ContainerStopped,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileRef {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Script {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub contents: String,
    pub sha256: String,
    pub contents_truncated: bool,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct EnvVariable {
    pub name: String,
    pub val: String,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct StdioWiring {
    pub stdin: String,
    pub stdout: String,
    pub stderr: String,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AncestorRef {
    pub pid: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub binary: Option<FileRef>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, Default, Serialize)]
pub struct FileChange {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    pub operation: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Signature {
    YaraRuleSignature { yara_rule: String },
    MemoryHashSignature { binary_family: String },
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct MitreAttack {
    pub primary_tactic: String,
    pub primary_techniques: Vec<String>,
    #[serde(default)]
    pub additional_techniques: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
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

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Container {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image_id: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleRef {
    pub id: String,
    pub source: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub finding_id: String,
    pub category: String,
    pub severity: Severity,
    pub state: &'static str,
    pub finding_class: &'static str,
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
    pub action: Action,
    pub rule: RuleRef,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub external_uri: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_steps: Option<String>,
    pub source_properties: serde_json::Value,
}

#[cfg(test)]
impl Finding {
    /// A minimal finding for tests of what handles findings (dedup, storm control, sinks).
    pub fn sample(rule: &str, category: &str) -> Finding {
        Finding {
            finding_id: uuid::Uuid::now_v7().to_string(),
            category: category.into(),
            severity: Severity::Low,
            state: "ACTIVE",
            finding_class: "THREAT",
            event_time: String::new(),
            create_time: String::new(),
            description: "d".into(),
            processes: vec![],
            ancestors: vec![],
            connections: vec![],
            files: vec![],
            indicator: Indicator::default(),
            mitre_attack: MitreAttack::default(),
            resource: Resource::default(),
            containers: vec![],
            action: Action::Alert,
            rule: RuleRef { id: rule.into(), source: "builtin".into() },
            external_uri: None,
            next_steps: None,
            source_properties: serde_json::json!({}),
        }
    }
}
