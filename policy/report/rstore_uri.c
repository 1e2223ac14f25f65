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
 * its password in a log line.  The scan is lexical and follows libpq's:
 * the userinfo ends at the first '@' before a '/', query keys are
 * percent-decoded before they are compared.
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

/* Is the n bytes at k, percent-decoded, "password" (any case)? */
static bool rs_key_is_password(const char *k, size_t n)
{
    static const char want[] = "password";
    size_t j = 0;

    for (size_t i = 0; i < n; i++, j++) {
        char c = k[i];
        if (c == '%' && i + 2 < n && strbuf_hexval(k[i + 1]) >= 0 && strbuf_hexval(k[i + 2]) >= 0) {
            c = (char)(strbuf_hexval(k[i + 1]) << 4 | strbuf_hexval(k[i + 2]));
            i += 2;
        }
        if (j >= sizeof(want) - 1 || (c | 0x20) != want[j])
            return false;
    }
    return j == sizeof(want) - 1;
}

/* The passwords of a PostgreSQL URI, in order; the number found (at most
 * RS_URI_SPANS: the last one then runs to the end of the URI). */
static size_t rs_uri_passwords(const char *uri, rs_span *out)
{
    const char *p = strstr(uri, "://"), *q, *at, *colon;
    size_t n = 0, len = strlen(uri);

    if (rstore_uri_kind(uri) != RS_PG || p == NULL)
        return 0;
    p += 3;
    at = memchr(p, '@', strcspn(p, "/"));
    colon = at ? memchr(p, ':', (size_t)(at - p)) : NULL;
    if (colon != NULL)
        out[n++] = (rs_span){(size_t)(colon + 1 - uri), (size_t)(at - colon - 1)};
    for (q = strchr(at ? at : p, '?'); q != NULL;) {
        const char *k = q + 1, *eq;
        size_t item = strcspn(k, "&");

        eq = memchr(k, '=', item);
        if (eq != NULL && rs_key_is_password(k, (size_t)(eq - k))) {
            size_t off = (size_t)(eq + 1 - uri);
            if (n == RS_URI_SPANS - 1) {
                out[n++] = (rs_span){off, len - off};
                break;
            }
            out[n++] = (rs_span){off, item - (size_t)(eq + 1 - k)};
        }
        q = k[item] == '&' ? k + item : NULL;
    }
    return n;
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
