/*
 * dmarcrow.c - the DMARC aggregate report row of one message (RFC 9990):
 * which facts make the key, the disposition mxguard applied and its
 * reasons (the truth table is in dmarcrow.h).
 *
 * SECURITY: every string comes from the message or the DNS (domains,
 * selectors) and is hostile: it is copied, never interpreted; escaping is
 * the XML writer's business.  The client address is parsed and written
 * back in canonical form.
 */
#include "dmarcrow.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "xalloc.h"

const char *dmarcrow_disposition_name(dmarcrow_disposition d)
{
    switch (d) {
    case DMARCROW_DISP_NONE: return "none";
    case DMARCROW_DISP_PASS: return "pass";
    case DMARCROW_DISP_QUARANTINE: return "quarantine";
    case DMARCROW_DISP_REJECT: return "reject";
    }
    return "none";
}

const char *dmarcrow_reason_name(dmarcrow_reason_type t)
{
    switch (t) {
    case DMARCROW_REASON_LOCAL_POLICY: return "local_policy";
    case DMARCROW_REASON_MAILING_LIST: return "mailing_list";
    case DMARCROW_REASON_OTHER: return "other";
    case DMARCROW_REASON_POLICY_TEST_MODE: return "policy_test_mode";
    case DMARCROW_REASON_TRUSTED_FORWARDER: return "trusted_forwarder";
    }
    return "other";
}

const char *dmarcrow_skip_name(dmarcrow_skip s)
{
    switch (s) {
    case DMARCROW_MADE: return "made";
    case DMARCROW_SKIP_NOT_EVALUATED: return "not evaluated";
    case DMARCROW_SKIP_NO_POLICY: return "no policy";
    case DMARCROW_SKIP_NO_ADDRESS: return "no address";
    case DMARCROW_SKIP_NOT_APPLIED: return "not applied";
    }
    return "?";
}

