//! Scores executed script code (a shell script, a `-c` string, a Python file...) as malicious or not:
//! the model behind "Malicious Script Executed" and "Execution: Malicious Python executed".
//!
//! Google's detector uses an NLP model; runwarden uses a transparent weighted model that a reader can
//! audit and a rule author can reason about. It has two layers:
//!
//! - **Signatures**: patterns that are malicious on their own in a service container (a `/dev/tcp`
//!   interactive shell, a socket dup'ed onto a shell's stdio, base64 decoded straight into an interpreter,
//!   a Stratum URL, a Monero wallet, Python `exec` of decoded or downloaded code, fileless memfd
//!   execution). Any signature makes the verdict malicious.
//! - **Evidence**: weaker features that legitimate scripts also show one at a time (a download piped
//!   into `sh`, `chmod +x` in /tmp, a cron entry, an `authorized_keys` append, `nohup`, a raw IP URL,
//!   a long base64 blob...). Their weights are summed and compared to [`THRESHOLD`]. One negative
//!   feature, an integrity check (`sha256sum -c`, `gpg --verify`, comparing a digest), lowers the sum:
//!   installers verify what they download, droppers do not. It never cancels a signature.
//!
//! How the weights were chosen: the threshold is fixed at 1.0. Each feature got a prior weight from how
//! often it appears in benign container scripts (the rustup installer pipes curl into sh; wait-for
//! scripts open `/dev/tcp`; Jenkins agents write `authorized_keys`): features ordinary entrypoints,
//! init and build scripts use get at most 0.6, so no single one crosses the threshold, and features that
//! only attacks use weigh 0.8 or more (or are signatures). The priors were then adjusted only against
//! the *tuning* half of `integration/corpus/` (see its `SPLIT.md`); the held-out half was scored once at
//! the end, and `shim/tests/script_corpus.rs` reports both. Each feature counts once however often it
//! matches, so repeating a pattern does not inflate a score. No ML crates: regexes and counts,
//! deterministic, a few hundred microseconds for 64 KiB.
#![forbid(unsafe_code)]

use std::sync::LazyLock;

use regex::Regex;

/// A score at or above this is malicious.
pub const THRESHOLD: f64 = 1.0;

/// The language of the code, which gates the language-specific features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Shell,
    Python,
    /// Perl, Ruby, Node, PHP: the shared features (which cover their reverse-shell idioms) apply.
    Other,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScriptScore {
    /// Sum of the weights of the features that fired.
    pub score: f64,
    /// A signature fired, or `score >= THRESHOLD`.
    pub malicious: bool,
    /// Names of the features that fired, strongest first (see [`FEATURES`] and [`COMBOS`]).
    pub reasons: Vec<String>,
}

/// Which languages a feature applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Any,
    /// Python (and Other): `exec(`/`eval(` mean something else in a shell script.
    Python,
}

/// One regex feature: fires when `pattern` matches anywhere in the code.
#[derive(Debug)]
pub struct Feature {
    pub name: &'static str,
    pub weight: f64,
    /// Malicious on its own, whatever the sum.
    pub signature: bool,
    pub scope: Scope,
    pub pattern: &'static str,
}

const fn ev(name: &'static str, weight: f64, pattern: &'static str) -> Feature {
    Feature { name, weight, signature: false, scope: Scope::Any, pattern }
}

const fn sig(name: &'static str, weight: f64, pattern: &'static str) -> Feature {
    Feature { name, weight, signature: true, scope: Scope::Any, pattern }
}

const fn py(f: Feature) -> Feature {
    Feature { scope: Scope::Python, ..f }
}

/// Shell program names as they appear after a pipe.
macro_rules! sh {
    () => {
        r"(?:sudo\s+)?(?:\S*/)?(?:ba|da|z|k|a)?sh\b"
    };
}
/// Any interpreter after a pipe.
macro_rules! interp {
    () => {
        r"(?:sudo\s+)?(?:\S*/)?(?:(?:ba|da|z|k|a)?sh|python[0-9.]*|perl|ruby|php|node)\b"
    };
}

