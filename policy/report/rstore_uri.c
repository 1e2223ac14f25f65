/*
 * rstore_uri.c - the report store's URI (rstore.h): its kind, its syntax
 * for the config loader, and the form a log line or a message shows.  Its
 * own file so that the tests linking the fake store (fakestore.h) run this
 * real code.
 *
 * SECURITY: the URI comes from the config (root's) and may hold a
 * PostgreSQL password (postgresql://user:PW@host/... or ?password=PW).
 * Nothing that leaves this file holds it: rstore_uri_shown masks it, and
 * a syntax error's reason (libpq's parser quotes the URI, or parts of it)
 * has every password of the URI masked too, so a malformed URI never puts
 * its password in a log line.  The scan is lexical: libpq's reading (the
 * userinfo ends at the first '@' before a '/') and the plain one (the
 * query starts at the first '?') are both masked; query keys password and
 * sslpassword are percent-decoded before they are compared.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "rstore.h"
#include "rstore_impl.h"
#include "strbuf.h"
#include "xalloc.h"

#define RS_URI_SPANS 8 /* passwords masked per URI (more: the rest of the URI is masked) */

/* A password's place in the URI. */
typedef struct rs_span {
    size_t off, n;
} rs_span;

rs_kind rstore_uri_kind(const char *uri)
{
    if (strncmp(uri, "sqlite:", 7) == 0)
        return RS_SQLITE;
    if (strncmp(uri, "postgresql://", 13) == 0 || strncmp(uri, "postgres://", 11) == 0)
        return RS_PG;
    return RS_NONE;
}

/* Is the n bytes at k, percent-decoded, want (lower case; any case)? */
static bool rs_key_is(const char *k, size_t n, const char *want)
{
    size_t j = 0, wn = strlen(want);

    for (size_t i = 0; i < n; i++, j++) {
        char c = k[i];
        if (c == '%' && i + 2 < n && strbuf_hexval(k[i + 1]) >= 0 && strbuf_hexval(k[i + 2]) >= 0) {
            c = (char)(strbuf_hexval(k[i + 1]) << 4 | strbuf_hexval(k[i + 2]));
            i += 2;
        }
        if (j >= wn || (c | 0x20) != want[j])
            return false;
    }
    return j == wn;
}

/* A secret query key: libpq's password and sslpassword (the key's passphrase). */
static bool rs_key_is_password(const char *k, size_t n)
{
    return rs_key_is(k, n, "password") || rs_key_is(k, n, "sslpassword");
}

/* The secret values of the query that starts at q ('?'), appended to
 * out[*n..]; the last span runs to the end of the URI when out is full. */
static void rs_query_passwords(const char *uri, const char *q, rs_span *out, size_t *n)
{
    size_t len = strlen(uri);

    while (q != NULL && *n < RS_URI_SPANS) {
        const char *k = q + 1, *eq;
        size_t item = strcspn(k, "&");

        eq = memchr(k, '=', item);
        if (eq != NULL && rs_key_is_password(k, (size_t)(eq - k))) {
            size_t off = (size_t)(eq + 1 - uri);
            out[*n] = *n == RS_URI_SPANS - 1 ? (rs_span){off, len - off}
                                             : (rs_span){off, item - (size_t)(eq + 1 - k)};
            (*n)++;
        }
        q = k[item] == '&' ? k + item : NULL;
    }
}

static int rs_span_cmp(const void *a, const void *b)
{
    const rs_span *x = a, *y = b;
    return x->off < y->off ? -1 : x->off > y->off;
}

/* The passwords of a PostgreSQL URI, in order, overlaps merged; the number
 * found (at most RS_URI_SPANS).  Two readings are masked, so neither can
 * leak: libpq's (the userinfo ends at the first '@' before a '/', even
 * past a '?' in the password; the query after it) and the plain one (the
 * query starts at the first '?', so "db?user=me@corp&password=PW" is
 * caught too; the userinfo reading then masks "me" and more: safe, if
 * not pretty). */
