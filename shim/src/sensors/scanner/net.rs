//! The internet sockets of runwarden's network namespace (which is the workload's): TCP connections
//! and listeners, connected UDP sockets. Read with netlink `sock_diag` (sock_diag(7)): one request
//! per family and protocol, filtered by state in the kernel, so a server with thousands of
//! TIME_WAIT sockets costs nothing. Where `sock_diag` is refused (gVisor implements only
//! NETLINK_ROUTE and NETLINK_KOBJECT_UEVENT; some seccomp profiles deny AF_NETLINK) the same table
//! comes from `/proc/<pid>/net/{tcp,tcp6,udp,udp6}`, which reads every socket. Either is read again
//! only when the namespace's socket counters moved, or every few passes (`scanner::netcount`).
//!
//! Sockets carry an inode and a uid but no pid: the scanner attributes the interesting ones to a
//! process by reading fd tables (`scanner::fds`).
//!
//! The /proc/net fallback is parsed by hand, not with procfs's `TcpNetEntries`: procfs fails the whole
//! table on one unparsable line and shows a v4-mapped address as IPv6; this skips the line and shows
//! the IPv4 address.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_REQUEST};
use netlink_packet_sock_diag::constants::{AF_INET, AF_INET6, IPPROTO_TCP, IPPROTO_UDP};
use netlink_packet_sock_diag::inet::{ExtensionFlags, InetRequest, SocketId, StateFlags};
use netlink_packet_sock_diag::SockDiagMessage;
use netlink_sys::{protocols::NETLINK_SOCK_DIAG, Socket};

use super::netcount::{self, NetCounters};

/// Upper bound on sockets listed per pass (a bound on memory and time for a hostile workload that
/// opens sockets by the million).
pub const SOCKETS_MAX_PER_PASS: usize = 65_536;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
        }
    }
}

/// TCP states (include/net/tcp_states.h) the scanner cares about.
pub const TCP_ESTABLISHED: u8 = 1;
pub const TCP_SYN_SENT: u8 = 2;
pub const TCP_LISTEN: u8 = 10;
/// UDP sockets report TCP_CLOSE (7) unconnected and TCP_ESTABLISHED once connect(2)ed.
pub const UDP_UNCONNECTED: u8 = 7;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketEntry {
    pub proto: Proto,
    pub local: SocketAddr,
    pub remote: SocketAddr,
    pub state: u8,
    pub inode: u64,
    pub uid: u32,
}

impl SocketEntry {
    pub fn listening(&self) -> bool {
        self.proto == Proto::Tcp && self.state == TCP_LISTEN
    }

    /// Connected (or connecting) to a peer.
    pub fn connected(&self) -> bool {
        match self.proto {
            Proto::Tcp => matches!(self.state, TCP_ESTABLISHED | TCP_SYN_SENT),
            Proto::Udp => self.state == TCP_ESTABLISHED && self.remote.port() != 0,
        }
    }

    /// "tcp 10.0.0.5:41234->203.0.113.7:4444 ESTABLISHED", the form stdio descriptions use.
    pub fn describe(&self) -> String {
        let state = match (self.proto, self.state) {
            (Proto::Tcp, TCP_ESTABLISHED) => " ESTABLISHED",
            (Proto::Tcp, TCP_SYN_SENT) => " SYN_SENT",
            (Proto::Tcp, TCP_LISTEN) => " LISTEN",
            _ => "",
        };
        let v6 = if self.local.is_ipv6() { "6" } else { "" };
        let proto = match self.proto {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        };
        format!("{proto}{v6} {}->{}{state}", self.local, self.remote)
    }
}

