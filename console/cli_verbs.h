/* cli_verbs — the run function of every verb, one file per group (cli_<group>.c). The table
 * that names them, with their flags and help, is in cli.c. */
#ifndef CLI_VERBS_H
#define CLI_VERBS_H

#include "cli.h"

/* cli_auth.c */
ops_status_t cli_login(cli_ctx_t *c);
ops_status_t cli_logout(cli_ctx_t *c);
ops_status_t cli_whoami(cli_ctx_t *c);
/* cli_tasks.c */
ops_status_t cli_tasks_list(cli_ctx_t *c);
ops_status_t cli_tasks_show(cli_ctx_t *c);
ops_status_t cli_tasks_add(cli_ctx_t *c);
ops_status_t cli_tasks_edit(cli_ctx_t *c);
ops_status_t cli_tasks_done(cli_ctx_t *c);
ops_status_t cli_tasks_rm(cli_ctx_t *c);
/* cli_notify.c */
ops_status_t cli_notifications(cli_ctx_t *c);
ops_status_t cli_notifications_read(cli_ctx_t *c);
/* cli_health.c */
ops_status_t cli_health(cli_ctx_t *c);
ops_status_t cli_config(cli_ctx_t *c);
/* cli_outbox.c */
ops_status_t cli_outbox_stats(cli_ctx_t *c);
ops_status_t cli_outbox_list(cli_ctx_t *c);
ops_status_t cli_outbox_show(cli_ctx_t *c);
/* cli_readmodel.c */
ops_status_t cli_readmodel_show(cli_ctx_t *c);
ops_status_t cli_readmodel_diff(cli_ctx_t *c);
/* cli_traces.c */
ops_status_t cli_traces_list(cli_ctx_t *c);
ops_status_t cli_traces_show(cli_ctx_t *c);
/* cli_topics.c */
ops_status_t cli_topics_list(cli_ctx_t *c);
ops_status_t cli_topics_lag(cli_ctx_t *c);
ops_status_t cli_topics_tail(cli_ctx_t *c);
/* cli_shell.c */
ops_status_t cli_shell(cli_ctx_t *c);
ops_status_t cli_completion(cli_ctx_t *c);
ops_status_t cli_complete(cli_ctx_t *c);

/* Candidates for the next word after words[0..n) (verbs, flags, topics, task ids), each
 * passed to emit; shared by `__complete` (bash) and the shell's readline completion. */
void cli_complete_words(ops_cfg_t *cfg, int n, char **words, const char *prefix,
                        void (*emit)(const char *cand, void *arg), void *arg);

#endif
