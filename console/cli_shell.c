/* cli_shell — `todo-console shell` (readline, history in the state directory, completion),
 * `completion bash` and the hidden `__complete` the bash script calls. Completion candidates
 * come from one function (cli_complete_words) over the verb table, so the shell and bash
 * always offer the same verbs, flags, topic names and task ids. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include "cli_verbs.h"
#include "ops_api.h"
#include "ops_jaeger.h"
#include "ops_kafka.h"

#define HISTORY_MAX 2000
#define MAX_WORDS 128

/* ---- candidates ---------------------------------------------------------------------------- */

static void emit_if(const char *cand, const char *prefix, void (*emit)(const char *, void *),
                    void *arg)
{
    if (!prefix || !strncmp(cand, prefix, strlen(prefix))) emit(cand, arg);
}

/* Number of words in a verb's name ("tasks list": 2). */
static int name_words(const char *name)
{
    int n = 1;
    for (; *name; name++) n += *name == ' ';
    return n;
}

/* True when words[0..k) spell the first k words of name. */
static bool starts_with_words(const char *name, int k, char **words)
{
    const char *p = name;
    for (int i = 0; i < k; i++) {
        size_t l = strcspn(p, " ");
        if (strlen(words[i]) != l || strncmp(words[i], p, l)) return false;
        p += l;
        if (*p == ' ')
            p++;
        else if (i + 1 < k)
            return false;
    }
    return true;
}

static void task_ids(ops_cfg_t *cfg, const char *prefix, void (*emit)(const char *, void *),
                     void *arg)
{
    ops_api_t *api;
    ops_err_t e = OPS_ERR_INIT;
    if (ops_api_open(&api, cfg, &e) != OPS_OK) return;
    ops_task_filter_t f = OPS_TASK_FILTER_INIT;
    f.limit = 100;
    ops_api_resp_t r = OPS_API_RESP_INIT;
    if (ops_api_tasks_list(api, &f, &r, &e) == OPS_OK) {
        const cJSON *t, *tasks = cJSON_GetObjectItemCaseSensitive(r.json, "tasks");
        cJSON_ArrayForEach(t, tasks)
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "id");
            char s[24];
            if (!cJSON_IsNumber(id)) continue;
            snprintf(s, sizeof s, "%.0f", id->valuedouble);
            emit_if(s, prefix, emit, arg);
        }
    }
    ops_api_resp_free(&r);
    ops_api_close(api);
}

static void topic_names(ops_cfg_t *cfg, const char *prefix, void (*emit)(const char *, void *),
                        void *arg)
{
    const char *brokers = ops_cfg_get(cfg, OPS_KAFKA_BROKERS);
    ops_kafka_t *k;
    ops_err_t e = OPS_ERR_INIT;
    if (!brokers || ops_kafka_open(&k, brokers, &e) != OPS_OK) return;
    ops_topic_info_t *t;
    size_t n;
    if (ops_kafka_topics(k, &t, &n, &e) == OPS_OK) {
        for (size_t i = 0; i < n; i++) emit_if(t[i].name, prefix, emit, arg);
        ops_kafka_topics_free(t, n);
    }
    ops_kafka_close(k);
}

/* Jaeger's services, or the operations of service (when not NULL). */
static void jaeger_names(ops_cfg_t *cfg, const char *service, const char *prefix,
                         void (*emit)(const char *, void *), void *arg)
{
    const char *url = ops_cfg_get(cfg, OPS_JAEGER_QUERY_URL);
    ops_jaeger_t *jq = url ? ops_jaeger_new(url) : NULL;
    ops_err_t e = OPS_ERR_INIT;
    cJSON *list = NULL, *x;
    if (jq && (service ? ops_jaeger_operations(jq, service, &list, &e)
                       : ops_jaeger_services(jq, &list, &e)) == OPS_OK) {
        cJSON_ArrayForEach(x, list)
        {
            const cJSON *name = cJSON_IsObject(x) ? cJSON_GetObjectItemCaseSensitive(x, "name") : x;
            if (cJSON_IsString(name)) emit_if(name->valuestring, prefix, emit, arg);
        }
    }
    cJSON_Delete(list);
    ops_jaeger_free(jq);
}

