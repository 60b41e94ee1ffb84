/* cfg — settings from environment variables, described by a table.
 *
 *   struct settings { int port; int64_t timeout_ms; const char *db_url; bool debug; };
 *   static const cfg_entry_t table[] = {
 *       CFG_ROW("TASKS_HTTP_PORT", CFG_INT, "8081", 1, 65535, offsetof(struct settings, port),
 *               "HTTP listen port", false),
 *       CFG_ROW("TASKS_DB_TIMEOUT", CFG_DURATION, "5s", 1, 60000,
 *               offsetof(struct settings, timeout_ms), "database statement timeout", false),
 *       CFG_ROW("TASKS_DATABASE_URL", CFG_STRING, NULL, 0, 0, offsetof(struct settings, db_url),
 *               "PostgreSQL connection URL", true),
 *   };
 *   if (cfg_load(table, sizeof table / sizeof table[0], &s, err, sizeof err) < 0) -> exit
 *
 * The table is the single description of a program's settings: loading,
 * validation, the start-up log line and --help all come from it. Values that need
 * parsing (host:port, one of a few names) are parsed here, once, into typed fields, so
 * no program re-splits or re-checks them. */
#ifndef TODO_CFG_H
#define TODO_CFG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum {
    CFG_STRING,   /* const char *: points into the environment or at the default text */
    CFG_INT,      /* int, decimal, within [min, max] */
    CFG_BOOL,     /* bool: true/false, 1/0, yes/no, on/off (any case) */
    CFG_DURATION, /* int64_t milliseconds: "500ms", "15s", "15m", "1h", "30d" or "0";
                     min and max are in milliseconds */
    CFG_HOSTPORT, /* cfg_hostport_t: "host:port" or "[v6]:port"; with a default of "" the
                     setting is optional and an unset one leaves text "" and port 0 */
    CFG_ENUM,     /* int: the index of the value in choices (compared without case) */
} cfg_type_t;

/* A parsed host:port setting. */
typedef struct cfg_hostport {
    const char *text; /* as given, e.g. "127.0.0.1:8081"; "" when an optional one is unset */
    char host[256];   /* brackets of an IPv6 literal removed */
    uint16_t port;
} cfg_hostport_t;

typedef struct cfg_entry {
    const char *name;  /* environment variable */
    cfg_type_t type;
    const char *def;   /* default as text, parsed like the variable; NULL = required */
    int64_t min, max;  /* bounds for CFG_INT and CFG_DURATION; min == max == 0: the type's range */
    size_t offset;     /* offsetof the field in the caller's struct */
    const char *help;  /* one line for --help */
    bool secret;       /* may carry a credential: shown only through redact() (lib/redact.h),
                          in the log line and in error messages alike */
    const char *const *choices; /* CFG_ENUM: the names, NULL-terminated */
} cfg_entry_t;

/* A table row, positional as the fields above (rows without choices). */
#define CFG_ROW(NAME, TYPE, DEF, MIN, MAX, OFFSET, HELP, SECRET)                                   \
    {.name = (NAME), .type = (TYPE), .def = (DEF), .min = (MIN), .max = (MAX),                     \
     .offset = (OFFSET), .help = (HELP), .secret = (SECRET)}

/* A CFG_ENUM row: choices is a NULL-terminated array of names. */
#define CFG_ENUM_ROW(NAME, DEF, OFFSET, CHOICES, HELP)                                             \
    {.name = (NAME), .type = CFG_ENUM, .def = (DEF), .offset = (OFFSET), .help = (HELP),           \
     .choices = (CHOICES)}

/* Fills the struct at out from the environment, entry by entry. An unset or
 * empty variable takes the default. Stops at the first bad entry and returns
 * -1 with a message naming the variable, e.g.
 * "TASKS_HTTP_PORT: 'abc' is not an integer (expected 1..65535)" or
 * "TASKS_DATABASE_URL: required but not set"; returns 0 when all are good.
 * String fields point into the environment, so do not setenv/unsetenv those
 * variables while the settings are in use. Not thread-safe (getenv). */
int cfg_load(const cfg_entry_t *table, size_t n, void *out, char *err, size_t errlen);

/* A complete settings table: its rows and the checks across rows after loading (NULL:
 * none; -1 with err naming the variable). What a program module exports. */
typedef struct cfg_table {
    const cfg_entry_t *rows;
    size_t n;
    int (*check)(const void *cfg, char *err, size_t errlen);
} cfg_table_t;

/* One table and the struct it fills, for programs whose settings come from several
 * tables (the shared service settings of lib/svc and a service's own). */
typedef struct cfg_section {
    const cfg_entry_t *table;
    size_t n;
    void *out;
} cfg_section_t;

/* Logs the effective settings of the sections (filled by cfg_load) as one info line
 * ("configuration") with one field per variable. Secret entries go through redact():
 * passwords inside URLs and conninfo strings are hidden, anything else secret is "***". */
void cfg_log(const cfg_section_t *sections, size_t nsections);

/* Prints the tables for --help: one line per variable with its type, default
 * (or "required"), bounds or choices, and help text. */
void cfg_usage(FILE *f, const cfg_section_t *sections, size_t nsections);

/* Parses a duration such as "250ms", "15s", "15m", "1h", "30d" (or "0") into
 * milliseconds. Returns 0, or -1 for anything else (no unit, unknown unit,
 * sign, fraction, overflow). */
int cfg_parse_duration(const char *s, int64_t *ms);

/* Splits "host:port" (or "[v6]:port") into host (NUL-terminated, brackets removed) and
 * port 0..65535 (what CFG_HOSTPORT uses). Returns 0, or -1 for a missing host or port, a
 * port out of range or trailing text, or a host longer than hostlen - 1. */
int cfg_split_hostport(const char *addr, char *host, size_t hostlen, uint16_t *port);

#endif
