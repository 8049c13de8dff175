//! Keyset paging of the findings list against SQLite and PostgreSQL: following `next` (`before=`) from
//! page to page lists every finding once, in the order the offsets give, ties of event time included;
//! the UI's "older" link does the same.

mod common;

use common::*;
use runwarden_collector::model::{format_time, now_us};
use runwarden_collector::storage::query::encode_params;
use serde_json::json;

#[test]
fn next_cursors_walk_the_whole_list() {
    for db in databases() {
        let name = db.name;
        let c = collector_on(db);
        let now = now_us();
        // 130 findings on 40 distinct times: pages end in the middle of ties.
        let findings: Vec<_> = (0..130)
            .map(|i| finding("Reverse Shell", "HIGH", "api", "i-1", &format_time(now - (i % 40) * 1_000_000)))
            .collect();
        assert_eq!(post_json(&c, &json!({ "findings": findings }), None).0, 200, "{name}");
        let ids = |v: &serde_json::Value| -> Vec<String> {
            v["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["findingId"].as_str().unwrap().to_string())
                .collect()
        };
        let by_offset: Vec<String> = (0..7)
            .flat_map(|p| {
                ids(&get_json(&c, &format!("/v1/findings?service=api&limit=20&offset={}", p * 20)).1)
            })
            .collect();
        let mut by_cursor = Vec::new();
        let mut next: Option<String> = None;
        loop {
            let mut params = vec![("service", "api".to_string()), ("limit", "20".to_string())];
            if let Some(n) = &next {
                params.push(("before", n.clone()));
            }
            let (st, page) = get_json(&c, &format!("/v1/findings?{}", encode_params(&params)));
            assert_eq!(st, 200, "{name}: {page}");
            assert_eq!(page["total"], 130, "{name}: the total is the filter's, not the rest's");
            by_cursor.extend(ids(&page));
            match page["next"].as_str() {
                Some(n) => next = Some(n.to_string()),
                None => break,
            }
        }
        assert_eq!(by_cursor.len(), 130, "{name}");
        assert_eq!(by_cursor, by_offset, "{name}: the same order as offsets");

        // The UI: the first page links to the next by cursor; that page lists the next 50.
        let (st, html) = read(agent().get(&c.url("/findings?service=api")).call());
        assert_eq!(st, 200);
        let html = html.as_str().unwrap().to_string();
        let href = html.split("id=\"next\" href=\"").nth(1).and_then(|s| s.split('"').next()).unwrap();
        assert!(href.contains("before="), "{name}: {href}");
        let (st, older) = read(agent().get(&c.url(&href.replace("&amp;", "&"))).call());
        assert_eq!(st, 200, "{name}");
        let older = older.as_str().unwrap();
        assert!(
            older.contains(&by_offset[50]) && !older.contains(&by_offset[49]),
            "{name}: {href}: {}",
            older.split("<tbody>").nth(1).unwrap_or("").chars().take(600).collect::<String>()
        );
        assert_eq!(get_json(&c, "/v1/findings?before=soon").0, 400);
    }
}
