//! Policy files: rules and named lists, as YAML data (`policies/rules/*.yaml`).
//!
//! The defaults are compiled into the binary; `RUNWARDEN_POLICIES=DIR` adds files whose rules add to,
//! override (same `id`) or disable (`enabled: false`) the defaults, and whose lists extend the default
//! lists of the same name. Loading is all or nothing: any error in any file is reported with the file,
//! the line and the rule id, and nothing is half-loaded.
#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use runwarden_contract::{MitreAttack, Severity};

/// The default policy files, compiled in.
pub const DEFAULT_FILES: &[(&str, &str)] = &[
    ("policies/rules/lists.yaml", include_str!("../../../policies/rules/lists.yaml")),
    ("policies/rules/exec.yaml", include_str!("../../../policies/rules/exec.yaml")),
    ("policies/rules/file.yaml", include_str!("../../../policies/rules/file.yaml")),
    ("policies/rules/scan.yaml", include_str!("../../../policies/rules/scan.yaml")),
    ("policies/rules/syscall.yaml", include_str!("../../../policies/rules/syscall.yaml")),
];

/// What a rule does when it matches, in enforce mode (in detect mode every action is reported only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum RuleAction {
    #[default]
    Alert,
    /// Kill the process at its exec stop, before its first instruction.
    Kill,
    /// Stop the workload gracefully and exit non-zero so the platform replaces the instance.
    Stop,
}

/// Which events a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    Exec,
    /// A watched file changed or a watched secret was opened (`sensors::files`).
    File,
    /// The scanner found a running process's stdio reaching the network (rewired after exec, or
    /// through pipes to a socket holder). Same model as `exec`.
    Stdio,
    /// The scanner found a new outbound connection or listening socket: the `exec` model of the
    /// holder, plus `conn`.
    Connection,
    /// The scanner found a newly mapped library that is not the image's: the `exec` model of the
    /// process, plus `lib`.
    Library,
    /// The scanner found a descendant that escaped tracing: the `exec` model of what it runs.
    Untraced,
    /// A syscall listed in `RUNWARDEN_SYSCALLS` was called (`detect::syscall`).
    Syscall,
    /// A process runs other arguments, or another program, than the seccomp sensor read at its exec
    /// (`pipeline::verify`): the `exec` model of what runs, the inspected command in the finding.
    Mismatch,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleSpec {
    pub id: String,
    pub category: String,
    pub severity: Severity,
    pub description: String,
    #[serde(default)]
    pub next_steps: Option<String>,
    pub mitre: MitreSpec,
    pub event: EventKind,
    pub condition: String,
    #[serde(default)]
    pub action: RuleAction,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub tags: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MitreSpec {
    pub tactic: String,
    pub techniques: Vec<String>,
    #[serde(default)]
    pub additional: Vec<String>,
}

impl MitreSpec {
    pub fn to_attack(&self) -> MitreAttack {
        MitreAttack {
            primary_tactic: self.tactic.clone(),
            primary_techniques: self.techniques.clone(),
            additional_techniques: self.additional.clone(),
        }
    }
}

/// A rule that only changes a default one: `{id: X, enabled: false}` or `{id: X, action: kill}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulePatch {
    #[allow(dead_code)]
    pub id: String,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub action: Option<RuleAction>,
}

#[derive(Debug, Clone)]
enum RuleEntry {
    Full(Box<RuleSpec>),
    Patch(RulePatch),
}

impl RuleEntry {
    /// An entry with only `id`, `enabled` and `action` patches a rule; anything else is a full rule.
    /// Deserializing each kind separately gives errors that name the real problem (a bad severity, a
    /// missing field) instead of "matches no variant".
    fn from_value(v: serde_yaml_ng::Value) -> Result<RuleEntry, String> {
        let patch_only = v.as_mapping().is_some_and(|m| {
            m.keys().all(|k| matches!(k.as_str(), Some("id") | Some("enabled") | Some("action")))
        });
        if patch_only {
            serde_yaml_ng::from_value(v).map(RuleEntry::Patch).map_err(|e| e.to_string())
        } else {
            serde_yaml_ng::from_value(v).map(|r| RuleEntry::Full(Box::new(r))).map_err(|e| e.to_string())
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default)]
    lists: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    rules: Vec<serde_yaml_ng::Value>,
}

/// Where a rule came from: `builtin`, or the user file's path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleOrigin {
    pub source: String,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct LoadedRule {
    pub spec: RuleSpec,
    pub origin: RuleOrigin,
}

/// Every rule and list in force.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    pub rules: Vec<LoadedRule>,
    pub lists: BTreeMap<String, Vec<String>>,
}

/// One problem in one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub file: String,
    pub line: usize,
    pub column: usize,
    pub rule: Option<String>,
    pub message: String,
    /// The offending source line, shown with a caret.
    pub excerpt: Option<String>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        if let Some(id) = &self.rule {
            write!(f, "rule {id}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(src) = &self.excerpt {
            write!(f, "\n    {src}\n    {}^", " ".repeat(self.column.saturating_sub(1)))?;
        }
        Ok(())
    }
}

/// All the errors of one load, reported together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyErrors(pub Vec<PolicyError>);

impl fmt::Display for PolicyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for PolicyErrors {}

impl PolicyErrors {
    /// One error about a whole file or directory (unreadable, or refused by another loader).
    pub fn file_level(file: impl Into<String>, message: String) -> PolicyErrors {
        PolicyErrors(vec![PolicyError {
            file: file.into(),
            line: 0,
            column: 0,
            rule: None,
            message,
            excerpt: None,
        }])
    }
}

