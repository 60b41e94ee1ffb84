/* cli_notify — the logged-in user's notifications (GET /api/notifications, POST …/{id}/read). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_verbs.h"
#include "ops_api.h"
#include "ops_table.h"

/* A field as text whatever its JSON type (ids may be numbers or strings). */
static void text_of(const cJSON *o, const char *k, char *out, size_t outlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (cJSON_IsString(v))
        snprintf(out, outlen, "%s", v->valuestring);
    else if (cJSON_IsNumber(v))
        snprintf(out, outlen, "%.0f", v->valuedouble);
    else if (cJSON_IsBool(v))
        snprintf(out, outlen, "%s", cJSON_IsTrue(v) ? "yes" : "");
    else
        out[0] = '\0';
}

static void row(ops_table_t *t, const cJSON *n)
{
    char id[64], type[64], task[32], msg[512], at[40], readat[40];
    text_of(n, "id", id, sizeof id);
    text_of(n, "kind", type, sizeof type);
    text_of(n, "task_id", task, sizeof task);
    text_of(n, "title", msg, sizeof msg);
    text_of(n, "created_at", at, sizeof at);
    text_of(n, "read_at", readat, sizeof readat);
    const char *cells[] = {id, readat[0] ? "" : "●", type, task, msg, at};
    ops_table_add(t, cells);
}

static ops_table_t *table(void)
{
    static const char *const cols[] = {"ID", "NEW", "KIND", "TASK", "TITLE", "CREATED"};
    ops_table_t *t = ops_table_new(cols, 6);
    ops_table_flex(t, 4);
    ops_table_flex(t, 0);
    return t;
}

ops_status_t cli_notifications(cli_ctx_t *c)
{
    int64_t limit = 0;
    if (cli_has(c, "limit") && cli_int(c, cli_get(c, "limit"), "--limit", 1, 1000, &limit))
        return OPS_USAGE;
    ops_api_t *api;
    ops_status_t st = ops_api_open(&api, c->cfg, &c->err);
    if (st != OPS_OK) return st;
    ops_api_resp_t r = OPS_API_RESP_INIT;
    st = ops_api_notifications(api, (int)limit, cli_get(c, "cursor"), &r, &c->err);
    if (st == OPS_OK) {
        const cJSON *list = cJSON_GetObjectItemCaseSensitive(r.json, "notifications"), *n;
        if (!cJSON_IsArray(list)) {
            st = ops_fail(&c->err, OPS_FAIL,
                          "GET /api/notifications: the answer has no \"notifications\" array");
        } else if (c->json) {
            cli_print_json(c, r.json);
        } else {
            ops_table_t *t = table();
            cJSON_ArrayForEach(n, list) row(t, n);
            ops_table_print(t, c->out, ops_term_width(c->out), ops_use_color(c->out));
            ops_table_free(t);
        }
    }
    ops_api_resp_free(&r);
    ops_api_close(api);
    return st;
}

ops_status_t cli_notifications_read(cli_ctx_t *c)
{
    const char *id = c->pos[0];
    if (!*id || strlen(id) > 64 || strspn(id, "0123456789abcdefABCDEF-") != strlen(id))
        return cli_usage(c, "'%.40s' is not a notification id", id);
    ops_api_t *api;
    ops_status_t st = ops_api_open(&api, c->cfg, &c->err);
    if (st != OPS_OK) return st;
    ops_api_resp_t r = OPS_API_RESP_INIT;
    st = ops_api_notification_read(api, id, &r, &c->err);
    if (st == OPS_OK && c->json) {
        cli_print_json(c, r.json);
    } else if (st == OPS_OK) {
        ops_table_t *t = table();
        row(t, r.json);
        ops_table_print(t, c->out, ops_term_width(c->out), ops_use_color(c->out));
        ops_table_free(t);
    }
    ops_api_resp_free(&r);
    ops_api_close(api);
    return st;
}
