/* outbox-inspect — the operator's tool for the transactional outbox of the tasks database
 * (CONTRACT §9). main.c holds the verb table; one file per group of verbs:
 *   oi_read.c   stats, list, show            (read-only queries)
 *   oi_watch.c  watch                        (samples and drain rates, refreshed in place)
 *   oi_write.c  replay, prune                (the only verbs that change rows)
 * Everything that talks to PostgreSQL is lib/ops/ops_outbox; a verb parses its options,
 * calls the library and prints. Exit codes are ops_status_t (0 ok, 1 failure, 2 usage,
 * 4 unreachable). */
#ifndef OI_H
#define OI_H

#include "ops_cmd.h"
#include "ops_outbox.h"

#define OI_PROG "outbox-inspect"

/* Opens the outbox reader on TASKS_DATABASE_URL (usage error naming the sources when unset). */
ops_status_t oi_open(ops_cmd_t *c, ops_outbox_t **ob);

/* oi_read.c */
ops_status_t oi_stats(ops_cmd_t *c);
ops_status_t oi_list(ops_cmd_t *c);
ops_status_t oi_show(ops_cmd_t *c);
/* oi_watch.c */
ops_status_t oi_watch(ops_cmd_t *c);
/* oi_write.c */
ops_status_t oi_replay(ops_cmd_t *c);
ops_status_t oi_prune(ops_cmd_t *c);

#endif