/* A lower-case copy of s (NULL: ""). */
static char *dr_lower(const char *s)
{
    char *c = xstrdup(s ? s : "");
    for (char *p = c; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    return c;
}

/* The canonical text of an IPv4 or IPv6 address, or NULL. */
static char *dr_ip(const char *addr)
{
    unsigned char bin[16];
    char buf[INET6_ADDRSTRLEN];

    if (addr == NULL)
        return NULL;
    if (strncasecmp(addr, "IPv6:", 5) == 0) /* as Sendmail may write it */
        addr += 5;
    if (inet_pton(AF_INET, addr, bin) == 1)
        return xstrdup(inet_ntop(AF_INET, bin, buf, sizeof(buf)));
    if (inet_pton(AF_INET6, addr, bin) == 1)
        return xstrdup(inet_ntop(AF_INET6, bin, buf, sizeof(buf)));
    return NULL;
}

static void dr_reason(dmarcrow *r, dmarcrow_reason_type t, char *comment)
{
    if (r->nreasons < DMARCROW_REASONS_MAX) {
        r->reasons[r->nreasons].type = t;
        r->reasons[r->nreasons].comment = comment;
        r->nreasons++;
    } else {
        free(comment);
    }
}

/* Passes first, then domain, selector, result: the set's one order. */
static int dr_dkim_cmp(const void *pa, const void *pb)
{
    const dmarcrow_dkim *a = pa, *b = pb;
    int c;

    if ((a->result == DKIMCHECK_PASS) != (b->result == DKIMCHECK_PASS))
        return a->result == DKIMCHECK_PASS ? -1 : 1;
    if ((c = strcmp(a->domain, b->domain)) != 0)
        return c;
    if ((c = strcmp(a->selector, b->selector)) != 0)
        return c;
    return (int)a->result - (int)b->result;
}

/* The handling the policy asked for, as a disposition (none on pass). */
static dmarcrow_disposition dr_requested(const dmarccheck_output *d)
{
    if (d->result == DMARCCHECK_PASS)
        return DMARCROW_DISP_NONE;
    switch (d->applied) {
    case DMARCCHECK_POLICY_QUARANTINE: return DMARCROW_DISP_QUARANTINE;
    case DMARCCHECK_POLICY_REJECT: return DMARCROW_DISP_REJECT;
    default: return DMARCROW_DISP_NONE;
    }
}

/* Disposition and reasons: the truth table of dmarcrow.h. */
static void dr_disposition(dmarcrow *r, const dmarccheck_output *d, const verdict_t *v)
{
    const char *rule = v->rule ? v->rule : "default";
    dmarcrow_disposition req = dr_requested(d), got;

    switch (v->action) {
    case ACTION_QUARANTINE: r->disposition = DMARCROW_DISP_QUARANTINE; break;
    case ACTION_REJECT:
    case ACTION_DISCARD: r->disposition = DMARCROW_DISP_REJECT; break;
    default:
        /* RFC 9990's "pass": no action, passing DMARC with an enforcing
         * policy (p/sp/np quarantine or reject); a pass under p=none is none */
        r->disposition = d->result == DMARCCHECK_PASS && (d->published == DMARCCHECK_POLICY_QUARANTINE ||
                                                          d->published == DMARCCHECK_POLICY_REJECT)
                             ? DMARCROW_DISP_PASS
                             : DMARCROW_DISP_NONE;
        break;
    }
    got = r->disposition == DMARCROW_DISP_PASS ? DMARCROW_DISP_NONE : r->disposition;
    if (d->result == DMARCCHECK_FAIL && d->testing &&
        (d->published == DMARCCHECK_POLICY_QUARANTINE || d->published == DMARCCHECK_POLICY_REJECT))
        dr_reason(r, DMARCROW_REASON_POLICY_TEST_MODE, NULL);
    if (got != req)
        dr_reason(r, DMARCROW_REASON_LOCAL_POLICY, xstrdup(rule));
    if (d->result == DMARCCHECK_TEMPERROR)
        dr_reason(r, DMARCROW_REASON_OTHER, xstrdup(d->reason ? d->reason : "temperror"));
    if (v->action == ACTION_DISCARD)
        dr_reason(r, DMARCROW_REASON_OTHER, xasprintf("discarded by rule %s", rule));
}

dmarcrow *dmarcrow_from_facts(const facts_t *f, const verdict_t *v, time_t now, unsigned period,
                              dmarcrow_skip *why)
{
    const dmarccheck_output *d = &f->dmarc;
    dmarcrow_skip skip = DMARCROW_MADE;
    dmarcrow *r;
    char *ip = NULL;

    if (d->result == DMARCCHECK_UNSET || f->trusted || f->authenticated)
        skip = DMARCROW_SKIP_NOT_EVALUATED;
    else if ((d->result != DMARCCHECK_PASS && d->result != DMARCCHECK_FAIL &&
              d->result != DMARCCHECK_TEMPERROR) ||
             d->policy_domain[0] == '\0' || d->policy_tag == NULL)
        skip = DMARCROW_SKIP_NO_POLICY;
    else if (v->dry_run || v->action == ACTION_TEMPFAIL)
        skip = DMARCROW_SKIP_NOT_APPLIED;
    else if ((ip = dr_ip(f->client_addr)) == NULL)
        skip = DMARCROW_SKIP_NO_ADDRESS;
    if (why)
        *why = skip;
    if (skip != DMARCROW_MADE)
        return NULL;

    r = xcalloc(1, sizeof(*r));
    r->p = d->p;
    r->sp = d->sp;
    r->np = d->np;
    r->adkim_strict = d->adkim_strict;
    r->aspf_strict = d->aspf_strict;
    r->testing = d->testing;
    r->psl = d->psl;
    r->rua = d->rua;

    if (period == 0)
        period = DMARCROW_DEFAULT_PERIOD;
    if (now < 0)
        now = 0;
    r->begin = now - now % (time_t)period;
    r->end = r->begin + (time_t)period - 1;
    r->policy_domain = dr_lower(d->policy_domain);
    r->source_ip = ip;
    r->header_from = dr_lower(d->domain);
    r->envelope_from = dr_lower(f->sender_domain ? f->sender_domain
                                : f->mail_from ? facts_addr_domain(f->mail_from) : "");
    dr_disposition(r, d, v);
    r->dkim_aligned = d->dkim_aligned;
    r->spf_aligned = d->spf_aligned;

    if (f->ndkim_sigs > 0) {
        r->dkim = xcalloc(f->ndkim_sigs, sizeof(*r->dkim));
        for (size_t i = 0; i < f->ndkim_sigs; i++) {
            r->dkim[i].domain = dr_lower(f->dkim_sigs[i].domain);
            r->dkim[i].selector = xstrdup(f->dkim_sigs[i].selector ? f->dkim_sigs[i].selector : "");
            r->dkim[i].result = f->dkim_sigs[i].result;
        }
        qsort(r->dkim, f->ndkim_sigs, sizeof(*r->dkim), dr_dkim_cmp);
        r->ndkim = f->ndkim_sigs;
        while (r->ndkim > DMARCROW_DKIM_MAX) {
            r->ndkim--;
            free(r->dkim[r->ndkim].domain);
            free(r->dkim[r->ndkim].selector);
        }
    }
    r->spf = f->spf_mfrom;
    r->spf_domain = dr_lower(f->spf_mfrom == SPFCHECK_UNSET ? "" : f->spf_domain);
    return r;
}

dmarcrow *dmarcrow_copy(const dmarcrow *r)
{
    dmarcrow *c = xmalloc(sizeof(*c));

    *c = *r;
    c->policy_domain = xstrdup(r->policy_domain);
    c->source_ip = xstrdup(r->source_ip);
    c->header_from = xstrdup(r->header_from);
    c->envelope_from = xstrdup(r->envelope_from);
    c->spf_domain = xstrdup(r->spf_domain);
    for (size_t i = 0; i < r->nreasons; i++)
        c->reasons[i].comment = xstrdup_or_null(r->reasons[i].comment);
    c->dkim = NULL;
    if (r->ndkim > 0) {
        c->dkim = xcalloc(r->ndkim, sizeof(*c->dkim));
        for (size_t i = 0; i < r->ndkim; i++) {
            c->dkim[i].domain = xstrdup(r->dkim[i].domain);
            c->dkim[i].selector = xstrdup(r->dkim[i].selector);
            c->dkim[i].result = r->dkim[i].result;
        }
    }
    return c;
}

void dmarcrow_free(dmarcrow *r)
{
    if (r == NULL)
        return;
    free(r->policy_domain);
    free(r->source_ip);
    free(r->header_from);
    free(r->envelope_from);
    free(r->spf_domain);
    for (size_t i = 0; i < r->nreasons; i++)
        free(r->reasons[i].comment);
    for (size_t i = 0; i < r->ndkim; i++) {
        free(r->dkim[i].domain);
        free(r->dkim[i].selector);
    }
    free(r->dkim);
    free(r);
}

static bool dr_streq(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

bool dmarcrow_key_equal(const dmarcrow *a, const dmarcrow *b)
{
    if (a->begin != b->begin || a->end != b->end || a->disposition != b->disposition ||
        a->nreasons != b->nreasons || a->dkim_aligned != b->dkim_aligned || a->spf_aligned != b->spf_aligned ||
        a->ndkim != b->ndkim || a->spf != b->spf)
        return false;
    if (!dr_streq(a->policy_domain, b->policy_domain) || !dr_streq(a->source_ip, b->source_ip) ||
        !dr_streq(a->header_from, b->header_from) || !dr_streq(a->envelope_from, b->envelope_from) ||
        !dr_streq(a->spf_domain, b->spf_domain))
        return false;
    for (size_t i = 0; i < a->nreasons; i++)
        if (a->reasons[i].type != b->reasons[i].type || !dr_streq(a->reasons[i].comment, b->reasons[i].comment))
            return false;
    for (size_t i = 0; i < a->ndkim; i++)
        if (a->dkim[i].result != b->dkim[i].result || !dr_streq(a->dkim[i].domain, b->dkim[i].domain) ||
            !dr_streq(a->dkim[i].selector, b->dkim[i].selector))
            return false;
    return true;
}

/* FNV-1a */
static uint64_t dr_hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ull;
    }
    return h;
}

