/* clock — the clocks and deadlines (see clock.h). */
#include "clock.h"

static int64_t ns_of(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t clock_mono_ms(void)
{
    return ns_of(CLOCK_MONOTONIC) / 1000000;
}

int64_t clock_mono_ns(void)
{
    return ns_of(CLOCK_MONOTONIC);
}

int64_t clock_wall_ms(void)
{
    return ns_of(CLOCK_REALTIME) / 1000000;
}

int64_t clock_wall_ns(void)
{
    return ns_of(CLOCK_REALTIME);
}

double clock_since_s(int64_t start_ns)
{
    return (double)(ns_of(CLOCK_MONOTONIC) - start_ns) / 1e9;
}

struct timespec clock_deadline(clockid_t id, int64_t ms)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    if (ms <= 0) return ts;
    ts.tv_sec += (time_t)(ms / 1000);
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}
