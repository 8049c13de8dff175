//! Whether the socket table can have changed since the last dump, told by the network namespace's
//! own counters: `/proc/<pid>/net/snmp` (TCP ActiveOpens, PassiveOpens, CurrEstab) and `sockstat`,
//! `sockstat6` (TCP and UDP sockets in use). Reading them takes microseconds; a `sock_diag` dump
//! walks the kernel's whole TCP hash, every namespace's, sized by the host's memory: on a 24 GiB
//! host, 4 ms of kernel time for two sockets (perf, 2026-12-05), 70 % of runwarden's CPU at rest.
//!
//! What each counter catches: an outbound connection counts in ActiveOpens at `connect(2)`, an
//! accepted one in PassiveOpens, a listener in TCP "inuse" at `listen(2)`, a UDP socket in UDP
//! "inuse" when it is bound or connected. Changes that cancel out within one pass (a listener closed
//! and another opened) are caught by the dump every [`DUMP_AT_LEAST_EVERY`] passes. The counters are
//! read before the dump, so a socket opened while the dump runs changes them for the next pass.

use std::path::Path;

/// A dump of TCP and UDP at least every this many passes (4 s at the default 500 ms), whatever the
/// counters say.
pub const DUMP_AT_LEAST_EVERY: u64 = 8;

/// The counters of one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NetCounters {
    /// ActiveOpens, PassiveOpens, CurrEstab, TCP inuse, TCP6 inuse.
    pub tcp: [u64; 5],
    /// UDP inuse, UDP6 inuse.
    pub udp: [u64; 2],
}

/// Which tables to dump this pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dump {
    pub tcp: bool,
    pub udp: bool,
}

/// What pass `pass` (counted from 1) dumps, given the counters read now and at the last dump. No
/// counters (a kernel or gVisor without these files): every pass dumps TCP, and UDP every fourth.
pub fn plan(pass: u64, now: Option<&NetCounters>, last: Option<&NetCounters>) -> Dump {
    let forced = pass % DUMP_AT_LEAST_EVERY == 1;
    match (now, last) {
        _ if forced => Dump { tcp: true, udp: true },
        (Some(n), Some(l)) => Dump { tcp: n.tcp != l.tcp, udp: n.udp != l.udp },
        _ => Dump { tcp: true, udp: pass % 4 == 1 },
    }
}

/// Reads the counters from `net` (`/proc/<pid>/net`); None when a file or a field is missing.
pub fn read(net: &Path) -> Option<NetCounters> {
    let read = |name: &str| std::fs::read_to_string(net.join(name)).ok();
    parse(&read("snmp")?, &read("sockstat")?, &read("sockstat6").unwrap_or_default())
}

/// Parses the three files (sockstat6 may be empty: a kernel without IPv6).
pub fn parse(snmp: &str, sockstat: &str, sockstat6: &str) -> Option<NetCounters> {
    let mut tcp_lines = snmp.lines().filter(|l| l.starts_with("Tcp:"));
    let (names, values) = (tcp_lines.next()?, tcp_lines.next()?);
    let snmp_field = |want: &str| -> Option<u64> {
        let i = names.split_whitespace().position(|n| n == want)?;
        values.split_whitespace().nth(i)?.parse().ok()
    };
    let inuse = |text: &str, proto: &str| -> Option<u64> {
        let rest = text.lines().find_map(|l| l.strip_prefix(proto)?.strip_prefix(": "))?;
        let mut words = rest.split_whitespace();
        (words.next()? == "inuse").then_some(())?;
        words.next()?.parse().ok()
    };
    Some(NetCounters {
        tcp: [
            snmp_field("ActiveOpens")?,
            snmp_field("PassiveOpens")?,
            snmp_field("CurrEstab")?,
            inuse(sockstat, "TCP")?,
            inuse(sockstat6, "TCP6").unwrap_or(0),
        ],
        udp: [inuse(sockstat, "UDP")?, inuse(sockstat6, "UDP6").unwrap_or(0)],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SNMP: &str = "Ip: Forwarding DefaultTTL\nIp: 1 64\nTcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab InSegs\nTcp: 1 200 120000 -1 216 202 0 3 4 8363\nUdp: InDatagrams NoPorts\nUdp: 5 6\n";
    const SOCKSTAT: &str =
        "sockets: used 27\nTCP: inuse 1 orphan 0 tw 0 alloc 1 mem 39\nUDP: inuse 2 mem 0\nUDPLITE: inuse 0\n";
    const SOCKSTAT6: &str = "TCP6: inuse 3\nUDP6: inuse 4\nUDPLITE6: inuse 0\n";

    #[test]
    fn parses_the_counters() {
        let c = parse(SNMP, SOCKSTAT, SOCKSTAT6).unwrap();
        assert_eq!(c.tcp, [216, 202, 4, 1, 3]);
        assert_eq!(c.udp, [2, 4]);
        // No IPv6: zeros. A missing field or table: none.
        assert_eq!(parse(SNMP, SOCKSTAT, "").unwrap().tcp, [216, 202, 4, 1, 0]);
        assert_eq!(parse(SNMP, "sockets: used 27\nUDP: inuse 2 mem 0\n", SOCKSTAT6), None);
        assert_eq!(parse("Udp: InDatagrams\nUdp: 5\n", SOCKSTAT, SOCKSTAT6), None);
        assert_eq!(parse(&SNMP.replace("ActiveOpens", "Other"), SOCKSTAT, SOCKSTAT6), None);
        assert_eq!(parse(SNMP, "TCP: inuse x\n", SOCKSTAT6), None);
    }

    #[test]
    fn reads_this_namespace() {
        let c = read(Path::new("/proc/self/net"));
        assert!(c.is_some(), "Linux has /proc/self/net/snmp and sockstat");
    }

    #[test]
    fn dumps_what_changed_and_all_every_few_passes() {
        let a = NetCounters { tcp: [1, 2, 3, 4, 5], udp: [6, 7] };
        let opened = NetCounters { tcp: [2, 2, 4, 5, 5], ..a };
        let udp = NetCounters { udp: [7, 7], ..a };
        let none = Dump { tcp: false, udp: false };
        let all = Dump { tcp: true, udp: true };
        // The first pass and every DUMP_AT_LEAST_EVERY-th after it: everything.
        assert_eq!(plan(1, Some(&a), None), all);
        assert_eq!(plan(1 + DUMP_AT_LEAST_EVERY, Some(&a), Some(&a)), all);
        // Between: only what changed.
        assert_eq!(plan(2, Some(&a), Some(&a)), none);
        assert_eq!(plan(3, Some(&opened), Some(&a)), Dump { tcp: true, udp: false });
        assert_eq!(plan(4, Some(&udp), Some(&a)), Dump { tcp: false, udp: true });
        // No counters: TCP every pass, UDP every fourth.
        assert_eq!(plan(2, None, None), Dump { tcp: true, udp: false });
        assert_eq!(plan(5, None, Some(&a)), all);
        assert_eq!(plan(6, Some(&a), None), Dump { tcp: true, udp: false });
    }
}
