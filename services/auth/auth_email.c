/* auth_email — email normal form and validation; see auth_email.h. */
#include "auth_email.h"

#include <stdbool.h>
#include <string.h>

static bool is_atext(unsigned char c);
static bool valid_local(const char *s, size_t n);
static bool valid_domain(const char *s, size_t n);

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 5322 atext: letters, digits and !#$%&'*+-/=?^_`{|}~ */
static bool is_atext(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return true;
    return c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL;
}

/* dot-atom: atext runs separated by single dots, no leading or trailing dot. */
static bool valid_local(const char *s, size_t n)
{
    if (n == 0 || n > 64 || s[0] == '.' || s[n - 1] == '.') return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (s[i + 1] == '.') return false;
        } else if (!is_atext(c)) {
            return false;
        }
    }
    return true;
}

/* At least two labels of letters, digits and inner hyphens, 1..63 bytes each; the last
 * label (TLD) is not all digits. */
static bool valid_domain(const char *s, size_t n)
{
    if (n == 0 || n > 253) return false;
    size_t labels = 0, start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i < n && s[i] != '.') {
            unsigned char c = (unsigned char)s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
            continue;
        }
        size_t len = i - start;
        if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-') return false;
        labels++;
        if (i == n) {
            bool digits = true;
            for (size_t k = start; k < i; k++)
                digits = digits && s[k] >= '0' && s[k] <= '9';
            if (digits) return false;
        }
        start = i + 1;
    }
    return labels >= 2;
}

int auth_email_normalize(const char *in, size_t len, char out[AUTH_EMAIL_MAX + 1])
{
    out[0] = '\0';
    while (len && is_blank((unsigned char)in[0]))
        in++, len--;
    while (len && is_blank((unsigned char)in[len - 1]))
        len--;
    if (len == 0 || len > AUTH_EMAIL_MAX) return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == 0 || c >= 0x80) {
            out[0] = '\0';
            return -1;
        }
        out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
    }
    out[len] = '\0';
    const char *at = strchr(out, '@');
    if (!at || strchr(at + 1, '@') || !valid_local(out, (size_t)(at - out)) ||
        !valid_domain(at + 1, len - (size_t)(at - out) - 1)) {
        out[0] = '\0';
        return -1;
    }
    return 0;
}
