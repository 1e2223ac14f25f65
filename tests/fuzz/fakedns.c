/*
 * fakedns.c - see fakedns.h.  The resolver functions of dns.h over a zone
 * text, linked instead of policy/dns/dns.c (the resolver); the data half of
 * dns.h (policy/dns/dnsdata.c: rdata helpers, answers, status names) is the
 * shipped one, from the library.
 *
 * Test code: the zone is process-global (the harnesses are one thread).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "dns.h"
#include "fakedns.h"
#include "xalloc.h"

struct dns {
    dns_observe_fn observe; /* dns_set_observer */
    void *observe_arg;
};

#define FAKEDNS_MAX_RR 64 /* records per answer */

static char *fake_zone;
static size_t fake_zone_len;
static unsigned fake_nqueries;

void fakedns_set_zone(const char *zone, size_t len)
{
    free(fake_zone);
    fake_zone = xmalloc(len + 1);
    memcpy(fake_zone, zone, len);
    fake_zone[len] = '\0';
    fake_zone_len = len;
    fake_nqueries = 0;
}

unsigned fakedns_queries(void)
{
    return fake_nqueries;
}

dns_t *dns_new(const dns_options *opt, char *err, size_t errlen)
{
    (void)opt;
    (void)err;
    (void)errlen;
    return xcalloc(1, sizeof(dns_t));
}

void dns_free(dns_t *dns)
{
    free(dns);
}

void dns_set_observer(dns_t *dns, dns_observe_fn fn, void *arg)
{
    dns->observe = fn;
    dns->observe_arg = arg;
}

/* A started query is its finished answer. */
struct fake_query {
    dns_t *dns;
    dns_answer *a;
};

static bool fake_name_eq(const char *a, size_t alen, const char *b)
{
    size_t blen = strlen(b);
    if (alen > 0 && a[alen - 1] == '.')
        alen--;
    if (blen > 0 && b[blen - 1] == '.')
        blen--;
    if (alen == 1 && a[0] == '*')
        return true;
    return alen == blen && strncasecmp(a, b, alen) == 0;
}

static void fake_add(dns_answer *a, const unsigned char *rd, size_t len)
{
    if (a->count >= FAKEDNS_MAX_RR)
        return;
    a->rdata = xreallocarray(a->rdata, a->count + 1, sizeof(*a->rdata));
    a->rdlen = xreallocarray(a->rdlen, a->count + 1, sizeof(*a->rdlen));
    a->rdata[a->count] = xmalloc(len ? len : 1);
    memcpy(a->rdata[a->count], rd, len);
    a->rdlen[a->count] = len;
    a->count++;
}

/* Text name to uncompressed wire form; false if it does not fit. */
static size_t fake_wire_name(const char *s, size_t n, unsigned char *out, size_t outsz)
{
    size_t o = 0;
    while (n > 0) {
        size_t l = 0;
        while (l < n && s[l] != '.')
            l++;
        if (l == 0 || l > 63 || o + 1 + l + 1 > outsz)
            return 0;
        out[o++] = (unsigned char)l;
        memcpy(out + o, s, l);
        o += l;
        s += l;
        n -= l;
        if (n > 0) {
            s++;
            n--;
        }
    }
    if (o + 1 > outsz)
        return 0;
    out[o++] = 0;
    return o;
}

static void fake_rr(dns_answer *a, int rrtype, const char *d, size_t n)
{
    unsigned char buf[1024];
    char tmp[300];
    size_t o = 0;

    if (rrtype == DNS_TYPE_TXT) {
        size_t i = 0;
        unsigned char rd[4096];
        while (i <= n && o < sizeof(rd) - 256) {
            size_t l = 0;
            while (i + l < n && d[i + l] != '|' && l < 255)
                l++;
            rd[o++] = (unsigned char)l;
            memcpy(rd + o, d + i, l);
            o += l;
            i += l;
            if (i < n && d[i] == '|')
                i++;
            else if (i >= n)
                break;
        }
        fake_add(a, rd, o);
        return;
    }
    if (n >= sizeof(tmp))
        return;
    memcpy(tmp, d, n);
    tmp[n] = '\0';
    if (rrtype == DNS_TYPE_A || rrtype == DNS_TYPE_AAAA) {
        if (inet_pton(rrtype == DNS_TYPE_A ? AF_INET : AF_INET6, tmp, buf) == 1)
            fake_add(a, buf, rrtype == DNS_TYPE_A ? 4 : 16);
    } else if (rrtype == DNS_TYPE_MX) { /* "PREF NAME" */
        char *sp = strchr(tmp, ' ');
        unsigned long pref = strtoul(tmp, NULL, 10);
        size_t w;
        if (sp == NULL)
            return;
        buf[0] = (unsigned char)(pref >> 8);
        buf[1] = (unsigned char)pref;
        w = fake_wire_name(sp + 1, strlen(sp + 1), buf + 2, sizeof(buf) - 2);
        if (w)
            fake_add(a, buf, w + 2);
    } else if (rrtype == DNS_TYPE_PTR) {
        size_t w = fake_wire_name(tmp, n, buf, sizeof(buf));
        if (w)
            fake_add(a, buf, w);
    }
}

