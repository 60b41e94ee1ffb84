/* todo-console — the ops console's scriptable CLI (CONTRACT §9; `todo-console --help`, man
 * todo-console). Exit status: 0 ok, 1 failure, 2 usage, 3 not logged in or refused,
 * 4 unreachable (lib/ops/ops_err.h). */
#include "cli.h"

int main(int argc, char **argv)
{
    return cli_main(argc, argv);
}
