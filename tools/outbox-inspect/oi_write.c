/* oi_write — replay and prune, the two verbs that change rows (each change is one READ WRITE
 * transaction in lib/ops/ops_outbox; everything else runs read-only). Replay shows what it
 * would re-queue and asks before doing it, unless --yes; prune touches only published rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "oi.h"
#include "ops_http.h"

#define MAX_TASKS 1000 /* distinct task ids collected to describe a replay */
#define SHOW_TASKS 10  /* … of which a message names this many */

/* "3 dead rows of 2 tasks (17, 42)" into b. */
static void describe(buf_t *b, int64_t count, const char *what, const int64_t *tasks, size_t ntasks)
{
    buf_printf(b, "%lld %s row%s of %s%zu task%s (", (long long)count, what, count == 1 ? "" : "s",
               ntasks == MAX_TASKS ? "at least " : "", ntasks, ntasks == 1 ? "" : "s");
    for (size_t i = 0; i < ntasks && i < SHOW_TASKS; i++)
        buf_printf(b, "%s%lld", i ? ", " : "", (long long)tasks[i]);
    if (ntasks > SHOW_TASKS) buf_printf(b, ", … %zu more", ntasks - SHOW_TASKS);
    buf_putc(b, ')');
}

static cJSON *tasks_json(const int64_t *tasks, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((double)tasks[i]));
    return a;
}

/* Asks on stderr, reads one line from stdin: true only for y or yes. */
static bool confirm(const char *question)
{
    fprintf(stderr, "%s [y/N] ", question);
    fflush(stderr);
    char line[32];
    if (!fgets(line, sizeof line, stdin)) {
        fputc('\n', stderr);
        return false;
    }
    line[strcspn(line, "\r\n")] = '\0';
    return !strcasecmp(line, "y") || !strcasecmp(line, "yes");
}

ops_status_t oi_replay(ops_cmd_t *c)
{
    bool dead = ops_cmd_has(c, "dead"), published = ops_cmd_has(c, "published");
    bool yes = ops_cmd_has(c, "yes"), dry = ops_cmd_has(c, "dry-run");
    bool ranged = ops_cmd_has(c, "from");
    int64_t from = 1, to = 0;
    if (ops_cmd_has(c, "to") && !ranged) return ops_cmd_usage(c, "--to needs --from");
    if (!ranged && !dead) return ops_cmd_usage(c, "replay needs --dead or --from ID [--to ID]");
    if (published && !ranged) return ops_cmd_usage(c, "--published needs a range (--from ID)");
    if (published && dead) return ops_cmd_usage(c, "--dead and --published exclude each other");
    if (ranged && ops_cmd_int(c, ops_cmd_get(c, "from"), "--from", 1, INT64_MAX, &from))
        return OPS_USAGE;
    if (ops_cmd_has(c, "to") && ops_cmd_int(c, ops_cmd_get(c, "to"), "--to", 1, INT64_MAX, &to))
        return OPS_USAGE;
    if (to && to < from)
        return ops_cmd_usage(c, "empty range: --from %lld is after --to %lld", (long long)from,
                             (long long)to);
    char range[64];
    if (!ranged)
        snprintf(range, sizeof range, "the outbox");
    else if (to)
        snprintf(range, sizeof range, "rows %lld..%lld", (long long)from, (long long)to);
    else
        snprintf(range, sizeof range, "rows from %lld on", (long long)from);
    const char *what = published ? "dead or published" : "dead";
    ops_outbox_t *ob;
    ops_status_t st = oi_open(c, &ob);
    if (st != OPS_OK) return st;
    int64_t *tasks = calloc(MAX_TASKS, sizeof *tasks);
    int64_t count = 0;
    size_t ntasks = 0;
    buf_t msg = BUF_INIT;
    if (!tasks) {
        st = ops_fail(&c->err, OPS_FAIL, "out of memory");
        goto done;
    }
    /* first what it would do (nothing changes), so the question can name it */
    st = ops_outbox_replay(ob, from, to, published, true, &count, tasks, MAX_TASKS, &ntasks, &c->err);
    if (st != OPS_OK) goto done;
    if (count == 0) {
        st = ops_fail(&c->err, OPS_FAIL, "nothing to replay: no %s rows in %s", what, range);
        goto done;
    }
    describe(&msg, count, what, tasks, ntasks);
    if (dry) {
        if (c->json) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "would_replay", (double)count);
            cJSON_AddItemToObject(o, "tasks", tasks_json(tasks, ntasks));
            cJSON_AddBoolToObject(o, "dry_run", true);
            ops_cmd_print_json(c, o);
            cJSON_Delete(o);
        } else {
            fprintf(c->out, "would re-queue %s (dry run: nothing changed)\n", buf_str(&msg));
        }
        goto done;
    }
    if (!yes) {
        char db[512];
        ops_url_redact(ops_cfg_get(c->cfg, OPS_TASKS_DATABASE_URL), db, sizeof db);
        buf_t q = BUF_INIT;
        buf_printf(&q, "%s: re-queue %s in %s? The relays will publish them again.", OI_PROG,
                   buf_str(&msg), db);
        bool ok = confirm(buf_str(&q));
        buf_free(&q);
        if (!ok) {
            st = ops_fail(&c->err, OPS_FAIL, "not confirmed: nothing was replayed (--yes skips the question)");
            goto done;
        }
    }
    st = ops_outbox_replay(ob, from, to, published, false, &count, tasks, MAX_TASKS, &ntasks, &c->err);
    if (st != OPS_OK) goto done;
    buf_reset(&msg);
    describe(&msg, count, what, tasks, ntasks);
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "replayed", (double)count);
        cJSON_AddItemToObject(o, "tasks", tasks_json(tasks, ntasks));
        ops_cmd_print_json(c, o);
        cJSON_Delete(o);
    } else {
        fprintf(c->out, "re-queued %s; the relays publish them again\n", buf_str(&msg));
    }
done:
    buf_free(&msg);
    free(tasks);
    ops_outbox_close(ob);
    return st;
}

ops_status_t oi_prune(ops_cmd_t *c)
{
    int64_t ms;
    const char *d = ops_cmd_get(c, "older-than");
    if (!d) return ops_cmd_usage(c, "prune needs --older-than D (e.g. 7d)");
    if (ops_cmd_duration(c, d, "--older-than", &ms)) return OPS_USAGE;
    bool dry = ops_cmd_has(c, "dry-run");
    ops_outbox_t *ob;
    ops_status_t st = oi_open(c, &ob);
    if (st != OPS_OK) return st;
    int64_t count = 0;
    st = ops_outbox_prune(ob, ms / 1000, dry, &count, &c->err);
    ops_outbox_close(ob);
    if (st != OPS_OK) return st;
    if (c->json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, dry ? "would_delete" : "deleted", (double)count);
        cJSON_AddNumberToObject(o, "older_than_seconds", (double)(ms / 1000));
        if (dry) cJSON_AddBoolToObject(o, "dry_run", true);
        ops_cmd_print_json(c, o);
        cJSON_Delete(o);
    } else {
        fprintf(c->out, "%s %lld published row%s published more than %s ago%s\n",
                dry ? "would delete" : "deleted", (long long)count, count == 1 ? "" : "s", d,
                dry ? " (dry run: nothing changed)" : "");
    }
    return OPS_OK;
}
