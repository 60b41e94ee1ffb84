/* ops_stack — the local stack an ops program runs beside: infra/local/stack of the checkout,
 * driven for one part (`stop kafka`, `start kafka`, `restart tasks`, `status`).
 *
 *   ops_stack_t st;
 *   if (ops_stack_find(&cfg, &st, &err) != OPS_OK) …      // not beside a local stack
 *   buf_t out = BUF_INIT;
 *   ops_stack_run(&st, "stop", "kafka", 60000, &out, &err);   // its output in out
 *
 * The stack is the one whose stack.env ops_cfg read (CONTRACT §2): its run directory is that
 * file's directory and its script is infra/local/stack of the checkout holding that .run/
 * (else of the checkout the program runs from, found from /proc/self/exe). The script is run
 * with TODO_RUN_DIR set to that run directory and STACK_PORT_OFFSET to the offset recorded in
 * stack.env (the stack writes it there), so a part restarted from here comes back on the
 * stack's own ports and rewrites the right stack.env — never a second stack's. */
#ifndef OPS_STACK_H
#define OPS_STACK_H

#include "buf.h"
#include "ops_cfg.h"
#include "ops_err.h"

typedef struct ops_stack {
    char script[4096];   /* …/infra/local/stack */
    char run_dir[4096];  /* the directory of the stack.env in use */
    char offset[16];     /* STACK_PORT_OFFSET from stack.env, "" when absent */
} ops_stack_t;

/* Finds the stack beside cfg. OPS_USAGE ("not beside a local stack: …") when cfg came from no
 * stack.env or no infra/local/stack script is found. */
ops_status_t ops_stack_find(const ops_cfg_t *cfg, ops_stack_t *out, ops_err_t *err);

/* Runs `stack VERB [PART]` (verb: start, stop, restart, status; part: a lowercase name, NULL
 * for status), its stdin /dev/null, its stdout and stderr together into out (at most 64 KB
 * kept), no other descriptor of ours inherited. Waits at most timeout_ms, then kills its
 * process group. OPS_OK when it exited 0; OPS_FAIL with its last output line otherwise;
 * OPS_USAGE for a verb or part name not allowed. Blocks: call it off a UI thread. */
ops_status_t ops_stack_run(const ops_stack_t *s, const char *verb, const char *part,
                           int timeout_ms, buf_t *out, ops_err_t *err);

#endif
