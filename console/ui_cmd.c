/* ui_cmd — the `:` command line: a table of commands, plus every view's name and every
 * action's name (from the action table), and completion for all of them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ui.h"
#include "ui_prompt.h"
#include "ui_work.h"

/* ---- the stack (the outage demo) ----------------------------------------------------------- */

typedef struct stack_job {
    ui_job_t job;
    char verb[16], part[32];
    bool toggle_kafka; /* a status asked by the Kafka key: it decides stop or start */
    buf_t out;
} stack_job_t;

static void kafka_decide(ui_t *ui, const char *status_text);

static void stack_run(ui_job_t *j, ui_conn_t *c)
{
    stack_job_t *s = (stack_job_t *)j;
    (void)c;
    j->st = ops_stack_run(&s->job.view->ui->stack, s->verb, s->part[0] ? s->part : NULL, 180000,
                          &s->out, &j->err);
}

static void stack_done(ui_job_t *j, ui_t *ui)
{
    stack_job_t *s = (stack_job_t *)j;
    if (j->st != OPS_OK && !(s->toggle_kafka && s->out.len)) {
        ui_error(ui, "%s", j->err.msg);
    } else if (s->toggle_kafka) {
        kafka_decide(ui, buf_str(&s->out));
        return;
    } else if (!strcmp(s->verb, "status")) {
        /* one line: the parts that are not ready */
        char line[256] = "";
        size_t l = 0;
        const char *p = buf_str(&s->out);
        while (*p) {
            const char *nl = strchr(p, '\n');
            size_t n = nl ? (size_t)(nl - p) : strlen(p);
            char name[32], state[32];
            if (sscanf(p, "%31s %31s", name, state) == 2 && strcmp(state, "ready") && l < sizeof line)
                l += (size_t)snprintf(line + l, sizeof line - l, "%s%s %s", l ? ", " : "", name, state);
            p += n + (nl ? 1 : 0);
        }
        ui_say(ui, "stack: %s", l ? line : "every part is ready");
    } else {
        ui_say(ui, "stack: %s %s done", s->verb, s->part);
        /* the status bar knows at once what was just done to a backend it shows */
        static const struct { const char *part; ui_backend_t be; } shown[] = {
            {"kafka", UI_BE_KAFKA}, {"redis", UI_BE_REDIS}, {"postgres", UI_BE_DB},
            {"jaeger", UI_BE_JAEGER}, {"nginx", UI_BE_API}};
        for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++)
            if (!strcmp(s->part, shown[i].part)) {
                ui->be[shown[i].be].known = true;
                ui->be[shown[i].be].down = !strcmp(s->verb, "stop");
            }
    }
    /* the Services view (and the status bar) look again now */
    ui_view_t *sv = ui_view_named(ui, "services");
    if (sv && sv->opened && sv->ops->request) sv->ops->request(sv, UI_REQ_REFRESH);
}

static void stack_dtor(ui_job_t *j)
{
    buf_free(&((stack_job_t *)j)->out);
}

/* Runs `stack verb [part]` on the stack worker. */
static bool stack_submit_job(ui_t *ui, const char *verb, const char *part, bool toggle)
{
    if (!ui->stack_ok) {
        ops_stack_t st;
        ops_err_t e = OPS_ERR_INIT;
        if (ops_stack_find(ui->cfg, &st, &e) != OPS_OK) {
            ui_error(ui, "%s", e.msg);
            return false;
        }
        ui->stack = st;
        ui->stack_ok = true;
    }
    stack_job_t *s = ui_job_new(sizeof *s, UI_BE_STACK, stack_run, stack_done, ui_current(ui));
    if (!s) return false;
    s->job.dtor = stack_dtor;
    snprintf(s->verb, sizeof s->verb, "%s", verb);
    snprintf(s->part, sizeof s->part, "%s", part ? part : "");
    s->toggle_kafka = toggle;
    if (!ui_work_submit(ui, &s->job)) {
        ui_error(ui, "stack: busy");
        return false;
    }
    ui_say(ui, "stack: %s %s…", toggle ? "is kafka running? asking" : verb, part ? part : "");
    return true;
}

static bool stack_submit(ui_t *ui, const char *verb, const char *part)
{
    return stack_submit_job(ui, verb, part, false);
}

typedef struct stack_ask {
    char verb[16], part[32];
} stack_ask_t;
static stack_ask_t pending_ask; /* the question being asked (one modal at a time) */

