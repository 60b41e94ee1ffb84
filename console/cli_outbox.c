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
    fprintf(c->out, "backlog                  %lld\n", (long long)s.backlog);
    fprintf(c->out, "oldest unpublished age   %.3fs\n", s.oldest_unpublished_age_s);
    fprintf(c->out, "dead rows                %lld\n", (long long)s.dead);
    fprintf(c->out, "published last minute    %lld\n", (long long)s.published_last_minute);
    fprintf(c->out, "published last hour      %lld\n", (long long)s.published_last_hour);
    fprintf(c->out, "rows (estimate)          %lld\n", (long long)s.total);
    for (size_t i = 0; i < s.ntypes; i++)
        fprintf(c->out, "  waiting %-16s %lld\n", s.by_type[i].type, (long long)s.by_type[i].count);
    fprintf(c->out, "relays                   %zu\n", s.nrelays);
    for (size_t i = 0; i < s.nrelays; i++)
        fprintf(c->out, "  pid %-8d %2d shards  since %s  from %s\n", s.relays[i].pid,
                s.relays[i].shards, s.relays[i].since, s.relays[i].addr);
    return OPS_OK;
}

static void print_rows(cli_ctx_t *c, const ops_outbox_row_t *rows, size_t n)
{
    static const char *const cols[] = {"ID", "TASK", "VER", "TYPE", "STATE", "TRIES", "CREATED",
                                       "PUBLISHED", "LAST ERROR"};
    ops_table_t *t = ops_table_new(cols, 9);
    ops_table_right(t, 0);
    ops_table_right(t, 1);
    ops_table_right(t, 2);
    ops_table_flex(t, 8);
    for (size_t i = 0; i < n; i++) {
        const ops_outbox_row_t *r = &rows[i];
        char id[24], task[24], ver[24], tries[16];
        snprintf(id, sizeof id, "%lld", (long long)r->id);
        snprintf(task, sizeof task, "%lld", (long long)r->task_id);
        snprintf(ver, sizeof ver, "%lld", (long long)r->version);
        snprintf(tries, sizeof tries, "%d", r->attempts);
        const char *cells[] = {id, task, ver, r->event_type,
                               r->dead ? "dead" : r->published ? "published" : "pending", tries,
                               r->created_at, r->published_at, r->last_error ? r->last_error : ""};
        ops_table_add(t, cells);
    }
    ops_table_print(t, c->out, ops_term_width(c->out), ops_use_color(c->out));
    ops_table_free(t);
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
    cJSON *j = ops_outbox_row_json(&row);
    if (c->json) {
        cli_print_json(c, j);
    } else {
        print_rows(c, &row, 1);
        char *pretty = cJSON_Print(cJSON_GetObjectItemCaseSensitive(j, "headers"));
        fprintf(c->out, "\nheaders: %s\n", pretty ? pretty : "");
        free(pretty);
        /* cJSON escapes control characters inside strings: safe for a terminal as is */
        pretty = cJSON_Print(cJSON_GetObjectItemCaseSensitive(j, "payload"));
        fprintf(c->out, "payload: %s\n", pretty ? pretty : "null");
        free(pretty);
    }
    cJSON_Delete(j);
    ops_outbox_row_free(&row);
    return OPS_OK;
}
