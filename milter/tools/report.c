/*
 * report.c - "mxguard report" (report.h; mxguard(8), REPORT).
 *
 * One run: load the config; open the store and a resolver; claim the
 * reports of closed periods one at a time (rstore_claim: another host's
 * reporter never holds the same one); for each, read its rows, look up the
 * policy domain's current DMARC record for its rua, render the RFC 9990
 * document (dmarcxml), gzip it, and for each mailto: destination (rua.h):
 * skip it if it was sent before (a retry), verify it when it is outside
 * the policy domain, respect its size limit and the rate limit, then pipe
 * the mail (dmarcmail) to `sendmail -i -f EMAIL -- DEST` or write the file
 * under --output-dir (both in report_send.c).  The claim is renewed before each destination; one
 * lost anyway stops its report, left to whoever holds it now.  Otherwise
 * the claim ends as done, failed (retried later with the same Report-ID)
 * or released (rate limit, --dry-run).  Last, expire old reports.
 *
 * SECURITY: DMARC records and _report._dmarc records come from the DNS and
 * are hostile: rua.h admits only plain addresses (no header, argument or
 * path tricks), the record text is bounded by dmarccheck's parser, and
 * sendmail is run without a shell with the address after "--".  Reports
 * only go to addresses the policy domain published, and to a domain outside
 * it only when that domain agreed (RFC 9990 3.3).
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conf.h"
#include "dmarccheck.h"
#include "dmarcmail.h"
#include "dmarcrow.h"
#include "dmarcxml.h"
#include "dname.h"
#include "dns.h"
#include "report.h"
#include "report_send.h"
#include "rstore.h"
#include "rua.h"
#include "strbuf.h"
#include "xalloc.h"

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif

#define RP_RUA_MAX 2048   /* bytes of a rua value read */
#define RP_ERR 512

/* ---- the run ---------------------------------------------------------------- */

typedef struct rp_args {
    const char *conf_path;
    const char *output_dir; /* NULL: through sendmail */
    bool dry_run;
    bool verbose;
    int64_t now;
} rp_args;

typedef struct rp_ctx {
    const rp_args *a;
    const conf_t *conf;
    dns_t *dns;
    rstore_t *st;
    char owner[300];
    unsigned long built, sent, failed, skipped; /* the closing line */
    unsigned long mails;                        /* Message-ID sequence */
    bool store_error;                           /* exit 2 */
    time_t started;                             /* time(NULL) at the start (rp_clock) */
    rstore_report **held;                       /* --dry-run: claims released at the end */
    size_t nheld;
} rp_ctx;

/* What became of one report's destinations. */
typedef struct rp_outcome {
    strbuf line;       /* the report's output line */
    bool failed;       /* a destination failed: retry the report */
    bool deferred;     /* the rate limit held a destination back */
    bool lost;         /* the claim was lost mid-report: not ours to end */
    char why[RP_ERR];  /* the first failure */
} rp_outcome;

void report_unique_id(const char *policy_domain, int64_t begin, int64_t end, const char *receiver,
                      char out[REPORT_UNIQUE_ID_SZ])
{
    char key[2 * DNAME_BUFSZ + 64];
    uint64_t h = 1469598103934665603ull;

    snprintf(key, sizeof(key), "%s!%lld!%lld!%s", policy_domain, (long long)begin, (long long)end, receiver);
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    snprintf(out, REPORT_UNIQUE_ID_SZ, "%016llx", (unsigned long long)h);
}

unsigned report_retry_delay(unsigned attempts)
{
    return attempts >= 5 ? REPORT_RETRY_MAX
                         : (3600u << attempts) < REPORT_RETRY_MAX ? 3600u << attempts : REPORT_RETRY_MAX;
}