static void stack_yes(ui_t *ui, void *arg)
{
    stack_ask_t *a = arg;
    stack_submit(ui, a->verb, a->part);
}

static const char *const stack_parts[] = {"postgres", "redis",  "kafka", "jaeger", "prometheus",
                                          "auth",     "tasks",  "notify", "nginx", NULL};

static bool cmd_stack(ui_t *ui, int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "status") && argc != 3)) {
        ui_error(ui, "usage: :stack stop|start|restart PART  or  :stack status");
        return false;
    }
    if (!strcmp(argv[1], "status")) return stack_submit(ui, "status", NULL);
    if (ui_refuse_write(ui, "driving the stack")) return false;
    snprintf(pending_ask.verb, sizeof pending_ask.verb, "%s", argv[1]);
    snprintf(pending_ask.part, sizeof pending_ask.part, "%s", argv[2]);
    if (!strcmp(argv[1], "start")) return stack_submit(ui, argv[1], argv[2]);
    char q[128];
    snprintf(q, sizeof q, "%s %s of the local stack? (y/N)", !strcmp(argv[1], "stop") ? "Stop" : "Restart",
             argv[2]);
    ui_prompt_confirm(ui, q, stack_yes, &pending_ask);
    return true;
}

/* The outage demo's key: stop Kafka when it runs (asking first), start it when it does not.
 * The stack itself says which (`stack status`), not the last health check, which may be
 * seconds old. */
void ui_kafka_toggle(ui_t *ui)
{
    if (ui_refuse_write(ui, "stopping or starting Kafka")) return;
    stack_submit_job(ui, "status", NULL, true);
}

static void kafka_decide(ui_t *ui, const char *status_text)
{
    const char *line = strstr(status_text, "\nkafka ");
    char state[32] = "";
    if (line) sscanf(line + 7, "%31s", state);
    if (!state[0]) {
        ui_error(ui, "stack status does not list kafka");
    } else if (!strcmp(state, "stopped")) {
        stack_submit(ui, "start", "kafka");
    } else {
        snprintf(pending_ask.verb, sizeof pending_ask.verb, "stop");
        snprintf(pending_ask.part, sizeof pending_ask.part, "kafka");
        ui_prompt_confirm(ui, "Stop kafka of the local stack? Tasks are still accepted; the outbox "
                              "holds their events. (y/N)", stack_yes, &pending_ask);
    }
}

/* ---- the table ----------------------------------------------------------------------------- */

static bool cmd_quit(ui_t *ui, int argc, char **argv)
{
    (void)argc, (void)argv;
    ui->quit = true;
    return true;
}

static bool cmd_help(ui_t *ui, int argc, char **argv)
{
    (void)argc, (void)argv;
    ui_show(ui, ui_view_named(ui, "help"));
    return true;
}

static bool cmd_filter(ui_t *ui, int argc, char **argv)
{
    ui_view_t *v = ui_current(ui);
    char text[256] = "";
    size_t l = 0;
    for (int i = 1; i < argc && l < sizeof text; i++)
        l += (size_t)snprintf(text + l, sizeof text - l, "%s%s", i > 1 ? " " : "", argv[i]);
    if (!v->ops->filter) {
        ui_error(ui, "the %s view has no filter", v->ops->title);
        return false;
    }
    snprintf(v->filter, sizeof v->filter, "%s", text);
    v->ops->filter(v, text);
    return true;
}

typedef struct ui_cmd {
    const char *name, *args, *help;
    bool (*run)(ui_t *ui, int argc, char **argv); /* NULL: the view named in view handles it */
    const char *view;
} ui_cmd_t;

static const ui_cmd_t cmds[] = {
    {"quit", "", "quit the console", cmd_quit, NULL},
    {"q", "", "quit the console", cmd_quit, NULL},
    {"help", "", "the help screen", cmd_help, NULL},
    {"filter", "TEXT", "filter the view (as /)", cmd_filter, NULL},
    {"stack", "stop|start|restart PART | status", "drive the local stack beside the console", cmd_stack, NULL},
    {"logout", "", "revoke the session and forget it", NULL, "login"},
    {"topic", "NAME [beginning|end|-N]", "tail another topic (default: task-events and its DLQ)", NULL, "topics"},
    {"trace", "TRACE_ID", "open a trace's waterfall", NULL, "traces"},
    {"trace-file", "PATH", "open a saved Jaeger JSON trace", NULL, "traces"},
    {"service", "NAME", "list this service's recent traces", NULL, "traces"},
    {"flow", "TASK_ID", "follow a task's newest change across the system", NULL, "flow"},
    {"user", "ID", "the read model of another user", NULL, "readmodel"},
    {"replay", "FROM [TO]", "replay dead outbox rows FROM..TO (asks first)", NULL, "outbox"},
};
#define NCMDS (sizeof cmds / sizeof cmds[0])

