/* outbox-inspect — the outbox of the tasks database, for operators (CONTRACT §9; `outbox-inspect
 * --help`, man outbox-inspect). The verbs and their options are this table; the work is in
 * oi_*.c over lib/ops/ops_outbox. Exit status: 0 ok, 1 failure, 2 usage, 4 unreachable
 * (lib/ops/ops_err.h). */
#include "oi.h"

#ifndef TODO_VERSION
#define TODO_VERSION "0.1.0"
#endif

static const ops_cmd_opt_t o_none[] = {OPS_CMD_OPT_END};
static const ops_cmd_opt_t o_list[] = {
    {"unpublished", 'u', NULL, "rows waiting to be published, oldest first", false},
    {"dead", 0, NULL, "rows the relay gave up on, oldest first", false},
    {"published", 0, NULL, "published rows, newest first", false},
    {"task", 't', "ID", "only this task's rows", false},
    {"limit", 'l', "N", "at most N rows (default 50, at most 10000)", false},
    {"after", 0, "ID", "continue after row ID, in the listing's order", false},
    OPS_CMD_OPT_END};
static const ops_cmd_opt_t o_watch[] = {
    {"interval", 'i', "D", "time between refreshes (default 1s; 100ms to 1h)", false},
    {"count", 'n', "N", "stop after N refreshes", false},
    {"until-empty", 0, NULL, "stop when the backlog is empty", false},
    OPS_CMD_OPT_END};
static const ops_cmd_opt_t o_replay[] = {
    {"from", 0, "ID", "the first row of the range", false},
    {"to", 0, "ID", "the last row of the range (default: no end)", false},
    {"dead", 0, NULL, "every dead row (alone, or limits a range to its dead rows: the default)", false},
    {"published", 0, NULL, "with a range: re-send published rows too (same event ids)", false},
    {"yes", 'y', NULL, "do not ask for confirmation", false},
    {"dry-run", 0, NULL, "say what would be re-queued, change nothing", false},
    OPS_CMD_OPT_END};
static const ops_cmd_opt_t o_prune[] = {
    {"older-than", 0, "D", "delete rows published more than D ago (15m, 12h, 7d)", false},
    {"dry-run", 0, NULL, "count what would be deleted, delete nothing", false},
    OPS_CMD_OPT_END};

static const ops_cmd_verb_t verbs[] = {
    {"stats", "", "backlog, oldest unpublished age, dead rows, drain, backlog by type, relays",
     o_none, 0, 0, oi_stats},
    {"list", "", "outbox rows: all, --unpublished, --dead or --published", o_list, 0, 0, oi_list},
    {"show", "ID", "one row: payload, Kafka headers, attempts, last error, trace id", o_none, 1, 1,
     oi_show},
    {"watch", "", "backlog, age, drain rate and time to drain, refreshed until interrupted",
     o_watch, 0, 0, oi_watch},
    {"replay", "", "re-queue dead rows (--dead, or --from ID [--to ID]); asks first", o_replay, 0,
     0, oi_replay},
    {"prune", "", "delete published rows older than --older-than D (never pending or dead rows)",
     o_prune, 0, 0, oi_prune},
};

static const char *const exit_help[] = {
    "ok",
    "failure: the operation failed (no such row, nothing to replay, not confirmed)",
    "usage: unknown verb or option, a bad value, TASKS_DATABASE_URL not set",
    "refused: the database refused the login (wrong password, no access)",
    "unreachable: the tasks database did not answer",
};

static const ops_cmd_prog_t prog = {
    OI_PROG, TODO_VERSION,
    "the transactional outbox of the tasks database (TASKS_DATABASE_URL)",
    verbs, sizeof verbs / sizeof verbs[0],
    "The database: TASKS_DATABASE_URL from the environment, then\n"
    "$XDG_CONFIG_HOME/todo-console/config, then the checkout's .run/stack.env.\n",
    exit_help,
};

int main(int argc, char **argv)
{
    return ops_cmd_main(&prog, argc, argv);
}