/// The 1-based line where `id: <id>` is written, to place rule-level errors.
pub fn line_of_rule(text: &str, id: &str) -> usize {
    rule_lines(text).get(id).copied().unwrap_or(1)
}

/// The 1-based line of each `id:` in `text` (the first one of an id that appears twice), read in one
/// pass: a file of many rules is not searched once per rule.
fn rule_lines(text: &str) -> HashMap<&str, usize> {
    let mut lines = HashMap::new();
    for (i, l) in text.lines().enumerate() {
        let t = l.trim_start().trim_start_matches("- ").trim_start();
        if let Some(rest) = t.strip_prefix("id:") {
            lines.entry(rest.trim().trim_matches(['"', '\''])).or_insert(i + 1);
        }
    }
    lines
}

/// The source line to show under an error; an error past the end (truncated file) shows the last line.
fn excerpt(text: &str, line: usize) -> Option<String> {
    text.lines().nth(line.checked_sub(1)?).or_else(|| text.lines().last()).map(str::to_string)
}

fn parse_file(name: &str, text: &str) -> Result<PolicyFile, PolicyError> {
    serde_yaml_ng::from_str::<PolicyFile>(text).map_err(|e| {
        let (line, column) = e.location().map(|l| (l.line(), l.column())).unwrap_or((1, 1));
        PolicyError {
            file: name.to_string(),
            line,
            column,
            rule: None,
            message: e.to_string().split(" at line ").next().unwrap_or_default().to_string(),
            excerpt: excerpt(text, line),
        }
    })
}

/// The `.yaml`/`.yml` files of a directory, sorted by name (the order rules override each other in).
pub fn policy_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

impl Policy {
    /// Builds the policy from the defaults and the given (name, text) files, in order.
    pub fn load<'a>(
        defaults: &[(&'a str, &'a str)],
        user: &[(String, String)],
    ) -> Result<Policy, PolicyErrors> {
        let mut policy = Policy::default();
        let mut errors = Vec::new();
        let sources = defaults
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string(), true))
            .chain(user.iter().map(|(n, t)| (n.clone(), t.clone(), false)));
        for (name, text, builtin) in sources {
            let file = match parse_file(&name, &text) {
                Ok(f) => f,
                Err(e) => {
                    errors.push(e);
                    continue;
                }
            };
            for (list, items) in file.lists {
                policy.lists.entry(list).or_default().extend(items);
            }
            let lines = rule_lines(&text);
            for value in file.rules {
                let id = value.get("id").and_then(|v| v.as_str()).unwrap_or("").to_string();
                let line = lines.get(id.as_str()).copied().unwrap_or(1);
                let err = |message: String| PolicyError {
                    file: name.clone(),
                    line,
                    column: 1,
                    rule: Some(if id.is_empty() { "(no id)".to_string() } else { id.clone() }),
                    message,
                    excerpt: excerpt(&text, line),
                };
                let entry = match RuleEntry::from_value(value) {
                    Ok(e) => e,
                    Err(message) => {
                        errors.push(err(message));
                        continue;
                    }
                };
                if !is_rule_id(&id) {
                    errors.push(err("rule ids are lower_snake_case letters, digits and underscores".into()));
                    continue;
                }
                let existing = policy.rules.iter().position(|r| r.spec.id == id);
                let source = if builtin { "builtin".to_string() } else { name.clone() };
                match (entry, existing) {
                    (RuleEntry::Full(spec), Some(i)) => {
                        if builtin {
                            errors.push(err("duplicate rule id in the built-in policies".into()));
                        } else {
                            policy.rules[i] = LoadedRule { spec: *spec, origin: RuleOrigin { source, line } };
                        }
                    }
                    (RuleEntry::Full(spec), None) => {
                        policy.rules.push(LoadedRule { spec: *spec, origin: RuleOrigin { source, line } })
                    }
                    (RuleEntry::Patch(p), Some(i)) => {
                        let r = &mut policy.rules[i];
                        if let Some(e) = p.enabled {
                            r.spec.enabled = e;
                        }
                        if let Some(a) = p.action {
                            r.spec.action = a;
                        }
                    }
                    (RuleEntry::Patch(_), None) => errors.push(err(
                        "changes a rule that does not exist (a new rule needs category, severity, \
                         description, mitre, event and condition)"
                            .into(),
                    )),
                }
            }
        }
        if errors.is_empty() {
            Ok(policy)
        } else {
            Err(PolicyErrors(errors))
        }
    }

    /// The defaults plus every policy file in `dir`.
    pub fn load_with_dir(dir: Option<&Path>) -> Result<Policy, PolicyErrors> {
        let mut user = Vec::new();
        if let Some(dir) = dir {
            let files = policy_files(dir).map_err(|e| {
                PolicyErrors::file_level(
                    dir.display().to_string(),
                    format!("cannot read the policy directory: {e}"),
                )
            })?;
            for f in files {
                let text = std::fs::read_to_string(&f).map_err(|e| {
                    PolicyErrors::file_level(f.display().to_string(), format!("cannot read: {e}"))
                })?;
                user.push((f.display().to_string(), text));
            }
        }
        Policy::load(DEFAULT_FILES, &user)
    }
}

fn is_rule_id(id: &str) -> bool {
    !id.is_empty() && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}
