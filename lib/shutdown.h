/* shutdown — graceful shutdown on SIGTERM/SIGINT.
 *
 *   int main(void) {
 *       shutdown_install(err, sizeof err);  // first, before any thread exists
 *       ... start servers and worker threads; loops test shutdown_requested() ...
 *       shutdown_wait();                    // until a signal or shutdown_request()
 *       ... stop accepting, drain, flush traces, join ...
 *   }
 *
 * The signals are blocked in every thread and taken by one small thread with
 * sigwait(), so no code ever runs in a signal handler and no blocking call in
 * a worker is interrupted with EINTR. SIGPIPE is ignored, so writing to a
 * closed socket returns EPIPE instead of killing the process. A second signal
 * while shutdown is in progress exits at once (status 128 + signal), for the
 * operator whose graceful shutdown hangs. */
#ifndef TODO_SHUTDOWN_H
#define TODO_SHUTDOWN_H

#include <stdbool.h>
#include <stddef.h>

/* Blocks SIGTERM and SIGINT (threads created later inherit the mask), ignores
 * SIGPIPE and starts the signal-waiting thread. Call once, from the main
 * thread, before creating other threads. Returns 0, or -1 with a message. */
int shutdown_install(char *err, size_t errlen);

/* Blocks until shutdown is requested. Returns the signal that asked for it,
 * or 0 if shutdown_request() did. Returns at once if already requested. */
int shutdown_wait(void);

/* Like shutdown_wait but gives up after timeout_ms; for loops that pause
 * between rounds. Returns true if shutdown has been requested. */
bool shutdown_sleep_ms(int timeout_ms);

/* True once shutdown has been requested; cheap (one atomic load). */
bool shutdown_requested(void);

/* Requests shutdown from code (tests, a fatal error in a worker). Thread-safe;
 * not async-signal-safe. */
void shutdown_request(void);

#endif
