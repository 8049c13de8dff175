#!/bin/sh
# A batch job in the style of a Cloud Run job, for runwarden's container tests: it fetches a manifest,
# downloads or generates its inputs, processes them with ordinary tools (sort, uniq, awk, gzip,
# sha256sum), writes the results and exits 0. The manifest, one directive per line:
#
#   input NAME URL      download URL into the job's inputs as NAME
#   generate NAME N     generate N lines of sample records as NAME
#   hook URL            a post-processing hook: `curl URL | sh`, a common and risky practice (whoever
#                       controls the manifest or that URL runs code in the job: the attack variant)
#
# Environment: JOB_MANIFEST_URL (default: a built-in manifest of generated inputs), JOB_WORKDIR
# (default /tmp/job), JOB_WAIT_SECONDS (wait before exiting, so the tests can `docker stop` it),
# CLOUD_RUN_TASK_INDEX / CLOUD_RUN_TASK_COUNT as Cloud Run sets them.
# Exit codes: 0 done, 75 interrupted by SIGTERM (Cloud Run retries the task), 1 failed.
set -eu

work=${JOB_WORKDIR:-/tmp/job}
task=${CLOUD_RUN_TASK_INDEX:-0}
tasks=${CLOUD_RUN_TASK_COUNT:-1}
# SIGTERM (docker stop, Cloud Run's task timeout): say what was left undone and ask to be retried.
trap 'echo "job: task $task interrupted, partial results in $work/out" >&2; exit 75' TERM

mkdir -p "$work/in" "$work/out"
if [ -n "${JOB_MANIFEST_URL:-}" ]; then
    curl -fsS --retry 3 -o "$work/manifest" "$JOB_MANIFEST_URL"
else
    printf 'generate orders 2000\ngenerate visits 5000\n' >"$work/manifest"
fi

hooks=""
while read -r kind name arg; do
    case "$kind" in
        input) curl -fsS --retry 3 -o "$work/in/$name" "$arg" ;;
        generate) awk -v n="$arg" -v t="$task" 'BEGIN { srand(42 + t); for (i = 0; i < n; i++)
                      printf "%d,customer-%d,%s,%.2f\n", i, int(rand() * 97), (rand() < 0.5 ? "eu" : "us"), rand() * 100 }' \
                      >"$work/in/$name" ;;
        hook) hooks="$hooks $name" ;;
        ''|'#'*) ;;
        *) echo "job: unknown manifest directive '$kind'" >&2; exit 1 ;;
    esac
done <"$work/manifest"

for f in "$work"/in/*; do
    name=$(basename "$f")
    # Records per region and the top customers, the way a reporting job would.
    cut -d, -f3 "$f" | sort | uniq -c | sort -rn >"$work/out/$name.regions"
    awk -F, '{ total[$2] += $4 } END { for (c in total) printf "%s %.2f\n", c, total[c] }' "$f" \
        | sort -k2 -rn | head -n 5 >"$work/out/$name.top"
    gzip -c "$f" >"$work/out/$name.gz"
done
(cd "$work/out" && sha256sum -- * >SHA256SUMS)

for url in $hooks; do
    curl -fsS "$url" | sh
done

set -- "$work"/in/*
echo "job: task $task of $tasks processed $# inputs, $(wc -l <"$work/out/SHA256SUMS") outputs"
if [ -n "${JOB_WAIT_SECONDS:-}" ]; then
    # Sleep in the background and wait, so that the TERM trap runs as soon as the signal arrives.
    sleep "$JOB_WAIT_SECONDS" &
    wait $!
fi
