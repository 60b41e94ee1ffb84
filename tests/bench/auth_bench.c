/* auth-bench — drives todo.auth.v1.AuthService/ValidateToken with N concurrent callers
 * (each a thread with its own channel, one call at a time, as a service validating every
 * request would) for a fixed time, and prints calls/s and latency percentiles.
 *
 *   auth-bench --target 127.0.0.1:28051 --token JWT [--callers 16] [--seconds 10]
 *              [--deadline-ms 1000]
 *
 * Output, one line: "callers=16 calls=123456 errors=0 invalid=0 calls_per_s=12345.6
 * p50_ms=0.512 p90_ms=… p99_ms=… max_ms=…". Exit status 1 on usage errors or if no call
 * succeeded. Built by services/auth/module.mk; run by tests/bench/auth.sh. */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authclient.h"
#include "clock.h"

typedef struct caller {
    pthread_t thread;
    const char *target, *token;
    int deadline_ms;
    double start, until; /* monotonic seconds: calls are measured between the two */
    double *lat;         /* milliseconds, one per call */
    size_t n, cap;
    long errors, invalid;
} caller_t;

static double mono(void)
{
    return (double)clock_mono_ns() / 1e9;
}

/* Each caller is a client of its own (lib/authclient, the one the services use, with its
 * cache off so every check is a call), so callers do not share an HTTP/2 connection. */
static void *run_caller(void *arg)
{
    caller_t *c = arg;
    authclient_t *ac;
    char err[256], why[64];
    authclient_config_t cfg = {.target = c->target, .deadline_ms = c->deadline_ms};
    if (authclient_new(&cfg, &ac, err, sizeof err) < 0) {
        fprintf(stderr, "auth-bench: %s\n", err);
        c->errors++;
        return NULL;
    }
    authclient_user_t u;
    size_t toklen = strlen(c->token);
    authclient_validate(ac, c->token, toklen, &u, why, sizeof why); /* connect; not measured */
    while (mono() < c->start) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    while (mono() < c->until) {
        double t0 = mono();
        authclient_result_t r = authclient_validate(ac, c->token, toklen, &u, why, sizeof why);
        double ms = (mono() - t0) * 1000.0;
        if (r == AUTHCLIENT_UNAVAILABLE) {
            c->errors++;
            continue;
        }
        if (r == AUTHCLIENT_INVALID) c->invalid++;
        if (c->n == c->cap) {
            c->cap = c->cap ? c->cap * 2 : 65536;
            c->lat = realloc(c->lat, c->cap * sizeof *c->lat);
            if (!c->lat) abort();
        }
        c->lat[c->n++] = ms;
    }
    authclient_free(ac);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double pct(const double *v, size_t n, double p)
{
    if (!n) return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

static void usage(FILE *f)
{
    fprintf(f, "usage: auth-bench --target HOST:PORT --token JWT [--callers N] [--seconds S] "
               "[--deadline-ms MS]\n");
}

int main(int argc, char **argv)
{
    const char *target = NULL, *token = NULL;
    int callers = 1, seconds = 10, deadline_ms = 1000;
    static const struct option opts[] = {{"target", required_argument, NULL, 't'},
                                         {"token", required_argument, NULL, 'k'},
                                         {"callers", required_argument, NULL, 'c'},
                                         {"seconds", required_argument, NULL, 's'},
                                         {"deadline-ms", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int o;
    while ((o = getopt_long(argc, argv, "t:k:c:s:d:h", opts, NULL)) != -1) {
        switch (o) {
        case 't':
            target = optarg;
            break;
        case 'k':
            token = optarg;
            break;
        case 'c':
            callers = atoi(optarg);
            break;
        case 's':
            seconds = atoi(optarg);
            break;
        case 'd':
            deadline_ms = atoi(optarg);
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (!target || !token || callers < 1 || callers > 1024 || seconds < 1 || deadline_ms < 1) {
        usage(stderr);
        return 1;
    }
    caller_t *c = calloc((size_t)callers, sizeof *c);
    double start = mono() + 1.0, until = start + seconds; /* 1 s to connect every caller */
    for (int i = 0; i < callers; i++) {
        c[i] = (caller_t){.target = target,
                          .token = token,
                          .deadline_ms = deadline_ms,
                          .start = start,
                          .until = until};
        pthread_create(&c[i].thread, NULL, run_caller, &c[i]);
    }
    size_t total = 0;
    long errors = 0, invalid = 0;
    for (int i = 0; i < callers; i++) {
        pthread_join(c[i].thread, NULL);
        total += c[i].n;
        errors += c[i].errors;
        invalid += c[i].invalid;
    }
    double *all = malloc((total ? total : 1) * sizeof *all);
    size_t k = 0;
    for (int i = 0; i < callers; i++) {
        memcpy(all + k, c[i].lat, c[i].n * sizeof *all);
        k += c[i].n;
        free(c[i].lat);
    }
    qsort(all, total, sizeof *all, cmp_double);
    double elapsed = seconds; /* every caller ran until the same instant */
    printf("callers=%d calls=%zu errors=%ld invalid=%ld calls_per_s=%.1f p50_ms=%.3f p90_ms=%.3f "
           "p99_ms=%.3f max_ms=%.3f\n",
           callers, total, errors, invalid, (double)total / elapsed, pct(all, total, 0.50),
           pct(all, total, 0.90), pct(all, total, 0.99), total ? all[total - 1] : 0.0);
    free(all);
    free(c);
    return total > 0 && invalid == 0 ? 0 : 1;
}
