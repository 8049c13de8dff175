//! CSV export of findings (`GET /v1/findings?format=csv`): one row per finding, the columns a
//! spreadsheet triage needs. Cells are quoted per RFC 4180, and a cell that a spreadsheet would take
//! for a formula (`=`, `+`, `-`, `@` first) gets a leading `'`: finding text comes from attackers.
#![forbid(unsafe_code)]

use serde_json::Value;

use crate::model::format_time;
use crate::storage::Listed;

pub const COLUMNS: [&str; 12] = [
    "findingId",
    "eventTime",
    "severity",
    "category",
    "service",
    "revision",
    "instanceId",
    "action",
    "description",
    "binaryPath",
    "binarySha256",
    "externalUri",
];

pub fn csv(rows: &[Listed]) -> String {
    let mut out = COLUMNS.join(",");
    out.push_str("\r\n");
    for r in rows {
        let body: Value = serde_json::from_str(&r.body).unwrap_or(Value::Null);
        let binary = &body["processes"][0]["binary"];
        let cells = [
            r.id.clone(),
            format_time(r.event_time_us),
            r.severity.clone(),
            r.category.clone(),
            r.service.clone().unwrap_or_default(),
            r.revision.clone().unwrap_or_default(),
            r.instance_id.clone().unwrap_or_default(),
            r.action.clone().unwrap_or_default(),
            r.description.clone(),
            binary["path"].as_str().unwrap_or_default().to_string(),
            binary["sha256"].as_str().unwrap_or_default().to_string(),
            body["externalUri"].as_str().unwrap_or_default().to_string(),
        ];
        out.push_str(&cells.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    out
}

fn cell(s: &str) -> String {
    let s = if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_string() };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_and_formulas() {
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\"\n"), "\"say \"\"hi\"\"\n\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("-rf"), "'-rf");
    }
}