void ui_command_help(void (*emit)(const char *name, const char *args, const char *help, void *arg),
                     void *arg)
{
    for (size_t i = 0; i < NCMDS; i++)
        if (strcmp(cmds[i].name, "q")) emit(cmds[i].name, cmds[i].args, cmds[i].help, arg);
}

bool ui_command(ui_t *ui, const char *line)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", line);
    char *argv[16];
    int argc = 0;
    for (char *save, *tok = strtok_r(buf, " \t", &save); tok && argc < 16;
         tok = strtok_r(NULL, " \t", &save))
        argv[argc++] = tok;
    if (argc == 0) return true;
    for (size_t i = 0; i < NCMDS; i++) {
        if (strcmp(cmds[i].name, argv[0])) continue;
        if (cmds[i].run) return cmds[i].run(ui, argc, argv);
        ui_view_t *v = ui_view_named(ui, cmds[i].view);
        if (!v) return false;
        if (strcmp(cmds[i].name, "logout")) ui_show(ui, v);
        else if (!v->opened) { v->opened = true; if (v->ops->open) v->ops->open(v); }
        if (v->ops->command && v->ops->command(v, argc, argv)) return true;
        ui_error(ui, "usage: :%s %s", cmds[i].name, cmds[i].args);
        return false;
    }
    ui_view_t *v = ui_view_named(ui, argv[0]);
    if (v && strcmp(argv[0], "login")) {
        ui_show(ui, v);
        return true;
    }
    ui_req_t req = ui_action_find(argv[0]);
    if (req != UI_REQ_NONE && argc == 1) {
        ui_dispatch(ui, req);
        return true;
    }
    ui_error(ui, "unknown command ':%.40s' (Tab completes; ? lists the keys)", argv[0]);
    return false;
}

void ui_command_complete(ui_t *ui, const char *line, void (*emit)(const char *cand, void *arg),
                         void *arg)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "%s", line);
    char *argv[8];
    int argc = 0;
    for (char *save, *tok = strtok_r(buf, " ", &save); tok && argc < 8; tok = strtok_r(NULL, " ", &save))
        argv[argc++] = tok;
    bool fresh = !*line || line[strlen(line) - 1] == ' '; /* completing a new, empty word */
    int word = fresh ? argc : argc - 1;
    const char *prefix = fresh || argc == 0 ? "" : argv[argc - 1];
    size_t pl = strlen(prefix);
#define OFFER(s)                                                                                 \
    do {                                                                                         \
        if (!strncmp((s), prefix, pl)) emit((s), arg);                                           \
    } while (0)
    if (word == 0) {
        for (size_t i = 0; i < NCMDS; i++) OFFER(cmds[i].name);
        for (size_t i = 0; i < ui->nviews; i++)
            if (strcmp(ui->views[i].ops->name, "login")) OFFER(ui->views[i].ops->name);
        for (int r = 1; r < UI_REQ_COUNT; r++)
            if (ui_action((ui_req_t)r)) OFFER(ui_action((ui_req_t)r)->name);
        return;
    }
    if (!strcmp(argv[0], "stack")) {
        static const char *const verbs[] = {"stop", "start", "restart", "status"};
        if (word == 1)
            for (size_t i = 0; i < 4; i++) OFFER(verbs[i]);
        else if (word == 2 && strcmp(argv[1], "status"))
            for (size_t i = 0; stack_parts[i]; i++) OFFER(stack_parts[i]);
    } else if (!strcmp(argv[0], "topic")) {
        static const char *const froms[] = {"beginning", "end", "-100"};
        if (word == 1)
            for (size_t i = 0; i < ui->ntopics; i++) OFFER(ui->topic_names[i]);
        else if (word == 2)
            for (size_t i = 0; i < 3; i++) OFFER(froms[i]);
    }
#undef OFFER
}

void ui_topics_known(ui_t *ui, const char *const *names, size_t n)
{
    for (size_t i = 0; i < ui->ntopics; i++) free(ui->topic_names[i]);
    ui->ntopics = 0;
    for (size_t i = 0; i < n && ui->ntopics < 64; i++)
        if ((ui->topic_names[ui->ntopics] = strdup(names[i]))) ui->ntopics++;
}