static void rp_say(rp_outcome *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void rp_say(rp_outcome *o, const char *fmt, ...)
{
    va_list ap;
    char buf[1024];

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    strbuf_adds(&o->line, o->line.len > 0 ? "; " : "");
    strbuf_adds(&o->line, buf);
}

/* The run's now (--now or the start) plus the seconds since the start: a
 * claim's lease is renewed from here. */
static int64_t rp_clock(const rp_ctx *c)
{
    return c->a->now + (int64_t)(time(NULL) - c->started);
}

static void rp_fail(rp_outcome *o, rp_ctx *c, const char *why)
{
    if (!o->failed)
        snprintf(o->why, sizeof(o->why), "%s", why);
    o->failed = true;
    c->failed++;
}

/* ---- DNS ---------------------------------------------------------------------- */

typedef enum rp_dns {
    RP_DNS_FOUND,
    RP_DNS_NONE,
    RP_DNS_TEMP,
} rp_dns;

static bool rp_temp(dns_status s)
{
    return s != DNS_ANSWER && s != DNS_NXDOMAIN && s != DNS_NODATA;
}

/* The rua of the policy domain's current record (_dmarc.<domain>, one
 * v=DMARC1 record: several count as none, as in dmarccheck). */
static rp_dns rp_lookup_rua(rp_ctx *c, const char *domain, char *rua, size_t ruasz, char *why, size_t whysz)
{
    char name[DNAME_BUFSZ + 8];
    dns_answer *a = NULL;
    dns_status s;
    size_t nrec = 0;
    rp_dns r = RP_DNS_NONE;

    snprintf(name, sizeof(name), "_dmarc.%s", domain);
    if (!dname_valid(name, strlen(name))) { /* never asked: no such record */
        snprintf(why, whysz, "%s: not a domain name", name);
        return RP_DNS_NONE;
    }
    s = dns_lookup(c->dns, name, DNS_TYPE_TXT, &a);
    snprintf(why, whysz, "%s: %s", name, dns_status_name(s));
    if (rp_temp(s)) {
        dns_answer_free(a);
        return RP_DNS_TEMP;
    }
    for (size_t i = 0; s == DNS_ANSWER && i < a->count; i++) {
        char *t;
        size_t tl;
        if (!dns_rdata_txt(a->rdata[i], a->rdlen[i], &t, &tl))
            continue;
        if (dmarccheck_is_record(t, tl) && nrec++ == 0)
            r = dmarccheck_record_rua(t, tl, rua, ruasz) ? RP_DNS_FOUND : RP_DNS_NONE;
        free(t);
    }
    dns_answer_free(a);
    if (nrec > 1)
        r = RP_DNS_NONE;
    snprintf(why, whysz, "%s: %s", name,
             nrec == 0 ? "no DMARC record" : nrec > 1 ? "several DMARC records" : r == RP_DNS_NONE ? "no rua" : "rua");
    return r;
}

/* RFC 9990 3.3: does <policy>._report._dmarc.<dest domain> hold a
 * v=DMARC1 record? */
static rp_dns rp_verify(rp_ctx *c, const char *policy, const char *dest_domain, char *why, size_t whysz)
{
    char name[DNAME_BUFSZ];
    dns_answer *a = NULL;
    dns_status s;
    bool ok = false;

    if (!rua_verify_name(policy, dest_domain, name, sizeof(name))) {
        snprintf(why, whysz, "the verification name is too long");
        return RP_DNS_NONE;
    }
    s = dns_lookup(c->dns, name, DNS_TYPE_TXT, &a);
    for (size_t i = 0; s == DNS_ANSWER && i < a->count && !ok; i++) {
        char *t;
        size_t tl;
        if (dns_rdata_txt(a->rdata[i], a->rdlen[i], &t, &tl)) {
            ok = dmarccheck_is_record(t, tl);
            free(t);
        }
    }
    dns_answer_free(a);
    snprintf(why, whysz, "%s: %s", name, ok ? "v=DMARC1" : s == DNS_ANSWER ? "no v=DMARC1 record" : dns_status_name(s));
    return ok ? RP_DNS_FOUND : rp_temp(s) ? RP_DNS_TEMP : RP_DNS_NONE;
}

/* ---- rows -> document ------------------------------------------------------------ */

typedef struct rp_rows {
    dmarcrow **v;
    unsigned long *counts;
    size_t n;
    unsigned long messages; /* the sum of counts */
} rp_rows;

static void rp_row_cb(const dmarcrow *row, unsigned long count, void *arg)
{
    rp_rows *r = arg;

    r->v = xreallocarray(r->v, r->n + 1, sizeof(*r->v));
    r->counts = xreallocarray(r->counts, r->n + 1, sizeof(*r->counts));
    r->v[r->n] = dmarcrow_copy(row);
    r->counts[r->n++] = count;
    r->messages += count;
}

static void rp_rows_free(rp_rows *r)
{
    for (size_t i = 0; i < r->n; i++)
        dmarcrow_free(r->v[i]);
    free(r->v);
    free(r->counts);
    memset(r, 0, sizeof(*r));
}

static dmarcxml_dkim_result rp_dkim_result(dkimcheck_result r)
{
    switch (r) {
    case DKIMCHECK_PASS: return DMARCXML_DKIM_PASS;
    case DKIMCHECK_FAIL: return DMARCXML_DKIM_FAIL;
    case DKIMCHECK_POLICY: return DMARCXML_DKIM_POLICY;
    case DKIMCHECK_NEUTRAL: return DMARCXML_DKIM_NEUTRAL;
    case DKIMCHECK_TEMPERROR: return DMARCXML_DKIM_TEMPERROR;
    case DKIMCHECK_PERMERROR: return DMARCXML_DKIM_PERMERROR;
    default: return DMARCXML_DKIM_NONE;
    }
}

static dmarcxml_spf_result rp_spf_result(spfcheck_result r)
{
    switch (r) {
    case SPFCHECK_PASS: return DMARCXML_SPF_PASS;
    case SPFCHECK_FAIL: return DMARCXML_SPF_FAIL;
    case SPFCHECK_SOFTFAIL: return DMARCXML_SPF_SOFTFAIL;
    case SPFCHECK_NEUTRAL: return DMARCXML_SPF_NEUTRAL;
    case SPFCHECK_TEMPERROR: return DMARCXML_SPF_TEMPERROR;
    case SPFCHECK_PERMERROR: return DMARCXML_SPF_PERMERROR;
    default: return DMARCXML_SPF_NONE;
    }
}

static dmarcxml_policy rp_policy(dmarccheck_policy p)
{
    return p == DMARCCHECK_POLICY_REJECT       ? DMARCXML_POLICY_REJECT
           : p == DMARCCHECK_POLICY_QUARANTINE ? DMARCXML_POLICY_QUARANTINE
                                               : DMARCXML_POLICY_NONE;
}

/* The document's rows, pointing into the stored rows (which must outlive
 * them); reasons, dkim and spf arrays owned by the xrows (rp_xrows_free). */
typedef struct rp_xrows {
    dmarcxml_row *v;
    dmarcxml_spf *spf;
    size_t n;
} rp_xrows;

static void rp_xrow(const dmarcrow *w, unsigned long count, dmarcxml_row *x, dmarcxml_spf *spf)
{
    dmarcxml_reason *rs = xcalloc(w->nreasons + 1, sizeof(*rs));
    dmarcxml_dkim *dk = xcalloc(w->ndkim + 1, sizeof(*dk));

    for (size_t i = 0; i < w->nreasons; i++) {
        rs[i].type = (dmarcxml_reason_type)w->reasons[i].type; /* the same order (dmarcrow.h, dmarcxml.h) */
        rs[i].comment = w->reasons[i].comment;
    }
    for (size_t i = 0; i < w->ndkim; i++) {
        dk[i].domain = w->dkim[i].domain;
        dk[i].selector = w->dkim[i].selector;
        dk[i].result = rp_dkim_result(w->dkim[i].result);
    }
    memset(x, 0, sizeof(*x));
    x->source_ip = w->source_ip;
    x->count = count;
    x->disposition = (dmarcxml_disposition)w->disposition; /* the same order */
    x->dkim_aligned_pass = w->dkim_aligned;
    x->spf_aligned_pass = w->spf_aligned;
    x->reasons = rs;
    x->nreasons = w->nreasons;
    x->header_from = w->header_from;
    x->envelope_from = w->envelope_from;
    x->dkim = dk;
    x->ndkim = w->ndkim;
    if (w->spf != SPFCHECK_UNSET) {
        spf->domain = w->spf_domain;
        spf->result = rp_spf_result(w->spf);
        spf->human_result = NULL;
        x->spf = spf;
    }
}

static void rp_xrows_make(const rp_rows *rows, rp_xrows *x)
{
    x->n = rows->n;
    x->v = xcalloc(rows->n + 1, sizeof(*x->v));
    x->spf = xcalloc(rows->n + 1, sizeof(*x->spf));
    for (size_t i = 0; i < rows->n; i++)
        rp_xrow(rows->v[i], rows->counts[i], &x->v[i], &x->spf[i]);
}

static void rp_xrows_free(rp_xrows *x)
{
    for (size_t i = 0; i < x->n; i++) {
        free((void *)x->v[i].reasons);
        free((void *)x->v[i].dkim);
    }
    free(x->v);
    free(x->spf);
    memset(x, 0, sizeof(*x));
}

/* One rendered report: what every destination gets. */
typedef struct rp_doc {
    char uid[REPORT_UNIQUE_ID_SZ];
    char report_id[REPORT_UNIQUE_ID_SZ + DNAME_BUFSZ + 1];
    char *filename, *subject;
    unsigned char *gz;
    size_t gzlen;
    dmarcxml_stats stats;
} rp_doc;

static void rp_doc_free(rp_doc *d)
{
    free(d->filename);
    free(d->subject);
    free(d->gz);
    memset(d, 0, sizeof(*d));
}

/* The Report-ID "<unique-id>@<receiver>" fits the schema's limit for every
 * receiver the config loader accepts. */
_Static_assert(REPORT_UNIQUE_ID_SZ - 1 + 1 + REPORTS_RECEIVER_MAX <= DMARCXML_REPORT_ID_MAX,
               "reports.receiver limit and Report-ID length disagree");

typedef enum rp_render_result {
    RP_RENDER_OK,
    RP_RENDER_EMPTY, /* no row left to write: nothing to report */
    RP_RENDER_ERROR, /* anything else (err says what): the report fails, retried later */
} rp_render_result;

static rp_render_result rp_render(rp_ctx *c, const rstore_report *r, const rp_rows *rows, rp_doc *d, char *err,
                                  size_t errsz)
{
    const conf_t *cf = c->conf;
    rp_xrows x;
    dmarcxml_report rep;
    char *xml;
    bool ok, empty;

    memset(d, 0, sizeof(*d));
    report_unique_id(r->policy_domain, r->begin, r->end, cf->reports_receiver, d->uid);
    snprintf(d->report_id, sizeof(d->report_id), "%s@%s", d->uid, cf->reports_receiver);
    rp_xrows_make(rows, &x);
    memset(&rep, 0, sizeof(rep));
    rep.meta = (dmarcxml_meta){cf->reports_org_name, cf->reports_email, cf->reports_extra_contact_info,
                               d->report_id, cf->reports_receiver, d->uid, r->begin, r->end,
                               "mxguard " PACKAGE_VERSION};
    rep.policy = (dmarcxml_published){r->policy_domain, rp_policy(r->p), r->sp != DMARCCHECK_POLICY_UNSET,
                                      rp_policy(r->sp), r->np != DMARCCHECK_POLICY_UNSET, rp_policy(r->np),
                                      r->adkim_strict ? 's' : 'r', r->aspf_strict ? 's' : 'r',
                                      r->psl ? DMARCXML_DISCOVERY_PSL : DMARCXML_DISCOVERY_TREEWALK, r->testing};
    rep.rows = x.v;
    rep.nrows = x.n;
    xml = dmarcxml_render(&rep, &d->stats, err, errsz);
    /* dmarcxml_render: a NULL with every row left out is "no row"; any other
     * NULL (bad metadata: stats all 0) is an error */
    empty = xml == NULL && (rows->n == 0 || d->stats.rows_skipped == rows->n);
    ok = xml != NULL && dmarcxml_gzip(xml, strlen(xml), &d->gz, &d->gzlen);
    if (xml != NULL && !ok)
        snprintf(err, errsz, "gzip failed");
    if (ok) {
        d->filename = dmarcxml_filename(&rep);
        d->subject = dmarcxml_subject(&rep);
        ok = d->filename != NULL && d->subject != NULL;
        if (!ok)
            snprintf(err, errsz, "no file name or Subject for the report");
    }
    free(xml);
    rp_xrows_free(&x);
    if (!ok)
        rp_doc_free(d);
    return ok ? RP_RENDER_OK : empty ? RP_RENDER_EMPTY : RP_RENDER_ERROR;
}

/* ---- delivery (report_send.h) ---------------------------------------------------- */

/* Hand the report to one destination: a file or a mail. */
static bool rp_deliver(rp_ctx *c, const rstore_report *r, const rp_doc *d, const rua_dest *dest, char *why,
                       size_t whysz)
{
    const conf_t *cf = c->conf;
    dmarcmail_input in;
    char mid[REPORT_UNIQUE_ID_SZ + DNAME_BUFSZ + 64];
    char *mail;
    size_t len;
    bool ok;

    if (c->a->output_dir != NULL)
        return report_send_file(c->a->output_dir, dest->addr, d->filename, d->gz, d->gzlen, why, whysz);
    snprintf(mid, sizeof(mid), "%s.%lld.%ld.%lu@%s", d->uid, (long long)c->a->now, (long)getpid(), ++c->mails,
             cf->reports_receiver);
    in = (dmarcmail_input){cf->reports_email, dest->addr, d->subject, mid, c->a->now, cf->reports_receiver,
                           r->policy_domain, r->begin, r->end, d->filename, d->gz, d->gzlen, false};
    mail = dmarcmail_render(&in, &len, why, whysz);
    if (mail == NULL)
        return false;
    ok = report_send_mail(cf->reports_sendmail, cf->reports_email, dest->addr, mail, len, REPORT_SENDMAIL_TIMEOUT,
                          why, whysz);
    free(mail);
    return ok;
}

/* ---- one report -------------------------------------------------------------------- */

/* Was dest sent already, is it over the rate limit?  -1 on a store error. */
static int rp_dest_state(rp_ctx *c, const rstore_report *r, const rua_dest *dest, bool *sent, bool *limited)
{
    char err[RP_ERR];
    unsigned long n = 0;

    *limited = false;
    if (!rstore_dest_sent(c->st, r, dest->addr, sent, err, sizeof(err)))
        goto fail;
    if (!*sent && c->conf->reports_rate_limit > 0) {
        if (!rstore_dest_count(c->st, dest->addr, c->a->now - 3600, &n, err, sizeof(err)))
            goto fail;
        *limited = n >= c->conf->reports_rate_limit;
    }
    return 0;
fail:
    fprintf(stderr, "mxguard report: store: %s\n", err);
    c->store_error = true;
    return -1;
}

/* Hold the claim REPORT_LEASE more seconds before a destination (sendmail
 * and DNS can take minutes each).  False when it is lost: another reporter
 * took the report after the lease ran out, so this run stops it and ends
 * nothing (no done, no failed). */
static bool rp_renew(rp_ctx *c, const rstore_report *r, rp_outcome *o)
{
    char err[RP_ERR];

    int rc = rstore_renew(c->st, r, rp_clock(c), REPORT_LEASE, err, sizeof(err));

    if (rc == 1)
        return true;
    if (rc < 0) { /* the store failed: a store error of the run, the report left to its lease */
        fprintf(stderr, "mxguard report: store: %s\n", err);
        rp_say(o, "stopped: store error (%s)", err);
        c->store_error = true;
        o->lost = true;
        return false;
    }
    fprintf(stderr, "mxguard report: %s %lld..%lld: claim lost, stopped: %s\n", r->policy_domain,
            (long long)r->begin, (long long)r->end, err);
    rp_say(o, "stopped: claim lost (%s)", err);
    o->lost = true;
    return false;
}

/* One destination of a rendered report. */
static void rp_dest(rp_ctx *c, const rstore_report *r, const rp_doc *d, const rua_dest *dest, rp_outcome *o)
{
    char why[RP_ERR] = "", err[RP_ERR];
    bool sent, limited;

    if (rp_dest_state(c, r, dest, &sent, &limited) < 0) {
        rp_fail(o, c, "store error");
        return;
    }
    if (sent) {
        rp_say(o, "%s sent before", dest->addr);
        return;
    }
    if (rua_external(r->policy_domain, dest->domain)) {
        rp_dns v = rp_verify(c, r->policy_domain, dest->domain, why, sizeof(why));
        if (v == RP_DNS_TEMP) {
            rp_say(o, "%s failed (verification: %s)", dest->addr, why);
            rp_fail(o, c, why);
            return;
        }
        if (v == RP_DNS_NONE) {
            rp_say(o, "%s skipped: not verified (%s)", dest->addr, why);
            c->skipped++;
            return;
        }
    }
    if (dest->has_limit && d->gzlen > dest->max_size) {
        rp_say(o, "%s skipped: %zu bytes over its limit of %llu", dest->addr, d->gzlen,
               (unsigned long long)dest->max_size);
        c->skipped++;
        return;
    }
    if (limited) {
        rp_say(o, "%s deferred: rate limit of %u an hour", dest->addr, c->conf->reports_rate_limit);
        o->deferred = true;
        c->skipped++;
        return;
    }
    if (c->a->dry_run) {
        rp_say(o, "%s would be sent%s", dest->addr, why[0] ? " (verified)" : "");
        c->sent++;
        return;
    }
    if (!rp_deliver(c, r, d, dest, why, sizeof(why))) {
        rp_say(o, "%s failed: %s", dest->addr, why);
        rp_fail(o, c, why);
        if (!rstore_count(c->st, "failed", 1, err, sizeof(err))) {
            fprintf(stderr, "mxguard report: store: %s\n", err);
            c->store_error = true;
        }
        return;
    }
    c->sent++;
    if (!rstore_count(c->st, "sent", 1, err, sizeof(err)) ||
        !rstore_mark_dest(c->st, r, dest->addr, c->a->now, err, sizeof(err))) {
        fprintf(stderr, "mxguard report: store: %s (%s was sent)\n", err, dest->addr);
        c->store_error = true;
    }
    rp_say(o, "%s %s%s", dest->addr, c->a->output_dir ? "written" : "sent", why[0] ? " (verified)" : "");
}

/* The destinations of a report: its policy domain's rua now.  0: nothing
 * to send (done), or a DNS failure (o->failed). */
static size_t rp_dests(rp_ctx *c, const rstore_report *r, rua_dest *dests, size_t max, rp_outcome *o)
{
    char rua[RP_RUA_MAX], why[RP_ERR];
    rua_stats rs;
    size_t n;

    switch (rp_lookup_rua(c, r->policy_domain, rua, sizeof(rua), why, sizeof(why))) {
    case RP_DNS_TEMP:
        rp_say(o, "DNS failed (%s)", why);
        rp_fail(o, c, why);
        return 0;
    case RP_DNS_NONE:
        rp_say(o, "nothing to send (%s)", why);
        c->skipped++;
        return 0;
    case RP_DNS_FOUND: break;
    }
    n = rua_parse(rua, dests, max, &rs);
    if (c->a->verbose || n == 0) {
        char *q = strbuf_quote(rua); /* from the DNS: no control byte reaches a terminal or the journal */
        rp_say(o, "rua %s: %zu mailto destination(s), %zu other scheme(s), %zu malformed, %zu past max_recipients",
               q, n, rs.other_scheme, rs.malformed, rs.over_max);
        free(q);
    }
    if (n == 0) {
        rp_say(o, "nothing to send");
        c->skipped++;
    }
    return n;
}

/* End the claim as the outcome says. */
static void rp_end(rp_ctx *c, rstore_report *r, const rp_outcome *o, bool *keep)
{
    char err[RP_ERR];
    bool ok;

    *keep = false;
    if (o->lost) /* another reporter holds it now */
        return;
    if (c->a->dry_run) {
        *keep = true; /* released at the end of the run, so it is not claimed again now */
        return;
    }
    if (o->failed)
        ok = rstore_failed(c->st, r, c->a->now + report_retry_delay(r->attempts), o->why, err, sizeof(err));
    else if (o->deferred)
        ok = rstore_release(c->st, r, c->a->now + 3600, err, sizeof(err));
    else {
        unsigned long late = 0;
        ok = rstore_done(c->st, r, c->a->now, &late, err, sizeof(err));
        if (ok && late > 0)
            printf("%s %lld..%lld: %lu message(s) recorded after the report was built are not in it\n",
                   r->policy_domain, (long long)r->begin, (long long)r->end, late);
    }
    if (!ok) {
        fprintf(stderr, "mxguard report: store: %s\n", err);
        c->store_error = true;
    }
}

static void rp_one(rp_ctx *c, rstore_report *r, bool *keep)
{
    rp_outcome o;
    rp_rows rows = {0};
    rp_doc d;
    rua_dest dests[20];
    size_t ndest = 0, max = c->conf->reports_max_recipients;
    char err[RP_ERR];
    bool read;

    memset(&o, 0, sizeof(o));
    memset(&d, 0, sizeof(d));
    if (max == 0 || max > sizeof(dests) / sizeof(dests[0]))
        max = sizeof(dests) / sizeof(dests[0]);
    read = rstore_rows(c->st, r, rp_row_cb, &rows, err, sizeof(err));
    if (read) { /* what is reported is what was read now (a flush may have added rows
                 * since the claim): rstore_done counts what comes after as late */
        r->messages = rows.messages;
        r->nrows = rows.n;
    }
    if (!read) {
        fprintf(stderr, "mxguard report: store: %s\n", err);
        c->store_error = true;
        rp_say(&o, "store error");
        o.failed = true;
        snprintf(o.why, sizeof(o.why), "%s", err);
    } else if ((ndest = rp_dests(c, r, dests, max, &o)) > 0) {
        rp_render_result rr = rp_render(c, r, &rows, &d, err, sizeof(err));
        if (rr == RP_RENDER_EMPTY) {
            rp_say(&o, "nothing to report: %s", err);
            c->skipped++;
            ndest = 0;
        } else if (rr == RP_RENDER_ERROR) { /* kept and retried, never marked done unsent */
            char why[RP_ERR];
            snprintf(why, sizeof(why), "report not built: %.400s", err);
            rp_say(&o, "failed: %s", why);
            rp_fail(&o, c, why);
            ndest = 0;
        } else {
            rp_say(&o, "%s (%zu bytes%s)", d.filename, d.gzlen, d.stats.rows_skipped ? ", rows left out" : "");
            c->built++;
            if (!c->a->dry_run) {
                if (!rstore_count(c->st, "built", 1, err, sizeof(err))) {
                    fprintf(stderr, "mxguard report: store: %s\n", err);
                    c->store_error = true;
                }
            }
        }
    }
    for (size_t i = 0; i < ndest && rp_renew(c, r, &o); i++)
        rp_dest(c, r, &d, &dests[i], &o);
    printf("%s%s %lld..%lld: %zu rows, %lu messages: %s\n", c->a->dry_run ? "dry run: " : "", r->policy_domain,
           (long long)r->begin, (long long)r->end, rows.n, r->messages, o.line.s ? o.line.s : "");
    rp_end(c, r, &o, keep);
    free(o.line.s);
    rp_doc_free(&d);
    rp_rows_free(&rows);
}

/* ---- the command ------------------------------------------------------------------ */

static void rp_usage(FILE *fp)
{
    fprintf(fp, "usage: mxguard report [-c FILE] [--output-dir DIR] [--dry-run] [--now EPOCH] [--verbose]\n");
}

static int rp_parse_args(int argc, char **argv, rp_args *a)
{
    static const struct option longopts[] = {
        {"output-dir", required_argument, NULL, 'o'}, {"dry-run", no_argument, NULL, 'd'},
        {"now", required_argument, NULL, 'N'},        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},             {NULL, 0, NULL, 0},
    };
    int ch;

    memset(a, 0, sizeof(*a));
    a->conf_path = SYSCONFDIR "/mxguard.conf";
    a->now = (int64_t)time(NULL);
    optind = 1;
    while ((ch = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 'c': a->conf_path = optarg; break;
        case 'o': a->output_dir = optarg; break;
        case 'd': a->dry_run = true; break;
        case 'v': a->verbose = true; break;
        case 'N':
            errno = 0;
            a->now = strtoll(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || end == optarg || a->now <= 0) {
                fprintf(stderr, "mxguard report: --now: not seconds since the epoch: %s\n", optarg);
                return 2;
            }
            break;
        case 'h': rp_usage(stdout); return 0;
        default: rp_usage(stderr); return 2;
        }
    }
    if (optind != argc || (a->output_dir != NULL && a->output_dir[0] == '\0')) {
        rp_usage(stderr);
        return 2;
    }
    return -1;
}