/// Regex features. Weights: see the module comment.
pub static FEATURES: &[Feature] = &[
    // --- download and execute ---
    ev("fetch", 0.1, r"\b(?:curl|wget|tftp|ftpget|urlretrieve|urlopen|requests\.get|fsockopen|TCPSocket)\b"),
    ev(
        "download_execute",
        0.6,
        concat!(
            r"\b(?:curl|wget)\b[^\n]*\|\s*",
            interp!(),
            r"|\beval\s+[^\n]*\$\(\s*(?:curl|wget)\b",
            r"|\bsh\s+-c\s+[^\n]*\$\(\s*(?:curl|wget)\b",
            r"|<\(\s*(?:curl|wget)\b"
        ),
    ),
    ev(
        "download_to_tmp",
        0.3,
        r"\b(?:curl|wget)\b[^\n]*(?:-o|-O|-P|--output)\s*[\x22']?(?:/tmp|/dev/shm|/var/tmp)/",
    ),
    ev(
        "exec_from_tmp",
        0.3,
        r"(?m)(?:^|[;&|(]|\bnohup|\bexec|\bsh|\bbash)\s*[\x22']?(?:/tmp|/dev/shm|/var/tmp)/[^\s;|&]+|(?:^|[;&|]\s*)\./\.[\w-]+",
    ),
    ev(
        "hidden_dir",
        0.3,
        r"(?:/tmp|/var/tmp|/dev/shm|/usr/lib|/usr/share|/var/lib|/lib|/etc)/\.[\w.-]+|mkdir\s+(?:-p\s+)?\.\.\.",
    ),
    ev(
        "chmod_exec",
        0.15,
        r"\bchmod\s+(?:-\w+\s+)*(?:[augo]*\+[rw]*x|0?[0-7]?[157][0-7][0-7])\b|os\.chmod\([^\n]*(?:0o?7[0-7][0-7]|S_IEXEC|S_IXUSR)",
    ),
    ev(
        "chmod_exec_tmp",
        0.5,
        r"\bchmod\s+(?:-\w+\s+)*(?:[augo]*\+[rw]*x|0?[0-7]?[157][0-7][0-7])\s+[\x22']?(?:/tmp|/dev/shm|/var/tmp)/",
    ),
    ev(
        "background_detach",
        0.1,
        r"\bnohup\b|\bsetsid\b|\bdisown\b|start_new_session\s*=\s*True|preexec_fn\s*=\s*os\.setsid|os\.setsid\(\)",
    ),
    ev(
        "self_delete",
        0.4,
        r#"\brm\s+(?:-\w+\s+)*["']?\$0\b|os\.(?:remove|unlink)\(\s*(?:__file__|sys\.argv\[0\])"#,
    ),
    // --- competition and defences ---
    ev(
        "kill_competitors",
        1.0,
        r"(?i)\b(?:pkill|killall|kill)\b[^\n]*\b(?:xmrig|kinsing|kdevtmpfsi|minerd|cpuminer|xmr-?stak|cryptonight|stratum|kthreaddi|kworkerds|watchbog|sysupdate)|(?:xmrig|kinsing|kdevtmpfsi|minerd|cpuminer|kthreaddi|kworkerds|cryptonight|stratum)[^\n]*\b(?:pkill|killall|kill)\b|netstat[^\n]*:(?:3333|4444|5555|7777|14444)\b[^\n]*\bkill\b",
    ),
    ev(
        "kill_security_agents",
        0.8,
        r"(?i)(?:\b(?:pkill|killall|kill|rm\s+-r?f|systemctl\s+(?:stop|disable|mask)|service)\b[^\n]*(?:aliyun|aegis|yunjing|qcloud|cloudmonitor|bcm-agent|falcon-sensor|osqueryd|wazuh|ossec|\bfalco\b|sysdig|crowdstrike|sentinelone|\bauditd\b))|/etc/init\.d/(?:cloudmonitor|aegis|auditd|apparmor)\s+stop",
    ),
    ev(
        "disable_defences",
        0.6,
        r"\bsetenforce\s+0|SELINUX=disabled|\bufw\s+disable|\biptables\s+(?:-F|-X|--flush|-P\s+\w+\s+ACCEPT)|nmi_watchdog|\bauditctl\s+-(?:e\s*0|D)|randomize_va_space\W+0|systemctl\s+(?:stop|disable)\s+(?:firewalld|apparmor|auditd)|service\s+(?:apparmor|firewalld|auditd)\s+stop",
    ),
    ev(
        "history_wipe",
        0.6,
        r"\bhistory\s+-c|\bunset\s+HISTFILE|HISTFILE=/dev/null|HISTSIZE=0|HISTFILESIZE=0|\brm\s+[^\n]*\.bash_history|>\s*\S*\.bash_history|ln\s+-sf?\s+/dev/null\s+\S*\.bash_history|set\s+\+o\s+history",
    ),
    ev(
        "log_wipe",
        0.5,
        r"(?:cat\s+/dev/null|echo(?:\s+\x22\x22|\s+'')?|truncate\s+-s\s*0)\s*>\s*/var/log/|\brm\s+-\w*f\w*\s+[^\n]*/var/log/(?:wtmp|btmp|lastlog|auth|secure|syslog|messages)|shred[^\n]*/var/log|journalctl\s+--vacuum|\btouch\s+-r\s",
    ),
    ev("chattr", 0.4, r"\bchattr\s+[-+=][aiu]+"),
    ev("ld_preload", 0.6, r"/etc/ld\.so\.preload"),
    ev("proc_hide", 0.8, r"\bmount\s+(?:-o\s+bind|--bind)[^\n]*/proc/"),
    ev(
        "masquerade",
        0.5,
        r"\[k(?:worker|threadd|swapd)[^\]]*\]|\bkswapd0\b|\bkworkerds\b|\bexec\s+-a\s|prctl\(\s*15\b|PR_SET_NAME",
    ),
    // --- persistence ---
    ev(
        "cron_persistence",
        0.5,
        r#"(?m)\bcrontab\s+-\s*(?:$|[;|)&\s\x22'])|\|\s*crontab\b|/etc/cron\.(?:d|hourly|daily|weekly|monthly)/|/etc/crontab|/var/spool/cron|\[\s*["']crontab["']\s*,\s*["']-["']\s*\]"#,
    ),
    ev(
        "cron_fetch",
        0.5,
        r"(?m)(?:\*|[0-9]+)(?:/[0-9]+)?\s+(?:\*|[0-9*/,-]+)\s+\*\s+\*\s+\*\s+[^\n]*\b(?:curl|wget)\b",
    ),
    ev("systemd_persistence", 0.3, r"/etc/systemd/system/[\w.@-]+\.service|systemctl\s+enable\b"),
    ev(
        "ssh_persistence",
        0.5,
        r#">>\s*["']?\S*authorized_keys|tee\s+-a\s+[^\n]*authorized_keys|authorized_keys["')\s]*,\s*["']a|PermitRootLogin\s+yes"#,
    ),
    ev(
        "ssh_key_literal",
        0.35,
        r"\bssh-(?:rsa|ed25519|dss)\s+AAAA[0-9A-Za-z+/]{20,}|ecdsa-sha2-nistp[0-9]+\s+AAAA",
    ),
    ev(
        "root_user",
        0.6,
        r"\buseradd\b[^\n]*\s-o\b[^\n]*-u\s*0\b|\buseradd\b[^\n]*-u\s*0\b[^\n]*\s-o\b|>>\s*/etc/passwd|:0:0:[^\n]*/etc/passwd",
    ),
    ev("sudoers_nopasswd", 0.4, r"NOPASSWD[^\n]*>>\s*/etc/sudoers"),
    // --- decoding into an interpreter ---
    sig(
        "decode_to_interpreter",
        1.0,
        concat!(
            r"(?:\bbase64\s+(?:-\w+\s+)*(?:-d|--decode|-D)\b|\bxxd\s+(?:-\w+\s+)*-r|\bopenssl\s+(?:enc\s+|base64\s+)[^\n|]*-d\b|\brev\b|\buudecode\b)[^\n|]*\|\s*",
            interp!(),
            r"|\beval\s+[^\n]*\$\([^)\n]*(?:base64\s+(?:-d|--decode)|xxd\s+-r)",
            r"|\bsh\s+-c\s+[^\n]*\$\([^)\n]*(?:base64\s+(?:-d|--decode)|xxd\s+-r)"
        ),
    ),
    ev("ifs_trick", 0.4, r"\$\{IFS\}|\$IFS\b"),
    // --- reverse and bind shells ---
    ev("dev_tcp", 0.3, r"/dev/(?:tcp|udp)/"),
    sig(
        "dev_tcp_shell",
        1.2,
        r"\b(?:ba|z|k)?sh\s+-i\b[^\n]*[<>]&?\s*/dev/(?:tcp|udp)/|/dev/(?:tcp|udp)/[^\n]*\s0\s*[<>]&\s*1\b|<&\s*[0-9]+\s*\|\s*while\s+read|\b(?:ba)?sh\s+<&\s*[0-9]",
    ),
    sig(
        "shell_relay",
        1.2,
        concat!(
            r"\b(?:nc|ncat|netcat)\b[^\n]*\s-[a-z]*[ec]\s*\S*sh\b|--sh-exec|\b(?:nc|ncat|netcat)\b[^\n]*--exec\s+\S*sh\b",
            r"|\b(?:ba|da|z)?sh\s+-i\b[^\n]*\|\s*(?:nc|ncat|netcat|telnet|openssl)\b",
            r"|\b(?:nc|ncat|netcat|telnet)\b[^\n]*\|\s*",
            sh!(),
            r"|\bsocat\b[^\n]*exec:[^\n]*sh\b[^\n]*tcp|\bsocat\b[^\n]*tcp[^\n]*exec:[^\n]*sh\b"
        ),
    ),
    sig(
        "socket_stdio_redirect",
        1.2,
        r#"open\s*\(\s*STD(?:IN|OUT|ERR)\s*,\s*["']?[<>+]*&|fsockopen\([^\n]*(?:proc_open|shell_exec|passthru|popen|system|exec)\s*\(|TCPSocket\.(?:new|open)[^\n]*(?:IO\.popen|exec|spawn)"#,
    ),
    ev("pty_spawn", 0.6, r"\bpty\.spawn\("),
    // --- mining ---
    sig("stratum", 1.2, r"(?i)\bstratum2?\+(?:tcp|ssl|tls)://"),
    sig("monero_wallet", 1.0, r"\b[48][0-9AB][1-9A-HJ-NP-Za-km-z]{93}(?:[1-9A-HJ-NP-Za-km-z]{11})?\b"),
    ev("crypto_wallet", 0.3, r"\b0x[0-9a-fA-F]{40}\b|\bbc1[02-9ac-hj-np-z]{38,58}\b"),
    ev(
        "pool_address",
        0.6,
        r"(?i)\b(?:supportxmr|minexmr|moneroocean|nanopool|f2pool|c3pool|hashvault|2miners|nicehash|herominers|xmrpool|monerohash|dwarfpool|minergate|unmineable|ethermine|viabtc|antpool)\b|\bxmr\.pool\.|\bpool\.xmr\b",
    ),
    ev("pool_port", 0.3, r"[\w.-]+\.[a-z]{2,}:(?:3333|4444|5555|7777|14444|14433|45700|10128|10343|20580)\b"),
    ev(
        "miner_names",
        0.5,
        r"(?i)\b(?:xmrig|xmr-stak|cpuminer|minerd|kdevtmpfsi|kinsing|ccminer|nbminer|lolminer|phoenixminer|ethminer|cgminer|bfgminer)\b",
    ),
    ev(
        "miner_config",
        0.6,
        r#"--donate-level|"donate-level"|max-threads-hint|\s-a\s+rx/0\b|\brandomx\b|\bcryptonight\b|--coin[= ]monero|"pools"\s*:"#,
    ),
    ev("miner_tuning", 0.4, r"nr_hugepages|\bmodprobe\s+msr\b|\bwrmsr\b|1gb-pages"),
    // --- credentials, cloud, escape, spreading ---
    ev(
        "metadata_token",
        0.5,
        r"(?:169\.254\.169\.254|metadata\.google\.internal)[^\n]*(?:token|security-credentials|identity)",
    ),
    ev(
        "exfil_upload",
        0.3,
        r#"\bcurl\b[^\n]*(?:-F\s*["']?\w+=@|--data-binary\s+@|\s-d\s+@|\s-T\s)|urlopen\([^)\n]*data\s*="#,
    ),
    ev(
        "container_escape",
        0.6,
        r#"\bnsenter\s+(?:-\w+\s+)*(?:-t|--target)\s*1\b|/var/run/docker\.sock|"Privileged"\s*:\s*true|\s--privileged\b|"Binds"[^\n]*"/:/|\s-v\s+/:/|\bchroot\s+/(?:mnt|host)\b|release_agent|core_pattern"#,
    ),
    ev("ssh_spread", 0.6, r"\bssh\s[^\n]*StrictHostKeyChecking=no[^\n]*\b(?:curl|wget|sh|bash)\b"),
    ev(
        "key_harvest",
        0.4,
        r"\bfind\b[^\n]*(?:id_rsa|id_ed25519|\.pem\b)|\b(?:cat|awk|grep)\b[^\n]*known_hosts|\bgrep\b[^\n]*\.bash_history",
    ),
    ev("irc_c2", 0.4, r"(?i)\birc\.[\w.-]+\s+6667\b|\bPRIVMSG\b|\bJOIN\s+#"),
    // --- Python ---
    py(sig(
        "py_exec_decoded",
        1.2,
        r"\b(?:exec|eval)\s*\([^\n]*(?:b64decode|b32decode|b16decode|a85decode|decodebytes|decodestring|decompress|marshal\.loads|fromhex|unhexlify|codecs\.decode|rot.?13|\[::-1\])",
    )),
    py(sig(
        "py_exec_remote",
        1.2,
        r"\b(?:exec|eval)\s*\(\s*[\w.]*(?:urlopen\(|requests\.get\(|\.text\b|\.content\b|\.read\(\))",
    )),
    py(ev(
        "py_exec_built_string",
        0.7,
        r#"\b(?:exec|eval)\s*\(\s*(?:["']["']\.join|bytes\(|bytearray\(|\(\s*_+\s*\))"#,
    )),
    py(ev(
        "py_dynamic_import",
        0.3,
        r#"__import__\(\s*["'](?:os|socket|subprocess|pty|base64|zlib|marshal|ctypes|\\x)"#,
    )),
    py(ev("py_shell", 0.1, r"\bos\.(?:system|popen)\(|shell\s*=\s*True|\bsubprocess\.\w+\(")),
    py(ev("py_socket", 0.1, r"\bsocket\.socket\(|create_connection\(|\.connect\(\s*\(")),
    py(ev("py_ctypes", 0.2, r"\bctypes\.(?:CDLL|cdll|CFUNCTYPE)\b")),
];