static size_t rs_uri_passwords(const char *uri, rs_span *out)
{
    const char *p = strstr(uri, "://"), *at, *colon;
    rs_span all[2 * RS_URI_SPANS + 1];
    size_t n = 0, m = 0;

    if (rstore_uri_kind(uri) != RS_PG || p == NULL)
        return 0;
    p += 3;
    at = memchr(p, '@', strcspn(p, "/"));
    colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
    if (colon != NULL)
        all[n++] = (rs_span){(size_t)(colon + 1 - uri), (size_t)(at - colon - 1)};
    {
        size_t k1 = 0, k2 = 0;
        rs_span a[RS_URI_SPANS], b[RS_URI_SPANS];
        rs_query_passwords(uri, strchr(at ? at : p, '?'), a, &k1);
        rs_query_passwords(uri, strchr(p, '?'), b, &k2);
        memcpy(all + n, a, k1 * sizeof(*a));
        n += k1;
        memcpy(all + n, b, k2 * sizeof(*b));
        n += k2;
    }
    qsort(all, n, sizeof(*all), rs_span_cmp);
    for (size_t i = 0; i < n; i++) {
        if (m > 0 && all[i].off <= out[m - 1].off + out[m - 1].n) {
            size_t end = all[i].off + all[i].n, prev = out[m - 1].off + out[m - 1].n;
            if (end > prev)
                out[m - 1].n = end - out[m - 1].off;
        } else if (m < RS_URI_SPANS) {
            out[m++] = all[i];
        } else { /* full: mask to the end */
            out[m - 1].n = strlen(uri) - out[m - 1].off;
            break;
        }
    }
    return m;
}

char *rstore_uri_shown(const char *uri)
{
    rs_span sp[RS_URI_SPANS];
    size_t n = rs_uri_passwords(uri, sp), at = 0;
    strbuf b = {0};

    strbuf_add(&b, "", 0);
    for (size_t i = 0; i < n; i++) {
        strbuf_add(&b, uri + at, sp[i].off - at);
        strbuf_adds(&b, "***");
        at = sp[i].off + sp[i].n;
    }
    strbuf_adds(&b, uri + at);
    return strbuf_take(&b);
}

/* text with each password of uri in it replaced by "***" (a new string). */
static char *rs_uri_mask(const char *text, const char *uri)
{
    rs_span sp[RS_URI_SPANS];
    size_t n = rs_uri_passwords(uri, sp);
    char *cur = xstrdup(text);

    for (size_t i = 0; i < n; i++) {
        char *pw = xstrndup(uri + sp[i].off, sp[i].n);
        const char *s = cur, *hit;
        strbuf b = {0};

        strbuf_add(&b, "", 0);
        while (sp[i].n > 0 && (hit = strstr(s, pw)) != NULL) {
            strbuf_add(&b, s, (size_t)(hit - s));
            strbuf_adds(&b, "***");
            s = hit + sp[i].n;
        }
        strbuf_adds(&b, s);
        free(pw);
        free(cur);
        cur = strbuf_take(&b);
    }
    return cur;
}

bool rstore_uri_valid(const char *uri, char *err, size_t errsz)
{
    if (uri == NULL || *uri == '\0') {
        snprintf(err, errsz, "empty store URI");
        return false;
    }
    switch (rstore_uri_kind(uri)) {
    case RS_SQLITE:
        if (uri[7] != '/') {
            snprintf(err, errsz, "sqlite: needs an absolute file path (sqlite:/var/lib/mxguard/reports.db)");
            return false;
        }
        if (uri[strlen(uri) - 1] == '/') {
            snprintf(err, errsz, "sqlite: path names a directory, not a file");
            return false;
        }
        for (const char *c = uri; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) {
                snprintf(err, errsz, "sqlite: path holds a control character");
                return false;
            }
        return true;
    case RS_PG: {
        /* libpq's reason in full (a password cut off by err's size would
         * not be found), then masked */
        size_t wsz = 2 * strlen(uri) + 512;
        char *why = xmalloc(wsz), *m;
        bool ok = rstore_pg_uri_valid(uri, why, wsz);
        if (!ok) {
            m = rs_uri_mask(why, uri);
            snprintf(err, errsz, "%s", m);
            free(m);
        }
        free(why);
        return ok;
    }
    case RS_NONE:
        break;
    }
    snprintf(err, errsz, "unknown store kind (sqlite:PATH, postgresql://... or postgres://...)");
    return false;
}