void cli_complete_words(ops_cfg_t *cfg, int n, char **words, const char *prefix,
                        void (*emit)(const char *cand, void *arg), void *arg)
{
    /* skip global -o VALUE and offer its values right after it */
    while (n > 0 && (!strcmp(words[0], "-o") || !strcmp(words[0], "--output"))) {
        if (n == 1) {
            emit_if("json", prefix, emit, arg);
            emit_if("table", prefix, emit, arg);
            return;
        }
        words += 2;
        n -= 2;
    }
    size_t nv;
    const cli_verb_t *v = cli_verbs(&nv), *full = NULL;
    int full_words = 0;
    for (size_t i = 0; i < nv; i++) {
        int w = name_words(v[i].name);
        if (w <= n && starts_with_words(v[i].name, w, words) && w > full_words) {
            full = &v[i];
            full_words = w;
        }
    }
    if (!full) { /* the next word of a verb name */
        const char *last = NULL;
        for (size_t i = 0; i < nv; i++) {
            if (v[i].hidden || name_words(v[i].name) <= n || !starts_with_words(v[i].name, n, words))
                continue;
            const char *p = v[i].name;
            for (int k = 0; k < n; k++) p = strchr(p, ' ') + 1;
            char word[64];
            snprintf(word, sizeof word, "%.*s", (int)strcspn(p, " "), p);
            if (last && !strcmp(last, word)) continue;
            emit_if(word, prefix, emit, arg);
            last = strstr(v[i].name, word);
        }
        if (n == 0) {
            emit_if("--help", prefix, emit, arg);
            emit_if("--version", prefix, emit, arg);
            emit_if("-o", prefix, emit, arg);
        }
        return;
    }
    /* sub-verbs of a verb that is also a group ("notifications" / "notifications read") */
    if (full_words == n)
        for (size_t i = 0; i < nv; i++)
            if (!v[i].hidden && name_words(v[i].name) == n + 1 && starts_with_words(v[i].name, n, words))
                emit_if(strrchr(v[i].name, ' ') + 1, prefix, emit, arg);
    const char *prev = n > full_words ? words[n - 1] : NULL;
    if (prev && (!strcmp(prev, "-o") || !strcmp(prev, "--output"))) {
        emit_if("json", prefix, emit, arg);
        emit_if("table", prefix, emit, arg);
        return;
    }
    for (int i = 0; prev && full->flags[i].name; i++) {
        const cli_flag_t *f = &full->flags[i];
        bool is = (prev[0] == '-' && prev[1] == '-' && !strcmp(prev + 2, f->name)) ||
                  (prev[0] == '-' && prev[1] == f->short_name && !prev[2] && f->short_name);
        if (is && f->arg) {
            if (!strcmp(f->name, "task")) task_ids(cfg, prefix, emit, arg);
            if (!strcmp(f->name, "service")) jaeger_names(cfg, NULL, prefix, emit, arg);
            if (!strcmp(f->name, "operation")) { /* of the --service given before, or the default */
                const char *svc = "tasks-service";
                for (int w = full_words; w + 1 < n; w++)
                    if (!strcmp(words[w], "--service") || !strcmp(words[w], "-s")) svc = words[w + 1];
                jaeger_names(cfg, svc, prefix, emit, arg);
            }
            return; /* a value is expected: nothing better to offer */
        }
    }
    if (prefix && prefix[0] == '-') {
        for (int i = 0; full->flags[i].name; i++) {
            char fl[72];
            snprintf(fl, sizeof fl, "--%s", full->flags[i].name);
            emit_if(fl, prefix, emit, arg);
        }
        emit_if("--help", prefix, emit, arg);
        emit_if("-o", prefix, emit, arg);
        return;
    }
    if (!strcmp(full->name, "completion")) emit_if("bash", prefix, emit, arg);
    else if (full->pos == CLI_POS_TASK) task_ids(cfg, prefix, emit, arg);
    else if (full->pos == CLI_POS_TOPIC) topic_names(cfg, prefix, emit, arg);
    if (!prefix || !*prefix)
        for (int i = 0; full->flags[i].name; i++) {
            char fl[72];
            snprintf(fl, sizeof fl, "--%s", full->flags[i].name);
            emit(fl, arg);
        }
}

/* ---- __complete and completion bash ------------------------------------------------------- */

static void print_cand(const char *cand, void *arg)
{
    fprintf((FILE *)arg, "%s\n", cand);
}

ops_status_t cli_complete(cli_ctx_t *c)
{
    cli_complete_words(c->cfg, c->npos, c->pos, NULL, print_cand, c->out);
    return OPS_OK;
}

/* The bash script: it asks the program itself, so it never lags behind the verb table. */
static const char bash_script[] =
    "# bash completion for todo-console (generated by 'todo-console completion bash')\n"
    "_todo_console() {\n"
    "    local cur=${COMP_WORDS[COMP_CWORD]}\n"
    "    local IFS=$'\\n'\n"
    "    COMPREPLY=($(compgen -W \"$(\"${COMP_WORDS[0]}\" __complete -- \"${COMP_WORDS[@]:1:COMP_CWORD-1}\" 2>/dev/null)\" -- \"$cur\"))\n"
    "}\n"
    "complete -o default -F _todo_console todo-console\n";

ops_status_t cli_completion(cli_ctx_t *c)
{
    if (strcmp(c->pos[0], "bash"))
        return cli_usage(c, "completion: '%.20s' is not supported (bash is)", c->pos[0]);
    fputs(bash_script, c->out);
    return OPS_OK;
}

