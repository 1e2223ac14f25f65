/*
 * dkimsig.c - a DKIM-Signature field before libopendkim sees it
 * (dkimsig.h).
 */
#include "config.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dkimsig.h"
#include "xalloc.h"

/* Value of tag t in a DKIM-Signature value (bounded scan, white space
 * removed around it), in a new string, or NULL. */
char *dkimsig_tag(const char *v, char t)
{
    const char *p = v;

    for (size_t guard = 0; *p && guard < 4096; guard++) {
        const char *end = strchr(p, ';'), *q = p, *e;
        if (end == NULL)
            end = p + strlen(p);
        while (q < end && (*q == ' ' || *q == '\t' || *q == '\r' || *q == '\n'))
            q++;
        if (q < end && *q == t) {
            const char *eq = q + 1;
            while (eq < end && (*eq == ' ' || *eq == '\t' || *eq == '\r' || *eq == '\n'))
                eq++;
            if (eq < end && *eq == '=') {
                eq++;
                while (eq < end && (*eq == ' ' || *eq == '\t' || *eq == '\r' || *eq == '\n'))
                    eq++;
                e = end;
                while (e > eq && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r' || e[-1] == '\n'))
                    e--;
                return xstrndup(eq, (size_t)(e - eq) > DKIMSIG_STR_MAX ? DKIMSIG_STR_MAX : (size_t)(e - eq));
            }
        }
        if (*end == '\0')
            break;
        p = end + 1;
    }
    return NULL;
}

/* "name:value" with every bare LF or bare CR made CRLF (Postfix folds
 * with LF; canonicalization needs the message's CRLF).  This is what
 * libopendkim's DKIM_LIBFLAGS_FIXCRLF would make of it, done here so
 * that it has nothing left to change: libopendkim 2.11.0 parses a
 * DKIM-Signature it lengthened with the original length, one octet cut
 * off its end per insertion, which can turn a valid i= ("=56") into one
 * dkim_qp_decode() reads past ("=5").  Caller frees. */
char *dkimsig_field(const char *name, const char *value)
{
    size_t nl = strlen(name), vl = strlen(value), o = 0;
    char *f = xmalloc(nl + 1 + 2 * vl + 1);

    memcpy(f, name, nl);
    o = nl;
    f[o++] = ':';
    for (size_t i = 0; i < vl; i++) {
        if (value[i] == '\n' && (i == 0 || value[i - 1] != '\r')) {
            f[o++] = '\r';
            f[o++] = '\n';
        } else if (value[i] == '\r' && value[i + 1] != '\n') {
            f[o++] = '\r';
            f[o++] = '\n';
        } else {
            f[o++] = value[i];
        }
    }
    f[o] = '\0';
    return f;
}

/* Is name DKIM-Signature as libopendkim sees it (white space before the
 * colon removed)? */
bool dkimsig_is_sig_name(const char *name)
{
    size_t n = strlen(name);

    while (n > 0 && isspace((unsigned char)name[n - 1]))
        n--;
    return n == sizeof(DKIMSIG_HEADER) - 1 && strncasecmp(name, DKIMSIG_HEADER, n) == 0;
}

/* Is [p, e) the tag name "i", white space removed (as libopendkim does)? */
static bool dkimsig_is_i_name(const char *p, const char *e)
{
    size_t n = 0;

    for (; p < e; p++) {
        if (isspace((unsigned char)*p))
            continue;
        if (*p != 'i' || ++n > 1)
            return false;
    }
    return n == 1;
}

/* Can libopendkim's dkim_qp_decode() take every i= of this signature?
 * With white space removed (as libopendkim does first), each "=" must be
 * followed by two hex digits (RFC 6376 dkim-quoted-printable) and the
 * value must be at most DKIMSIG_I_MAX octets.  The scan covers the whole value,
 * so it is at least as strict as libopendkim's own tag parser. */
bool dkimsig_i_ok(const char *v)
{
    const char *p = v, *vend = v + strlen(v);

    while (p < vend) { /* one tag per round; p advances every round */
        const char *end = memchr(p, ';', (size_t)(vend - p)), *eq;
        if (end == NULL)
            end = vend;
        eq = memchr(p, '=', (size_t)(end - p));
        if (eq != NULL && dkimsig_is_i_name(p, eq)) {
            size_t n = 0;
            for (const char *q = eq + 1; q < end; q++) {
                if (isspace((unsigned char)*q))
                    continue;
                if (++n > DKIMSIG_I_MAX)
                    return false;
                if (*q == '=') {
                    const char *h = q + 1;
                    int hex = 0;
                    for (; h < end && hex < 2; h++) {
                        if (isspace((unsigned char)*h))
                            continue;
                        if (!isxdigit((unsigned char)*h))
                            return false;
                        hex++;
                    }
                    if (hex < 2)
                        return false;
                }
            }
        }
        p = end + 1;
    }
    return true;
}