static uint64_t dr_hash_str(uint64_t h, const char *s)
{
    if (s)
        h = dr_hash_bytes(h, s, strlen(s) + 1); /* the NUL separates fields */
    return dr_hash_bytes(h, "\xff", 1);
}

static uint64_t dr_hash_int(uint64_t h, long long v)
{
    return dr_hash_bytes(h, &v, sizeof(v));
}

unsigned long dmarcrow_key_hash(const dmarcrow *r)
{
    uint64_t h = 14695981039346656037ull;

    h = dr_hash_str(h, r->policy_domain);
    h = dr_hash_int(h, (long long)r->begin);
    h = dr_hash_int(h, (long long)r->end);
    h = dr_hash_str(h, r->source_ip);
    h = dr_hash_str(h, r->header_from);
    h = dr_hash_str(h, r->envelope_from);
    h = dr_hash_int(h, r->disposition);
    for (size_t i = 0; i < r->nreasons; i++) {
        h = dr_hash_int(h, r->reasons[i].type);
        h = dr_hash_str(h, r->reasons[i].comment);
    }
    h = dr_hash_int(h, r->dkim_aligned * 2 + r->spf_aligned);
    for (size_t i = 0; i < r->ndkim; i++) {
        h = dr_hash_str(h, r->dkim[i].domain);
        h = dr_hash_str(h, r->dkim[i].selector);
        h = dr_hash_int(h, r->dkim[i].result);
    }
    h = dr_hash_str(h, r->spf_domain);
    h = dr_hash_int(h, r->spf);
    return (unsigned long)(h ^ (h >> 32));
}
