//! Property tests for the scanner's parsers of /proc/<pid>/maps and /proc/net/{tcp,tcp6,udp,udp6}:
//! arbitrary text never panics, and lines rendered the way the kernel writes them parse back (issue 14).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;

use super::maps::{parse_maps, Mapped};
use super::net::{parse_proc_net, Proto};

fn config() -> ProptestConfig {
    ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() }
}

/// The kernel's hex for an address: each 32-bit word printed from its in-memory (little-endian) value.
fn hex_addr(a: &SocketAddr) -> String {
    let words: Vec<u8> = match a.ip() {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    let ip: String =
        words.chunks(4).map(|w| format!("{:08X}", u32::from_le_bytes([w[0], w[1], w[2], w[3]]))).collect();
    format!("{ip}:{:04X}", a.port())
}

fn addr(v6: bool) -> impl Strategy<Value = SocketAddr> {
    let ip = if v6 {
        any::<[u8; 16]>()
            .prop_map(|b| {
                let v6 = Ipv6Addr::from(b);
                // The parser shows a v4-mapped address as IPv4; generate the form it returns.
                v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6))
            })
            .boxed()
    } else {
        any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))).boxed()
    };
    (ip, any::<u16>()).prop_map(|(ip, port)| SocketAddr::new(ip, port))
}

fn mapped_path() -> impl Strategy<Value = String> {
    // Paths may hold spaces and parentheses; the kernel escapes a newline as "\012".
    "/[a-z ()._-]{0,20}[a-z.]".prop_map(String::from)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn net_never_panics(text in any::<String>(), udp in any::<bool>()) {
        let _ = parse_proc_net(&text, if udp { Proto::Udp } else { Proto::Tcp });
    }

    #[test]
    fn net_never_panics_on_near_rows(ip in "[0-9A-F]{0,8}[0-9A-Fé+-][0-9A-F]{22,24}", port in "[0-9A-F+é]{0,5}") {
        let text = format!("header\n   0: {ip}:{port} {ip}:{port} 01 0:0 0:0 0 1000 0 77 1\n");
        let _ = parse_proc_net(&text, Proto::Tcp);
    }

    #[test]
    fn net_round_trips(
        v6 in any::<bool>(),
        rows in proptest::collection::vec((addr(false), addr(true), addr(false), addr(true), 1u8..=12, any::<u32>(), any::<u64>()), 0..5),
        udp in any::<bool>(),
    ) {
        let proto = if udp { Proto::Udp } else { Proto::Tcp };
        let mut text = String::from("  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n");
        let mut want = Vec::new();
        for (i, (l4, l6, r4, r6, state, uid, inode)) in rows.iter().enumerate() {
            let (l, r) = if v6 { (l6, r6) } else { (l4, r4) };
            // A v4 address in tcp6 is shown v4-mapped; render it the kernel's way.
            let (lh, rh) = if v6 {
                (hex_addr(&to_v6(l)), hex_addr(&to_v6(r)))
            } else {
                (hex_addr(l), hex_addr(r))
            };
            text.push_str(&format!(
                "{i:4}: {lh} {rh} {state:02X} 00000000:00000000 00:00000000 00000000 {uid:5} 0 {inode} 1 0000000000000000 100 0 0 10 0\n"
            ));
            want.push((*l, *r, *state, *uid, *inode));
        }
        let got: Vec<_> =
            parse_proc_net(&text, proto).into_iter().map(|e| (e.local, e.remote, e.state, e.uid, e.inode)).collect();
        prop_assert_eq!(got, want);
        for cut in 0..text.len() {
            // A truncated read yields a prefix of the rows (the last may be cut to a shorter inode), never more.
            let got = parse_proc_net(&text[..cut], proto);
            prop_assert!(got.len() <= rows.len());
        }
    }

    #[test]
    fn maps_never_panics(text in any::<String>(), exe in proptest::option::of(any::<String>())) {
        let _ = parse_maps(&text, exe.as_deref());
    }

    #[test]
    fn maps_round_trips(
        maps in proptest::collection::btree_map(mapped_path(), (any::<bool>(), any::<bool>(), 1u64..u64::MAX), 0..6),
    ) {
        let mut text = String::new();
        let mut want = Vec::new();
        for (i, (path, (exec, deleted, inode))) in maps.iter().enumerate() {
            let perms = if *exec { "r-xp" } else { "r--p" };
            let shown = if *deleted { format!("{path} (deleted)") } else { path.clone() };
            text.push_str(&format!(
                "{:08x}-{:08x} {perms} 00000000 fd:01 {inode:<26} {shown}\n", i * 4096, (i + 1) * 4096
            ));
            // A path that itself ends in " (deleted)" is the kernel's own ambiguity; not generated.
            if *exec {
                want.push(Mapped { path: path.clone(), deleted: *deleted, inode: *inode });
            }
        }
        text.push_str("7ffd0000-7ffd1000 r-xp 00000000 00:00 0                          [vdso]\n");
        prop_assert_eq!(parse_maps(&text, None), want);
    }
}

fn to_v6(a: &SocketAddr) -> SocketAddr {
    match a.ip() {
        IpAddr::V4(v4) => SocketAddr::new(IpAddr::V6(v4.to_ipv6_mapped()), a.port()),
        IpAddr::V6(_) => *a,
    }
}
