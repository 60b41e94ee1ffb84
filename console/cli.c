/* cli — verb table, flag parser, help and the run loop; see cli.h. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cfg.h"
#include "cli_verbs.h"
#include "log.h"
#include "ops_table.h"
#include "trace.h"

#ifndef TODO_VERSION
#define TODO_VERSION "0.1.0"
#endif

/* ---- the flags of each verb ------------------------------------------------------------ */

#define F_END {NULL, 0, NULL, NULL, false}
static const cli_flag_t f_none[] = {F_END};
static const cli_flag_t f_login[] = {
    {"email", 'e', "EMAIL", "the account's email (asked for on a terminal when absent)", false},
    {"password-stdin", 0, NULL, "read the password from the first line of standard input", false},
    F_END};
static const cli_flag_t f_tasks_list[] = {
    {"done", 0, NULL, "only completed tasks", false},
    {"open", 0, NULL, "only open tasks", false},
    {"tag", 't', "TAG", "only tasks with this tag", false},
    {"q", 'q', "TEXT", "only tasks whose title contains TEXT (case-insensitive)", false},
    {"limit", 'l', "N", "page size (the API's default when absent)", false},
    {"cursor", 0, "CURSOR", "continue after this cursor (next_cursor of a previous page)", false},
    {"all", 'a', NULL, "follow next_cursor and print every page", false},
    F_END};
static const cli_flag_t f_tasks_add[] = {
    {"priority", 'p', "N", "1 (highest) to 5; the API's default when absent", false},
    {"tag", 't', "TAG", "a tag (repeatable)", true},
    {"due", 'd', "TIME", "due time, RFC 3339 (2026-12-24T18:00:00Z)", false},
    F_END};
static const cli_flag_t f_tasks_edit[] = {
    {"title", 0, "TITLE", "new title ('-' reads it from standard input)", false},
    {"priority", 'p', "N", "new priority 1..5", false},
    {"tag", 't', "TAG", "replace the tags with these (repeatable)", true},
    {"no-tags", 0, NULL, "remove every tag", false},
    {"due", 'd', "TIME", "new due time, RFC 3339", false},
    {"no-due", 0, NULL, "remove the due time", false},
    {"done", 0, NULL, "mark done", false},
    {"open", 0, NULL, "reopen", false},
    F_END};
static const cli_flag_t f_notifications[] = {
    {"limit", 'l', "N", "page size", false},
    {"cursor", 0, "CURSOR", "continue after this cursor", false},
    F_END};
static const cli_flag_t f_outbox_list[] = {
    {"unpublished", 'u', NULL, "rows waiting to be published (oldest first)", false},
    {"dead", 0, NULL, "rows the relay gave up on (oldest first)", false},
    {"published", 0, NULL, "published rows (newest first)", false},
    {"task", 0, "ID", "only this task's rows", false},
    {"limit", 'l', "N", "at most N rows (default 50, max 10000)", false},
    F_END};
static const cli_flag_t f_rm_show[] = {
    {"user", 'u', "ID", "the user (default: the logged-in user)", false},
    F_END};
static const cli_flag_t f_rm_diff[] = {
    {"user", 'u', "ID", "the user (default: the logged-in user)", false},
    {"all", 'a', NULL, "every user with tasks or a projection", false},
    F_END};
static const cli_flag_t f_traces_list[] = {
    {"service", 's', "NAME", "service (default tasks-service)", false},
    {"operation", 0, "NAME", "only this operation", false},
    {"limit", 'l', "N", "at most N traces (default 20)", false},
    {"min-duration", 0, "D", "only traces at least this long (250ms, 2s)", false},
    {"lookback", 0, "D", "how far back (default 1h)", false},
    {"tags", 0, "JSON", "span tags to match, as Jaeger takes them: {\"error\":\"true\"}", false},
    F_END};
static const cli_flag_t f_traces_show[] = {
    {"slowest", 0, NULL, "the slowest recent trace of --service, its slowest span marked", false},
    {"service", 's', "NAME", "with --slowest: the service (default tasks-service)", false},
    {"lookback", 0, "D", "with --slowest: how far back (default 1h)", false},
    {"limit", 'l', "N", "with --slowest: how many recent traces to compare (default 50)", false},
    F_END};
