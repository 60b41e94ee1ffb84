/* clock — the clocks every module wants, in one place.
 *
 * clock_mono_ms()/clock_mono_ns() for deadlines and durations (never jump),
 * clock_wall_ms()/clock_wall_ns() for times that are stored or compared with other hosts
 * (Unix epoch), and clock_deadline() for the absolute timespec a timed wait takes
 * (pthread_cond_timedwait, sem_timedwait): every deadline is built here, so none is
 * off by a nanosecond carry or measured on the wrong clock. */
#ifndef TODO_CLOCK_H
#define TODO_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Milliseconds of CLOCK_MONOTONIC: only differences mean anything. */
int64_t clock_mono_ms(void);

/* Nanoseconds of CLOCK_MONOTONIC, for durations shorter than a millisecond. */
int64_t clock_mono_ns(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_wall_ms(void);

/* Nanoseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_wall_ns(void);

/* Seconds elapsed since start_ns (a clock_mono_ns() reading), as a double: what latency
 * histograms record. */
double clock_since_s(int64_t start_ns);

/* The absolute time ms milliseconds from now on clock id (CLOCK_MONOTONIC for condition
 * variables made with pthread_condattr_setclock, CLOCK_REALTIME for the rest). ms <= 0 is
 * now. */
struct timespec clock_deadline(clockid_t id, int64_t ms);

#endif