/// Where the socket table comes from this run.
pub struct SocketLister {
    diag: Option<Socket>,
    /// `/proc/<pid>/net`: runwarden's own view, the fallback, and where the namespace's counters are.
    proc_net: PathBuf,
    pub source: &'static str,
    passes: u64,
    dumps: u64,
    /// The counters read before the last dump ([`netcount`]), and what each table held then.
    last: Option<NetCounters>,
    tcp: Vec<SocketEntry>,
    udp: Vec<SocketEntry>,
    /// Passes that dumped nothing (the counters had not moved).
    pub quiet_passes: u64,
}

impl SocketLister {
    pub fn new(proc_root: &std::path::Path, self_pid: i32) -> SocketLister {
        let proc_net = proc_root.join(self_pid.to_string()).join("net");
        let mut lister = SocketLister {
            diag: None,
            proc_net,
            source: "/proc/net",
            passes: 0,
            dumps: 0,
            last: None,
            tcp: Vec::new(),
            udp: Vec::new(),
            quiet_passes: 0,
        };
        match open_diag() {
            // Whether the kernel answers is found out by the first pass's dump, not here: each dump
            // walks the kernel's whole socket hash, and a workload that ends before the first pass
            // needs none.
            Ok(s) => {
                lister.diag = Some(s);
                lister.source = "sock_diag";
            }
            Err(e) => {
                tracing::info!(error = %e, "netlink sock_diag unavailable; sockets are read from /proc/net")
            }
        }
        lister
    }

    /// TCP connections and listeners, connected UDP sockets: dumped again when the namespace's
    /// counters say they may have changed ([`netcount::plan`]), else as the last dump found them.
    pub fn list(&mut self) -> Vec<SocketEntry> {
        self.passes += 1;
        let counters = netcount::read(&self.proc_net);
        let plan = netcount::plan(self.passes, counters.as_ref(), self.last.as_ref());
        if plan.tcp {
            self.tcp = self.read(Proto::Tcp);
        }
        if plan.udp {
            self.udp = self.read(Proto::Udp);
        }
        if plan.tcp || plan.udp {
            self.last = counters;
        } else {
            self.quiet_passes += 1;
        }
        let mut out = self.tcp.clone();
        out.extend(self.udp.iter().take(SOCKETS_MAX_PER_PASS.saturating_sub(out.len())).cloned());
        out
    }

    fn read(&mut self, proto: Proto) -> Vec<SocketEntry> {
        if self.diag.is_some() {
            match self.dump_diag(proto) {
                Ok(v) => {
                    self.dumps += 1;
                    return v;
                }
                // A kernel without inet_diag answers the socket but not the request.
                Err(e) if self.dumps == 0 => {
                    tracing::info!(error = %e, "netlink sock_diag unavailable; sockets are read from /proc/net")
                }
                Err(e) => {
                    tracing::warn!(error = %e, "netlink sock_diag failed; falling back to /proc/net for good")
                }
            }
            self.diag = None;
            self.source = "/proc/net";
        }
        read_proc_net(&self.proc_net, proto)
    }

    fn dump_diag(&mut self, proto: Proto) -> std::io::Result<Vec<SocketEntry>> {
        let Some(sock) = self.diag.as_mut() else {
            return Ok(Vec::new());
        };
        let mut out = Vec::new();
        let (protocol, states) = match proto {
            Proto::Tcp => (IPPROTO_TCP, StateFlags::ESTABLISHED | StateFlags::SYN_SENT | StateFlags::LISTEN),
            Proto::Udp => (IPPROTO_UDP, StateFlags::ESTABLISHED),
        };
        for family in [AF_INET, AF_INET6] {
            dump_one(sock, family, protocol, states.clone(), &mut out)?;
        }
        Ok(out)
    }
}

fn open_diag() -> std::io::Result<Socket> {
    let mut s = Socket::new(NETLINK_SOCK_DIAG)?;
    s.bind_auto()?;
    s.connect(&netlink_sys::SocketAddr::new(0, 0))?;
    Ok(s)
}

