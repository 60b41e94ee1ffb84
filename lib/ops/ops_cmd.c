/* ops_cmd — verb and option tables, the parser, help and the run loop; see ops_cmd.h. */
#include "ops_cmd.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"

/* ---- lookups ------------------------------------------------------------------------------ */

static int opt_index(const ops_cmd_verb_t *v, const char *name, char sn)
{
    for (int i = 0; v->opts[i].name; i++)
        if ((name && !strcmp(v->opts[i].name, name)) || (sn && v->opts[i].short_name == sn))
            return i;
    return -1;
}

const char *ops_cmd_get(const ops_cmd_t *c, const char *opt)
{
    int i = c->verb ? opt_index(c->verb, opt, 0) : -1;
    return i < 0 ? NULL : c->val[i];
}

bool ops_cmd_has(const ops_cmd_t *c, const char *opt)
{
    return ops_cmd_get(c, opt) != NULL;
}

ops_status_t ops_cmd_usage(ops_cmd_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->err.msg, sizeof c->err.msg, fmt, ap);
    va_end(ap);
    c->err.st = OPS_USAGE;
    return OPS_USAGE;
}

ops_status_t ops_cmd_int(ops_cmd_t *c, const char *text, const char *what, int64_t min,
                         int64_t max, int64_t *out)
{
    char *end = NULL;
    errno = 0;
    long long v = text && *text ? strtoll(text, &end, 10) : 0;
    if (!text || !*text || *end || errno || v < min || v > max)
        return ops_cmd_usage(c, "%s: '%.40s' is not an integer from %lld to %lld", what,
                             text ? text : "", (long long)min, (long long)max);
    *out = v;
    return OPS_OK;
}

int ops_cmd_parse_duration(const char *text, int64_t *ms)
{
    if (!text || cfg_parse_duration(text, ms) < 0) return -1;
    /* the callers turn it into µs or subtract it from now(): a bound keeps both in range */
    return *ms > OPS_CMD_MAX_DURATION_MS ? -2 : 0;
}

ops_status_t ops_cmd_duration(ops_cmd_t *c, const char *text, const char *what, int64_t *ms)
{
    int rc = ops_cmd_parse_duration(text, ms);
    if (rc == -1)
        return ops_cmd_usage(c, "%s: '%.40s' is not a duration (250ms, 15s, 10m, 2h, 7d)", what,
                             text ? text : "");
    if (rc == -2) return ops_cmd_usage(c, "%s: '%.40s' is longer than 36500d", what, text);
    return OPS_OK;
}

void ops_cmd_print_json(ops_cmd_t *c, const cJSON *j)
{
    char *s = cJSON_PrintUnformatted(j);
    if (s) {
        fputs(s, c->out);
        fputc('\n', c->out);
        free(s);
    }
}

/* ---- help --------------------------------------------------------------------------------- */

static bool single(const ops_cmd_prog_t *p)
{
    return p->nverbs == 1 && !p->verbs[0].name[0];
}

static void exit_codes(const ops_cmd_prog_t *p, FILE *f)
{
    fprintf(f, "\nExit status:\n");
    for (ops_status_t s = OPS_OK; s <= OPS_UNREACHABLE; s++)
        fprintf(f, "  %d  %s\n", s, p->exit_help ? p->exit_help[s] : ops_status_help(s));
}

static void verb_help(const ops_cmd_prog_t *p, const ops_cmd_verb_t *v, FILE *f)
{
    fprintf(f, "usage: %s%s%s [OPTIONS]%s%s\n\n%s\n", p->name, v->name[0] ? " " : "", v->name,
            v->args[0] ? " " : "", v->args, v->help);
    fprintf(f, "\nOptions:\n");
    for (int i = 0; v->opts[i].name; i++) {
        const ops_cmd_opt_t *o = &v->opts[i];
        char syn[64], arg[32] = "";
        if (o->arg) snprintf(arg, sizeof arg, o->optional ? " [%s]" : " %s", o->arg);
        if (o->short_name)
            snprintf(syn, sizeof syn, "-%c, --%s%s", o->short_name, o->name, arg);
        else
            snprintf(syn, sizeof syn, "    --%s%s", o->name, arg);
        fprintf(f, "  %-26s %s\n", syn, o->help);
    }
    fprintf(f, "  %-26s %s\n", "-o, --output json|table", "output format (default: table)");
    fprintf(f, "  %-26s %s\n", "-h, --help", "this help");
}

void ops_cmd_help(const ops_cmd_prog_t *p, const ops_cmd_verb_t *v, FILE *f)
{
    if (v || single(p)) {
        verb_help(p, v ? v : &p->verbs[0], f);
        if (!v && p->notes) fprintf(f, "\n%s", p->notes);
        exit_codes(p, f);
        return;
    }
    fprintf(f,
            "usage: %s [-o json|table] VERB [OPTIONS] [ARGS]\n"
            "       %s --version | --help | VERB --help\n\n%s\n\nVerbs:\n",
            p->name, p->name, p->about);
    for (size_t i = 0; i < p->nverbs; i++) {
        char syn[64];
        snprintf(syn, sizeof syn, "%s %s", p->verbs[i].name, p->verbs[i].args);
        fprintf(f, "  %-26s %s\n", syn, p->verbs[i].help);
    }
    if (p->notes) fprintf(f, "\n%s", p->notes);
    exit_codes(p, f);
}

/* ---- parsing ------------------------------------------------------------------------------ */

static bool is_count(const char *s)
{
    size_t n = strspn(s, "0123456789");
    return n > 0 && n <= 9 && !s[n];
}

