/* libFuzzer target: trace_parent_parse on arbitrary bytes. Anything it accepts must
 * format back to a valid version-00 value that parses to the same context. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    trace_ctx_t ctx, again;
    if (trace_parent_parse(s, &ctx) == 0) {
        char out[TRACE_PARENT_LEN + 1];
        trace_parent_format(&ctx, out);
        if (strlen(out) != TRACE_PARENT_LEN || trace_parent_parse(out, &again) != 0 ||
            memcmp(&ctx, &again, sizeof ctx) != 0)
            abort();
    }
    free(s);
    return 0;
}
