/*
 * rua.c - a DMARC record's rua value read into mail destinations, and the
 * names that verify external ones (rua.h has the rules).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "dname.h"
#include "rua.h"
#include "strbuf.h"

static bool rua_wsp(char c)
{
    return c == ' ' || c == '\t';
}

static bool rua_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool rua_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* A character of a local part we send to: RFC 5322 atext without '!' and
 * '%' (an MTA may read them as a bang path or the percent hack and route
 * elsewhere than the address says) and '/' (the address names a directory
 * with mxguard report --output-dir). */
static bool rua_local_char(char c)
{
    return rua_alpha(c) || rua_digit(c) || (c != '\0' && strchr("#$&'*+-=?^_`{|}~", c) != NULL);
}

/* "!" 1*DIGIT [k|m|g|t] at s[0..len) (s[0] is the '!'), in bytes,
 * saturating at UINT64_MAX.  false when malformed. */
static bool rua_size(const char *s, size_t len, uint64_t *out)
{
    uint64_t v = 0;
    unsigned shift = 0;
    size_t i = 1;

    if (len < 2 || !rua_digit(s[1]))
        return false;
    for (; i < len && rua_digit(s[i]); i++) {
        unsigned d = (unsigned)(s[i] - '0');
        v = v > (UINT64_MAX - d) / 10 ? UINT64_MAX : v * 10 + d;
    }
    if (i < len) {
        switch (s[i] | 0x20) {
        case 'k': shift = 10; break;
        case 'm': shift = 20; break;
        case 'g': shift = 30; break;
        case 't': shift = 40; break;
        default: return false;
        }
        if (++i != len)
            return false;
    }
    *out = v > (UINT64_MAX >> shift) ? UINT64_MAX : v << shift;
    return true;
}

/* Percent-decode s[0..len) into out (outsz bytes, NUL-terminated); false
 * on a bad escape, a NUL byte or no room. */
static bool rua_pct_decode(const char *s, size_t len, char *out, size_t outsz)
{
    size_t o = 0;

    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int h, l;
            if (i + 2 >= len)
                return false;
            h = strbuf_hexval(s[i + 1]);
            l = strbuf_hexval(s[i + 2]);
            if (h < 0 || l < 0)
                return false;
            c = (char)(h * 16 + l);
            i += 2;
        }
        if (c == '\0' || o + 1 >= outsz)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

/* local@domain (decoded) into d; false when it is not one dot-atom local
 * part and a domain name. */
static bool rua_address(const char *addr, rua_dest *d)
{
    const char *at = strchr(addr, '@');
    size_t llen;

    if (at == NULL || strchr(at + 1, '@') != NULL)
        return false;
    llen = (size_t)(at - addr);
    if (llen == 0 || llen > RUA_LOCAL_MAX || addr[0] == '.' || at[-1] == '.')
        return false;
    for (size_t i = 0; i < llen; i++) {
        if (addr[i] == '.' ? addr[i + 1] == '.' : !rua_local_char(addr[i]))
            return false;
    }
    if (!dname_normalize(at + 1, d->domain, sizeof(d->domain)))
        return false;
    snprintf(d->addr, sizeof(d->addr), "%.*s@%s", (int)llen, addr, d->domain);
    return true;
}

typedef enum rua_item {
    RUA_ITEM_DEST,
    RUA_ITEM_OTHER,
    RUA_ITEM_BAD,
} rua_item;

/* One URI (white space already trimmed) into d. */
static rua_item rua_uri(const char *s, size_t len, rua_dest *d)
{
    char buf[RUA_URI_MAX + 1];
    size_t i = 0, end = len;
    const char *bang, *q;

    if (len > RUA_URI_MAX || len == 0 || !rua_alpha(s[0]))
        return RUA_ITEM_BAD;
    while (i < len && (rua_alpha(s[i]) || rua_digit(s[i]) || s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (i >= len || s[i] != ':')
        return RUA_ITEM_BAD;
    if (i != 6 || strncasecmp(s, "mailto", 6) != 0)
        return RUA_ITEM_OTHER;
    i++;
    memset(d, 0, sizeof(*d));
    bang = memchr(s + i, '!', len - i);
    if (bang != NULL) {
        end = (size_t)(bang - s);
        if (!rua_size(bang, len - end, &d->max_size))
            return RUA_ITEM_BAD;
        d->has_limit = true;
    }
    q = memchr(s + i, '?', end - i); /* hfields (RFC 6068): not ours to follow */
    if (q != NULL)
        end = (size_t)(q - s);
    if (!rua_pct_decode(s + i, end - i, buf, sizeof(buf)) || !rua_address(buf, d))
        return RUA_ITEM_BAD;
    return RUA_ITEM_DEST;
}

static bool rua_seen(const rua_dest *out, size_t n, const rua_dest *d)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(out[i].addr, d->addr) == 0)
            return true;
    return false;
}

size_t rua_parse(const char *value, rua_dest *out, size_t max, rua_stats *stats)
{
    rua_stats st = {0};
    size_t n = 0;
    const char *p = value ? value : "";

    while (*p != '\0') {
        const char *s = p, *e;
        rua_dest d;

        while (*p != '\0' && *p != ',')
            p++;
        e = p;
        if (*p == ',')
            p++;
        while (s < e && rua_wsp(*s))
            s++;
        while (e > s && rua_wsp(e[-1]))
            e--;
        if (s == e)
            continue; /* an empty item: nothing written there */
        switch (rua_uri(s, (size_t)(e - s), &d)) {
        case RUA_ITEM_OTHER: st.other_scheme++; break;
        case RUA_ITEM_BAD: st.malformed++; break;
        case RUA_ITEM_DEST:
            if (rua_seen(out, n, &d))
                st.duplicate++;
            else if (n >= max)
                st.over_max++;
            else
                out[n++] = d;
            break;
        }
    }
    if (stats != NULL)
        *stats = st;
    return n;
}

/* Is a (normalized) a or under b? */
static bool rua_under(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);

    if (la == lb)
        return strcmp(a, b) == 0;
    return la > lb && a[la - lb - 1] == '.' && strcmp(a + la - lb, b) == 0;
}

bool rua_external(const char *policy_domain, const char *dest_domain)
{
    char p[DNAME_BUFSZ], d[DNAME_BUFSZ];

    if (!dname_normalize(policy_domain, p, sizeof(p)) || !dname_normalize(dest_domain, d, sizeof(d)))
        return true; /* not names: never trusted without verification */
    return !rua_under(d, p); /* a parent of the policy domain is verified too (rua.h) */
}

bool rua_verify_name(const char *policy_domain, const char *dest_domain, char *out, size_t outsz)
{
    char name[2 * DNAME_BUFSZ + 32];
    int n = snprintf(name, sizeof(name), "%s._report._dmarc.%s", policy_domain, dest_domain);

    /* an empty label (an empty or dotted policy domain) fails dname_valid */
    if (n < 0 || (size_t)n >= sizeof(name))
        return false;
    return dname_normalize(name, out, outsz);
}
