/* Unit tests for lib/ops/ops_waterfall: the layout trace-view prints and the console draws —
 * columns for a width, bars and async-hop segments by time, the ruler, service colours, the
 * depth and duration filters, the text (with and without colour, hostile names) and the JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "buf.h"
#include "ops_table.h"
#include "ops_trace.h"
#include "ops_waterfall.h"

#include "ops_trace_fixture.h"

static void build(const ops_trace_t *t, const ops_waterfall_opts_t *o, ops_waterfall_t *wf)
{
    ops_err_t e = OPS_ERR_INIT;
    assert_int_equal(ops_waterfall_build(t, o, wf, &e), OPS_OK);
}

static const ops_waterfall_row_t *row_of(const ops_trace_t *t, const ops_waterfall_t *wf,
                                         const char *id)
{
    const ops_span_t *s = by_id(t, id);
    for (size_t r = 0; r < wf->nrows; r++)
        if (&t->spans[wf->rows[r].span] == s) return &wf->rows[r];
    return NULL;
}

/* floor(us × bar_w / total): the column the layout promises for a time. */
static int col_at(const ops_waterfall_t *wf, int64_t us)
{
    return (int)(us * wf->bar_w / wf->span_us);
}

static char *print_to_string(const ops_trace_t *t, const ops_waterfall_t *wf, bool color, bool utf8)
{
    /* the stream's buffer and size live on the heap: GCC takes a pointer that open_memstream
       keeps to a local for a dangling one */
    struct { char *text; size_t len; } *box = calloc(1, sizeof *box);
    FILE *f = open_memstream(&box->text, &box->len);
    ops_waterfall_style_t st = {color, utf8};
    ops_waterfall_print(f, t, wf, &st);
    fclose(f);
    char *text = box->text;
    free(box);
    return text;
}

