/* ui — the full-screen console: what every part of it shares.
 *
 *   ui_opts_t o = UI_OPTS_INIT;  o.readonly = true;
 *   return ui_main(&cfg, &o);    // until the operator quits; the exit code
 *
 * Structure (tig's, ARCHITECTURE.md §5a):
 * - Views are tables of functions (ui_view_ops_t): each view file ends with its own table,
 *   and ui_main.c lists the tables. A new view is a new file.
 * - Actions are one table (ui_action.c): the enum below, each action's name (the `:` command
 *   and the config file's name), its help and flags (writes, asks first). Default key
 *   bindings are data in the same file; the config file rebinds them (KEY_<keymap>_<action>);
 *   the help screen is printed from the live bindings.
 * - Views draw through a thin layer (ui_draw.h) and pick colours by what a thing is; they
 *   never call ncurses.
 * - Everything that waits on the network (gateway, PostgreSQL, Redis, Kafka, Jaeger, the
 *   stack script) runs on worker threads (ui_work.h), one per backend, so a slow or dead
 *   backend stalls only its own requests; results come back to the UI thread through a
 *   queue and a wake-up pipe. The UI thread never blocks on I/O other than the terminal.
 * - Input comes from the terminal, or in headless mode from a script (ui_script.c) that
 *   replays keys, waits for text on the screen and saves screens to files. */
#ifndef UI_H
#define UI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ops_cfg.h"
#include "ops_err.h"
#include "ops_stack.h"

typedef struct ui ui_t;
typedef struct ui_view ui_view_t;

/* ---- options ------------------------------------------------------------------------------- */

typedef struct ui_opts {
    bool readonly;        /* --readonly: every action that changes the system is refused */
    const char *view;     /* the first view ("outbox"), NULL: tasks (or login) */
    const char *script;   /* headless: replay this script instead of reading a terminal */
    const char *topic;    /* the Topics view's topic instead of task-events + task-events.dlq */
} ui_opts_t;

#define UI_OPTS_INIT {false, NULL, NULL, NULL}

/* Runs the console until the operator quits. Returns the exit code: 0, 1 when the terminal
 * could not be set up or a headless script failed, 2 for bad options or configuration. */
int ui_main(ops_cfg_t *cfg, const ui_opts_t *opts);

/* ---- actions (ui_action.c) ----------------------------------------------------------------- */

typedef enum {
    UI_REQ_NONE,
    /* everywhere */
    UI_REQ_QUIT,
    UI_REQ_BACK,
    UI_REQ_HELP,
    UI_REQ_PROMPT,
    UI_REQ_FILTER,
    UI_REQ_REFRESH,
    UI_REQ_UP,
    UI_REQ_DOWN,
    UI_REQ_PAGE_UP,
    UI_REQ_PAGE_DOWN,
    UI_REQ_HOME,
    UI_REQ_END,
    UI_REQ_ENTER,
    UI_REQ_LOGIN,
    UI_REQ_VIEW_TASKS,
    UI_REQ_VIEW_TOPICS,
    UI_REQ_VIEW_OUTBOX,
    UI_REQ_VIEW_READMODEL,
    UI_REQ_VIEW_TRACES,
    UI_REQ_VIEW_SERVICES,
    UI_REQ_VIEW_NOTIFICATIONS,
    UI_REQ_VIEW_FLOW,
    /* in some views */
    UI_REQ_ADD,
    UI_REQ_EDIT,
    UI_REQ_COMPLETE,
    UI_REQ_DELETE,
    UI_REQ_TAG,
    UI_REQ_DONE_FILTER,
    UI_REQ_FLOW,
    UI_REQ_RAW,
    UI_REQ_PAUSE,
    UI_REQ_FOLLOW,
    UI_REQ_NEXT,
    UI_REQ_REPLAY,
    UI_REQ_COLLAPSE,
    UI_REQ_EXPAND,
    UI_REQ_DETAILS,
    UI_REQ_CRITICAL,
    UI_REQ_MARK_READ,
    UI_REQ_KAFKA,
    UI_REQ_COUNT
} ui_req_t;

#define UI_ACT_WRITES 1u  /* changes the system: refused with --readonly */
#define UI_ACT_ASKS 2u    /* asks for confirmation first */
#define UI_ACT_MOVE 4u    /* moves in a list (not listed one by one in the help's summary) */

