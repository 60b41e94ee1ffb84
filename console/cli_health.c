/* cli_health — every part's liveness, readiness and key figures; exit 1 when a configured part
 * is not ready. */
#include <stdio.h>
#include <string.h>

#include "cli_verbs.h"
#include "ops_health.h"
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
