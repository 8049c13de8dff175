/* thread-heavy benchmark workload: create and join N threads (default 2000), BATCH at a time (default 50).
 * Each thread does a trivial amount of work and exits, so the run time is dominated by clone/exit.
 * Build: gcc -O2 -pthread -o threads threads.c      Usage: threads [N] [BATCH] */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static volatile unsigned long sink;

static void *work(void *arg) {
    sink += (unsigned long)arg;
    return NULL;
}

int main(int argc, char **argv) {
    long n = argc > 1 ? strtol(argv[1], NULL, 10) : 2000;
    long batch = argc > 2 ? strtol(argv[2], NULL, 10) : 50;
    if (n < 1 || batch < 1) {
        fprintf(stderr, "usage: threads [N>0] [BATCH>0]\n");
        return 2;
    }
    pthread_t *t = calloc((size_t)batch, sizeof *t);
    pthread_attr_t attr;
    if (!t || pthread_attr_init(&attr) || pthread_attr_setstacksize(&attr, 64 * 1024)) {
        perror("setup");
        return 1;
    }
    long done = 0;
    while (done < n) {
        long k = n - done < batch ? n - done : batch;
        for (long i = 0; i < k; i++) {
            int e = pthread_create(&t[i], &attr, work, (void *)(done + i));
            if (e) {
                fprintf(stderr, "pthread_create: error %d after %ld threads\n", e, done + i);
                return 1;
            }
        }
        for (long i = 0; i < k; i++)
            pthread_join(t[i], NULL);
        done += k;
    }
    return 0;
}