static void rp_conf_error(const char *msg, void *arg)
{
    (void)arg;
    fprintf(stderr, "mxguard report: %s\n", msg);
}

/* Config, resolver and store; false (reported) on any error. */
static bool rp_open(rp_ctx *c, conf_t **conf)
{
    char err[RP_ERR], host[256] = "localhost";
    dns_options dopt = {0};

    *conf = conf_load(c->a->conf_path, rp_conf_error, NULL);
    if (*conf == NULL)
        return false;
    c->conf = *conf;
    if (c->conf->reports_org_name == NULL || c->conf->reports_email == NULL || c->conf->reports_receiver == NULL) {
        fprintf(stderr, "mxguard report: %s: reports.org_name and reports.email are needed to send reports\n",
                c->a->conf_path);
        return false;
    }
    dopt.upstream = c->conf->dns_upstream;
    dopt.timeout_ms = c->conf->dns_timeout_ms;
    c->dns = dns_new(&dopt, err, sizeof(err));
    if (c->dns == NULL) {
        fprintf(stderr, "mxguard report: DNS resolver: %s\n", err);
        return false;
    }
    c->st = rstore_open(c->conf->reports_store, err, sizeof(err));
    if (c->st == NULL) {
        char *shown = rstore_uri_shown(c->conf->reports_store); /* no password on a terminal or in the journal */
        fprintf(stderr, "mxguard report: store %s: %s\n", shown, err);
        free(shown);
        return false;
    }
    gethostname(host, sizeof(host) - 1);
    host[sizeof(host) - 1] = '\0';
    snprintf(c->owner, sizeof(c->owner), "%s:%ld", host, (long)getpid());
    return true;
}

