//! Property tests for the `RUNWARDEN_*` value parsers: arbitrary values never panic, and durations and
//! sizes written the documented way parse back (issue 14).

use std::time::Duration;

use proptest::prelude::*;

use super::*;

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn duration_never_panics(s in any::<String>(), digits in "[0-9]{1,40}(\\.[0-9]{0,40})?(ms|s|m)?") {
        let _ = parse_duration(&s);
        let _ = parse_duration(&digits);
    }

    #[test]
    fn duration_round_trips(n in 0u64..1_000_000_000, unit in 0usize..3) {
        let (text, want) = match unit {
            0 => (format!("{n}ms"), Duration::from_millis(n)),
            1 => (format!(" {n}s "), Duration::from_secs(n)),
            _ => (format!("{n}m"), Duration::from_secs(n * 60)),
        };
        let got = parse_duration(&text).unwrap();
        // Through f64: exact to well under a millisecond at these magnitudes.
        prop_assert!(got.abs_diff(want) < Duration::from_micros(1), "{text}: {got:?} != {want:?}");
        prop_assert_eq!(parse_duration(&n.to_string()).map(|d| d.as_secs()), Some(n));
    }

    #[test]
    fn size_never_panics(s in any::<String>(), digits in "[0-9]{1,30} ?(B|K|KiB|M|MiB|G|GiB)?") {
        let _ = parse_size(&s);
        let _ = parse_size(&digits);
    }

    #[test]
    fn size_round_trips(n in any::<u64>(), unit in prop::sample::select(vec![("", 0u32), ("B", 0), ("K", 10), ("KiB", 10), ("M", 20), ("MiB", 20), ("G", 30), ("GiB", 30)])) {
        prop_assert_eq!(parse_size(&format!("{n}{}", unit.0)), n.checked_mul(1 << unit.1));
    }

    #[test]
    fn from_vars_never_panics(
        vars in proptest::collection::vec((prop::sample::select(VARIABLES.iter().map(|(n, _)| *n).collect::<Vec<_>>()), any::<String>()), 0..6),
    ) {
        let _ = Config::from_vars(vars);
    }
}
