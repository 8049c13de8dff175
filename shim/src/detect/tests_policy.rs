//! Policy loading: user files that add, override and disable rules; errors that name file, line and rule.

use super::engine::Engine;
use super::policy::{Policy, DEFAULT_FILES};
use super::tests::{ev, fired, socket, stdin};
use runwarden_contract::Resource;

fn user(text: &str) -> Vec<(String, String)> {
    vec![("/etc/runwarden/extra.yaml".to_string(), text.to_string())]
}

#[test]
fn user_policies_add_override_and_disable() {
    let text = r#"
lists:
  shells: [mysh]
rules:
  - id: netcat_executed
    enabled: false
  - id: compiler_launched
    action: kill
  - id: my_tmp_rule
    category: "Execution: Program Run from Temporary Directory"
    severity: HIGH
    description: "custom {proc.exe}"
    mitre: {tactic: EXECUTION, techniques: [T1204]}
    event: exec
    condition: proc.exe.startsWith('/scratch/')
"#;
    let policy = Policy::load(DEFAULT_FILES, &user(text)).unwrap();
    let get = |id: &str| policy.rules.iter().find(|r| r.spec.id == id).unwrap();
    assert!(!get("netcat_executed").spec.enabled);
    assert_eq!(get("compiler_launched").spec.action, super::policy::RuleAction::Kill);
    assert_eq!(get("my_tmp_rule").origin.source, "/etc/runwarden/extra.yaml");
    assert_eq!(get("my_tmp_rule").origin.line, 9);
    assert!(policy.lists["shells"].contains(&"mysh".to_string()));
    assert!(policy.lists["shells"].contains(&"bash".to_string()), "lists extend, not replace");

    let mut e = Engine::new(policy, Resource::default()).unwrap();
    assert!(fired(&mut e, &ev("/scratch/x", &["x"])).contains("my_tmp_rule"));
    assert!(!fired(&mut e, &ev("/usr/bin/nc", &["nc", "-z", "h", "1"])).contains("netcat_executed"));
    assert!(fired(&mut e, &stdin(ev("/usr/bin/mysh", &["mysh"]), socket()))
        .contains("reverse_shell_stdio_socket"));
}

#[test]
fn policy_errors_name_file_line_and_rule() {
    let text = "rules:\n  - id: ok_rule\n    enabled: false\n  - id: bad_severity\n    category: X\n    severity: HIGHEST\n    description: d\n    mitre: {tactic: T, techniques: [T1]}\n    event: exec\n    condition: 'true'\n";
    let err = Policy::load(DEFAULT_FILES, &user(text)).unwrap_err();
    let all = err.to_string();
    assert_eq!(err.0.len(), 2, "{all}");
    assert!(
        all.contains("/etc/runwarden/extra.yaml:2:1: rule ok_rule: changes a rule that does not exist"),
        "{all}"
    );
    assert!(
        all.contains("/etc/runwarden/extra.yaml:4:1: rule bad_severity: unknown variant `HIGHEST`"),
        "{all}"
    );

    let text = "rules:\n  - id: typo\n    category: X\n    severity: LOW\n    description: d\n    mitre: {tactic: T, techniques: [T1]}\n    event: exec\n    conditon: 'true'\n";
    let all = Policy::load(DEFAULT_FILES, &user(text)).unwrap_err().to_string();
    assert!(all.contains("unknown field `conditon`"), "{all}");

    let text = "rules:\n  - id: broken\n    category: X\n    severity: LOW\n    description: d\n    mitre: {tactic: T, techniques: [T1]}\n    event: exec\n    condition: \"proc.name ==\"\n";
    let policy = Policy::load(DEFAULT_FILES, &user(text)).unwrap();
    let err = Engine::new(policy, Resource::default()).err().expect("must not compile");
    let all = err.to_string();
    assert!(
        all.starts_with("/etc/runwarden/extra.yaml:2:1: rule broken: condition does not compile"),
        "{all}"
    );

    let err = Policy::load(DEFAULT_FILES, &user("rules: [\n")).unwrap_err();
    assert_eq!(err.0[0].file, "/etc/runwarden/extra.yaml");
    assert!(err.0[0].line >= 1);
    assert!(err.to_string().contains('^'), "the offending line is shown with a caret: {err}");
}