/// Features computed from several atoms or from counts (named in [`ScriptScore::reasons`] like the others).
pub static COMBOS: &[(&str, f64, bool)] = &[
    ("socket_dup2_shell", 1.2, true),
    ("socket_fileno_stdio", 1.2, true),
    ("socket_shell_spawn", 0.8, false),
    ("memfd_exec", 1.2, true),
    ("memfd", 0.6, false),
    ("py_exec_with_decoder", 0.6, false),
    ("py_marshal_exec", 1.2, true),
    ("exec_bit_in_tmp", 0.5, false),
    ("dev_tcp_http", 0.5, false),
    ("c2_poll", 0.4, false),
    ("credential_files", 0.5, false),
    ("raw_ip_url", 0.35, false),
    ("public_ip_literal", 0.2, false),
    ("long_base64_blob", 0.4, false),
    ("long_hex_blob", 0.4, false),
    ("escape_density", 0.5, false),
    ("char_codes", 0.4, false),
    ("integrity_check", -0.4, false),
];

struct Compiled {
    features: Vec<(&'static Feature, Regex)>,
    atoms: Atoms,
}

struct Atoms {
    socket: Regex,
    dup2: Regex,
    fileno_stdio: Regex,
    shell_spawn: Regex,
    memfd: Regex,
    exec_fd: Regex,
    py_exec: Regex,
    py_decoder: Regex,
    marshal: Regex,
    chmod_any: Regex,
    tmp_context: Regex,
    http_get: Regex,
    loop_: Regex,
    run_cmd: Regex,
    cred_file: Regex,
    ipv4: Regex,
    ip_url: Regex,
    base64_run: Regex,
    hex_run: Regex,
    escape: Regex,
    char_code: Regex,
    int_list: Regex,
    integrity: Regex,
}

fn re(p: &str) -> Regex {
    Regex::new(p).unwrap_or_else(|e| panic!("score.rs pattern {p:?}: {e}"))
}

static COMPILED: LazyLock<Compiled> = LazyLock::new(|| Compiled {
    features: FEATURES.iter().map(|f| (f, re(f.pattern))).collect(),
    atoms: Atoms {
        socket: re(
            r"\bsocket\.socket\(|create_connection\(|\bsocket\(\)|\bnet\.(?:Socket|connect)\b|\bTCPSocket\b|\bfsockopen\b",
        ),
        dup2: re(r"\bdup2\s*\("),
        fileno_stdio: re(r"\bstd(?:in|out)\s*=\s*\w+\.fileno\(\)"),
        shell_spawn: re(
            r#"pty\.spawn\(|["']/bin/(?:ba|da|z)?sh["']|["'](?:ba)?sh["']\s*,\s*["']-i["']|spawn\(\s*["'](?:/bin/)?(?:ba)?sh"#,
        ),
        memfd: re(r"memfd_create|syscall\(\s*319\b"),
        exec_fd: re(r"/proc/self/fd/|fexecve|\bexecv[ep]?\("),
        py_exec: re(r"\b(?:exec|eval)\s*\("),
        py_decoder: re(r"\b(?:b64decode|b32decode|decompress|fromhex|unhexlify|codecs\.decode)\s*\("),
        marshal: re(r"\bmarshal\.loads\("),
        chmod_any: re(
            r"\bchmod\s+(?:-\w+\s+)*(?:[augo]*\+[rw]*x|0?[0-7]?[157][0-7][0-7])\b|os\.chmod\([^\n]*(?:0o?7[0-7][0-7]|S_IEXEC|S_IXUSR)",
        ),
        tmp_context: re(
            r#"(?m)^\s*cd\s+["']?(?:/tmp|/dev/shm|/var/tmp)\b|["'](?:/tmp|/dev/shm|/var/tmp)/[^"'\s]*["']"#,
        ),
        http_get: re(r#"["']?GET\s+(?:/|\$)"#),
        loop_: re(r"\bwhile\s+(?:true|True|1|:)\b"),
        run_cmd: re(r"\bos\.(?:popen|system)\(|\bsubprocess\.|\beval\b|\bsh\s+-c\b"),
        cred_file: re(
            r"\.aws/credentials|application_default_credentials|\.docker/config\.json|\.kube/config|\.git-credentials|\.netrc\b|/etc/shadow|\.config/gcloud",
        ),
        ipv4: re(r"\b(?:[0-9]{1,3}\.){3}[0-9]{1,3}\b"),
        ip_url: re(r"(?:https?|ftp|tcp)://((?:[0-9]{1,3}\.){3}[0-9]{1,3})\b"),
        base64_run: re(r"[A-Za-z0-9+/]{120,}={0,2}"),
        hex_run: re(r"(?:[0-9a-fA-F]{2}){50,}|(?:\\x[0-9a-fA-F]{2}){20,}"),
        escape: re(r"\\x[0-9a-fA-F]{2}|\\[0-7]{3}|\\u[0-9a-fA-F]{4}"),
        char_code: re(r"\bchr\(\s*[0-9]+\s*\)"),
        int_list: re(r"\[\s*(?:[0-9]{2,3}\s*,\s*){20,}"),
        integrity: re(
            r"\bsha(?:256|512|1)sum\s+(?:-\w+\s+)*(?:-c|--check)\b|\bgpg\s+(?:--\w+\s+)*--verify\b|\bcosign\s+verify\b|hexdigest\(\)\s*!=|!=\s*\w*\.?sha256\b|digest\s*!=\s*",
        ),
    },
});

/// True for an address in a range no attacker's server lives in (loopback, private, link-local, zero).
fn non_public(ip: &str) -> bool {
    let o: Vec<u32> = ip.split('.').filter_map(|p| p.parse().ok()).collect();
    if o.len() != 4 || o.iter().any(|&x| x > 255) {
        return true; // not an address (a version string)
    }
    matches!((o[0], o[1]), (0 | 10 | 127, _) | (169, 254) | (192, 168) | (255, _))
        || (o[0] == 172 && (16..=31).contains(&o[1]))
}

/// Scores `code` written in `language`.
pub fn score(language: Language, code: &str) -> ScriptScore {
    let c = &*COMPILED;
    let a = &c.atoms;
    let python = language != Language::Shell;
    let mut fired: Vec<(&'static str, f64, bool)> = Vec::new();

    for (f, r) in &c.features {
        if f.scope == Scope::Python && !python {
            continue;
        }
        if r.is_match(code) {
            fired.push((f.name, f.weight, f.signature));
        }
    }

    let mut combos: Vec<&'static str> = Vec::new();
    let socket = a.socket.is_match(code);
    if socket && a.dup2.is_match(code) {
        combos.push("socket_dup2_shell");
    }
    if socket && a.fileno_stdio.is_match(code) {
        combos.push("socket_fileno_stdio");
    }
    if socket && a.shell_spawn.is_match(code) {
        combos.push("socket_shell_spawn");
    }
    if a.memfd.is_match(code) {
        combos.push(if a.exec_fd.is_match(code) { "memfd_exec" } else { "memfd" });
    }
    if python && a.py_exec.is_match(code) {
        if a.marshal.is_match(code) {
            combos.push("py_marshal_exec");
        } else if a.py_decoder.is_match(code) {
            combos.push("py_exec_with_decoder");
        }
    }
    let has = |n: &str| fired.iter().any(|(f, _, _)| *f == n);
    if !has("chmod_exec_tmp") && a.chmod_any.is_match(code) && a.tmp_context.is_match(code) {
        combos.push("exec_bit_in_tmp");
    }
    if has("dev_tcp") && a.http_get.is_match(code) {
        combos.push("dev_tcp_http");
    }
    if has("fetch") && a.loop_.is_match(code) && a.run_cmd.is_match(code) {
        combos.push("c2_poll");
    }
    let creds: std::collections::BTreeSet<&str> = a.cred_file.find_iter(code).map(|m| m.as_str()).collect();
    if creds.len() >= 2 {
        combos.push("credential_files");
    }
    // An attacker's server is often a bare address; loopback and private ones are the service's own.
    if a.ip_url.captures_iter(code).any(|m| !non_public(&m[1])) {
        combos.push("raw_ip_url");
    } else if a.ipv4.find_iter(code).any(|m| !non_public(m.as_str())) {
        combos.push("public_ip_literal");
    }
    if a.base64_run.is_match(code) {
        combos.push("long_base64_blob");
    }
    if a.hex_run.is_match(code) {
        combos.push("long_hex_blob");
    }
    let escapes = a.escape.find_iter(code).count();
    let dense = code.chars().filter(|ch| !ch.is_whitespace()).count().max(1);
    // At least 10 escapes, and escapes (4 characters each) make up 10% or more of the non-blank text.
    if escapes >= 10 && escapes * 4 * 10 >= dense {
        combos.push("escape_density");
    }
    if a.char_code.find_iter(code).count() >= 10 || a.int_list.is_match(code) {
        combos.push("char_codes");
    }
    if a.integrity.is_match(code) {
        combos.push("integrity_check");
    }
    for name in combos {
        if let Some(&(n, w, s)) = COMBOS.iter().find(|(n, _, _)| *n == name) {
            fired.push((n, w, s));
        }
    }

    let score = fired.iter().fold(0.0, |acc, (_, w, _)| acc + w);
    let signature = fired.iter().any(|(_, _, s)| *s);
    fired.sort_by(|x, y| y.1.total_cmp(&x.1).then(x.0.cmp(y.0)));
    // Rounded so that float summation order never shows in the output.
    let score = (score * 100.0).round() / 100.0;
    ScriptScore {
        score,
        malicious: signature || score >= THRESHOLD,
        reasons: fired.into_iter().map(|(n, _, _)| n.to_string()).collect(),
    }
}

#[cfg(test)]
#[path = "score_tests.rs"]
mod tests;
