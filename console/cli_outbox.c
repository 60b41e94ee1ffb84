/* cli_outbox — outbox stats, list and show, read straight from the tasks database
 * (TASKS_DATABASE_URL), read-only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_verbs.h"
#include "ops_outbox.h"
#include "ops_table.h"

static ops_status_t open_outbox(cli_ctx_t *c, ops_outbox_t **ob)
{
    const char *url = ops_cfg_need(c->cfg, OPS_TASKS_DATABASE_URL, &c->err);
    if (!url) return c->err.st;
    return ops_outbox_open(ob, url, "todo-console", &c->err);
}

ops_status_t cli_outbox_stats(cli_ctx_t *c)
{
    ops_outbox_t *ob;
    ops_status_t st = open_outbox(c, &ob);
    if (st != OPS_OK) return st;
    ops_outbox_stats_t s;
    st = ops_outbox_stats(ob, &s, &c->err);
    ops_outbox_close(ob);
    if (st != OPS_OK) return st;
    if (c->json) {
        cJSON *j = ops_outbox_stats_json(&s);
        cli_print_json(c, j);
        cJSON_Delete(j);
        return OPS_OK;
    }
    ops_outbox_stats_print(c->out, &s);
    return OPS_OK;
}

static void print_rows(cli_ctx_t *c, const ops_outbox_row_t *rows, size_t n)
{
    ops_outbox_rows_print(c->out, rows, n, ops_term_width(c->out), ops_use_color(c->out));
}

ops_status_t cli_outbox_list(cli_ctx_t *c)
{
    ops_outbox_state_t state = OPS_OUTBOX_ALL;
    int chosen = 0;
    if (cli_has(c, "unpublished")) state = OPS_OUTBOX_UNPUBLISHED, chosen++;
    if (cli_has(c, "dead")) state = OPS_OUTBOX_DEAD, chosen++;
    if (cli_has(c, "published")) state = OPS_OUTBOX_PUBLISHED, chosen++;
    if (chosen > 1) return cli_usage(c, "choose one of --unpublished, --dead, --published");
    int64_t task = 0, limit = 50;
    if (cli_has(c, "task") && cli_task_id(c, cli_get(c, "task"), &task)) return OPS_USAGE;
    if (cli_has(c, "limit") && cli_int(c, cli_get(c, "limit"), "--limit", 1, 10000, &limit))
        return OPS_USAGE;
    ops_outbox_t *ob;
    ops_status_t st = open_outbox(c, &ob);
    if (st != OPS_OK) return st;
    ops_outbox_row_t *rows;
    size_t n;
    st = ops_outbox_list(ob, state, task, (int)limit, 0, &rows, &n, &c->err);
    ops_outbox_close(ob);
    if (st != OPS_OK) return st;
    if (c->json) {
        cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "rows");
        for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, ops_outbox_row_json(&rows[i]));
        cli_print_json(c, o);
        cJSON_Delete(o);
    } else {
        print_rows(c, rows, n);
    }
    ops_outbox_rows_free(rows, n);
    return OPS_OK;
}

ops_status_t cli_outbox_show(cli_ctx_t *c)
{
    int64_t id;
    if (cli_int(c, c->pos[0], "outbox row id", 1, INT64_MAX, &id)) return OPS_USAGE;
    ops_outbox_t *ob;
    ops_status_t st = open_outbox(c, &ob);
    if (st != OPS_OK) return st;
    ops_outbox_row_t row;
    st = ops_outbox_show(ob, id, &row, &c->err);
    ops_outbox_close(ob);
    if (st != OPS_OK) return st;
    if (c->json) {
        cJSON *j = ops_outbox_row_json(&row);
        cli_print_json(c, j);
        cJSON_Delete(j);
    } else {
        ops_outbox_row_print(c->out, &row, ops_term_width(c->out), ops_use_color(c->out));
    }
    ops_outbox_row_free(&row);
    return OPS_OK;
}
