//! The metadata server (`169.254.169.254`, or `GCE_METADATA_HOST` as Google's client libraries honour
//! it): project id, region and instance id for the findings' resource. Best effort with short
//! timeouts, asked only where the environment says Google Cloud, and from the pipeline thread, never
//! on the workload's start path.
#![forbid(unsafe_code)]

use std::time::Duration;

use runwarden_contract::Resource;

/// Per request: the metadata server answers in a millisecond where it exists.
pub const METADATA_TIMEOUT: Duration = Duration::from_millis(300);

fn host() -> String {
    std::env::var("GCE_METADATA_HOST").unwrap_or_else(|_| "169.254.169.254".to_string())
}

/// One metadata value, or `None` (no server, error, empty).
pub fn get(agent: &ureq::Agent, host: &str, path: &str) -> Option<String> {
    let url = format!("http://{host}/computeMetadata/v1/{path}");
    let resp = agent.get(&url).set("Metadata-Flavor", "Google").timeout(METADATA_TIMEOUT).call().ok()?;
    let text = resp.into_string().ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// Fills project, location and instance id when the metadata server knows them; the name follows.
pub fn enrich(mut r: Resource) -> Resource {
    let vars: std::collections::HashMap<String, String> = std::env::vars().collect();
    if !crate::ship::resource::on_google_cloud(|k| vars.get(k).map(String::as_str)) {
        return r;
    }
    let agent = ureq::AgentBuilder::new().timeout_connect(METADATA_TIMEOUT).build();
    let host = host();
    if r.project_id.is_none() {
        r.project_id = get(&agent, &host, "project/project-id");
    }
    if r.location.is_none() {
        // Cloud Run answers "projects/NUMBER/regions/REGION".
        r.location =
            get(&agent, &host, "instance/region").map(|v| v.rsplit('/').next().unwrap_or(&v).to_string());
    }
    r.instance_id = r.instance_id.or_else(|| get(&agent, &host, "instance/id"));
    crate::ship::resource::complete_name(&mut r);
    if r.project_id.is_none() {
        tracing::info!(host = %host, "no metadata server answered; findings carry the resource from the environment only");
    }
    r
}

/// A Google ID token whose audience is `origin` (the HTTP sink's scheme://host), for
/// `RUNWARDEN_AUTH=google`. Errors are worded for the log; the token itself never is.
pub fn id_token(agent: &ureq::Agent, origin: &str) -> Result<String, String> {
    let audience: String = origin
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let url = format!(
        "http://{}/computeMetadata/v1/instance/service-accounts/default/identity?audience={audience}&format=full",
        host()
    );
    match agent.get(&url).set("Metadata-Flavor", "Google").timeout(Duration::from_secs(3)).call() {
        Ok(resp) => match resp.into_string() {
            Ok(t) if !t.trim().is_empty() => Ok(t.trim().to_string()),
            Ok(_) => Err("the metadata server returned an empty token".into()),
            Err(e) => Err(format!("reading the metadata server's answer: {e}")),
        },
        Err(ureq::Error::Status(code, _)) => Err(format!("the metadata server answered HTTP {code}")),
        Err(e) => Err(format!("the metadata server did not answer: {e}")),
    }
}
