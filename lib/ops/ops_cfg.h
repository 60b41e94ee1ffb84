/* ops_cfg — where the stack is: the addresses an ops program needs, and where its files live.
 *
 *   ops_cfg_t cfg;
 *   if (ops_cfg_load(&cfg, argv[0], &err) != OPS_OK) ...
 *   const char *gw = ops_cfg_get(&cfg, OPS_GATEWAY_URL);   // NULL when no source has it
 *   ops_cfg_free(&cfg);
 *
 * Every address is looked up, per key, in this order (CONTRACT §9), and the first source that
 * has it wins:
 *   1. the environment (GATEWAY_URL=… todo-console …);
 *   2. the config file $XDG_CONFIG_HOME/todo-console/config (default ~/.config/…);
 *   3. the stack's .run/stack.env: $TODO_RUN_DIR/stack.env when set (a second stack), else
 *      the .run/ of the checkout the program runs from — found by walking up from the
 *      program's own path (so bin/todo-console works from any directory), then from the
 *      current directory.
 * Both files use the sh syntax stack.env is written in: KEY=VALUE lines, optional `export`,
 * optional quotes, # comments. The session and the shell history live in
 * $XDG_STATE_HOME/todo-console/ (default ~/.local/state/todo-console/). */
#ifndef OPS_CFG_H
#define OPS_CFG_H

#include <stdbool.h>
#include <stddef.h>

#include "ops_err.h"

/* The keys, in the order of the table in ops_cfg.c (names are CONTRACT §2's). */
typedef enum {
    OPS_GATEWAY_URL,
    OPS_AUTH_HTTP_URL,
    OPS_TASKS_HTTP_URL,
    OPS_NOTIFY_HTTP_URL,
    OPS_KAFKA_BROKERS,
    OPS_REDIS_URL,
    OPS_TASKS_DATABASE_URL,
    OPS_JAEGER_QUERY_URL,
    OPS_OTLP_ENDPOINT,
    OPS_PROMETHEUS_URL,
    OPS_KEY_COUNT
} ops_key_t;

typedef enum { OPS_SRC_NONE, OPS_SRC_ENV, OPS_SRC_CONFIG, OPS_SRC_STACK } ops_src_t;

typedef struct ops_cfg {
    char *val[OPS_KEY_COUNT];     /* malloc'd, or NULL when no source has the key */
    ops_src_t src[OPS_KEY_COUNT];
    char config_file[4096];       /* the config file looked at (it may not exist) */
    char stack_env[4096];         /* the stack.env used, "" when none was found */
    char state_dir[4096];         /* the session's directory (not created here) */
} ops_cfg_t;

/* Fills cfg from the three sources. argv0 helps find the checkout when /proc/self/exe is not
 * readable; may be NULL. Only an unreadable-but-present file or memory exhaustion fails
 * (OPS_FAIL); missing keys are not an error here — the verb that needs one says so. */
ops_status_t ops_cfg_load(ops_cfg_t *cfg, const char *argv0, ops_err_t *err);

/* The value of key, or NULL. */
const char *ops_cfg_get(const ops_cfg_t *cfg, ops_key_t key);

/* The value of key, or OPS_USAGE-status failure naming the key and where it was looked for. */
const char *ops_cfg_need(const ops_cfg_t *cfg, ops_key_t key, ops_err_t *err);

/* The environment name of key ("GATEWAY_URL"), and a word for a source ("environment"). */
const char *ops_cfg_key_name(ops_key_t key);
const char *ops_cfg_src_name(ops_src_t src);

/* Parses one line of a KEY=VALUE file. Returns 1 with key and value (unquoted) filled, 0 for
 * a blank or comment line, -1 for a malformed line or one whose parts do not fit. Pure. */
int ops_cfg_parse_line(const char *line, char *key, size_t keylen, char *val, size_t vallen);

/* Frees the values. */
void ops_cfg_free(ops_cfg_t *cfg);

/* Creates dir and its parents with mode 0700 where missing. 0, or -1 with errno set. */
int ops_mkdirs(const char *dir);

#endif