/* Claim and handle reports until none is due. */
static void rp_loop(rp_ctx *c)
{
    int64_t closed_before = c->a->now - (int64_t)(c->conf->reports_flush_interval + REPORT_CLOSE_MARGIN);
    char err[RP_ERR];

    for (;;) {
        rstore_report *r = NULL;
        bool keep = false;
        /* the lease runs from the time of the claim, not the run's start */
        int got = rstore_claim(c->st, closed_before, rp_clock(c), c->owner, REPORT_LEASE, &r, err, sizeof(err));
        if (got < 0) {
            fprintf(stderr, "mxguard report: store: %s\n", err);
            c->store_error = true;
        }
        if (got <= 0)
            break;
        rp_one(c, r, &keep);
        if (keep) {
            c->held = xreallocarray(c->held, c->nheld + 1, sizeof(*c->held));
            c->held[c->nheld++] = r;
        } else {
            rstore_report_free(r);
        }
        if (c->store_error)
            break;
    }
}

/* --dry-run: release what was claimed with the next try it had (not
 * --now: a dry run with a future --now must not postpone real reports). */
static void rp_release_held(rp_ctx *c)
{
    char err[RP_ERR];

    for (size_t i = 0; i < c->nheld; i++) {
        if (!rstore_release(c->st, c->held[i], c->held[i]->next_try, err, sizeof(err))) {
            fprintf(stderr, "mxguard report: store: %s\n", err);
            c->store_error = true;
        }
        rstore_report_free(c->held[i]);
    }
    free(c->held);
    c->held = NULL;
    c->nheld = 0;
}