static const char *fake_type_name(int rrtype)
{
    switch (rrtype) {
    case DNS_TYPE_A: return "A";
    case DNS_TYPE_AAAA: return "AAAA";
    case DNS_TYPE_MX: return "MX";
    case DNS_TYPE_PTR: return "PTR";
    case DNS_TYPE_TXT: return "TXT";
    default: return "?";
    }
}

static dns_answer *fake_answer(const char *name, int rrtype)
{
    dns_answer *a = xcalloc(1, sizeof(*a));
    const char *p = fake_zone, *end = fake_zone ? fake_zone + fake_zone_len : NULL;
    const char *tname = fake_type_name(rrtype);
    bool name_seen = false;

    a->rrtype = rrtype;
    a->status = DNS_NXDOMAIN;
    a->rcode = 3;
    fake_nqueries++;
    if (name == NULL || !dns_name_ok(name)) {
        a->status = DNS_ERROR;
        return a;
    }
    while (p != NULL && p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line = p, *sp1, *sp2, *le;
        size_t tlen;
        le = eol ? eol : end;
        p = eol ? eol + 1 : end;
        sp1 = memchr(line, ' ', (size_t)(le - line));
        if (sp1 == NULL || !fake_name_eq(line, (size_t)(sp1 - line), name))
            continue;
        sp2 = memchr(sp1 + 1, ' ', (size_t)(le - sp1 - 1));
        tlen = (size_t)((sp2 ? sp2 : le) - sp1 - 1);
        name_seen = true;
        if (tlen == 2 && strncmp(sp1 + 1, "NX", 2) == 0) {
            dns_answer_free(a);
            a = xcalloc(1, sizeof(*a));
            a->rrtype = rrtype;
            a->status = DNS_NXDOMAIN;
            a->rcode = 3;
            return a;
        }
        if ((tlen == 8 && strncmp(sp1 + 1, "SERVFAIL", 8) == 0) ||
            (tlen == 7 && strncmp(sp1 + 1, "TIMEOUT", 7) == 0)) {
            bool sf = tlen == 8;
            dns_answer_free(a);
            a = xcalloc(1, sizeof(*a));
            a->rrtype = rrtype;
            a->status = sf ? DNS_SERVFAIL : DNS_TIMEOUT;
            a->rcode = sf ? 2 : 0;
            return a;
        }
        if (tlen == strlen(tname) && strncmp(sp1 + 1, tname, tlen) == 0 && sp2 != NULL)
            fake_rr(a, rrtype, sp2 + 1, (size_t)(le - sp2 - 1));
    }
    if (a->count > 0) {
        a->status = DNS_ANSWER;
        a->rcode = 0;
        a->ttl = 300;
    } else if (name_seen) {
        a->status = DNS_NODATA;
        a->rcode = 0;
    }
    return a;
}

dns_query_t *dns_start_timeout(dns_t *dns, const char *name, int rrtype, unsigned timeout_ms)
{
    struct fake_query *q = xcalloc(1, sizeof(*q));
    (void)timeout_ms;
    q->dns = dns;
    q->a = fake_answer(name, rrtype);
    return (dns_query_t *)q;
}

dns_query_t *dns_start(dns_t *dns, const char *name, int rrtype)
{
    return dns_start_timeout(dns, name, rrtype, 0);
}

dns_status dns_wait(dns_query_t *qq, dns_answer **out)
{
    struct fake_query *q = (struct fake_query *)qq;
    dns_status st = q->a->status;

    *out = q->a;
    if (q->dns && q->dns->observe)
        q->dns->observe(st, 0, q->dns->observe_arg); /* answered at once */
    free(q);
    return st;
}

dns_status dns_lookup(dns_t *dns, const char *name, int rrtype, dns_answer **out)
{
    return dns_wait(dns_start(dns, name, rrtype), out);
}

void dns_cache_get_stats(dns_t *dns, dns_cache_stats *st)
{
    (void)dns;
    memset(st, 0, sizeof(*st));
}