/* -o/--output's value into c->json. */
static int output(ops_cmd_t *c, const char *v)
{
    if (!v || (strcmp(v, "json") && strcmp(v, "table")))
        return ops_cmd_usage(c, "-o: '%.20s' is not json or table", v ? v : "");
    c->json = !strcmp(v, "json");
    return 0;
}

int ops_cmd_parse(const ops_cmd_prog_t *p, ops_cmd_t *c, int argc, char **argv, char **pos)
{
    c->prog = p;
    c->pos = pos;
    c->verb = single(p) ? &p->verbs[0] : NULL;
    bool only_pos = false, help = false;
    for (int i = 0; i < argc; i++) {
        char *a = argv[i];
        if (only_pos || a[0] != '-' || !strcmp(a, "-")) {
            if (!c->verb) { /* the first word names the verb */
                for (size_t k = 0; k < p->nverbs && !c->verb; k++)
                    if (!strcmp(p->verbs[k].name, a)) c->verb = &p->verbs[k];
                if (!c->verb) return ops_cmd_usage(c, "unknown verb '%.40s'", a);
                continue;
            }
            if (c->npos >= c->verb->max_pos)
                return ops_cmd_usage(c, "unexpected argument '%.60s'", a);
            pos[c->npos++] = a;
            continue;
        }
        if (!strcmp(a, "--")) {
            only_pos = true;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            help = true;
            continue;
        }
        if (!strcmp(a, "--version") || !strcmp(a, "-V")) {
            fprintf(c->out, "%s %s\n", p->name, p->version);
            return 1;
        }
        /* the option's name and an attached value (--name=value, -xVALUE) */
        char name[64];
        const char *val = NULL;
        int idx = -1;
        bool is_output;
        if (a[1] == '-') {
            const char *eq = strchr(a + 2, '=');
            size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            snprintf(name, sizeof name, "%.*s", (int)(nl < 63 ? nl : 63), a + 2);
            if (eq) val = eq + 1;
            is_output = !strcmp(name, "output");
            if (!is_output && (!c->verb || (idx = opt_index(c->verb, name, 0)) < 0))
                return ops_cmd_usage(c, "unknown option '--%.40s'%s%s", name,
                                     c->verb && c->verb->name[0] ? " for " : "",
                                     c->verb ? c->verb->name : "");
        } else {
            is_output = a[1] == 'o';
            if (!is_output && (!c->verb || (idx = opt_index(c->verb, NULL, a[1])) < 0))
                return ops_cmd_usage(c, "unknown option '-%c'%s%s", a[1],
                                     c->verb && c->verb->name[0] ? " for " : "",
                                     c->verb ? c->verb->name : "");
            snprintf(name, sizeof name, "%s", is_output ? "output" : c->verb->opts[idx].name);
            if (a[2]) val = a + 2;
        }
        const ops_cmd_opt_t *o = is_output ? NULL : &c->verb->opts[idx];
        bool takes = is_output || o->arg;
        if (takes && !val) {
            if (o && o->optional) {
                val = i + 1 < argc && is_count(argv[i + 1]) ? argv[++i] : "";
            } else {
                if (i + 1 >= argc) return ops_cmd_usage(c, "'--%s' needs a value", name);
                val = argv[++i];
            }
        } else if (!takes && val) {
            return ops_cmd_usage(c, "'--%s' takes no value", name);
        }
        if (is_output) {
            if (output(c, val)) return OPS_USAGE;
            continue;
        }
        c->val[idx] = val ? val : "";
    }
    if (help) {
        ops_cmd_help(p, single(p) ? NULL : c->verb, c->out);
        return 1;
    }
    if (!c->verb) return ops_cmd_usage(c, "no verb given");
    if (c->npos < c->verb->min_pos)
        return ops_cmd_usage(c, "%s%s%s needs %s", p->name, c->verb->name[0] ? " " : "",
                             c->verb->name, c->verb->args);
    return 0;
}

/* ---- running ------------------------------------------------------------------------------ */

int ops_cmd_main(const ops_cmd_prog_t *p, int argc, char **argv)
{
    log_init(p->name, LOG_ERROR);
    FILE *devnull = getenv("TODO_CONSOLE_DEBUG") ? NULL : fopen("/dev/null", "w");
    if (devnull) log_set_output(devnull);
    signal(SIGPIPE, SIG_IGN);
    ops_cmd_t *c = calloc(1, sizeof *c);
    char **pos = calloc((size_t)argc + 1, sizeof *pos);
    ops_cfg_t cfg;
    memset(&cfg, 0, sizeof cfg);
    ops_status_t st = OPS_OK;
    if (!c || !pos) {
        fprintf(stderr, "%s: error: out of memory\n", p->name);
        st = OPS_FAIL;
        goto done;
    }
    c->out = stdout;
    c->cfg = &cfg;
    int r = ops_cmd_parse(p, c, argc - 1, argv + 1, pos);
    if (r == 1) goto done;
    if (r) {
        st = OPS_USAGE;
        ops_err_print(&c->err, p->name, stderr);
        goto done;
    }
    if ((st = ops_cfg_load(&cfg, argv[0], &c->err)) == OPS_OK) st = c->verb->run(c);
    fflush(c->out);
    if (st != OPS_OK) {
        if (!c->err.msg[0] && c->err.st == OPS_OK) c->err.st = st;
        ops_err_print(&c->err, p->name, stderr);
    }
done:
    ops_cfg_free(&cfg);
    free(pos);
    free(c);
    if (devnull) {
        log_set_output(NULL);
        fclose(devnull);
    }
    return (int)st;
}