static void rp_expire(rp_ctx *c)
{
    char err[RP_ERR];
    unsigned long deleted = 0;
    int64_t before = c->a->now - (int64_t)c->conf->reports_retention_days * 86400;

    if (!rstore_expire(c->st, before, &deleted, err, sizeof(err))) {
        fprintf(stderr, "mxguard report: store: %s\n", err);
        c->store_error = true;
    } else if (deleted > 0 || c->a->verbose) {
        printf("expired: %lu report(s) whose period ended before %lld\n", deleted, (long long)before);
    }
}

int report_main(int argc, char **argv)
{
    rp_args a;
    rp_ctx c;
    conf_t *conf = NULL;
    int rc = rp_parse_args(argc, argv, &a);

    if (rc >= 0)
        return rc;
    memset(&c, 0, sizeof(c));
    c.a = &a;
    c.started = time(NULL);
    signal(SIGPIPE, SIG_IGN); /* a sendmail that exits early is an error status, not our death */
    if (!rp_open(&c, &conf)) {
        rc = 2;
    } else {
        rp_loop(&c);
        rp_release_held(&c);
        if (!a.dry_run && !c.store_error)
            rp_expire(&c);
        if (a.dry_run)
            printf("reports (dry run): %lu to build, %lu to send, %lu failed, %lu skipped\n", c.built, c.sent,
                   c.failed, c.skipped);
        else
            printf("reports: %lu built, %lu sent, %lu failed, %lu skipped\n", c.built, c.sent, c.failed,
                   c.skipped);
        rc = c.store_error ? 2 : c.failed > 0 ? 1 : 0;
    }
    if (c.st != NULL)
        rstore_close(c.st);
    if (c.dns != NULL)
        dns_free(c.dns);
    conf_free(conf);
    return rc;
}