/* ---- the shell ------------------------------------------------------------------------------ */

/* Splits a line into words with sh-like quoting ('…', "…", backslash). Returns the count, or
 * -1 for an unterminated quote. buf receives the words' text. */
static int split_words(const char *line, char *buf, char **words, int max)
{
    int n = 0;
    const char *p = line;
    char *o = buf;
    for (;;) {
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) break;
        if (n == max) return -1;
        words[n++] = o;
        char q = 0;
        while (*p && (q || (*p != ' ' && *p != '\t'))) {
            if (q && *p == q) {
                q = 0;
                p++;
            } else if (!q && (*p == '\'' || *p == '"')) {
                q = *p++;
            } else if (*p == '\\' && p[1] && q != '\'') {
                *o++ = p[1];
                p += 2;
            } else {
                *o++ = *p++;
            }
        }
        if (q) return -1;
        *o++ = '\0';
    }
    return n;
}

static ops_cfg_t *shell_cfg;

/* Candidates for readline, collected once per completion attempt. */
typedef struct cands {
    char **v;
    size_t n, cap;
} cands_t;

static cands_t shell_cands;

static void collect(const char *cand, void *arg)
{
    cands_t *c = arg;
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 32;
        char **g = realloc(c->v, cap * sizeof *g);
        if (!g) return;
        c->v = g;
        c->cap = cap;
    }
    char *d = strdup(cand);
    if (d) c->v[c->n++] = d;
}

static char *generator(const char *text, int state)
{
    static size_t i;
    (void)text;
    if (!state) i = 0;
    return i < shell_cands.n ? strdup(shell_cands.v[i++]) : NULL;
}

static char **attempt(const char *text, int start, int end)
{
    (void)end;
    for (size_t i = 0; i < shell_cands.n; i++) free(shell_cands.v[i]);
    shell_cands.n = 0;
    char *before = strndup(rl_line_buffer, (size_t)start);
    char *buf = before ? malloc(strlen(before) + 1) : NULL;
    char *words[MAX_WORDS];
    int n = buf ? split_words(before, buf, words, MAX_WORDS) : -1;
    if (n >= 0) cli_complete_words(shell_cfg, n, words, text, collect, &shell_cands);
    free(buf);
    free(before);
    rl_attempted_completion_over = 1; /* no file-name completion as a fallback */
    return rl_completion_matches(text, generator);
}

ops_status_t cli_shell(cli_ctx_t *c)
{
    if (!isatty(STDIN_FILENO) && !getenv("TODO_CONSOLE_SHELL_PIPE"))
        fprintf(stderr, "(standard input is not a terminal: reading commands line by line)\n");
    shell_cfg = c->cfg;
    char hist[4200];
    cli_history_path(c->cfg, hist, sizeof hist);
    ops_mkdirs(c->cfg->state_dir);
    using_history();
    stifle_history(HISTORY_MAX);
    read_history(hist);
    rl_readline_name = "todo-console";
    rl_attempted_completion_function = attempt;
    rl_completer_word_break_characters = " \t";
    ops_status_t last = OPS_OK;
    /* Ctrl-C at the prompt must not end the shell (Ctrl-D or `exit` does); while a verb runs,
     * cli_run_argv's own handler makes it stop (a tail, a long diff) */
    void (*old_int)(int) = signal(SIGINT, SIG_IGN);
    char *line;
    while ((line = readline("todo> ")) != NULL) {
        char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (!*p) {
            free(line);
            continue;
        }
        add_history(p);
        if (!strcmp(p, "exit") || !strcmp(p, "quit")) {
            free(line);
            break;
        }
        char *buf = malloc(strlen(p) + 1);
        char *words[MAX_WORDS];
        int n = buf ? split_words(p, buf, words, MAX_WORDS) : -1;
        if (n < 0)
            fprintf(stderr, "%s: error: unterminated quote or too many words\n", CLI_PROG);
        else if (!strcmp(words[0], "help"))
            last = cli_run_argv(1, (char *[]){"--help"}, c->cfg, true);
        else
            last = cli_run_argv(n, words, c->cfg, true);
        free(buf);
        free(line);
    }
    signal(SIGINT, old_int);
    cli_trace_finish();
    /* the history may hold task titles: keep it private like the session */
    mode_t old = umask(077);
    write_history(hist);
    umask(old);
    chmod(hist, 0600);
    for (size_t i = 0; i < shell_cands.n; i++) free(shell_cands.v[i]);
    free(shell_cands.v);
    shell_cands.v = NULL;
    shell_cands.n = shell_cands.cap = 0;
    (void)last; /* like an interactive shell, leaving it is a success; each command reported */
    return OPS_OK;
}