static const cli_flag_t f_topics_lag[] = {
    {"group", 'g', "GROUP", "only this consumer group", false},
    F_END};
static const cli_flag_t f_topics_tail[] = {
    {"from-beginning", 'b', NULL, "read from the first kept offset (stops at the end unless -f)", false},
    {"n", 'n', "N", "the last N messages across partitions, by time (stops unless -f)", false},
    {"offset", 0, "OFFSET", "start at this offset of each partition", false},
    {"since", 0, "TIME", "start at this time: RFC 3339 or a duration ago (10m)", false},
    {"partition", 'p', "P", "only this partition", false},
    {"follow", 'f', NULL, "keep waiting for new messages (the default with no start flag)", false},
    {"key", 'k', "KEY", "only messages with this key (a task id)", false},
    {"header", 'H', "NAME[=VALUE]", "only messages with this header (and value)", false},
    {"grep", 'g', "TEXT", "only messages whose value contains TEXT", false},
    {"max", 'm', "N", "stop after N messages", false},
    {"idle", 0, "D", "when following, stop after D without a message", false},
    F_END};

/* ---- the verbs --------------------------------------------------------------------------- */

static const cli_verb_t verbs[] = {
    {"login", "", "log in through the gateway and keep the session", f_login, 0, 0, CLI_POS_NONE, cli_login, false},
    {"logout", "", "revoke the refresh token and forget the session", f_none, 0, 0, CLI_POS_NONE, cli_logout, false},
    {"whoami", "", "the logged-in user (refreshing the session if needed)", f_none, 0, 0, CLI_POS_NONE, cli_whoami, false},
    {"tasks list", "", "list your tasks", f_tasks_list, 0, 0, CLI_POS_NONE, cli_tasks_list, false},
    {"tasks show", "ID", "one task", f_none, 1, 1, CLI_POS_TASK, cli_tasks_show, false},
    {"tasks add", "TITLE", "create a task ('-' reads the title from standard input)", f_tasks_add, 1, 1, CLI_POS_TEXT, cli_tasks_add, false},
    {"tasks edit", "ID", "change a task", f_tasks_edit, 1, 1, CLI_POS_TASK, cli_tasks_edit, false},
    {"tasks done", "ID", "complete a task", f_none, 1, 1, CLI_POS_TASK, cli_tasks_done, false},
    {"tasks rm", "ID", "delete a task", f_none, 1, 1, CLI_POS_TASK, cli_tasks_rm, false},
    {"notifications", "", "your notifications, newest first", f_notifications, 0, 0, CLI_POS_NONE, cli_notifications, false},
    {"notifications read", "ID", "mark a notification read", f_none, 1, 1, CLI_POS_TEXT, cli_notifications_read, false},
    {"health", "", "health and readiness of every part, with key figures", f_none, 0, 0, CLI_POS_NONE, cli_health, false},
    {"config", "", "the addresses in use and where each came from (passwords hidden)", f_none, 0, 0, CLI_POS_NONE, cli_config, false},
    {"outbox stats", "", "outbox backlog, oldest unpublished age, dead rows, drain", f_none, 0, 0, CLI_POS_NONE, cli_outbox_stats, false},
    {"outbox list", "", "outbox rows", f_outbox_list, 0, 0, CLI_POS_NONE, cli_outbox_list, false},
    {"outbox show", "ID", "one outbox row with payload and headers", f_none, 1, 1, CLI_POS_TEXT, cli_outbox_show, false},
    {"readmodel show", "", "a user's Redis read model", f_rm_show, 0, 0, CLI_POS_NONE, cli_readmodel_show, false},
    {"readmodel diff", "", "drift between Redis and PostgreSQL (exit 1 when found)", f_rm_diff, 0, 0, CLI_POS_NONE, cli_readmodel_diff, false},
    {"traces list", "", "recent traces of a service from Jaeger", f_traces_list, 0, 0, CLI_POS_NONE, cli_traces_list, false},
    {"traces show", "[TRACE_ID]", "a trace as a tree: critical path, async hops, slowest span", f_traces_show, 0, 1, CLI_POS_TEXT, cli_traces_show, false},
    {"topics list", "", "topics with partitions and offsets", f_none, 0, 0, CLI_POS_NONE, cli_topics_list, false},
    {"topics lag", "", "lag of each consumer group", f_topics_lag, 0, 0, CLI_POS_NONE, cli_topics_lag, false},
    {"topics tail", "TOPIC", "read messages (never commits, joins no group)", f_topics_tail, 1, 1, CLI_POS_TOPIC, cli_topics_tail, false},
    {"shell", "", "an interactive prompt with history and completion", f_none, 0, 0, CLI_POS_NONE, cli_shell, false},
    {"completion", "SHELL", "print the completion script (bash)", f_none, 1, 1, CLI_POS_TEXT, cli_completion, false},
    {"__complete", "WORDS…", "completion candidates (used by the script)", f_none, 0, 64, CLI_POS_TEXT, cli_complete, true},
};
#define NVERBS (sizeof verbs / sizeof verbs[0])

