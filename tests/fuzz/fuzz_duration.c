/* libFuzzer target: cfg_parse_duration never crashes and never yields a negative value. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    int64_t ms = -1;
    if (cfg_parse_duration(s, &ms) == 0 && ms < 0) abort();
    free(s);
    return 0;
}
