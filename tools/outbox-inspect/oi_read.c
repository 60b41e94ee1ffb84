/* oi_read — stats, list and show: read-only queries (the session is read-only, ops_outbox). */
#include <stdio.h>
#include <stdlib.h>

#include "oi.h"
#include "ops_table.h"

ops_status_t oi_open(ops_cmd_t *c, ops_outbox_t **ob)
{
    const char *url = ops_cfg_need(c->cfg, OPS_TASKS_DATABASE_URL, &c->err);
    if (!url) return c->err.st;
    return ops_outbox_open(ob, url, OI_PROG, &c->err);
}

ops_status_t oi_stats(ops_cmd_t *c)
{
    ops_outbox_t *ob;
    ops_status_t st = oi_open(c, &ob);
    if (st != OPS_OK) return st;
    ops_outbox_stats_t s;
    st = ops_outbox_stats(ob, &s, &c->err);
    ops_outbox_close(ob);
    if (st != OPS_OK) return st;
    if (c->json) {
        cJSON *j = ops_outbox_stats_json(&s);
        ops_cmd_print_json(c, j);
        cJSON_Delete(j);
    } else {
        ops_outbox_stats_print(c->out, &s);
    }
    return OPS_OK;
}

/* A row id from text: a positive integer, else a usage error naming what. */
static ops_status_t row_id(ops_cmd_t *c, const char *text, const char *what, int64_t *id)
{
    return ops_cmd_int(c, text, what, 1, INT64_MAX, id);
}

ops_status_t oi_list(ops_cmd_t *c)
{
    static const struct { const char *opt; ops_outbox_state_t state; } states[] = {
        {"unpublished", OPS_OUTBOX_UNPUBLISHED},
        {"dead", OPS_OUTBOX_DEAD},
        {"published", OPS_OUTBOX_PUBLISHED},
    };
    ops_outbox_state_t state = OPS_OUTBOX_ALL;
    int chosen = 0;
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++)
        if (ops_cmd_has(c, states[i].opt)) {
            state = states[i].state;
            chosen++;
        }
    if (chosen > 1) return ops_cmd_usage(c, "choose one of --unpublished, --dead, --published");
    int64_t task = 0, limit = 50, after = 0;
    if (ops_cmd_has(c, "task") && row_id(c, ops_cmd_get(c, "task"), "--task", &task))
        return OPS_USAGE;
    if (ops_cmd_has(c, "limit") && ops_cmd_int(c, ops_cmd_get(c, "limit"), "--limit", 1, 10000, &limit))
        return OPS_USAGE;
    if (ops_cmd_has(c, "after") && row_id(c, ops_cmd_get(c, "after"), "--after", &after))
        return OPS_USAGE;
    ops_outbox_t *ob;
    ops_status_t st = oi_open(c, &ob);
    if (st != OPS_OK) return st;
    ops_outbox_row_t *rows;
    size_t n;
    st = ops_outbox_list(ob, state, task, (int)limit, after, &rows, &n, &c->err);
    ops_outbox_close(ob);
    if (st != OPS_OK) return st;
    if (c->json) {
        cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "rows");
        for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, ops_outbox_row_json(&rows[i]));
        /* the cursor for the next page: the last id shown, when the page was full */
        if (n == (size_t)limit)
            cJSON_AddNumberToObject(o, "next_after", (double)rows[n - 1].id);
        else
            cJSON_AddNullToObject(o, "next_after");
        ops_cmd_print_json(c, o);
        cJSON_Delete(o);
    } else {
        ops_outbox_rows_print(c->out, rows, n, ops_term_width(c->out), ops_use_color(c->out));
        if (n == (size_t)limit)
            fprintf(c->out, "(more: --after %lld)\n", (long long)rows[n - 1].id);
    }
    ops_outbox_rows_free(rows, n);
    return OPS_OK;
}

ops_status_t oi_show(ops_cmd_t *c)
{
    int64_t id;
    if (row_id(c, c->pos[0], "outbox row id", &id)) return OPS_USAGE;
    ops_outbox_t *ob;
    ops_status_t st = oi_open(c, &ob);
    if (st != OPS_OK) return st;
    ops_outbox_row_t row;
    st = ops_outbox_show(ob, id, &row, &c->err);
    ops_outbox_close(ob);
    if (st != OPS_OK) return st;
    if (c->json) {
        cJSON *j = ops_outbox_row_json(&row);
        ops_cmd_print_json(c, j);
        cJSON_Delete(j);
    } else {
        ops_outbox_row_print(c->out, &row, ops_term_width(c->out), ops_use_color(c->out));
    }
    ops_outbox_row_free(&row);
    return OPS_OK;
}