const cli_verb_t *cli_verbs(size_t *n)
{
    *n = NVERBS;
    return verbs;
}

/* ---- helpers for verbs ------------------------------------------------------------------- */

static int flag_index(const cli_verb_t *v, const char *name)
{
    for (int i = 0; v->flags[i].name; i++)
        if (!strcmp(v->flags[i].name, name)) return i;
    return -1;
}

const char *cli_get(const cli_ctx_t *c, const char *flag)
{
    int i = flag_index(c->verb, flag);
    return i < 0 ? NULL : c->val[i];
}

bool cli_has(const cli_ctx_t *c, const char *flag)
{
    return cli_get(c, flag) != NULL;
}

const char *const *cli_all(const cli_ctx_t *c, const char *flag, int *n)
{
    int i = flag_index(c->verb, flag);
    *n = i < 0 ? 0 : c->nmulti[i];
    return i < 0 ? NULL : c->multi[i];
}

ops_status_t cli_usage(cli_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err.msg, sizeof c->err.msg, fmt, ap);
    va_end(ap);
    c->err.st = OPS_USAGE;
    return OPS_USAGE;
}

ops_status_t cli_int(cli_ctx_t *c, const char *text, const char *what, int64_t min, int64_t max,
                     int64_t *out)
{
    char *end;
    errno = 0;
    long long v = text && *text ? strtoll(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || v < min || v > max)
        return cli_usage(c, "%s: '%.40s' is not an integer from %lld to %lld", what,
                         text ? text : "", (long long)min, (long long)max);
    *out = v;
    return OPS_OK;
}

ops_status_t cli_task_id(cli_ctx_t *c, const char *text, int64_t *id)
{
    return cli_int(c, text, "task id", 1, INT64_MAX, id);
}

ops_status_t cli_duration(cli_ctx_t *c, const char *text, const char *what, int64_t *ms)
{
    if (cfg_parse_duration(text, ms) < 0)
        return cli_usage(c, "%s: '%.40s' is not a duration (250ms, 15s, 10m, 2h, 1d)", what, text);
    return OPS_OK;
}

void cli_print_json(cli_ctx_t *c, const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    if (s) {
        fputs(s, c->out);
        fputc('\n', c->out);
        free(s);
    }
}

void cli_history_path(const ops_cfg_t *cfg, char *out, size_t outlen)
{
    snprintf(out, outlen, "%.4000s/history", cfg->state_dir);
}

bool cli_utf8_ok(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        int n = *p < 0x80 ? 1 : (*p >= 0xC2 && *p < 0xE0) ? 2 : (*p >= 0xE0 && *p < 0xF0) ? 3
                : (*p >= 0xF0 && *p <= 0xF4) ? 4 : 0;
        if (!n) return false;
        uint32_t v = n == 1 ? *p : (uint32_t)(*p & (0x7F >> n));
        for (int i = 1; i < n; i++) {
            if ((p[i] & 0xC0) != 0x80) return false;
            v = (v << 6) | (p[i] & 0x3F);
        }
        if ((n == 3 && v < 0x800) || (n == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
            (v >= 0xD800 && v <= 0xDFFF))
            return false;
        p += n;
    }
    return true;
}