typedef struct ui_action {
    const char *name;     /* "view-tasks": the :command; the config file writes view_tasks */
    const char *help;
    unsigned flags;
} ui_action_t;

/* The action's row; NULL for UI_REQ_NONE or out of range. */
const ui_action_t *ui_action(ui_req_t req);

/* The action named name ("delete" or "view_tasks"), UI_REQ_NONE when there is none. */
ui_req_t ui_action_find(const char *name);

/* Keys: a Unicode code point, or UI_KEY_FN + an ncurses KEY_* code. */
#define UI_KEY_FN 0x110000
#define UI_KEY_ENTER 10
#define UI_KEY_ESC 27
#define UI_KEY_TAB 9

/* Parses a key name ("q", "Enter", "C-r", "PgDn", "F5", "Space") into *key. 0 or -1. */
int ui_key_parse(const char *name, int *key);
/* The key's name, for the help screen. */
void ui_key_name(int key, char *out, size_t outlen);

/* Builds the key maps: the defaults, then the config file's KEY_<keymap>_<action>=KEYS lines
 * (keymap "generic" or a view name; KEYS separated by spaces). A bad line is an error naming
 * the file and line (*err). 0 or -1. */
int ui_keys_load(ui_t *ui, char *err, size_t errlen);

/* The action a key means in keymap (a view's name), falling back to the generic map. */
ui_req_t ui_keys_lookup(const ui_t *ui, const char *keymap, int key);

/* Every key bound to req in keymap (only that map), names separated by spaces; with view set,
 * only the keys that mean req there (a view's own binding hides a generic one). */
void ui_keys_for(const ui_t *ui, const char *keymap, const char *view, ui_req_t req, char *out,
                 size_t outlen);

/* Frees the key maps. */
void ui_keys_free(ui_t *ui);

/* ---- views --------------------------------------------------------------------------------- */

typedef struct ui_view_ops {
    const char *name;     /* "tasks": its keymap, its :command, the first word of its title */
    const char *title;    /* "Tasks" */
    char number;          /* the number key that opens it, 0: none */
    /* First shown: allocate v->priv, submit the first requests. */
    void (*open)(ui_view_t *v);
    /* Called on every turn of the loop (about 4 times a second, more when results arrive),
     * shown or not once opened: submit refreshes whose time has come. */
    void (*tick)(ui_view_t *v, bool shown);
    /* Draws the view into rows [top, top + rows) of the screen. */
    void (*draw)(ui_view_t *v, int top, int rows, int cols);
    /* A key's action for this view; false when the view does not handle it (the generic
     * handling then applies: movement in the list, back, …). */
    bool (*request)(ui_view_t *v, ui_req_t req);
    /* `/` text: the view applies it (empty clears). NULL: the view has no filter. */
    void (*filter)(ui_view_t *v, const char *text);
    /* `:` commands of this view ("topic NAME"): true when handled. NULL: none. */
    bool (*command)(ui_view_t *v, int argc, char **argv);
    /* Frees v->priv at exit (after the workers stopped). */
    void (*close)(ui_view_t *v);
} ui_view_ops_t;

struct ui_view {
    const ui_view_ops_t *ops;
    ui_t *ui;
    void *priv;
    bool opened;
    /* the list the movement keys act on (ui_list_draw keeps top in range) */
    int cursor, top, nlines, page;
    char filter[256];
};

/* Views in their number order (ui_main.c). */
extern const ui_view_ops_t ui_login_view, ui_tasks_view, ui_topics_view, ui_outbox_view,
    ui_readmodel_view, ui_traces_view, ui_services_view, ui_notify_view, ui_flow_view,
    ui_help_view;

/* The view named name, NULL when there is none. */
ui_view_t *ui_view_named(ui_t *ui, const char *name);
/* Shows v (opening it the first time); the view shown before is remembered for `back`. */
void ui_show(ui_t *ui, ui_view_t *v);
/* The view shown now. */
ui_view_t *ui_current(ui_t *ui);

/* Generic list movement for a view whose v->nlines is set. */
void ui_list_move(ui_view_t *v, ui_req_t req);
/* Keeps v->cursor and v->top in range for a list of v->nlines drawn in rows lines, and
 * remembers the page size; returns the first line to draw. */
