//! Property tests for the collector's parsers of outside data (issue 14): the batch decoder for POSTed
//! findings, RFC 3339 times, and the list pages' query parameters. Arbitrary input never panics; a
//! filter written back to parameters parses to the same filter.

use proptest::prelude::*;
use serde_json::Value;

use crate::model::{format_time, parse_batch, parse_time};
use crate::storage::query::{encode_params, parse_when, FindingFilter};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::String),
        prop::sample::select(vec!["2026-12-04T20:00:00Z", "HIGH", "exec", "9999-12-31T23:59:59.999999Z"])
            .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(
                prop::sample::select(vec![
                    "findings",
                    "heartbeat",
                    "id",
                    "category",
                    "severity",
                    "eventTime",
                    "resource",
                    "service",
                    "revision",
                    "instanceId",
                    "proc",
                    "x"
                ])
                .prop_map(String::from),
                inner,
                0..6
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const KEYS: &[&str] = &[
    "category", "severity", "service", "revision", "instance", "since", "until", "q", "state", "limit",
    "offset", "x",
];

proptest! {
    #![proptest_config(config())]

    #[test]
    fn batch_bytes_never_panic(bytes in any::<Vec<u8>>(), max in 0usize..8) {
        let _ = parse_batch(&bytes, max);
    }

    #[test]
    fn batch_json_never_panics(findings in proptest::collection::vec(json(), 0..4), heartbeat in json()) {
        let body = serde_json::json!({ "findings": findings, "heartbeat": heartbeat });
        let bytes = serde_json::to_vec(&body).unwrap();
        let _ = parse_batch(&bytes, 100);
        for cut in 0..bytes.len().min(200) {
            // A truncated body is invalid JSON: refused, never a panic.
            prop_assert!(parse_batch(&bytes[..cut], 100).is_err());
        }
    }

    #[test]
    fn time_never_panics(s in any::<String>(), us in any::<i64>(), now in any::<i64>()) {
        let _ = parse_time(&s);
        let _ = parse_when(&s, now);
        let _ = parse_time(&format_time(us));
    }

    #[test]
    fn time_round_trips(us in 0i64..253_402_300_800_000_000) {
        // Years 1970 to 9999, the range RFC 3339 writes with four digits.
        prop_assert_eq!(parse_time(&format_time(us)), Some(us));
    }

    #[test]
    fn query_params_never_panic_and_round_trip(
        params in proptest::collection::vec((prop::sample::select(KEYS.to_vec()).prop_map(String::from), any::<String>()), 0..8),
        now in 0i64..i64::MAX,
    ) {
        let _ = encode_params(&params);
        if let Ok((filter, _page)) = FindingFilter::from_params(&params, now) {
            let back: Vec<(String, String)> = filter.to_params().into_iter().map(|(k, v)| (k.to_string(), v)).collect();
            let again = FindingFilter::from_params(&back, now);
            prop_assert!(again.is_ok(), "{back:?}: {again:?}");
            prop_assert_eq!(again.unwrap().0, filter);
        }
    }
}
