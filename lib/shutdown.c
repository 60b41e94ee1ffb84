/* shutdown — graceful shutdown on SIGTERM/SIGINT; see shutdown.h. */
#include "shutdown.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "log.h"

static void init_once(void);
static void *signal_main(void *arg);
static void request(int signo);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond; /* on CLOCK_MONOTONIC, set up by init_once */
static atomic_bool requested;
static int requested_by; /* signal number, 0 for shutdown_request(); under lock */
static bool installed;   /* main thread only */

static void init_once(void)
{
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&cond, &attr);
    pthread_condattr_destroy(&attr);
}

static void request(int signo)
{
    pthread_once(&once, init_once);
    pthread_mutex_lock(&lock);
    if (!atomic_load(&requested)) {
        requested_by = signo;
        atomic_store(&requested, true);
        pthread_cond_broadcast(&cond);
    }
    pthread_mutex_unlock(&lock);
}

/* Takes every SIGTERM/SIGINT of the process. A second signal while the
 * graceful shutdown is still running means the operator has lost patience:
 * exit at once rather than hang. */
static void *signal_main(void *arg)
{
    sigset_t *set = arg;
    for (;;) {
        int sig;
        if (sigwait(set, &sig) != 0)
            continue;
        if (atomic_load(&requested)) {
            log_warn("second signal during shutdown; exiting now",
                     LOG_STR("signal", strsignal(sig)));
            _exit(128 + sig);
        }
        log_info("shutdown requested", LOG_STR("signal", strsignal(sig)));
        request(sig);
    }
    return NULL;
}

int shutdown_install(char *err, size_t errlen)
{
    static sigset_t set; /* read by the signal thread for the life of the process */
    if (installed)
        return 0;
    pthread_once(&once, init_once);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int e = pthread_sigmask(SIG_BLOCK, &set, NULL);
    if (e != 0) {
        snprintf(err, errlen, "shutdown: pthread_sigmask: %s", strerror(e));
        return -1;
    }
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigemptyset(&ign.sa_mask);
    if (sigaction(SIGPIPE, &ign, NULL) < 0) {
        snprintf(err, errlen, "shutdown: ignoring SIGPIPE: %m");
        return -1;
    }
    pthread_t t;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    e = pthread_create(&t, &attr, signal_main, &set);
    pthread_attr_destroy(&attr);
    if (e != 0) {
        snprintf(err, errlen, "shutdown: pthread_create: %s", strerror(e));
        return -1;
    }
    installed = true;
    return 0;
}

int shutdown_wait(void)
{
    pthread_once(&once, init_once);
    pthread_mutex_lock(&lock);
    while (!atomic_load(&requested))
        pthread_cond_wait(&cond, &lock);
    int sig = requested_by;
    pthread_mutex_unlock(&lock);
    return sig;
}

bool shutdown_sleep_ms(int timeout_ms)
{
    pthread_once(&once, init_once);
    struct timespec deadline = clock_deadline(CLOCK_MONOTONIC, timeout_ms);
    pthread_mutex_lock(&lock);
    while (!atomic_load(&requested))
        if (pthread_cond_timedwait(&cond, &lock, &deadline) != 0)
            break; /* ETIMEDOUT */
    pthread_mutex_unlock(&lock);
    return atomic_load(&requested);
}

bool shutdown_requested(void)
{
    return atomic_load_explicit(&requested, memory_order_acquire);
}

void shutdown_request(void)
{
    request(0);
}
