//! Property tests for the policy loader (YAML files with CEL conditions): arbitrary text never panics,
//! and a rule written the documented way loads with the fields it was written with (issue 14).

use proptest::prelude::*;

use super::engine::Engine;
use super::policy::{Policy, DEFAULT_FILES};
use runwarden_contract::Resource;

fn config() -> ProptestConfig {
    // Each case compiles a policy; the built-in files are left out where they add nothing.
    ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() }
}

fn user(text: String) -> Vec<(String, String)> {
    vec![("/etc/runwarden/extra.yaml".to_string(), text)]
}

/// Loads and, if it loads, compiles: neither may panic.
fn load_and_compile(text: String) {
    if let Ok(policy) = Policy::load(&[], &user(text)) {
        let _ = Engine::new(policy, Resource::default());
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn policy_text_never_panics(text in any::<String>()) {
        load_and_compile(text);
    }

    #[test]
    fn policy_yaml_shapes_never_panic(
        key in prop::sample::select(vec!["id", "enabled", "action", "severity", "event", "condition", "mitre", "category", "description", "lists"]),
        value in prop_oneof![any::<String>(), "[\\[\\]{}:,'\"a-z0-9 .()&|!=<>-]{0,40}"],
    ) {
        let quoted = serde_json::to_string(&value).unwrap();
        load_and_compile(format!("rules:\n  - id: fuzz_rule\n    event: exec\n    {key}: {value}\n"));
        load_and_compile(format!("rules:\n  - id: fuzz_rule\n    event: exec\n    {key}: {quoted}\n"));
    }

    #[test]
    fn cel_condition_never_panics(cond in prop_oneof![any::<String>(), "[a-z.()'\\[\\] &|!=<>0-9,+*/%-]{0,60}"]) {
        let cond = serde_json::to_string(&cond).unwrap();
        load_and_compile(format!(
            "rules:\n  - id: fuzz_rule\n    category: \"x\"\n    severity: HIGH\n    description: \"d\"\n    \
             mitre: {{tactic: EXECUTION, techniques: [T1204]}}\n    event: exec\n    condition: {cond}\n"
        ));
    }

    #[test]
    fn rule_round_trips(
        id in "[a-z][a-z0-9_]{0,15}",
        prefix in "/[a-zA-Z0-9 ._-]{0,20}",
        blank_lines in 0usize..4,
        items in proptest::collection::vec("[a-z][a-z0-9_.-]{0,10}", 0..4),
    ) {
        let text = format!(
            "{}lists:\n  mylist: [{}]\nrules:\n  - id: {id}\n    category: \"Execution: x\"\n    severity: HIGH\n    \
             description: \"custom {{proc.exe}}\"\n    mitre: {{tactic: EXECUTION, techniques: [T1204]}}\n    \
             event: exec\n    condition: proc.exe.startsWith({})\n",
            "\n".repeat(blank_lines),
            items.join(", "),
            serde_json::to_string(&prefix).unwrap(),
        );
        let policy = Policy::load(DEFAULT_FILES, &user(text));
        prop_assert!(policy.is_ok(), "{:?}", policy.err());
        let policy = policy.unwrap();
        let rule = policy.rules.iter().rev().find(|r| r.spec.id == id).unwrap();
        prop_assert_eq!(&rule.origin.source, "/etc/runwarden/extra.yaml");
        prop_assert_eq!(rule.origin.line, blank_lines + 4);
        prop_assert_eq!(policy.lists.get("mylist").cloned().unwrap_or_default(), items);
        prop_assert!(Engine::new(policy, Resource::default()).is_ok());
    }
}
