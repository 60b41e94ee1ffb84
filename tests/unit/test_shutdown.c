/* Unit tests for lib/shutdown. Shutdown state is process-wide and one-way, so
 * every scenario runs in a forked child and reports through its exit status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "log.h"
#include "shutdown.h"

/* Inside a child: report the failed condition and exit non-zero. */
#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #c);                  \
            _exit(1);                                                                              \
        }                                                                                          \
    } while (0)

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Runs fn in a child (killed by SIGALRM if it hangs) and returns its wait status. */
static int in_child(void (*fn)(void))
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10);
        fn();
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    return status;
}

static void assert_child_ok(void (*fn)(void))
{
    int status = in_child(fn);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void programmatic_request(void)
{
    CHECK(!shutdown_requested());
    CHECK(!shutdown_sleep_ms(0));
    shutdown_request();
    CHECK(shutdown_requested());
    CHECK(shutdown_wait() == 0);
    CHECK(shutdown_sleep_ms(60000)); /* returns at once once requested */
}

static void test_request_without_signals(void **state)
{
    assert_child_ok(programmatic_request);
}

static void sigterm_to_self(void)
{
    char err[128];
    CHECK(shutdown_install(err, sizeof err) == 0);
    CHECK(shutdown_install(err, sizeof err) == 0); /* idempotent */
    CHECK(kill(getpid(), SIGTERM) == 0);
    CHECK(shutdown_wait() == SIGTERM);
    CHECK(shutdown_requested());
}

static void test_sigterm_is_caught_not_fatal(void **state)
{
    assert_child_ok(sigterm_to_self);
}

static void *check_mask(void *arg)
{
    sigset_t set;
    pthread_sigmask(SIG_BLOCK, NULL, &set);
    return (void *)(intptr_t)(sigismember(&set, SIGTERM) && sigismember(&set, SIGINT));
}

static void threads_inherit_the_mask(void)
{
    char err[128];
    CHECK(shutdown_install(err, sizeof err) == 0);
    pthread_t t;
    void *blocked;
    CHECK(pthread_create(&t, NULL, check_mask, NULL) == 0);
    pthread_join(t, &blocked);
    CHECK(blocked);
}

static void test_later_threads_block_the_signals(void **state)
{
    assert_child_ok(threads_inherit_the_mask);
}

static void sigpipe_is_ignored(void)
{
    char err[128];
    CHECK(shutdown_install(err, sizeof err) == 0);
    int p[2];
    CHECK(pipe(p) == 0);
    close(p[0]);
    CHECK(write(p[1], "x", 1) == -1 && errno == EPIPE);
}

static void test_sigpipe_becomes_epipe(void **state)
{
    assert_child_ok(sigpipe_is_ignored);
}

static void *request_later(void *arg)
{
    struct timespec ts = {0, 50 * 1000000};
    nanosleep(&ts, NULL); /* the scenario itself: a request arriving while asleep */
    shutdown_request();
    return NULL;
}

static void sleep_times_out_or_wakes(void)
{
    long t0 = now_ms();
    CHECK(!shutdown_sleep_ms(120));
    CHECK(now_ms() - t0 >= 120);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, request_later, NULL) == 0);
    t0 = now_ms();
    CHECK(shutdown_sleep_ms(5000));
    CHECK(now_ms() - t0 < 4000);
    pthread_join(t, NULL);
}

static void test_sleep_times_out_or_wakes_early(void **state)
{
    assert_child_ok(sleep_times_out_or_wakes);
}

static void second_signal(void)
{
    char err[128];
    CHECK(shutdown_install(err, sizeof err) == 0);
    CHECK(kill(getpid(), SIGINT) == 0);
    CHECK(shutdown_wait() == SIGINT);
    CHECK(kill(getpid(), SIGTERM) == 0);
    for (;;)
        pause(); /* the signal thread exits the process */
}

static void test_second_signal_exits_at_once(void **state)
{
    int status = in_child(second_signal);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 128 + SIGTERM);
}

/* The usual shape of a service's main: a worker polls shutdown_requested()
 * while main waits, and a signal from another process ends both. */
static void *worker(void *arg)
{
    while (!shutdown_requested())
        shutdown_sleep_ms(1000);
    return NULL;
}

static int ready[2];

static void service_main(void)
{
    char err[128];
    CHECK(shutdown_install(err, sizeof err) == 0);
    pthread_t t;
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0);
    CHECK(write(ready[1], "r", 1) == 1);
    CHECK(shutdown_wait() == SIGTERM);
    pthread_join(t, NULL);
}

static void test_signal_from_another_process(void **state)
{
    assert_int_equal(pipe(ready), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        alarm(10);
        service_main();
        _exit(0);
    }
    char c;
    assert_int_equal(read(ready[0], &c, 1), 1);
    assert_int_equal(kill(pid, SIGTERM), 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    close(ready[0]);
    close(ready[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_without_signals),
        cmocka_unit_test(test_sigterm_is_caught_not_fatal),
        cmocka_unit_test(test_later_threads_block_the_signals),
        cmocka_unit_test(test_sigpipe_becomes_epipe),
        cmocka_unit_test(test_sleep_times_out_or_wakes_early),
        cmocka_unit_test(test_second_signal_exits_at_once),
        cmocka_unit_test(test_signal_from_another_process),
    };
    log_init("test-shutdown", LOG_ERROR); /* "shutdown requested" lines are expected */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
