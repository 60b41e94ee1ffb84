/* cli_ui — `todo-console ui`: the full-screen console (ui.h) with its options; with no verb
 * on a terminal, cli_main runs it with the defaults. */
#include <string.h>

#include "cli_verbs.h"
#include "ui.h"

ops_status_t cli_ui(cli_ctx_t *c)
{
    ui_opts_t o = UI_OPTS_INIT;
    o.readonly = cli_has(c, "readonly");
    o.view = cli_get(c, "view");
    o.script = cli_get(c, "headless");
    o.topic = cli_get(c, "topic");
    if (o.topic && !*o.topic) return cli_usage(c, "--topic needs a topic name");
    int rc = ui_main(c->cfg, &o);
    /* ui_main printed what went wrong; this line says what it means for the exit code */
    if (rc == 2) return ops_fail(&c->err, OPS_USAGE, "the console did not start");
    if (rc != 0) return ops_fail(&c->err, OPS_FAIL, o.script ? "the headless script failed" : "the console failed");
    return OPS_OK;
}