void cli_fmt_us(int64_t us, char *out, size_t outlen)
{
    if (us < 1000)
        snprintf(out, outlen, "%lldµs", (long long)us);
    else if (us < 1000000)
        snprintf(out, outlen, "%.2fms", us / 1000.0);
    else
        snprintf(out, outlen, "%.2fs", us / 1e6);
}

/* ---- help -------------------------------------------------------------------------------- */

static void print_exit_codes(FILE *f)
{
    fprintf(f, "\nExit status:\n");
    for (ops_status_t s = OPS_OK; s <= OPS_UNREACHABLE; s++)
        fprintf(f, "  %d  %s\n", s, ops_status_help(s));
}

static void print_usage(FILE *f)
{
    fprintf(f, "usage: %s [-o json|table] VERB [FLAGS] [ARGS]\n"
               "       %s --version | --help | VERB --help\n\nVerbs:\n", CLI_PROG, CLI_PROG);
    for (size_t i = 0; i < NVERBS; i++) {
        if (verbs[i].hidden) continue;
        char syn[64];
        snprintf(syn, sizeof syn, "%s %s", verbs[i].name, verbs[i].args);
        fprintf(f, "  %-28s %s\n", syn, verbs[i].help);
    }
    fprintf(f, "\nGlobal flags: -o, --output json|table (JSON: what the API returns; "
               "tail: one object per line)\n"
               "Addresses: environment, then $XDG_CONFIG_HOME/todo-console/config, then the "
               "checkout's .run/stack.env.\n"
               "Session: $XDG_STATE_HOME/todo-console/session.json (mode 0600).\n");
    print_exit_codes(f);
}

static void print_verb_help(FILE *f, const cli_verb_t *v)
{
    fprintf(f, "usage: %s %s%s%s%s\n\n%s\n", CLI_PROG, v->name, v->flags[0].name ? " [FLAGS]" : "",
            v->args[0] ? " " : "", v->args, v->help);
    if (v->flags[0].name) fprintf(f, "\nFlags:\n");
    for (int i = 0; v->flags[i].name; i++) {
        const cli_flag_t *fl = &v->flags[i];
        char syn[64];
        if (fl->short_name)
            snprintf(syn, sizeof syn, "-%c, --%s%s%s", fl->short_name, fl->name, fl->arg ? " " : "",
                     fl->arg ? fl->arg : "");
        else
            snprintf(syn, sizeof syn, "    --%s%s%s", fl->name, fl->arg ? " " : "",
                     fl->arg ? fl->arg : "");
        fprintf(f, "  %-28s %s%s\n", syn, fl->help, fl->multi ? " (repeatable)" : "");
    }
    fprintf(f, "  %-28s %s\n", "-o, --output json|table", "output format");
    print_exit_codes(f);
}

/* ---- parsing ----------------------------------------------------------------------------- */

/* The verb named by the leading words of argv (longest match); *used gets the word count.
 * A bare group name ("tasks") matches nothing and *group is set. */
static const cli_verb_t *find_verb(int argc, char **argv, int *used, bool *group)
{
    const cli_verb_t *best = NULL;
    *used = 0;
    *group = false;
    for (size_t i = 0; i < NVERBS; i++) {
        const char *name = verbs[i].name;
        int w = 0;
        const char *p = name;
        bool ok = true;
        while (*p && ok) {
            size_t l = strcspn(p, " ");
            if (w >= argc || strlen(argv[w]) != l || strncmp(argv[w], p, l)) ok = false;
            w++;
            p += l;
            if (*p == ' ') p++;
        }
        if (ok && w > *used) {
            best = &verbs[i];
            *used = w;
        }
        if (!ok && argc > 0 && !strncmp(name, argv[0], strlen(argv[0])) &&
            name[strlen(argv[0])] == ' ')
            *group = true;
    }
    return best;
}

static const cli_flag_t *find_flag(const cli_verb_t *v, const char *name, char sn, int *idx)
{
    for (int i = 0; v->flags[i].name; i++)
        if ((name && !strcmp(v->flags[i].name, name)) || (sn && v->flags[i].short_name == sn)) {
            *idx = i;
            return &v->flags[i];
        }
    return NULL;
}

