/* cli — the scriptable command line of todo-console (CONTRACT §9): the verb table, the flag
 * parser, the output helpers and the run loop shared by one-shot use and the shell.
 *
 * Each verb is one row of the table in cli.c: {name, args, help, flags, positional bounds,
 * what completes its positional, run}. --help, the usage error, `completion bash`, the
 * shell's tab completion and the man page's verb list all come from that table. A verb's run
 * function gets a parsed cli_ctx_t and returns an ops_status_t, which is the exit code
 * (ops_err.h: 0 ok, 1 failure, 2 usage, 3 not logged in / refused, 4 unreachable). */
#ifndef CLI_H
#define CLI_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ops_cfg.h"
#include "ops_err.h"

#define CLI_PROG "todo-console"
#define CLI_MAX_FLAGS 24
#define CLI_MAX_MULTI 64

typedef struct cli_flag {
    const char *name;  /* long name without dashes */
    char short_name;   /* 0: none */
    const char *arg;   /* the value's placeholder ("N"); NULL: a switch */
    const char *help;
    bool multi;        /* may repeat (--tag a --tag b) */
} cli_flag_t;

/* What a verb's positional argument is, for completion. */
typedef enum { CLI_POS_NONE, CLI_POS_TASK, CLI_POS_TOPIC, CLI_POS_TEXT } cli_pos_t;

typedef struct cli_ctx cli_ctx_t;

typedef struct cli_verb {
    const char *name;  /* "tasks list" */
    const char *args;  /* positional synopsis ("ID"), "" for none */
    const char *help;  /* one line */
    const cli_flag_t *flags; /* terminated by {NULL} */
    int min_pos, max_pos;
    cli_pos_t pos;
    ops_status_t (*run)(cli_ctx_t *c);
    bool hidden;       /* not listed (internal helpers) */
} cli_verb_t;

struct cli_ctx {
    const cli_verb_t *verb;
    int npos;
    char **pos;
    const char *val[CLI_MAX_FLAGS];           /* last value (or "" for a switch), NULL unset */
    const char *multi[CLI_MAX_FLAGS][CLI_MAX_MULTI];
    int nmulti[CLI_MAX_FLAGS];
    bool json;        /* -o json */
    bool in_shell;    /* running inside `todo-console shell` */
    FILE *out;
    ops_cfg_t *cfg;
    ops_err_t err;
    volatile int *interrupted; /* set by SIGINT while a verb runs */
};

/* The program: parses argv, runs one verb, returns the exit code. */
int cli_main(int argc, char **argv);

/* Runs one command line (argv without the program name) with a loaded cfg; used by cli_main
 * and by the shell. Prints errors to stderr and returns the status. */
ops_status_t cli_run_argv(int argc, char **argv, ops_cfg_t *cfg, bool in_shell);

/* Hands the spans of the verbs run so far to the collector (at most 1.5 s) and stops the
 * exporter; the shell calls it when it ends. */
void cli_trace_finish(void);

/* The verb table, for completion and help. */
const cli_verb_t *cli_verbs(size_t *n);

/* ---- for verbs ---- */

/* The flag's value (last given), NULL when not given; "" for a given switch. */
const char *cli_get(const cli_ctx_t *c, const char *flag);
bool cli_has(const cli_ctx_t *c, const char *flag);
/* Every value of a multi flag; *n their count. */
const char *const *cli_all(const cli_ctx_t *c, const char *flag, int *n);

/* Parses an integer in [min, max] from text (a flag value or positional named what); usage
 * error naming it otherwise. */
ops_status_t cli_int(cli_ctx_t *c, const char *text, const char *what, int64_t min, int64_t max,
                     int64_t *out);

/* A usage error with a message (returns OPS_USAGE). */
ops_status_t cli_usage(cli_ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints j as one line of JSON on c->out (and frees nothing). */
void cli_print_json(cli_ctx_t *c, const cJSON *j);

/* A task id from a positional: a positive decimal integer, else a usage error. */
ops_status_t cli_task_id(cli_ctx_t *c, const char *text, int64_t *id);

/* The state directory's shell history file path. */
void cli_history_path(const ops_cfg_t *cfg, char *out, size_t outlen);

/* True when s is valid UTF-8 without NUL. */
bool cli_utf8_ok(const char *s);

/* Formats a duration in µs as "12.3ms", "1.20s", "850µs". */
void cli_fmt_us(int64_t us, char *out, size_t outlen);

/* Parses "15s", "10m", "250ms", "2h", "1d" into milliseconds (lib/cfg's syntax). */
ops_status_t cli_duration(cli_ctx_t *c, const char *text, const char *what, int64_t *ms);

#endif