int ui_list_scroll(ui_view_t *v, int rows);

/* ---- the console's state ------------------------------------------------------------------- */

typedef enum {
    UI_BE_API,      /* the gateway: tasks, notifications, login */
    UI_BE_DB,       /* the tasks database: outbox */
    UI_BE_REDIS,    /* the read model (and PostgreSQL's side of it) */
    UI_BE_JAEGER,
    UI_BE_KAFKA,    /* topics, lag, finding one event */
    UI_BE_HEALTH,
    UI_BE_STACK,    /* infra/local/stack */
    UI_BE_COUNT
} ui_backend_t;

/* Shown in the status bar: what each backend did last. */
typedef struct ui_be_state {
    bool known, down;
    char msg[200];
} ui_be_state_t;

typedef struct ui_session_info {
    bool logged_in;
    int64_t user_id;
    char email[256];
} ui_session_info_t;

/* Limits of what the console keeps (CONSOLE_* settings; README states them). */
typedef struct ui_limits {
    long tail_messages;   /* CONSOLE_TAIL_MESSAGES: messages the Topics view keeps */
    long tail_mb;         /* CONSOLE_TAIL_MB: their bytes */
    long tasks_max;       /* tasks the Tasks view loads (pages followed up to this) */
} ui_limits_t;

struct ui {
    ops_cfg_t *cfg;
    ui_opts_t opts;
    ui_limits_t limits;
    bool color, quit, dirty;
    int rows, cols;
    int exit_code;
    ui_view_t *views;             /* every view, in the order of ui_main.c's table */
    size_t nviews;
    ui_view_t *cur;
    ui_view_t *history[16];       /* views to go back to */
    size_t nhistory;
    ui_session_info_t session;
    ui_be_state_t be[UI_BE_COUNT];
    char msg[256];                /* the status line's message */
    bool msg_error;
    int64_t msg_until;            /* monotonic ms */
    bool stack_ok;                /* beside a local stack: :stack works */
    ops_stack_t stack;
    struct ui_keymaps *keys;      /* ui_action.c */
    struct ui_work *work;         /* ui_work.c */
    struct ui_modal *modal;       /* ui_prompt.c: the prompt, form or question on top */
    struct ui_script *script;     /* headless */
    char *topic_names[64];        /* known topics, for completion */
    size_t ntopics;
};

/* A message in the status line for a few seconds (printf format). */
void ui_say(ui_t *ui, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ui_error(ui_t *ui, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* True (with a message) when the console is read-only and req changes the system. */
bool ui_refuse_write(ui_t *ui, const char *what);

/* Does what an action means in the current view (as its key would). */
void ui_dispatch(ui_t *ui, ui_req_t req);

/* The outage demo's key: asks to stop the local stack's Kafka when it is up, starts it when it
 * is down (ui_cmd.c). */
void ui_kafka_toggle(ui_t *ui);

/* Runs one `:` command line; false with a message when unknown (ui_cmd.c). */
bool ui_command(ui_t *ui, const char *line);
/* The `:` commands that take arguments, for the help screen. */
void ui_command_help(void (*emit)(const char *name, const char *args, const char *help, void *arg),
                     void *arg);
/* Completion candidates for a `:` line being typed (ui_cmd.c). */
void ui_command_complete(ui_t *ui, const char *line, void (*emit)(const char *cand, void *arg),
                         void *arg);

/* Remembers topic names from a topics listing (for completion). */
void ui_topics_known(ui_t *ui, const char *const *names, size_t n);

/* A call was refused for want of a session (OPS_AUTH): the login form, with why. */
void ui_auth_lost(ui_t *ui, const char *why);

/* The session changed (logged in or out, or spent): views that show the user's data reload. */
void ui_session_changed(ui_t *ui);

/* Opens the Flow view on a task's newest change, or on one event of it (event_id NULL: the
 * newest). */
void ui_flow_open_task(ui_t *ui, int64_t task_id, const char *event_id);

/* Opens the Traces view's waterfall on one trace id. */
void ui_traces_open(ui_t *ui, const char *trace_id);

/* Now, monotonic milliseconds. */
int64_t ui_now_ms(void);

#endif
