//! Property tests for the /proc parsers: arbitrary bytes never panic, and a file rendered the way the
//! kernel writes it parses back to what was generated (issue 14). Truncated reads are prefixes.

use proptest::prelude::*;

use super::*;
use crate::proc::tree::{parse_stat, StatFields};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

/// A comm as the kernel may show it: up to 15 bytes of anything but NUL, parentheses, spaces and
/// newlines included.
fn comm() -> impl Strategy<Value = String> {
    proptest::collection::vec(prop_oneof![Just(')'), Just('('), Just(' '), Just('\n'), any::<char>()], 0..16)
        .prop_map(|c| c.into_iter().filter(|c| *c != '\0').collect())
}

fn render_stat(pid: i32, comm: &str, s: &StatFields) -> String {
    let mut line = format!("{pid} ({comm}) {} {}", s.state, s.ppid);
    // pgrp .. itrealvalue: 17 fields, then starttime and the rest of the 52.
    for i in 0..17 {
        line.push_str(&format!(" {i}"));
    }
    line.push_str(&format!(" {}", s.starttime));
    for i in 0..30 {
        line.push_str(&format!(" {i}"));
    }
    line.push('\n');
    line
}

fn args() -> impl Strategy<Value = Vec<Vec<u8>>> {
    proptest::collection::vec(proptest::collection::vec(1u8..=255, 0..12), 0..6)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn stat_never_panics(text in any::<String>()) {
        let _ = parse_stat(&text);
    }

    #[test]
    fn stat_round_trips(
        pid in 1i32..i32::MAX,
        comm in comm(),
        state in prop::sample::select(vec!['R', 'S', 'D', 'Z', 'T', 't', 'X', 'I']),
        ppid in 0i32..i32::MAX,
        starttime in any::<u64>(),
    ) {
        let s = StatFields { state, ppid, starttime };
        let line = render_stat(pid, &comm, &s);
        prop_assert_eq!(parse_stat(&line), Some(s));
        // A truncated read parses to the same fields or is refused.
        for cut in 0..line.len() {
            if let Some(prefix) = line.get(..cut) {
                if let Some(got) = parse_stat(prefix) {
                    prop_assert_eq!(got.state, s.state);
                    prop_assert_eq!(got.ppid, s.ppid);
                }
            }
        }
    }

    #[test]
    fn status_never_panics(text in any::<String>()) {
        let _ = parse_status(&text);
        let _ = parse_no_new_privs(&text);
    }

    #[test]
    fn status_round_trips(
        tgid in 1i32..i32::MAX, ppid in 0i32..i32::MAX, tracer in 0i32..i32::MAX,
        uids in any::<[u32; 4]>(), gids in any::<[u32; 4]>(), nnp in any::<bool>(),
    ) {
        let text = format!(
            "Name:\tsh (x)\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t{tgid}\nNgid:\t0\nPid:\t{tgid}\n\
             PPid:\t{ppid}\nTracerPid:\t{tracer}\nUid:\t{}\t{}\t{}\t{}\nGid:\t{}\t{}\t{}\t{}\n\
             FDSize:\t64\nNoNewPrivs:\t{}\nSeccomp:\t0\n",
            uids[0], uids[1], uids[2], uids[3], gids[0], gids[1], gids[2], gids[3], u8::from(nnp)
        );
        let want = StatusFields {
            tgid, ppid, tracer_pid: tracer, uid: uids[0], euid: uids[1], gid: gids[0], egid: gids[1],
        };
        prop_assert_eq!(parse_status(&text), want);
        prop_assert_eq!(parse_no_new_privs(&text), nnp);
        for cut in 0..text.len() {
            let _ = parse_status(&text[..cut]);
            // A cut read never claims NoNewPrivs the full file does not.
            prop_assert!(!parse_no_new_privs(&text[..cut]) || nnp);
        }
    }

    #[test]
    fn cmdline_never_panics(bytes in any::<Vec<u8>>(), full in any::<bool>()) {
        let (_, truncated) = parse_cmdline(&bytes, full);
        prop_assert_eq!(truncated, !full);
    }

    #[test]
    fn cmdline_round_trips(argv in args()) {
        let mut file = Vec::new();
        for a in &argv {
            file.extend_from_slice(a);
            file.push(0);
        }
        let lossy: Vec<String> = argv.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect();
        prop_assert_eq!(parse_cmdline(&file, true), (lossy.clone(), false));
        // A bounded read: every argument before the cut is whole, the last may be cut, none invented.
        for cut in 1..file.len() {
            let (got, truncated) = parse_cmdline(&file[..cut], false);
            prop_assert!(truncated);
            prop_assert!(!got.is_empty() && got.len() <= lossy.len());
            prop_assert_eq!(&got[..got.len() - 1], &lossy[..got.len() - 1]);
        }
    }

    #[test]
    fn environ_never_panics(bytes in any::<Vec<u8>>(), wanted in proptest::collection::vec(any::<String>(), 0..3)) {
        let _ = select_env(&bytes, &wanted);
    }

    #[test]
    fn environ_round_trips(
        env in proptest::collection::btree_map("[A-Z_][A-Z0-9_]{0,7}", proptest::collection::vec(1u8..=255, 0..12), 0..6),
        pick in any::<u8>(),
    ) {
        let mut file = Vec::new();
        for (k, v) in &env {
            file.extend_from_slice(k.as_bytes());
            file.push(b'=');
            file.extend_from_slice(v);
            file.push(0);
        }
        let wanted: Vec<String> =
            env.keys().enumerate().filter(|(i, _)| pick & (1 << (i % 8)) != 0).map(|(_, k)| k.clone()).collect();
        let got = select_env(&file, &wanted);
        let want: Vec<(String, String)> = env
            .iter()
            .filter(|(k, _)| wanted.contains(k))
            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        let got: Vec<(String, String)> = got.into_iter().map(|e| (e.name, e.val)).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn fd_link_never_panics(link in any::<String>()) {
        let _ = stdio_key(&parse_fd_link(&link));
        let _ = parse_exe_link(&link);
    }

    #[test]
    fn fd_link_round_trips(inode in any::<u64>(), name in "[a-z_\\[\\]]{1,12}", n in 0u32..4096) {
        for link in [format!("socket:[{inode}]"), format!("pipe:[{inode}]"), format!("anon_inode:{name}")] {
            prop_assert_eq!(stdio_key(&parse_fd_link(&link)), link);
        }
        let socket = matches!(parse_fd_link(&format!("socket:[{inode}]")), Stdio::Socket { inode: i, peer: None } if i == inode);
        prop_assert!(socket);
        let pipe = matches!(parse_fd_link(&format!("pipe:[{inode}]")), Stdio::Pipe { inode: i } if i == inode);
        prop_assert!(pipe);
        let tty = format!("/dev/pts/{n}");
        let is_tty = matches!(parse_fd_link(&tty), Stdio::Tty { path } if path == tty);
        prop_assert!(is_tty);
    }

    #[test]
    fn exe_link_round_trips(path in "/[^\0]{0,40}", deleted in any::<bool>()) {
        let link = if deleted { format!("{path} (deleted)") } else { path.clone() };
        let (got, del, memfd) = parse_exe_link(&link);
        // A path that itself ends in " (deleted)" is indistinguishable from a deleted one: the kernel's
        // own ambiguity (d_path appends the marker).
        if !path.ends_with(" (deleted)") {
            prop_assert_eq!(got, path.clone());
            prop_assert_eq!(del, deleted);
        }
        prop_assert_eq!(memfd, path.starts_with("/memfd:"));
    }
}
