/* cli_health — every part's liveness, readiness and key figures; exit 1 when a configured part
 * is not ready. */
#include <stdio.h>
#include <string.h>

#include "cli_verbs.h"
#include "ops_health.h"
#include "ops_http.h"
#include "ops_table.h"

ops_status_t cli_health(cli_ctx_t *c)
{
    ops_part_t parts[OPS_PARTS_MAX];
    size_t n = ops_health_check(c->cfg, parts, OPS_PARTS_MAX);
    bool all = true;
    for (size_t i = 0; i < n; i++)
        if (parts[i].configured && !parts[i].ready) all = false;
    if (c->json) {
        cJSON *j = ops_health_json(parts, n);
        cli_print_json(c, j);
        cJSON_Delete(j);
    } else {
        static const char *const cols[] = {"PART", "STATE", "MS", "ADDRESS", "DETAIL"};
        ops_table_t *t = ops_table_new(cols, 5);
        ops_table_flex(t, 4);
        ops_table_right(t, 2);
        for (size_t i = 0; i < n; i++) {
            const ops_part_t *p = &parts[i];
            char ms[16], detail[600];
            snprintf(ms, sizeof ms, "%ld", p->latency_ms);
            size_t off = (size_t)snprintf(detail, sizeof detail, "%s", p->detail);
            for (size_t k = 0; k < p->nfigures && off < sizeof detail; k++)
                off += (size_t)snprintf(detail + off, sizeof detail - off, "%s%s=%g",
                                        off ? " " : "", p->figures[k].name, p->figures[k].value);
            const char *state = !p->configured ? "unset" : p->ready ? "ready"
                                : p->alive ? "not-ready" : "down";
            const char *cells[] = {p->name, state, p->configured ? ms : "", p->address, detail};
            ops_table_add(t, cells);
        }
        ops_table_print(t, c->out, ops_term_width(c->out), ops_use_color(c->out));
        ops_table_free(t);
    }
    if (!all) ops_fail(&c->err, OPS_FAIL, "not every part is ready");
    return all ? OPS_OK : OPS_FAIL;
}

ops_status_t cli_config(cli_ctx_t *c)
{
    cJSON *o = cJSON_CreateObject(), *keys = cJSON_AddObjectToObject(o, "addresses");
    static const char *const cols[] = {"KEY", "VALUE", "FROM"};
    ops_table_t *t = ops_table_new(cols, 3);
    ops_table_flex(t, 1);
    for (int k = 0; k < OPS_KEY_COUNT; k++) {
        const char *v = ops_cfg_get(c->cfg, (ops_key_t)k);
        char shown[512] = "";
        /* what identifies the target, never what authenticates to it */
        if (v) ops_url_redact(v, shown, sizeof shown);
        cJSON *x = cJSON_AddObjectToObject(keys, ops_cfg_key_name((ops_key_t)k));
        if (v)
            cJSON_AddStringToObject(x, "value", shown);
        else
            cJSON_AddNullToObject(x, "value");
        cJSON_AddStringToObject(x, "from", ops_cfg_src_name(c->cfg->src[k]));
        const char *cells[] = {ops_cfg_key_name((ops_key_t)k), shown, ops_cfg_src_name(c->cfg->src[k])};
        ops_table_add(t, cells);
    }
    cJSON_AddStringToObject(o, "config_file", c->cfg->config_file);
    cJSON_AddStringToObject(o, "stack_env", c->cfg->stack_env);
    cJSON_AddStringToObject(o, "state_dir", c->cfg->state_dir);
    if (c->json) {
        cli_print_json(c, o);
    } else {
        ops_table_print(t, c->out, ops_term_width(c->out), ops_use_color(c->out));
        fprintf(c->out, "\nconfig file  %s\nstack.env    %s\nstate        %s\n", c->cfg->config_file,
                c->cfg->stack_env[0] ? c->cfg->stack_env : "(none found)", c->cfg->state_dir);
    }
    ops_table_free(t);
    cJSON_Delete(o);
    return OPS_OK;
}
