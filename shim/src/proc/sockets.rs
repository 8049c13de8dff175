//! Resolves a socket inode (from a `socket:[N]` fd link) to what it is connected to, through the
//! process's own view of its network namespace: `/proc/<pid>/net/{tcp,tcp6,udp,udp6,unix}`, parsed by
//! procfs. Runs off the tracer thread; when the process is already gone, the caller passes another pid
//! in the same network namespace (runwarden's own).

use std::path::Path;

use procfs::net::TcpState;
use procfs::process::Process;

/// A human-readable description: "tcp 10.0.0.5:41234->203.0.113.7:4444 ESTABLISHED",
/// "udp 0.0.0.0:68", "unix /run/app.sock" or "unix @abstract". `None` if the inode is not found.
pub fn describe_socket(proc_root: &Path, pid: i32, inode: u64) -> Option<String> {
    let process = Process::new_with_root(proc_root.join(pid.to_string())).ok()?;
    for (proto, table) in [("tcp", process.tcp()), ("tcp6", process.tcp6())] {
        if let Some(e) = table.ok().into_iter().flatten().find(|e| e.inode == inode) {
            return Some(format!(
                "{proto} {}->{} {}",
                e.local_address,
                e.remote_address,
                tcp_state_name(&e.state)
            ));
        }
    }
    for (proto, table) in [("udp", process.udp()), ("udp6", process.udp6())] {
        if let Some(e) = table.ok().into_iter().flatten().find(|e| e.inode == inode) {
            return Some(format!("{proto} {}->{}", e.local_address, e.remote_address));
        }
    }
    if let Some(e) = process.unix().ok().into_iter().flatten().find(|e| e.inode == inode) {
        let path = e.path.map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|| "(unnamed)".into());
        return Some(format!("unix {path}"));
    }
    None
}

/// The state names of the kernel's `tcp_states.h`, as `ss` and netstat print them.
fn tcp_state_name(state: &TcpState) -> &'static str {
    match state {
        TcpState::Established => "ESTABLISHED",
        TcpState::SynSent => "SYN_SENT",
        TcpState::SynRecv => "SYN_RECV",
        TcpState::FinWait1 => "FIN_WAIT1",
        TcpState::FinWait2 => "FIN_WAIT2",
        TcpState::TimeWait => "TIME_WAIT",
        TcpState::Close => "CLOSE",
        TcpState::CloseWait => "CLOSE_WAIT",
        TcpState::LastAck => "LAST_ACK",
        TcpState::Listen => "LISTEN",
        TcpState::Closing => "CLOSING",
        TcpState::NewSynRecv => "NEW_SYN_RECV",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n   0: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000        0 55501 1 0000000000000000 20 4 30 10 -1\n   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 55500 1 0000000000000000 100 0 0 10 0\n";
    const UNIX: &str = "Num       RefCount Protocol Flags    Type St Inode Path\n0000000000000000: 00000002 00000000 00010000 0001 01 77001 /run/app.sock\n0000000000000000: 00000002 00000000 00000000 0001 03 77002\n";
    const HEADER_TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n";
    const HEADER_UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n";

    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let net = dir.path().join("42/net");
        std::fs::create_dir_all(&net).unwrap();
        std::fs::write(net.join("tcp"), TCP).unwrap();
        std::fs::write(net.join("tcp6"), HEADER_TCP6).unwrap();
        std::fs::write(net.join("udp"), HEADER_UDP).unwrap();
        std::fs::write(net.join("udp6"), HEADER_UDP).unwrap();
        std::fs::write(net.join("unix"), UNIX).unwrap();
        dir
    }

    #[test]
    fn resolves_tcp_and_unix_inodes() {
        let dir = fixture();
        assert_eq!(
            describe_socket(dir.path(), 42, 55501).as_deref(),
            Some("tcp 127.0.0.1:8080->127.0.0.1:54321 ESTABLISHED")
        );
        assert_eq!(
            describe_socket(dir.path(), 42, 55500).as_deref(),
            Some("tcp 0.0.0.0:8080->0.0.0.0:0 LISTEN")
        );
        assert_eq!(describe_socket(dir.path(), 42, 77001).as_deref(), Some("unix /run/app.sock"));
        assert_eq!(describe_socket(dir.path(), 42, 77002).as_deref(), Some("unix (unnamed)"));
        assert_eq!(describe_socket(dir.path(), 42, 1), None);
    }

    #[test]
    fn resolves_a_real_loopback_connection() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        use std::os::fd::AsRawFd;
        let link = std::fs::read_link(format!("/proc/self/fd/{}", client.as_raw_fd())).unwrap();
        let inode: u64 =
            link.to_str().unwrap().trim_start_matches("socket:[").trim_end_matches(']').parse().unwrap();
        let me = std::process::id() as i32;
        let got = describe_socket(Path::new("/proc"), me, inode).unwrap();
        let want =
            format!("tcp {}->{} ESTABLISHED", client.local_addr().unwrap(), listener.local_addr().unwrap());
        assert_eq!(got, want);
    }
}
