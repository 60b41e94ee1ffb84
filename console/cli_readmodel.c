/* cli_readmodel — a user's Redis read model, and its drift from PostgreSQL (exit 1 naming
 * every drifted task). The user defaults to the logged-in one (the session's user id). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_verbs.h"
#include "ops_rm.h"
#include "ops_session.h"
#include "ops_table.h"

/* --user, else the session's user. */
static ops_status_t which_user(cli_ctx_t *c, int64_t *uid)
{
    if (cli_has(c, "user")) return cli_int(c, cli_get(c, "user"), "--user", 1, INT64_MAX, uid);
    ops_session_t s;
    if (ops_session_load(c->cfg->state_dir, ops_cfg_get(c->cfg, OPS_GATEWAY_URL), &s, &c->err) !=
        OPS_OK) {
        char why[sizeof c->err.msg];
        snprintf(why, sizeof why, "%s", c->err.msg);
        return ops_fail(&c->err, OPS_AUTH, "no --user and %.400s", why);
    }
    if (s.user_id <= 0) return cli_usage(c, "the session has no user id; give --user ID");
    *uid = s.user_id;
    return OPS_OK;
}

static ops_status_t open_rm(cli_ctx_t *c, bool need_db, ops_rm_t **rm)
{
    const char *url = ops_cfg_need(c->cfg, OPS_REDIS_URL, &c->err);
    if (!url) return c->err.st;
    const char *db = need_db ? ops_cfg_need(c->cfg, OPS_TASKS_DATABASE_URL, &c->err) : NULL;
    if (need_db && !db) return c->err.st;
    return ops_rm_open(rm, url, db, &c->err);
}

ops_status_t cli_readmodel_show(cli_ctx_t *c)
{
    int64_t uid;
    ops_status_t st = which_user(c, &uid);
    if (st != OPS_OK) return st;
    ops_rm_t *rm;
    if ((st = open_rm(c, false, &rm)) != OPS_OK) return st;
    ops_rm_user_t u;
    st = ops_rm_user_read(rm, uid, &u, &c->err);
    ops_rm_close(rm);
    if (st != OPS_OK) return st;
    if (c->json) {
        cJSON *j = ops_rm_user_json(&u);
        cli_print_json(c, j);
        cJSON_Delete(j);
    } else {
        fprintf(c->out, "user %lld: %zu tasks, %lld tombstones, built in epoch %s (current %s)%s\n",
                (long long)uid, u.n, (long long)u.tombstones, u.built[0] ? u.built : "-",
                u.epoch[0] ? u.epoch : "-",
                !u.exists ? " — no projection" : u.built_current ? "" : " — not built in this epoch: being rebuilt, reads go to PostgreSQL");
        static const char *const cols[] = {"ID", "VER", "VER-INDEX", "JSON"};
        ops_table_t *t = ops_table_new(cols, 4);
        ops_table_right(t, 0);
        ops_table_right(t, 1);
        ops_table_right(t, 2);
        ops_table_flex(t, 3);
        for (size_t i = 0; i < u.n; i++) {
            char id[24], v[24], vi[24];
            snprintf(id, sizeof id, "%lld", (long long)u.tasks[i].id);
            snprintf(v, sizeof v, "%lld", (long long)u.tasks[i].version);
            snprintf(vi, sizeof vi, "%lld", (long long)u.tasks[i].ver_index);
            const char *cells[] = {id, v, vi, u.tasks[i].doc};
            ops_table_add(t, cells);
        }
        ops_table_print(t, c->out, ops_term_width(c->out), ops_use_color(c->out));
        ops_table_free(t);
    }
    ops_rm_user_free(&u);
    return OPS_OK;
}

ops_status_t cli_readmodel_diff(cli_ctx_t *c)
{
    if (cli_has(c, "all") && cli_has(c, "user")) return cli_usage(c, "--all and --user exclude each other");
    int64_t one = 0, *users = &one;
    size_t nusers = 1;
    ops_status_t st = OPS_OK;
    if (!cli_has(c, "all") && (st = which_user(c, &one)) != OPS_OK) return st;
    ops_rm_t *rm;
    if ((st = open_rm(c, true, &rm)) != OPS_OK) return st;
    if (cli_has(c, "all") && (st = ops_rm_users(rm, &users, &nusers, &c->err)) != OPS_OK) {
        ops_rm_close(rm);
        return st;
    }
    cJSON *out = cJSON_CreateObject(), *drift = cJSON_AddArrayToObject(out, "drift");
    cJSON *skipped = cJSON_AddArrayToObject(out, "not_built");
    size_t total = 0, checked = 0;
    for (size_t i = 0; i < nusers && st == OPS_OK; i++) {
        ops_drift_t *d;
        size_t n;
        bool compared;
        st = ops_rm_diff(rm, users[i], &d, &n, &compared, &c->err);
        if (st != OPS_OK) break;
        if (!compared) cJSON_AddItemToArray(skipped, cJSON_CreateNumber((double)users[i]));
        checked++;
        for (size_t k = 0; k < n; k++) {
            cJSON_AddItemToArray(drift, ops_drift_json(&d[k]));
            if (!c->json)
                fprintf(c->out, "user %lld task %lld: %s%s%s (postgres v%lld, redis v%lld)\n",
                        (long long)d[k].user_id, (long long)d[k].task_id,
                        ops_drift_kind_name(d[k].kind), d[k].field[0] ? " " : "", d[k].field,
                        (long long)d[k].pg_version, (long long)d[k].rm_version);
        }
        total += n;
        free(d);
        if (c->interrupted && *c->interrupted) break;
    }
    if (users != &one) free(users);
    ops_rm_close(rm);
    if (st == OPS_OK) {
        cJSON_AddNumberToObject(out, "users_checked", (double)checked);
        if (c->json)
            cli_print_json(c, out);
        else
            fprintf(c->out, "%zu user%s checked, %zu drifted task%s%s\n", checked,
                    checked == 1 ? "" : "s", total, total == 1 ? "" : "s",
                    cJSON_GetArraySize(skipped) ? " (some projections not built: skipped)" : "");
        if (total) st = ops_fail(&c->err, OPS_FAIL, "read model drift: %zu task%s", total,
                                 total == 1 ? "" : "s");
    }
    cJSON_Delete(out);
    return st;
}
