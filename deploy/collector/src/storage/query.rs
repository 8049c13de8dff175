//! The findings filter (what the query API and the web UI's form share) and its translation to a SQL
//! `WHERE` clause with numbered parameters. `$N` placeholders, `LIKE ... ESCAPE` and integer times read
//! the same in SQLite and PostgreSQL, so one clause serves both. Pure: table-tested below.
#![forbid(unsafe_code)]

use crate::model::{self, Severity};

/// Findings on one page by default, and at most (CSV/JSON export can ask for a large page).
pub const DEFAULT_LIMIT: i64 = 50;
pub const MAX_LIMIT: i64 = 10_000;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FindingFilter {
    pub categories: Vec<String>,
    pub severities: Vec<Severity>,
    pub service: Option<String>,
    pub revision: Option<String>,
    pub instance: Option<String>,
    /// Microseconds since the epoch, inclusive.
    pub since_us: Option<i64>,
    /// Microseconds since the epoch, exclusive.
    pub until_us: Option<i64>,
    pub text: Option<String>,
    /// Triage states (`ACTIVE`, ...), any of.
    pub states: Vec<String>,
    /// Keyset paging: only findings listed after this (event time, id) in the list's order (newest
    /// first), the last row of the page before. Narrows the rows listed, not the total or the counts,
    /// and unlike a large `offset` costs the same on the thousandth page as on the first.
    pub before: Option<(i64, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Default for Page {
    fn default() -> Self {
        Page { limit: DEFAULT_LIMIT, offset: 0 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    Int(i64),
    Text(String),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{param}={value:?}: {reason}")]
pub struct FilterError {
    pub param: String,
    pub value: String,
    pub reason: &'static str,
}

impl FindingFilter {
    /// Builds a filter and a page from query parameters. Repeated `category`/`severity` (or
    /// comma-separated severities) mean "any of"; empty values are ignored (an untouched form field).
    /// Unknown parameters are refused, so a misspelt filter is not silently a broader query.
    pub fn from_params(
        params: &[(String, String)],
        now_us: i64,
    ) -> Result<(FindingFilter, Page), FilterError> {
        let mut f = FindingFilter::default();
        let mut page = Page::default();
        for (k, v) in params {
            let v = v.trim();
            let err = |reason| FilterError { param: k.clone(), value: v.to_string(), reason };
            if v.is_empty() {
                continue;
            }
            match k.as_str() {
                "category" => f.categories.push(v.to_string()),
                "severity" => {
                    for s in v.split(',') {
                        f.severities.push(
                            Severity::parse(s.trim()).ok_or(err("expected CRITICAL, HIGH, MEDIUM or LOW"))?,
                        );
                    }
                }
                "service" => f.service = Some(v.to_string()),
                "revision" => f.revision = Some(v.to_string()),
                "instance" => f.instance = Some(v.to_string()),
                "since" => {
                    f.since_us = Some(
                        parse_when(v, now_us).ok_or(err("expected RFC 3339 UTC or a duration like 24h"))?,
                    )
                }
                "until" => {
                    f.until_us = Some(
                        parse_when(v, now_us).ok_or(err("expected RFC 3339 UTC or a duration like 24h"))?,
                    )
                }
                "q" => f.text = Some(v.to_string()),
                "before" => f.before = Some(parse_cursor(v).ok_or(err("expected EVENTTIME_US:FINDING_ID"))?),
                "state" => {
                    for s in v.split(',') {
                        let st = crate::triage::State::parse(s)
                            .ok_or(err("expected ACTIVE, ACKNOWLEDGED, RESOLVED or MUTED"))?;
                        f.states.push(st.as_str().to_string());
                    }
                }
                "limit" => {
                    page.limit = v
                        .parse()
                        .ok()
                        .filter(|n| (1..=MAX_LIMIT).contains(n))
                        .ok_or(err("expected 1 to 10000"))?
                }
                "offset" => {
                    page.offset = v.parse().ok().filter(|n: &i64| *n >= 0).ok_or(err("expected 0 or more"))?
                }
                // Read by the handlers (export format, detail tab), not a filter.
                "format" | "tab" => {}
                _ => return Err(err("unknown parameter")),
            }
        }
        Ok((f, page))
    }

    /// ` WHERE ...` (or empty) with placeholders numbered from `$first`, and their values in order.
    pub fn where_clause(&self, first: usize) -> (String, Vec<Param>) {
        let mut conds: Vec<String> = Vec::new();
        let mut params: Vec<Param> = Vec::new();
        let next = |p: Param, params: &mut Vec<Param>| {
            params.push(p);
            format!("${}", first + params.len() - 1)
        };
        if !self.categories.is_empty() {
            let ph: Vec<String> =
                self.categories.iter().map(|c| next(Param::Text(c.clone()), &mut params)).collect();
            conds.push(format!("category IN ({})", ph.join(", ")));
        }
        if !self.severities.is_empty() {
            let ph: Vec<String> = self
                .severities
                .iter()
                .map(|s| next(Param::Text(s.as_str().to_string()), &mut params))
                .collect();
            conds.push(format!("severity IN ({})", ph.join(", ")));
        }
        for (col, v) in
            [("service", &self.service), ("revision", &self.revision), ("instance_id", &self.instance)]
        {
            if let Some(v) = v {
                let ph = next(Param::Text(v.clone()), &mut params);
                conds.push(format!("{col} = {ph}"));
            }
        }
        if let Some(t) = self.since_us {
            let ph = next(Param::Int(t), &mut params);
            conds.push(format!("event_time >= {ph}"));
        }
        if let Some(t) = self.until_us {
            let ph = next(Param::Int(t), &mut params);
            conds.push(format!("event_time < {ph}"));
        }
        if let Some(q) = &self.text {
            let ph = next(Param::Text(format!("%{}%", escape_like(&q.to_lowercase()))), &mut params);
            conds.push(format!("search_text LIKE {ph} ESCAPE '\\'"));
        }
        if !self.states.is_empty() {
            let ph: Vec<String> =
                self.states.iter().map(|s| next(Param::Text(s.clone()), &mut params)).collect();
            conds.push(format!("state IN ({})", ph.join(", ")));
        }
        if conds.is_empty() {
            (String::new(), params)
        } else {
            (format!(" WHERE {}", conds.join(" AND ")), params)
        }
    }

    /// The filter as query parameters (for links that keep it: pages, exports, count chips).
    pub fn to_params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        out.extend(self.categories.iter().map(|c| ("category", c.clone())));
        out.extend(self.severities.iter().map(|s| ("severity", s.as_str().to_string())));
        for (k, v) in [("service", &self.service), ("revision", &self.revision), ("instance", &self.instance)]
        {
            if let Some(v) = v {
                out.push((k, v.clone()));
            }
        }
        if let Some(t) = self.since_us {
            out.push(("since", model::format_time(t)));
        }
        if let Some(t) = self.until_us {
            out.push(("until", model::format_time(t)));
        }
        if let Some(q) = &self.text {
            out.push(("q", q.clone()));
        }
        out.extend(self.states.iter().map(|s| ("state", s.clone())));
        if let Some((t, id)) = &self.before {
            out.push(("before", cursor(*t, id)));
        }
        out
    }
}

/// A list cursor as written in links: `EVENTTIME_US:FINDING_ID`.
pub fn cursor(event_time_us: i64, id: &str) -> String {
    format!("{event_time_us}:{id}")
}

fn parse_cursor(v: &str) -> Option<(i64, String)> {
    let (t, id) = v.split_once(':')?;
    Some((t.parse().ok()?, id.to_string()))
}

/// RFC 3339 UTC, or a duration meaning "that long ago" (`24h`, `7d`).
pub fn parse_when(v: &str, now_us: i64) -> Option<i64> {
    if let Some(t) = model::parse_time(v) {
        return Some(t);
    }
    let d = humantime::parse_duration(v).ok()?;
    Some(now_us.saturating_sub(i64::try_from(d.as_micros()).ok()?))
}

pub(crate) fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Percent-encodes query parameters (RFC 3986 unreserved characters kept).
pub fn encode_params<K: AsRef<str>>(params: &[(K, String)]) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    params.iter().map(|(k, v)| format!("{}={}", enc(k.as_ref()), enc(v))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn empty_filter_has_no_where() {
        let (f, page) = FindingFilter::from_params(&p(&[("service", ""), ("q", " ")]), 0).unwrap();
        assert_eq!(f.where_clause(1), (String::new(), vec![]));
        assert_eq!(page, Page::default());
    }

    #[test]
    fn every_filter_becomes_a_condition() {
        let now = 1_000_000_000_000;
        let (f, page) = FindingFilter::from_params(
            &p(&[
                ("category", "Reverse Shell"),
                ("category", "Added Binary Executed"),
                ("severity", "critical,HIGH"),
                ("service", "api"),
                ("revision", "api-1"),
                ("instance", "i-1"),
                ("since", "1h"),
                ("until", "2026-11-22T00:00:00Z"),
                ("q", "50%_off\\"),
                ("limit", "20"),
                ("offset", "40"),
            ]),
            now,
        )
        .unwrap();
        assert_eq!(page, Page { limit: 20, offset: 40 });
        let (sql, params) = f.where_clause(1);
        assert_eq!(
            sql,
            " WHERE category IN ($1, $2) AND severity IN ($3, $4) AND service = $5 AND revision = $6 AND \
             instance_id = $7 AND event_time >= $8 AND event_time < $9 AND search_text LIKE $10 ESCAPE '\\'"
        );
        assert_eq!(params[7], Param::Int(now - 3_600_000_000));
        assert_eq!(params[9], Param::Text("%50\\%\\_off\\\\%".into()));
        // The links keep the same filter.
        let (again, _) = FindingFilter::from_params(
            &f.to_params().into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Vec<_>>(),
            now,
        )
        .unwrap();
        assert_eq!(again, f);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (k, v) in [
            ("severity", "SEVERE"),
            ("since", "last week"),
            ("limit", "0"),
            ("limit", "x"),
            ("sevrity", "LOW"),
        ] {
            let e = FindingFilter::from_params(&p(&[(k, v)]), 0).unwrap_err();
            assert_eq!(e.param, k);
        }
    }

    #[test]
    fn encoding() {
        assert_eq!(encode_params(&[("q", "a b&c".to_string())]), "q=a%20b%26c");
    }

    #[test]
    fn cursors() {
        let (f, _) = FindingFilter::from_params(&p(&[("before", "1795207326963432:a:b")]), 0).unwrap();
        assert_eq!(f.before, Some((1_795_207_326_963_432, "a:b".to_string())));
        assert_eq!(f.where_clause(1), (String::new(), vec![]), "the cursor is not a filter of the counts");
        assert_eq!(FindingFilter::from_params(&p(&[("before", "x:1")]), 0).unwrap_err().param, "before");
    }
}
