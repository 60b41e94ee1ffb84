/* trace-view — a span waterfall in the terminal, from Jaeger or from Jaeger's JSON (CONTRACT §9;
 * `trace-view --help`, man trace-view). The options are this table; tv_source.c finds the
 * trace, tv_view.c draws it. Exit status: 0 ok, 1 failure, 2 usage, 4 unreachable
 * (lib/ops/ops_err.h). */
#include <malloc.h>

#include "tv.h"

#ifndef TODO_VERSION
#define TODO_VERSION "0.1.0"
#endif

static const ops_cmd_opt_t opts[] = {
    {"file", 'f', "PATH", "read Jaeger's JSON (/api/traces/{id}) from PATH; - for standard input", false},
    {"service", 's', "NAME", "with --last or --slowest: the service (default tasks-service)", false},
    {"last", 'l', "N", "the service's N most recent traces (default 1)", true},
    {"slowest", 0, NULL, "the slowest recent trace of the service, its slowest span marked", false},
    {"lookback", 0, "D", "with --last or --slowest: how far back to look (default 1h)", false},
    {"limit", 0, "N", "with --slowest: how many recent traces to compare (default 50)", false},
    {"depth", 'd', "N", "hide spans deeper than N (the root is depth 0)", false},
    {"min-duration", 'm', "D", "hide spans shorter than D unless something below them is longer "
                               "(500us, 2ms, 1s)", false},
    {"width", 'w', "N", "lay out for N columns (default: the terminal's, else 120)", false},
    OPS_CMD_OPT_END};

static const ops_cmd_verb_t verbs[] = {
    {"", "[TRACE_ID]", "a trace as a waterfall: one row per span indented by depth, bars by start "
                       "and duration, the critical path (*), errors (!), the slowest span (>) and "
                       "the async hops (time in the outbox, on the broker)",
     opts, 0, 1, tv_view_run},
};

static const char *const exit_help[] = {
    "ok",
    "failure: no such trace, no traces found, or a file that is not a readable trace",
    "usage: a bad option or value, JAEGER_QUERY_URL not set",
    "refused (not used by trace-view)",
    "unreachable: Jaeger did not answer",
};

static const ops_cmd_prog_t prog = {
    TV_PROG, TODO_VERSION, "a trace as a waterfall in the terminal", verbs, 1,
    "Sources (exactly one): TRACE_ID, --file PATH, --service NAME --last [N], --slowest.\n"
    "Jaeger: JAEGER_QUERY_URL from the environment, then $XDG_CONFIG_HOME/todo-console/config,\n"
    "then the checkout's .run/stack.env. Colour only on a terminal and when NO_COLOR is unset.\n",
    exit_help,
};

int main(int argc, char **argv)
{
    /* A parsed trace is ~30 small cJSON blocks a span, all freed at once after the model is
     * built. glibc's fastbins defer coalescing them to one malloc_consolidate over the whole
     * heap on the next large request; coalescing them as they are freed took 41 instead of
     * 47 ms of CPU for a 5,000-span trace (median of 60 runs each, BENCHMARKS.md). */
    mallopt(M_MXFAST, 0);
    return ops_cmd_main(&prog, argc, argv);
}
