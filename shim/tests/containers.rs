//! Real containers, as users run them: `Dockerfile.example` built verbatim (its base image passed as
//! the build argument it declares, since nothing can be pulled here), run with Docker's default
//! seccomp profile and capabilities. The sample apps and the attack scenarios are in
//! container_apps.rs and container_attacks.rs. The base image is built without a registry by
//! integration/docker/build-base.sh (debootstrap + docker import, cached). Needs root and Docker.

#[path = "common/docker.rs"]
mod docker;

use docker::*;

#[test]
fn dockerfile_example_builds_verbatim_and_passes_signals() {
    let image = "runwarden-test/example:latest";
    build(image, &repo().join("Dockerfile.example"), &[]);
    let c = Container::run(image, &[]);
    let ip = c.ip();
    wait_ready(&ip, 8080, "/");
    // The example's CMD (python3 -m http.server) has no SIGTERM handler: it dies of the signal, and
    // runwarden reports 128+15 as a shell would.
    assert_eq!(c.stop(), 143, "logs:\n{}", c.logs());
    let logs = c.logs();
    assert!(logs.contains("\"mode\":\"ptrace\""), "not traced under Docker's default profile:\n{logs}");
    assert!(logs.contains("image baseline loaded"), "the RUN baseline step did not take:\n{logs}");
}
