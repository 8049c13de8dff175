/* cold-start benchmark workload: prints CLOCK_MONOTONIC (ns) at the start of main, so the harness can tell
 * how long after its spawn the workload's first instruction ran (the same clock as Python's perf_counter).
 * Static, so the dynamic loader's work is not part of it. Build: gcc -O2 -static -o first first.c */
#include <stdio.h>
#include <time.h>

int main(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    printf("%lld\n", (long long)t.tv_sec * 1000000000LL + t.tv_nsec);
    return 0;
}