/* Parses flags and positionals after the verb's words. 0, 1 (help printed) or OPS_USAGE. */
static int parse_args(cli_ctx_t *c, int argc, char **argv, char **pos)
{
    const cli_verb_t *v = c->verb;
    bool only_pos = false;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || !strcmp(a, "-")) {
            if (c->npos >= v->max_pos)
                return cli_usage(c, "'%s %s': unexpected argument '%.60s'", CLI_PROG, v->name, a);
            pos[c->npos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = true;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_verb_help(c->out, v);
            return 1;
        }
        const char *val = NULL;
        char name[64];
        const cli_flag_t *f;
        int idx = -1;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            snprintf(name, sizeof name, "%.*s", (int)(nl < 63 ? nl : 63), a + 2);
            if (eq) val = eq + 1;
            if (!strcmp(name, "output")) {
                f = NULL;
            } else if (!(f = find_flag(v, name, 0, &idx))) {
                return cli_usage(c, "'%s %s': unknown flag '--%.40s'", CLI_PROG, v->name, name);
            }
        } else {
            if (a[1] == 'o') {
                f = NULL;
                snprintf(name, sizeof name, "output");
            } else if (!(f = find_flag(v, NULL, a[1], &idx))) {
                return cli_usage(c, "'%s %s': unknown flag '-%c'", CLI_PROG, v->name, a[1]);
            } else {
                snprintf(name, sizeof name, "%s", f->name);
            }
            if (a[2]) val = a + 2;
        }
        bool takes = !f || f->arg;
        if (takes && !val) {
            if (i + 1 >= argc) return cli_usage(c, "'%s' needs a value", a);
            val = argv[++i];
        } else if (!takes && val) {
            return cli_usage(c, "'--%s' takes no value", name);
        }
        if (!f) { /* -o / --output, accepted after the verb too */
            if (strcmp(val, "json") && strcmp(val, "table"))
                return cli_usage(c, "-o: '%.20s' is not json or table", val);
            c->json = !strcmp(val, "json");
            continue;
        }
        c->val[idx] = val ? val : "";
        if (f->multi && c->nmulti[idx] < CLI_MAX_MULTI) c->multi[idx][c->nmulti[idx]++] = val;
        else if (f->multi) return cli_usage(c, "too many --%s", name);
    }
    if (c->npos < v->min_pos)
        return cli_usage(c, "'%s %s' needs %s", CLI_PROG, v->name, v->args);
    return 0;
}

/* ---- running ----------------------------------------------------------------------------- */

static volatile int interrupted;
static bool exporting; /* the OTLP exporter runs (started by the first traced verb) */

void cli_trace_finish(void)
{
    if (!exporting) return;
    trace_exporter_flush(1500);
    trace_exporter_stop();
    exporting = false;
}

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Verbs that talk to the network get a root span; the exporter runs only for them. */
static bool traced(const cli_verb_t *v)
{
    return strcmp(v->name, "completion") && strcmp(v->name, "__complete") && strcmp(v->name, "shell");
}

