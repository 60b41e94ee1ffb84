/* tv_view — lays each trace out for the width (lib/ops/ops_waterfall) and prints it: the
 * waterfall on a terminal or in a pipe, or with -o json its layout, one object per trace and
 * line. The slowest span is always marked. */
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "ops_table.h"
#include "ops_waterfall.h"
#include "tv.h"

/* A duration with a microsecond unit too ("500us", "500µs"), else lib/cfg's ("2ms", "1s"). */
static ops_status_t duration_us(ops_cmd_t *c, const char *text, const char *what, int64_t *us)
{
    size_t l = strlen(text), digits = strspn(text, "0123456789");
    const char *unit = text + digits;
    if (digits > 0 && digits <= 12 && (!strcmp(unit, "us") || !strcmp(unit, "µs"))) {
        *us = strtoll(text, NULL, 10);
        return OPS_OK;
    }
    int64_t ms;
    if (l == 0 || cfg_parse_duration(text, &ms) < 0)
        return ops_cmd_usage(c, "%s: '%.40s' is not a duration (500us, 2ms, 1s)", what, text);
    if (ops_cmd_duration(c, text, what, &ms)) return OPS_USAGE; /* too long for µs */
    *us = ms * 1000;
    return OPS_OK;
}

static bool utf8_locale(void)
{
    setlocale(LC_CTYPE, "");
    const char *cs = nl_langinfo(CODESET);
    return cs && (!strcmp(cs, "UTF-8") || !strcmp(cs, "utf8"));
}

ops_status_t tv_view_run(ops_cmd_t *c)
{
    /* first: setlocale reads the locale files with malloc'd buffers, and after a big parse
       has fragmented the heap that costs a malloc_consolidate of the whole heap (a fifth of
       the run on a 5,000-span trace) */
    bool utf8 = !c->json && utf8_locale();
    ops_waterfall_opts_t o = OPS_WATERFALL_OPTS_INIT;
    int64_t v;
    if (ops_cmd_has(c, "depth")) {
        if (ops_cmd_int(c, ops_cmd_get(c, "depth"), "--depth", 0, 100000, &v)) return OPS_USAGE;
        o.max_depth = (int)v;
    }
    if (ops_cmd_has(c, "min-duration") &&
        duration_us(c, ops_cmd_get(c, "min-duration"), "--min-duration", &o.min_dur_us))
        return OPS_USAGE;
    if (ops_cmd_has(c, "width")) {
        if (ops_cmd_int(c, ops_cmd_get(c, "width"), "--width", 40, 10000, &v)) return OPS_USAGE;
        o.width = (int)v;
    } else {
        o.width = ops_term_width(c->out); /* 0 off a terminal: the layout's default */
    }
    tv_traces_t tr;
    ops_status_t st = tv_source_load(c, &tr);
    if (st != OPS_OK) {
        tv_source_free(&tr);
        return st;
    }
    ops_waterfall_style_t style = {ops_use_color(c->out), utf8};
    if (tr.compared && !c->json)
        fprintf(c->out, "the slowest of the %d most recent traces of %s\n\n",
                cJSON_GetArraySize(tr.compared), tr.service);
    for (size_t i = 0; i < tr.n && st == OPS_OK; i++) {
        ops_trace_t *t = &tr.t[i];
        o.mark = t->slowest;
        ops_waterfall_t wf;
        st = ops_waterfall_build(t, &o, &wf, &c->err);
        if (st != OPS_OK) break;
        if (c->json) {
            cJSON *j = ops_waterfall_json(t, &wf);
            if (tr.compared) cJSON_AddItemReferenceToObject(j, "compared_traces", tr.compared);
            ops_cmd_print_json(c, j);
            cJSON_Delete(j);
        } else {
            if (i) fputc('\n', c->out);
            ops_waterfall_print(c->out, t, &wf, &style);
        }
        ops_waterfall_free(&wf);
    }
    tv_source_free(&tr);
    return st;
}
