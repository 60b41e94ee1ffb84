/* auth_email — the one normal form of an email address, used as the account key.
 *
 * Normal form: surrounding blanks removed, ASCII lower-cased. Accepted addresses are
 * ASCII "local@domain" with a dot-atom local part (RFC 5322 atext, at most 64 bytes) and a
 * domain of at least two LDH labels (each 1..63 bytes, no leading or trailing hyphen),
 * at most AUTH_EMAIL_MAX bytes in total. Quoted local parts, comments, IP-literal domains
 * and internationalised addresses are refused: they are legal but rare, and every one is a
 * second spelling of some account or a parser bug waiting to happen. */
#ifndef AUTH_EMAIL_H
#define AUTH_EMAIL_H

#include <stddef.h>

#define AUTH_EMAIL_MAX 254

/* Normalises in (len bytes, may contain anything) into out (at least AUTH_EMAIL_MAX + 1
 * bytes). Returns 0, or -1 if it is not an acceptable address (out is then ""). */
int auth_email_normalize(const char *in, size_t len, char out[AUTH_EMAIL_MAX + 1]);

#endif