ops_status_t cli_run_argv(int argc, char **argv, ops_cfg_t *cfg, bool in_shell)
{
    cli_ctx_t *c = calloc(1, sizeof *c);
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    if (!c || !pos) {
        free(c);
        free(pos);
        fprintf(stderr, "%s: error: out of memory\n", CLI_PROG);
        return OPS_FAIL;
    }
    c->out = stdout;
    c->cfg = cfg;
    c->in_shell = in_shell;
    c->interrupted = &interrupted;
    c->pos = pos;
    ops_status_t st = OPS_OK;
    /* global flags before the verb */
    int i = 0;
    while (i < argc && argv[i][0] == '-') {
        if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
            if (i + 1 >= argc || (strcmp(argv[i + 1], "json") && strcmp(argv[i + 1], "table"))) {
                st = cli_usage(c, "-o needs json or table");
                goto done;
            }
            c->json = !strcmp(argv[i + 1], "json");
            i += 2;
        } else if (!strncmp(argv[i], "-o", 2) || !strncmp(argv[i], "--output=", 9)) {
            const char *v = argv[i][1] == 'o' ? argv[i] + 2 : argv[i] + 9;
            if (strcmp(v, "json") && strcmp(v, "table")) {
                st = cli_usage(c, "-o needs json or table");
                goto done;
            }
            c->json = !strcmp(v, "json");
            i++;
        } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_usage(stdout);
            goto done;
        } else if (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V")) {
            printf("%s %s\n", CLI_PROG, TODO_VERSION);
            goto done;
        } else {
            st = cli_usage(c, "unknown flag '%.40s'", argv[i]);
            goto done;
        }
    }
    int used;
    bool group;
    c->verb = find_verb(argc - i, argv + i, &used, &group);
    if (!c->verb) {
        if (i >= argc)
            st = cli_usage(c, "no verb given");
        else if (group)
            st = cli_usage(c, "'%.40s' needs a verb: see '%s --help'", argv[i], CLI_PROG);
        else
            st = cli_usage(c, "unknown verb '%.40s'", argv[i]);
        goto done;
    }
    int r = parse_args(c, argc - i - used, argv + i + used, pos);
    if (r == 1) goto done;
    if (r) {
        st = OPS_USAGE;
        goto done;
    }
    if (in_shell && !strcmp(c->verb->name, "shell")) {
        st = cli_usage(c, "already in the shell");
        goto done;
    }
    trace_span_t *root = NULL;
    const char *otlp = ops_cfg_get(cfg, OPS_OTLP_ENDPOINT);
    char terr[128];
    if (traced(c->verb) && otlp && !exporting)
        exporting = trace_exporter_start("todo-console", otlp, terr, sizeof terr) == 0;
    if (traced(c->verb)) {
        char name[96];
        snprintf(name, sizeof name, "todo-console %s", c->verb->name);
        root = trace_span_start(name, TRACE_KIND_INTERNAL, NULL);
        trace_span_activate(root);
    }
    interrupted = 0;
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_sigint;
    sigaction(SIGINT, &sa, &old);
    st = c->verb->run(c);
    sigaction(SIGINT, &old, NULL);
    if (root) {
        if (st != OPS_OK) trace_span_set_status(root, TRACE_STATUS_ERROR, ops_status_name(st));
        trace_span_end(root);
    }
    if (!in_shell) cli_trace_finish(); /* the shell keeps it running until it ends */
    fflush(c->out);
done:
    if (st != OPS_OK) ops_err_print(&c->err, CLI_PROG, stderr);
    free(pos);
    free(c);
    return st;
}

int cli_main(int argc, char **argv)
{
    /* library logs (lib/pg, lib/trace) are for services; a CLI reports errors itself */
    log_init(CLI_PROG, LOG_ERROR);
    FILE *devnull = getenv("TODO_CONSOLE_DEBUG") ? NULL : fopen("/dev/null", "w");
    if (devnull) log_set_output(devnull);
    signal(SIGPIPE, SIG_IGN);
    if (argc < 2) {
        /* on a terminal this will open the full-screen console (not built yet): until then
         * `make run` ends with the verbs listed, not with an error */
        bool tty = isatty(STDIN_FILENO) && isatty(STDOUT_FILENO);
        print_usage(tty ? stdout : stderr);
        if (tty) printf("\n(the full-screen console is not built yet: use the verbs above)\n");
        return tty ? OPS_OK : OPS_USAGE;
    }
    /* --version and --help need no configuration: keep them instant */
    if (argc == 2 && (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V"))) {
        printf("%s %s\n", CLI_PROG, TODO_VERSION);
        return 0;
    }
    ops_cfg_t cfg;
    ops_err_t err = OPS_ERR_INIT;
    if (ops_cfg_load(&cfg, argv[0], &err) != OPS_OK) {
        ops_err_print(&err, CLI_PROG, stderr);
        ops_cfg_free(&cfg);
        return err.st;
    }
    ops_status_t st = cli_run_argv(argc - 1, argv + 1, &cfg, false);
    ops_cfg_free(&cfg);
    if (devnull) {
        log_set_output(NULL);
        fclose(devnull);
    }
    return (int)st;
}
