//! The monitored resource: which Cloud Run service, revision, job or instance a finding comes from,
//! read from the environment Cloud Run sets (`K_SERVICE`, `K_REVISION`, `K_CONFIGURATION`,
//! `CLOUD_RUN_JOB`, `CLOUD_RUN_EXECUTION`, `CLOUD_RUN_TASK_INDEX`). The project, region and instance id
//! come from the metadata server in the shipping layer; what is unknown is left out.
#![forbid(unsafe_code)]

use super::finding::Resource;

/// Builds the resource from environment pairs (pure, for tests).
pub fn from_vars<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Resource {
    let owned = |k: &str| get(k).filter(|v| !v.is_empty()).map(str::to_string);
    let project = owned("GOOGLE_CLOUD_PROJECT").or_else(|| owned("GCP_PROJECT"));
    let location = owned("GOOGLE_CLOUD_REGION").or_else(|| owned("CLOUD_RUN_REGION"));
    let service = owned("K_SERVICE");
    let job = owned("CLOUD_RUN_JOB");
    let (kind, name) = match (&service, &job) {
        (Some(s), _) => (
            Some("run.googleapis.com/Service".to_string()),
            Some(format!(
                "//run.googleapis.com/projects/{}/locations/{}/services/{s}",
                project.as_deref().unwrap_or("-"),
                location.as_deref().unwrap_or("-")
            )),
        ),
        (None, Some(j)) => (
            Some("run.googleapis.com/Job".to_string()),
            Some(format!(
                "//run.googleapis.com/projects/{}/locations/{}/jobs/{j}",
                project.as_deref().unwrap_or("-"),
                location.as_deref().unwrap_or("-")
            )),
        ),
        _ => (None, None),
    };
    Resource {
        name,
        kind,
        project_id: project,
        location,
        service,
        revision: owned("K_REVISION"),
        job,
        execution: owned("CLOUD_RUN_EXECUTION"),
        task_index: owned("CLOUD_RUN_TASK_INDEX"),
        instance_id: None,
    }
}

/// The resource of this process's environment.
pub fn from_env() -> Resource {
    let vars: std::collections::HashMap<String, String> = std::env::vars().collect();
    from_vars(|k| vars.get(k).map(String::as_str))
}