static void test_columns_fill_the_width(void **state)
{
    char *json = jaeger(flow, sizeof flow / sizeof flow[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    for (int width = 60; width <= 240; width += 30) {
        ops_waterfall_opts_t o = OPS_WATERFALL_OPTS_INIT;
        o.width = width;
        ops_waterfall_t wf;
        build(&t, &o, &wf);
        assert_int_equal(wf.nrows, 9);
        assert_true(wf.bar_w >= OPS_WATERFALL_MIN_BAR);
        /* marks, name, service, duration, bar, note: every column accounted for */
        assert_int_equal(wf.bar_x, wf.marks_w + 1 + wf.name_w + 1 + wf.svc_w + 1 + wf.dur_w + 1);
        int line = wf.bar_x + wf.bar_w + (wf.note_w ? wf.note_w + 1 : 0);
        if (width >= 80) assert_int_equal(line, width); /* wide enough: exactly the width */
        /* the whole name fits when there is room: "todo-console tasks add" at depth 0 */
        if (width >= 140) assert_true(wf.name_w >= 4 * 2 + (int)strlen("task-events process"));
        /* and every printed line stays within the width */
        char *text = print_to_string(&t, &wf, false, true);
        char *save, *ln = strtok_r(text, "\n", &save);
        for (; ln; ln = strtok_r(NULL, "\n", &save))
            if (strncmp(ln, "legend", 6) && strncmp(ln, "trace ", 6) && strncmp(ln, "slowest", 7) &&
                strncmp(ln, "services:", 9))
                assert_true((int)ops_display_width(ln) <= (width >= 80 ? width : line));
        free(text);
        ops_waterfall_free(&wf);
    }
    ops_trace_free(&t);
    free(json);
}

static void test_bars_and_hops_are_placed_by_time(void **state)
{
    char *json = jaeger(flow, sizeof flow / sizeof flow[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    ops_waterfall_opts_t o = OPS_WATERFALL_OPTS_INIT;
    o.width = 150;
    ops_waterfall_t wf;
    build(&t, &o, &wf);
    assert_int_equal(wf.span_us, 52000);
    assert_int_equal(wf.origin_us, t.start_us);
    /* the root: from 0 to 20000 µs */
    const ops_waterfall_row_t *root = row_of(&t, &wf, "a1");
    assert_int_equal(root->nseg, 1);
    assert_int_equal(root->seg[0].col, 0);
    assert_int_equal(root->seg[0].hop, OPS_HOP_NONE);
    assert_true(root->seg[0].len >= col_at(&wf, 20000) && root->seg[0].len <= col_at(&wf, 20000) + 1);
    /* INSERT at 4000 µs for 3000 */
    const ops_waterfall_row_t *ins = row_of(&t, &wf, "b3");
    assert_int_equal(ins->seg[0].col, col_at(&wf, 4000));
    assert_int_equal(ins->seg[0].col + ins->seg[0].len, (int)((7000 * wf.bar_w + wf.span_us - 1) / wf.span_us));
    /* the publish waited in the outbox from the COMMIT's end (12000) to its start (30000) */
    const ops_waterfall_row_t *pub = row_of(&t, &wf, "b5");
    assert_int_equal(pub->nseg, 2);
    assert_int_equal(pub->seg[0].hop, OPS_HOP_OUTBOX);
    assert_int_equal(pub->seg[0].col, col_at(&wf, 12000));
    assert_int_equal(pub->seg[0].col + pub->seg[0].len, col_at(&wf, 30000));
    assert_int_equal(pub->seg[1].col, col_at(&wf, 30000));
    /* the consumer: on the broker from the publish's end (35000) to its start (45000) */
    const ops_waterfall_row_t *con = row_of(&t, &wf, "d1");
    assert_int_equal(con->seg[0].hop, OPS_HOP_BROKER);
    assert_int_equal(con->seg[0].col, col_at(&wf, 35000));
    assert_int_equal(con->seg[1].col, col_at(&wf, 45000));
    /* the last span ends at the trace's end: the last column */
    assert_int_equal(con->seg[1].col + con->seg[1].len, wf.bar_w);
    /* cells say the same */
    char cells[512];
    ops_waterfall_cells(&wf, pub, cells, sizeof cells);
    assert_int_equal(strlen(cells), (size_t)wf.bar_w);
    assert_int_equal(cells[col_at(&wf, 12000)], 'o');
    assert_int_equal(cells[col_at(&wf, 30000)], '#');
    assert_int_equal(cells[0], ' ');
    ops_waterfall_cells(&wf, con, cells, sizeof cells);
    assert_int_equal(cells[col_at(&wf, 40000)], 'b');
    char note[64];
    ops_waterfall_note(&t, pub, note, sizeof note);
    assert_string_equal(note, "(outbox 18.00ms)");
    ops_waterfall_note(&t, root, note, sizeof note);
    assert_string_equal(note, "");
    ops_waterfall_free(&wf);
    ops_trace_free(&t);
    free(json);
}

static void test_services_marks_and_order(void **state)
{
    spec_t s[sizeof flow / sizeof flow[0]];
    memcpy(s, flow, sizeof s);
    s[4].extra_tag = "error"; /* auth-service's ValidateToken failed */
    char *json = jaeger(s, sizeof s / sizeof s[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    ops_waterfall_opts_t o = OPS_WATERFALL_OPTS_INIT;
    o.mark = t.slowest;
    ops_waterfall_t wf;
    build(&t, &o, &wf);
    assert_int_equal(wf.width, OPS_WATERFALL_DEFAULT_WIDTH);
    /* rows in display order, services numbered as they first appear */
    assert_int_equal(wf.nservices, 4);
    assert_string_equal(wf.services[0], "todo-console");
    assert_string_equal(wf.services[1], "tasks-service");
    assert_string_equal(wf.services[2], "auth-service");
    assert_string_equal(wf.services[3], "notification-service");
    for (size_t r = 0; r < wf.nrows; r++) {
        assert_int_equal(wf.rows[r].span, t.order[r]);
        assert_string_equal(wf.services[wf.rows[r].service], t.spans[wf.rows[r].span].service);
        assert_int_equal(wf.rows[r].indent, 2 * t.spans[wf.rows[r].span].depth);
    }
    assert_string_equal(row_of(&t, &wf, "c1")->marks, "*!");
    assert_true(row_of(&t, &wf, "c1")->error);
    assert_string_equal(row_of(&t, &wf, "d1")->marks, "*>"); /* the slowest: most self time */
    assert_int_equal(wf.mark, t.slowest);
    assert_string_equal(row_of(&t, &wf, "a1")->marks, "*");
    ops_waterfall_free(&wf);
    ops_trace_free(&t);
    free(json);
}

static void test_depth_filter(void **state)
{
    char *json = jaeger(flow, sizeof flow / sizeof flow[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    ops_waterfall_opts_t o = OPS_WATERFALL_OPTS_INIT;
    o.max_depth = 1;
    ops_waterfall_t wf;
    build(&t, &o, &wf);
    assert_int_equal(wf.nrows, 2);
    assert_int_equal(wf.hidden, 7);
    assert_non_null(row_of(&t, &wf, "a1"));
    assert_non_null(row_of(&t, &wf, "a2"));
    ops_waterfall_free(&wf);
    o.max_depth = 0;
    build(&t, &o, &wf);
    assert_int_equal(wf.nrows, 1);
    ops_waterfall_free(&wf);
    ops_trace_free(&t);
    free(json);
}

static void test_duration_filter_keeps_the_path_to_long_and_failing_spans(void **state)
{
    spec_t s[sizeof flow / sizeof flow[0]];
    memcpy(s, flow, sizeof s);
    char *json = jaeger(s, sizeof s / sizeof s[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    ops_waterfall_opts_t o = OPS_WATERFALL_OPTS_INIT;
    o.min_dur_us = 5000;
    ops_waterfall_t wf;
    build(&t, &o, &wf);
    /* a1 20ms, a2 19ms, b1 15ms, b5 5ms (the limit counts), d1 7ms; b2 2ms, c1, b3, b4 hidden */
    assert_int_equal(wf.nrows, 5);
    assert_int_equal(wf.hidden, 4);
    assert_null(row_of(&t, &wf, "b2"));
    assert_null(row_of(&t, &wf, "c1"));
    assert_non_null(row_of(&t, &wf, "b5"));
    ops_waterfall_free(&wf);
    /* a publish shorter than the limit stays when its consumer is longer */
    o.min_dur_us = 6000;
    build(&t, &o, &wf);
    assert_non_null(row_of(&t, &wf, "b5"));
    assert_non_null(row_of(&t, &wf, "d1"));
    ops_waterfall_free(&wf);
    ops_trace_free(&t);
    free(json);
    /* a failing span deep under short ones is shown with its whole path */
    s[4].extra_tag = "error";
    json = jaeger(s, sizeof s / sizeof s[0]);
    parse_ok(json, &t);
    o.min_dur_us = 5000;
    build(&t, &o, &wf);
    assert_non_null(row_of(&t, &wf, "c1"));
    assert_non_null(row_of(&t, &wf, "b2")); /* its parent, 2ms */
    assert_null(row_of(&t, &wf, "b3"));
    ops_waterfall_free(&wf);
    /* the marked span too */
    o.mark = (int)(by_id(&t, "b3") - t.spans);
    build(&t, &o, &wf);
    assert_non_null(row_of(&t, &wf, "b3"));
    assert_true(row_of(&t, &wf, "b3")->marked);
    ops_waterfall_free(&wf);
    ops_trace_free(&t);
    free(json);
}

/* The console's own choice (a collapsed subtree): those spans are no rows, counted hidden,
 * and the bars of the others do not move (the time axis is the whole trace's). */
static void test_hide_leaves_chosen_spans_out(void **state)
{
    char *json = jaeger(flow, sizeof flow / sizeof flow[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    ops_waterfall_opts_t o = OPS_WATERFALL_OPTS_INIT;
    ops_waterfall_t all, some;
    build(&t, &o, &all);
    bool *hide = calloc(t.n, sizeof *hide);
    hide[by_id(&t, "b2") - t.spans] = true;
    hide[by_id(&t, "c1") - t.spans] = true;
    o.hide = hide;
    build(&t, &o, &some);
    assert_int_equal(some.nrows, all.nrows - 2);
    assert_int_equal(some.hidden, 2);
    assert_null(row_of(&t, &some, "b2"));
    assert_null(row_of(&t, &some, "c1"));
    const ops_waterfall_row_t *a = row_of(&t, &all, "a1"), *b = row_of(&t, &some, "a1");
    assert_non_null(b);
    assert_int_equal(a->seg[a->nseg - 1].col, b->seg[b->nseg - 1].col);
    assert_int_equal(a->seg[a->nseg - 1].len, b->seg[b->nseg - 1].len);
    free(hide);
    ops_waterfall_free(&all);
    ops_waterfall_free(&some);
    ops_trace_free(&t);
    free(json);
}

static void test_ruler(void **state)
{
    char *json = jaeger(flow, sizeof flow / sizeof flow[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    ops_waterfall_opts_t o = OPS_WATERFALL_OPTS_INIT;
    o.width = 160;
    ops_waterfall_t wf;
    build(&t, &o, &wf);
    /* a 1, 2 or 5 × 10^k step, ticks at least 10 columns apart, covering the trace */
    int64_t step = wf.tick_us, p = 1;
    while (p * 10 <= step) p *= 10;
    assert_true(step == p || step == 2 * p || step == 5 * p);
    assert_true(wf.nticks >= 2);
    assert_int_equal(wf.ticks[0].col, 0);
    assert_int_equal(wf.ticks[0].at_us, 0);
    for (size_t k = 1; k < wf.nticks; k++) {
        assert_int_equal(wf.ticks[k].at_us, (int64_t)k * step);
        assert_true(wf.ticks[k].col - wf.ticks[k - 1].col >= 9);
    }
    assert_true(wf.ticks[wf.nticks - 1].at_us <= wf.span_us);
    assert_true(wf.ticks[wf.nticks - 1].at_us + step > wf.span_us);
    char labels[1024], ticks[1024];
    ops_waterfall_ruler(&wf, labels, ticks, sizeof labels);
    assert_int_equal(strlen(ticks), (size_t)wf.bar_w);
    assert_int_equal((int)ops_display_width(labels), wf.bar_w);
    assert_int_equal(ticks[0], '|');
    assert_int_equal(labels[0], '0');
    for (size_t k = 0; k < wf.nticks; k++) assert_int_equal(ticks[wf.ticks[k].col], '|');
    /* the smallest such step that keeps ticks 10 columns apart */
    double raw = 52000.0 * 10 / wf.bar_w;
    assert_true((double)step >= raw);
    int64_t m = step / p, smaller = m == 5 ? 2 * p : m == 2 ? p : p / 2; /* the nice one below */
    assert_true((double)smaller < raw);
    /* the labels name the ticks: "10ms", "20ms" … at this width */
    char want[32];
    snprintf(want, sizeof want, "%lldms", (long long)step / 1000);
    assert_int_equal(step % 1000, 0);
    assert_non_null(strstr(labels, want));
    ops_waterfall_free(&wf);
    ops_trace_free(&t);
    free(json);

    /* sub-millisecond and second ranges get their units */
    static const spec_t us[] = {{"1", NULL, "s", "a", "server", 0, 800, NULL, NULL}};
    json = jaeger(us, 1);
    parse_ok(json, &t);
    build(&t, &o, &wf);
    ops_waterfall_ruler(&wf, labels, ticks, sizeof labels);
    assert_non_null(strstr(labels, "µs"));
    ops_waterfall_free(&wf);
    ops_trace_free(&t);
    free(json);
    static const spec_t sec[] = {{"1", NULL, "s", "a", "server", 0, 7500000, NULL, NULL}};
    json = jaeger(sec, 1);
    parse_ok(json, &t);
    build(&t, &o, &wf);
    ops_waterfall_ruler(&wf, labels, ticks, sizeof labels);
    assert_non_null(strstr(labels, "1s"));
    assert_int_equal(wf.nticks <= OPS_WATERFALL_MAX_TICKS, 1);
    ops_waterfall_free(&wf);
    ops_trace_free(&t);
    free(json);
}

static void test_one_instant_span(void **state)
{
    static const spec_t one[] = {{"1", NULL, "s", "instant", "server", 0, 0, NULL, NULL}};
    char *json = jaeger(one, 1);
    ops_trace_t t;
    parse_ok(json, &t);
    ops_waterfall_t wf;
    build(&t, NULL, &wf);
    assert_int_equal(wf.nrows, 1);
    assert_int_equal(wf.span_us, 1); /* never a division by zero */
    assert_int_equal(wf.rows[0].seg[0].len, 1);
    char *text = print_to_string(&t, &wf, false, false);
    assert_non_null(strstr(text, "instant"));
    free(text);
    ops_waterfall_free(&wf);
    ops_trace_free(&t);
    free(json);
}

static void test_text_plain_and_colour(void **state)
{
    char *json = jaeger(flow, sizeof flow / sizeof flow[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    ops_waterfall_opts_t o = OPS_WATERFALL_OPTS_INIT;
    o.width = 130;
    o.mark = t.slowest;
    ops_waterfall_t wf;
    build(&t, &o, &wf);
    char *plain = print_to_string(&t, &wf, false, false);
    assert_null(strchr(plain, '\033'));
    assert_non_null(strstr(plain, "trace 0af7651916cd43dd8448eb211c80319c  52.00ms  9 spans  4 services"));
    assert_non_null(strstr(plain, "(outbox 18.00ms)"));
    assert_non_null(strstr(plain, "(broker 10.00ms)"));
    assert_non_null(strstr(plain, "slowest span (>): task-events process (notification-service)"));
    /* ASCII glyphs: '=' span, '-' outbox wait, '~' broker */
    const char *pub = strstr(plain, "task-events publish");
    assert_non_null(pub);
    const char *eol = strchr(pub, '\n');
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(eol - pub), pub);
    assert_non_null(strstr(line, "-="));
    assert_null(strstr(plain, "█"));
    /* the indentation follows the depth: two columns a level */
    assert_non_null(strstr(plain, "\n*         task-events publish"));
    char *utf = print_to_string(&t, &wf, false, true);
    assert_non_null(strstr(utf, "░█"));
    assert_non_null(strstr(utf, "▒"));
    char *color = print_to_string(&t, &wf, true, true);
    assert_non_null(strstr(color, "\033[36m")); /* the first service's colour */
    assert_non_null(strstr(color, "\033[0m"));
    free(plain);
    free(utf);
    free(color);
    ops_waterfall_free(&wf);
    ops_trace_free(&t);
    free(json);
}

static void test_hostile_names_never_reach_the_terminal(void **state)
{
    static const spec_t evil[] = {
        {"1", NULL, "s\\u001b]0;owned\\u0007", "\\u001b[2J\\u001b[31mred\\r\\nfake line", "server", 0, 10, "error", NULL},
    };
    char *json = jaeger(evil, 1);
    ops_trace_t t;
    parse_ok(json, &t);
    ops_waterfall_t wf;
    build(&t, NULL, &wf);
    char *plain = print_to_string(&t, &wf, false, false);
    assert_null(strchr(plain, '\033'));
    assert_null(strchr(plain, '\007'));
    assert_null(strchr(plain, '\r'));
    assert_null(strstr(plain, "\nfake line"));
    assert_non_null(strstr(plain, "?[2J?[31mred??fake line"));
    /* with colour, the only escapes are ours: SGR sequences */
    char *color = print_to_string(&t, &wf, true, false);
    for (const char *p = strchr(color, '\033'); p; p = strchr(p + 1, '\033')) {
        assert_int_equal(p[1], '[');
        size_t n = strspn(p + 2, "0123456789;");
        assert_int_equal(p[2 + n], 'm');
    }
    free(plain);
    free(color);
    ops_waterfall_free(&wf);
    ops_trace_free(&t);
    free(json);
}

static void test_json_layout(void **state)
{
    char *json = jaeger(flow, sizeof flow / sizeof flow[0]);
    ops_trace_t t;
    parse_ok(json, &t);
    ops_waterfall_opts_t o = OPS_WATERFALL_OPTS_INIT;
    o.width = 100;
    o.min_dur_us = 5000;
    o.mark = t.slowest;
    ops_waterfall_t wf;
    build(&t, &o, &wf);
    cJSON *j = ops_waterfall_json(&t, &wf);
    assert_string_equal(cJSON_GetObjectItem(j, "trace_id")->valuestring, t.trace_id);
    assert_int_equal(cJSON_GetObjectItem(j, "width")->valueint, 100);
    assert_int_equal(cJSON_GetObjectItem(j, "shown")->valueint, 5);
    assert_int_equal(cJSON_GetObjectItem(j, "hidden")->valueint, 4);
    assert_string_equal(cJSON_GetObjectItem(j, "marked_span")->valuestring, "00000000000000d1");
    cJSON *legend = cJSON_GetObjectItem(j, "legend");
    assert_int_equal(cJSON_GetArraySize(legend), 3); /* auth-service's only span is hidden */
    cJSON *bar = cJSON_GetObjectItem(j, "bar");
    assert_int_equal(cJSON_GetObjectItem(bar, "width")->valueint, wf.bar_w);
    assert_int_equal((int64_t)cJSON_GetObjectItem(bar, "tick_us")->valuedouble, wf.tick_us);
    cJSON *spans = cJSON_GetObjectItem(j, "spans");
    assert_int_equal(cJSON_GetArraySize(spans), 5);
    cJSON *pub = cJSON_GetArrayItem(spans, 3);
    assert_string_equal(cJSON_GetObjectItem(pub, "name")->valuestring, "task-events publish");
    assert_string_equal(cJSON_GetObjectItem(pub, "service")->valuestring, "tasks-service");
    assert_int_equal(cJSON_GetObjectItem(pub, "depth")->valueint, 3);
    assert_int_equal(cJSON_GetObjectItem(pub, "offset_us")->valueint, 30000);
    assert_int_equal(cJSON_GetObjectItem(pub, "duration_us")->valueint, 5000);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(pub, "critical")));
    assert_string_equal(cJSON_GetObjectItem(pub, "hop")->valuestring, "outbox");
    assert_int_equal(cJSON_GetObjectItem(pub, "hop_duration_us")->valueint, 18000);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(pub, "hop_bar"), "col")->valueint,
                     col_at(&wf, 12000));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(pub, "bar"), "col")->valueint,
                     col_at(&wf, 30000));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(spans, 0), "hop_bar")));
    assert_true(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetArrayItem(spans, 0), "marked")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(spans, 4), "marked")));
    cJSON_Delete(j);
    ops_waterfall_free(&wf);
    ops_trace_free(&t);
    free(json);
}

/* A deep chain: indentation stops growing, every row is still laid out and printable. */
static void test_deep_chain_indent_is_capped(void **state)
{
    enum { N = 3000 };
    spec_t *s = calloc(N, sizeof *s);
    char (*ids)[17] = calloc(N, 17);
    for (int i = 0; i < N; i++) {
        snprintf(ids[i], 17, "%x", i + 1);
        s[i] = (spec_t){ids[i], i ? ids[i - 1] : NULL, "s", "op", "internal", i, N - i, NULL, NULL};
    }
    char *json = jaeger(s, N);
    ops_trace_t t;
    parse_ok(json, &t);
    ops_waterfall_opts_t o = OPS_WATERFALL_OPTS_INIT;
    o.width = 80;
    ops_waterfall_t wf;
    build(&t, &o, &wf);
    assert_int_equal(wf.nrows, N);
    assert_int_equal(wf.rows[N - 1].indent, 2 * OPS_WATERFALL_MAX_INDENT);
    char *text = print_to_string(&t, &wf, false, false);
    assert_non_null(strstr(text, " op "));
    free(text);
    ops_waterfall_free(&wf);
    ops_trace_free(&t);
    free(json);
    free(s);
    free(ids);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_columns_fill_the_width),
        cmocka_unit_test(test_bars_and_hops_are_placed_by_time),
        cmocka_unit_test(test_services_marks_and_order),
        cmocka_unit_test(test_depth_filter),
        cmocka_unit_test(test_duration_filter_keeps_the_path_to_long_and_failing_spans),
        cmocka_unit_test(test_hide_leaves_chosen_spans_out),
        cmocka_unit_test(test_ruler),
        cmocka_unit_test(test_one_instant_span),
        cmocka_unit_test(test_text_plain_and_colour),
        cmocka_unit_test(test_hostile_names_never_reach_the_terminal),
        cmocka_unit_test(test_json_layout),
        cmocka_unit_test(test_deep_chain_indent_is_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
