/* ops_cmd — the command line of a small ops program: a table of verbs, each with a table of
 * options, parsed into an ops_cmd_t and run; --help, --version, -o json, usage errors and the
 * exit code all come from here, so outbox-inspect and trace-view behave alike.
 *
 *   static const ops_cmd_opt_t o_list[] = {
 *       {"limit", 'l', "N", "at most N rows", false}, OPS_CMD_OPT_END};
 *   static const ops_cmd_verb_t verbs[] = {
 *       {"list", "", "outbox rows", o_list, 0, 0, run_list}, …};
 *   static const ops_cmd_prog_t prog = {"outbox-inspect", "0.1.0", "…", verbs, 2, NULL, NULL};
 *   int main(int argc, char **argv) { return ops_cmd_main(&prog, argc, argv); }
 *
 * A program without verbs (trace-view) has one verb named "": its options and positionals
 * follow the program name directly. Accepted anywhere on the line: -o/--output json|table,
 * -h/--help (the program's, or the verb's after a verb), -V/--version; `--` ends the options;
 * `--name=value` and `-xVALUE` forms work. An option whose value is optional (`--last [N]`)
 * takes the next word only when it is a non-negative integer.
 *
 * Exit codes are ops_status_t (ops_err.h: 0 ok, 1 failure, 2 usage, 3 refused, 4
 * unreachable). A usage error prints "PROG: error: MSG (try 'PROG --help')" on stderr.
 * Library log lines (lib/pg, lib/log) are discarded unless TODO_CONSOLE_DEBUG is set: a
 * command reports its errors itself. (todo-console's own parser, console/cli.c, predates this
 * module and has the same rules.) */
#ifndef OPS_CMD_H
#define OPS_CMD_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ops_cfg.h"
#include "ops_err.h"

#define OPS_CMD_MAX_OPTS 24

typedef struct ops_cmd ops_cmd_t;

typedef struct ops_cmd_opt {
    const char *name;  /* long name without dashes */
    char short_name;   /* 0: none */
    const char *arg;   /* the value's placeholder ("N"); NULL: a switch */
    const char *help;
    bool optional;     /* the value may be left out (then it is ""); see the file comment */
} ops_cmd_opt_t;

#define OPS_CMD_OPT_END {NULL, 0, NULL, NULL, false}

typedef struct ops_cmd_verb {
    const char *name;            /* "stats"; "" for a program without verbs */
    const char *args;            /* positional synopsis ("ID"), "" for none */
    const char *help;            /* one line */
    const ops_cmd_opt_t *opts;   /* terminated by OPS_CMD_OPT_END */
    int min_pos, max_pos;
    ops_status_t (*run)(ops_cmd_t *c);
} ops_cmd_verb_t;

typedef struct ops_cmd_prog {
    const char *name, *version;
    const char *about;           /* one line under the usage */
    const ops_cmd_verb_t *verbs;
    size_t nverbs;
    const char *notes;           /* printed at the end of --help (addresses, examples); NULL */
    const char *const *exit_help; /* 5 lines for exit codes 0..4; NULL: ops_status_help's */
} ops_cmd_prog_t;

struct ops_cmd {
    const ops_cmd_prog_t *prog;
    const ops_cmd_verb_t *verb;
    int npos;
    char **pos;
    const char *val[OPS_CMD_MAX_OPTS]; /* by option index: value, "" for a switch, NULL unset */
    bool json;                         /* -o json */
    FILE *out;
    ops_cfg_t *cfg;                    /* addresses (ops_cfg), loaded before the verb runs */
    ops_err_t err;                     /* what a failing verb sets; printed by ops_cmd_main */
};

/* The whole program: parses argv against p, loads the addresses, runs the verb, prints its
 * error (if any) on stderr and returns the exit code. */
int ops_cmd_main(const ops_cmd_prog_t *p, int argc, char **argv);

/* Parses argv (without the program name) into c (zeroed by the caller, pos with room for
 * argc pointers). Returns 0 to run c->verb, 1 when help or the version was printed, or
 * OPS_USAGE with c->err set. Used by ops_cmd_main; public for the unit tests. */
int ops_cmd_parse(const ops_cmd_prog_t *p, ops_cmd_t *c, int argc, char **argv, char **pos);

/* The option's value (the last given), "" for a given switch, NULL when not given. */
const char *ops_cmd_get(const ops_cmd_t *c, const char *opt);
bool ops_cmd_has(const ops_cmd_t *c, const char *opt);

/* Sets a usage error (exit 2) and returns OPS_USAGE. */
ops_status_t ops_cmd_usage(ops_cmd_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses text as a decimal integer in [min, max]; otherwise a usage error naming what. */
ops_status_t ops_cmd_int(ops_cmd_t *c, const char *text, const char *what, int64_t min,
                         int64_t max, int64_t *out);

/* The longest duration ops_cmd_duration accepts: 36500 days (100 years), so that a duration in
 * µs, or now() minus it, never overflows (in C or in PostgreSQL's timestamps). */
#define OPS_CMD_MAX_DURATION_MS (36500LL * 86400 * 1000)

/* Parses a duration ("250ms", "15s", "10m", "2h", "7d", lib/cfg's syntax) into milliseconds,
 * at most OPS_CMD_MAX_DURATION_MS; otherwise a usage error naming what. */
ops_status_t ops_cmd_duration(ops_cmd_t *c, const char *text, const char *what, int64_t *ms);

/* The same rule without a command line: 0; -1 when text (or NULL) is not a duration; -2 when
 * it is longer than OPS_CMD_MAX_DURATION_MS. todo-console's own parser (console/cli.c) uses it. */
int ops_cmd_parse_duration(const char *text, int64_t *ms);

/* Prints j as one line of JSON on c->out. */
void ops_cmd_print_json(ops_cmd_t *c, const cJSON *j);

/* Prints the help of the program (v NULL) or of one verb to f. */
void ops_cmd_help(const ops_cmd_prog_t *p, const ops_cmd_verb_t *v, FILE *f);

#endif
