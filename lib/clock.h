/* clock — the two millisecond clocks every module wants, in one place.
 *
 * clock_mono_ms() for deadlines and durations (never jumps), clock_wall_ms() for times that
 * are stored or compared with other hosts (Unix epoch). */
#ifndef TODO_CLOCK_H
#define TODO_CLOCK_H

#include <stdint.h>

/* Milliseconds of CLOCK_MONOTONIC: only differences mean anything. */
int64_t clock_mono_ms(void);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t clock_wall_ms(void);

#endif
