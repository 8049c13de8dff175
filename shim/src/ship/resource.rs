//! The monitored resource: which Cloud Run service, revision, job or instance a finding comes from.
//! Service, revision, configuration, job, execution and task come from the environment Cloud Run sets
//! (`K_SERVICE`, `K_REVISION`, `CLOUD_RUN_JOB`, `CLOUD_RUN_EXECUTION`, `CLOUD_RUN_TASK_INDEX`);
//! project, region and instance id from the metadata server ([`crate::ship::metadata`], best effort,
//! off the workload's start path). What is unknown is left out: the resource name is only built once
//! project and location are known.
#![forbid(unsafe_code)]

use runwarden_contract::Resource;

/// Builds the resource from environment pairs (pure, for tests).
pub fn from_vars<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Resource {
    let owned = |k: &str| get(k).filter(|v| !v.is_empty()).map(str::to_string);
    let service = owned("K_SERVICE");
    let job = owned("CLOUD_RUN_JOB");
    let kind = match (&service, &job) {
        (Some(_), _) => Some("run.googleapis.com/Service".to_string()),
        (None, Some(_)) => Some("run.googleapis.com/Job".to_string()),
        _ => None,
    };
    let mut r = Resource {
        name: None,
        kind,
        project_id: owned("GOOGLE_CLOUD_PROJECT").or_else(|| owned("GCP_PROJECT")),
        location: owned("GOOGLE_CLOUD_REGION").or_else(|| owned("CLOUD_RUN_REGION")),
        service,
        revision: owned("K_REVISION"),
        job,
        execution: owned("CLOUD_RUN_EXECUTION"),
        task_index: owned("CLOUD_RUN_TASK_INDEX"),
        instance_id: None,
        image: owned("RUNWARDEN_IMAGE"),
    };
    complete_name(&mut r);
    r
}

/// `//run.googleapis.com/projects/P/locations/L/services/S` (or `.../jobs/J`), once P and L are known.
pub fn complete_name(r: &mut Resource) {
    let (Some(p), Some(l)) = (&r.project_id, &r.location) else { return };
    r.name = match (&r.service, &r.job) {
        (Some(s), _) => Some(format!("//run.googleapis.com/projects/{p}/locations/{l}/services/{s}")),
        (None, Some(j)) => Some(format!("//run.googleapis.com/projects/{p}/locations/{l}/jobs/{j}")),
        _ => None,
    };
}

/// Whether this looks like Google Cloud (so asking the metadata server is worth its timeout).
pub fn on_google_cloud<'a>(get: impl Fn(&str) -> Option<&'a str>) -> bool {
    ["K_SERVICE", "CLOUD_RUN_JOB", "GCE_METADATA_HOST"].iter().any(|k| get(k).is_some_and(|v| !v.is_empty()))
}

/// The resource of this process's environment.
pub fn from_env() -> Resource {
    let vars: std::collections::HashMap<String, String> = std::env::vars().collect();
    from_vars(|k| vars.get(k).map(String::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloud_run_service_from_env() {
        let vars =
            [("K_SERVICE", "shop"), ("K_REVISION", "shop-00007-xyz"), ("GOOGLE_CLOUD_PROJECT", "acme")];
        let get = |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
        let mut r = from_vars(get);
        assert_eq!(r.kind.as_deref(), Some("run.googleapis.com/Service"));
        assert_eq!(r.revision.as_deref(), Some("shop-00007-xyz"));
        assert_eq!(r.name, None, "no location yet: no name with placeholders");
        r.location = Some("europe-west1".into());
        complete_name(&mut r);
        assert_eq!(
            r.name.as_deref(),
            Some("//run.googleapis.com/projects/acme/locations/europe-west1/services/shop")
        );
        assert!(on_google_cloud(get));
        assert!(!on_google_cloud(|_| None));
    }
}