fn dump_one(
    sock: &mut Socket,
    family: u8,
    protocol: u8,
    states: StateFlags,
    out: &mut Vec<SocketEntry>,
) -> std::io::Result<()> {
    let mut header = NetlinkHeader::default();
    header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let socket_id = if family == AF_INET { SocketId::new_v4() } else { SocketId::new_v6() };
    let mut packet = NetlinkMessage::new(
        header,
        SockDiagMessage::InetRequest(InetRequest {
            family,
            protocol,
            extensions: ExtensionFlags::empty(),
            states,
            socket_id,
        })
        .into(),
    );
    packet.finalize();
    let mut buf = vec![0u8; packet.buffer_len()];
    packet.serialize(&mut buf[..]);
    sock.send(&buf, 0)?;

    let proto = if protocol == IPPROTO_TCP { Proto::Tcp } else { Proto::Udp };
    let mut rx = vec![0u8; 64 * 1024];
    loop {
        let size = sock.recv(&mut &mut rx[..], 0)?;
        let mut offset = 0;
        while offset < size {
            let msg = <NetlinkMessage<SockDiagMessage>>::deserialize(&rx[offset..size])
                .map_err(|e| std::io::Error::other(format!("sock_diag reply: {e}")))?;
            let len = msg.header.length as usize;
            match msg.payload {
                NetlinkPayload::InnerMessage(SockDiagMessage::InetResponse(r))
                    if out.len() < SOCKETS_MAX_PER_PASS =>
                {
                    let h = &r.header;
                    out.push(SocketEntry {
                        proto,
                        local: SocketAddr::new(h.socket_id.source_address, h.socket_id.source_port),
                        remote: SocketAddr::new(
                            h.socket_id.destination_address,
                            h.socket_id.destination_port,
                        ),
                        state: h.state,
                        inode: u64::from(h.inode),
                        uid: h.uid,
                    });
                }
                NetlinkPayload::Done(_) => return Ok(()),
                NetlinkPayload::Error(e) => {
                    return Err(std::io::Error::other(format!("sock_diag error: {e:?}")));
                }
                _ => {}
            }
            if len == 0 {
                break;
            }
            offset += len;
        }
    }
}

/// The fallback: the same sockets from `/proc/<pid>/net/{tcp,tcp6}` or `{udp,udp6}`.
fn read_proc_net(net: &std::path::Path, proto: Proto) -> Vec<SocketEntry> {
    let mut out = Vec::new();
    let files = match proto {
        Proto::Tcp => ["tcp", "tcp6"],
        Proto::Udp => ["udp", "udp6"],
    };
    for file in files {
        let Ok(text) = std::fs::read_to_string(net.join(file)) else {
            continue;
        };
        out.extend(parse_proc_net(&text, proto).into_iter().filter(|e| match proto {
            Proto::Tcp => matches!(e.state, TCP_ESTABLISHED | TCP_SYN_SENT | TCP_LISTEN),
            Proto::Udp => e.connected(),
        }));
        if out.len() >= SOCKETS_MAX_PER_PASS {
            out.truncate(SOCKETS_MAX_PER_PASS);
            break;
        }
    }
    out
}

/// Parses /proc/net/{tcp,tcp6,udp,udp6} (proc(5)): addresses are hex in the kernel's byte order,
/// each 32-bit word of an IPv6 address in host (little-endian) order.
pub fn parse_proc_net(text: &str, proto: Proto) -> Vec<SocketEntry> {
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 10 {
                return None;
            }
            Some(SocketEntry {
                proto,
                local: parse_addr(f[1])?,
                remote: parse_addr(f[2])?,
                state: u8::from_str_radix(f[3], 16).ok()?,
                uid: f[7].parse().ok()?,
                inode: f[9].parse().ok()?,
            })
        })
        .collect()
}

fn parse_addr(s: &str) -> Option<SocketAddr> {
    let (ip, port) = s.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    // Byte lengths and slices below assume ASCII hex: a multi-byte character would put a slice
    // boundary inside it (a panic on outside data).
    if !ip.is_ascii() {
        return None;
    }
    let ip = match ip.len() {
        8 => IpAddr::from(u32::from_str_radix(ip, 16).ok()?.swap_bytes().to_be_bytes()),
        32 => {
            let mut bytes = [0u8; 16];
            for i in 0..4 {
                let word = u32::from_str_radix(&ip[i * 8..i * 8 + 8], 16).ok()?;
                bytes[i * 4..i * 4 + 4].copy_from_slice(&word.swap_bytes().to_be_bytes());
            }
            let v6 = std::net::Ipv6Addr::from(bytes);
            // A v4-mapped address (::ffff:1.2.3.4) is shown as the IPv4 address it is.
            v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 55501 1 0000000000000000 20 4 30 10 -1\n   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 55500 1 0000000000000000 100 0 0 10 0\n";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 100 0 0 10 0\n   1: 0000000000000000FFFF00000100007F:0050 0000000000000000FFFF0000420071CB:115C 01 00000000:00000000 00:00000000 00000000     0        0 778 1 0000000000000000 100 0 0 10 0\n";

    #[test]
    fn refuses_non_ascii_address_without_panicking() {
        // 32 bytes whose eighth character straddles the first 8-byte word: slicing it panicked.
        let row = "h\n   0: 0000000\u{e9}00000000000000000000000:0050 00000000:0000 01 0:0 0:0 0 0 0 7 1\n";
        assert!(parse_proc_net(row, Proto::Tcp).is_empty());
    }

    #[test]
    fn parses_proc_net_tcp() {
        let v = parse_proc_net(TCP, Proto::Tcp);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].describe(), "tcp 127.0.0.1:8080->127.0.0.1:54321 ESTABLISHED");
        assert_eq!((v[0].inode, v[0].uid), (55501, 1000));
        assert!(v[0].connected() && !v[0].listening());
        assert!(v[1].listening());
    }

    #[test]
    fn parses_proc_net_tcp6_and_mapped_v4() {
        let v = parse_proc_net(TCP6, Proto::Tcp);
        assert_eq!(v[0].local.to_string(), "[::1]:8080");
        assert!(v[0].listening());
        assert_eq!(v[1].remote.to_string(), "203.113.0.66:4444");
        assert_eq!(v[1].local.to_string(), "127.0.0.1:80");
    }

    #[test]
    fn both_sources_see_a_real_connection_and_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let me = std::process::id() as i32;
        let mut lister = SocketLister::new(std::path::Path::new("/proc"), me);
        let mut sources = vec![(lister.source, lister.list())];
        let net = PathBuf::from(format!("/proc/{me}/net"));
        let mut fallback = read_proc_net(&net, Proto::Tcp);
        fallback.extend(read_proc_net(&net, Proto::Udp));
        sources.push(("/proc/net", fallback));
        for (source, sockets) in sources {
            let l = sockets.iter().find(|s| s.local == listener.local_addr().unwrap() && s.listening());
            assert!(l.is_some(), "{source}: listener missing");
            let c = sockets.iter().find(|s| s.local == client.local_addr().unwrap()).unwrap();
            assert_eq!(c.remote, listener.local_addr().unwrap(), "{source}");
            assert!(c.connected(), "{source}");
            assert!(c.inode > 0, "{source}");
        }
    }

    #[test]
    fn a_connection_opened_between_passes_is_listed_on_the_next() {
        let me = std::process::id() as i32;
        let mut lister = SocketLister::new(std::path::Path::new("/proc"), me);
        lister.list();
        // Pass 2 is not a forced dump: the connection moves the counters (ActiveOpens, inuse).
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let sockets = lister.list();
        assert!(sockets.iter().any(|s| s.local == listener.local_addr().unwrap() && s.listening()));
        assert!(sockets.iter().any(|s| s.local == client.local_addr().unwrap() && s.connected()));
    }
}
