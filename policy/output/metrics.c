/*
 * metrics.c - counters for the Prometheus endpoint (see metrics.h).
 *
 * Fixed families (actions, check results of spf, spf_helo, dkim, dmarc and
 * the DNS lists, DNS outcomes and latency buckets)
 * are arrays of C11 atomics indexed by the enums of the modules that define
 * them, updated with relaxed adds: a counter needs no ordering with anything
 * else, and the DNS path (dns_wait) must stay cheap.  Families keyed by a
 * name from the config (rules, DNS lists) are small tables under one mutex,
 * touched once per decision.  A scrape reads each counter once; counters
 * updated during a scrape may show in this scrape or the next.
 *
 * SECURITY: label values come from the config (rule and list names) and are
 * escaped as the exposition format requires (\\, \", \n); nothing from SMTP
 * clients reaches a label.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <nettle/sha2.h>

#include "dkimcheck.h"
#include "dmarccheck.h"
#include "log.h"
#include "metrics.h"
#include "spfcheck.h"
#include "strbuf.h"
#include "xalloc.h"

#define NACTIONS (ACTION_DISCARD + 1)
#define NSPF (SPFCHECK_PERMERROR + 1)
#define NDKIM (DKIMCHECK_PERMERROR + 1)
#define NDMARC (DMARCCHECK_PERMERROR + 1)
#define NDNS (DNS_ERROR + 1)

/* DNS latency histogram: upper bounds in microseconds; one more bucket
 * (+Inf) follows. */
static const long dns_bounds_us[] = {1000, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
                                     1000000, 2500000, 5000000, 10000000};
#define NBUCKETS (sizeof(dns_bounds_us) / sizeof(dns_bounds_us[0]) + 1)

typedef struct metrics_name {
    char *name;               /* label value (owned) */
    unsigned long count[2];   /* rules: fired, dry run; lists: matched, unused */
} metrics_name;

/* A family of counters keyed by name; guarded by metrics.mu. */
typedef struct metrics_names {
    metrics_name *v;
    size_t n;
} metrics_names;

struct metrics {
    atomic_ulong actions[NACTIONS];     /* decisions per verdict_action */
    atomic_ulong spf[NSPF];             /* MAIL FROM results (UNSET unused) */
    atomic_ulong spf_helo[NSPF];        /* HELO results */
    atomic_ulong dkim[NDKIM];           /* aggregate DKIM results */
    atomic_ulong dmarc[NDMARC];         /* DMARC results */
    atomic_ulong dnsbl_listed;          /* messages with a list match */
    atomic_ulong dnsbl_clean;           /* messages whose lists all missed */
    atomic_ulong dns[NDNS];             /* queries per dns_status */
    atomic_ulong dns_bucket[NBUCKETS];  /* queries per latency bucket (not cumulative) */
    atomic_ullong dns_usec;             /* sum of query latencies */
    atomic_long in_flight;              /* messages between MAIL FROM and their end */
    atomic_ulong reload_ok, reload_failed;
    pthread_mutex_t mu;                 /* guards rules, lists and sha256 */
    metrics_names rules;                /* per rule: fired, dry run */
    metrics_names lists;                /* per DNS list: messages it matched */
    char sha256[65];                    /* hex SHA-256 of the config file, or "" */
};

bool metrics_parse_listen(const char *v, struct sockaddr *sa, unsigned *salen, char *err, size_t errlen)
{
    static const char usage[] = "expected ADDR:PORT, e.g. \"127.0.0.1:9142\" or \"[::1]:9142\"";
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon, *h = v;
    size_t hlen;
    unsigned long port = 0;
    size_t digits = 0;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;

    if (*v == '[') {
        const char *close = strchr(v, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(err, errlen, "bad metrics address \"%s\": %s", v, usage);
            return false;
        }
        h = v + 1;
        hlen = (size_t)(close - h);
        colon = close + 1;
    } else if ((colon = strrchr(v, ':')) == NULL || memchr(v, ':', (size_t)(colon - v)) != NULL) {
        snprintf(err, errlen, "bad metrics address \"%s\": %s", v, usage);
        return false;
    } else {
        hlen = (size_t)(colon - v);
    }
    for (const char *p = colon + 1; *p; p++, digits++) {
        if (*p < '0' || *p > '9' || digits >= 5) {
            digits = 0;
            break;
        }
        port = port * 10 + (unsigned long)(*p - '0');
    }
    if (digits == 0 || port < 1 || port > 65535) {
        snprintf(err, errlen, "bad metrics address \"%s\": the port must be a number 1..65535", v);
        return false;
    }
    if (hlen == 0 || hlen >= sizeof(host)) {
        snprintf(err, errlen, "bad metrics address \"%s\": %s", v, usage);
        return false;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    memset(&sin, 0, sizeof(sin));
    memset(&sin6, 0, sizeof(sin6));
    if (*v != '[' && inet_pton(AF_INET, host, &sin.sin_addr) == 1) {
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)port);
        if (sa) {
            memcpy(sa, &sin, sizeof(sin));
            *salen = sizeof(sin);
        }
        return true;
    }
    if (*v == '[' && inet_pton(AF_INET6, host, &sin6.sin6_addr) == 1) {
        sin6.sin6_family = AF_INET6;
        sin6.sin6_port = htons((uint16_t)port);
        if (sa) {
            memcpy(sa, &sin6, sizeof(sin6));
            *salen = sizeof(sin6);
        }
        return true;
    }
    snprintf(err, errlen, "bad metrics address \"%s\": \"%s\" is not a numeric %s address", v, host,
             *v == '[' ? "IPv6" : "IPv4");
    return false;
}

metrics_t *metrics_new(void)
{
    metrics_t *m = xcalloc(1, sizeof(*m));

    pthread_mutex_init(&m->mu, NULL);
    return m;
}

static void names_free(metrics_names *t)
{
    for (size_t i = 0; i < t->n; i++)
        free(t->v[i].name);
    free(t->v);
}

void metrics_free(metrics_t *m)
{
    if (m == NULL)
        return;
    names_free(&m->rules);
    names_free(&m->lists);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static void inc(atomic_ulong *c)
{
    atomic_fetch_add_explicit(c, 1, memory_order_relaxed);
}

static unsigned long get(atomic_ulong *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

/* Add one to counter idx of name (len bytes) in t; caller holds m->mu. */
static void names_inc(metrics_names *t, const char *name, size_t len, int idx)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        if (strlen(t->v[i].name) == len && memcmp(t->v[i].name, name, len) == 0)
            break;
    if (i == t->n && t->n >= METRICS_MAX_NAMES) {
        name = "_other";
        len = 6;
        for (i = 0; i < t->n && strcmp(t->v[i].name, "_other") != 0; i++)
            ;
    }
    if (i == t->n) {
        t->v = xreallocarray(t->v, t->n + 1, sizeof(*t->v));
        memset(&t->v[t->n], 0, sizeof(t->v[0]));
        t->v[t->n++].name = xstrndup(name, len);
    }
    t->v[i].count[idx]++;
}

void metrics_decision(metrics_t *m, const declog_entry *e)
{
    const facts_t *f = e->facts;
    bool listed = false;

    if (m == NULL)
        return;
    if (e->verdict && (unsigned)e->verdict->action < NACTIONS)
        inc(&m->actions[e->verdict->action]);
    if (f) {
        if (f->spf_mfrom != SPFCHECK_UNSET && (unsigned)f->spf_mfrom < NSPF)
            inc(&m->spf[f->spf_mfrom]);
        if (f->spf_helo != SPFCHECK_UNSET && (unsigned)f->spf_helo < NSPF)
            inc(&m->spf_helo[f->spf_helo]);
        if (f->dkim != DKIMCHECK_UNSET && (unsigned)f->dkim < NDKIM)
            inc(&m->dkim[f->dkim]);
        if (f->dmarc.result != DMARCCHECK_UNSET && (unsigned)f->dmarc.result < NDMARC)
            inc(&m->dmarc[f->dmarc.result]);
        if (f->dnsbl.evaluated) {
            for (size_t i = 0; i < f->dnsbl.n; i++)
                listed |= f->dnsbl.v[i].known && f->dnsbl.v[i].listed;
            inc(listed ? &m->dnsbl_listed : &m->dnsbl_clean);
        }
    }
    pthread_mutex_lock(&m->mu);
    if (e->verdict) {
        const char *r = e->verdict->rule ? e->verdict->rule : "default";
        names_inc(&m->rules, r, strlen(r), 0);
    }
    for (size_t i = 0; i < e->ndry_run; i++)
        names_inc(&m->rules, e->dry_run[i], strlen(e->dry_run[i]), 1);
    /* each list that matched */
    for (size_t i = 0; f && f->dnsbl.evaluated && i < f->dnsbl.n; i++)
        if (f->dnsbl.v[i].known && f->dnsbl.v[i].listed)
            names_inc(&m->lists, f->dnsbl.v[i].name, strlen(f->dnsbl.v[i].name), 0);
    pthread_mutex_unlock(&m->mu);
}

void metrics_in_flight(metrics_t *m, int delta)
{
    if (m)
        atomic_fetch_add_explicit(&m->in_flight, delta, memory_order_relaxed);
}

void metrics_dns(dns_status st, long usec, void *arg)
{
    metrics_t *m = arg;
    size_t b = 0;

    if (m == NULL)
        return;
    if ((unsigned)st < NDNS)
        inc(&m->dns[st]);
    if (usec < 0)
        usec = 0;
    while (b < NBUCKETS - 1 && usec > dns_bounds_us[b])
        b++;
    inc(&m->dns_bucket[b]);
    atomic_fetch_add_explicit(&m->dns_usec, (unsigned long long)usec, memory_order_relaxed);
}

void metrics_reload(metrics_t *m, bool ok)
{
    if (m)
        inc(ok ? &m->reload_ok : &m->reload_failed);
}

bool metrics_set_config(metrics_t *m, const char *path)
{
    struct sha256_ctx ctx;
    uint8_t digest[SHA256_DIGEST_SIZE];
    unsigned char buf[8192];
    char hex[65] = "";
    size_t n;
    bool ok;
    FILE *fp;

    if (m == NULL)
        return true;
    fp = fopen(path, "rb");
    if (fp == NULL) {
        log_warn("metrics: cannot read %s for its hash: %s", path, strerror(errno));
        ok = false;
    } else {
        sha256_init(&ctx);
        while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
            sha256_update(&ctx, n, buf);
        ok = !ferror(fp);
        fclose(fp);
        if (ok) {
            sha256_digest(&ctx, sizeof(digest), digest);
            for (size_t i = 0; i < sizeof(digest); i++)
                snprintf(hex + 2 * i, 3, "%02x", digest[i]);
        } else {
            log_warn("metrics: cannot read %s for its hash", path);
        }
    }
    pthread_mutex_lock(&m->mu);
    memcpy(m->sha256, hex, sizeof(hex));
    pthread_mutex_unlock(&m->mu);
    return ok;
}

/* ---- exposition format ------------------------------------------------- */

/* A label value with \\, \" and \n escaped. */
static void out_label(strbuf *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            strbuf_addf(b, "\\%c", *v);
        else if (*v == '\n')
            strbuf_addf(b, "\\n");
        else
            strbuf_add(b, v, 1);
    }
}

static void out_head(strbuf *b, const char *name, const char *type, const char *help)
{
    strbuf_addf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void out_results(strbuf *b, const char *check, atomic_ulong *c, size_t n,
                        const char *(*name)(int))
{
    for (size_t i = 1; i < n; i++) /* 0 is UNSET: not evaluated */
        strbuf_addf(b, "mxguard_check_results_total{check=\"%s\",result=\"%s\"} %lu\n", check, name((int)i),
            get(&c[i]));
}

static const char *spf_name(int r) { return spfcheck_result_name((spfcheck_result)r); }
static const char *dkim_name(int r) { return dkimcheck_result_name((dkimcheck_result)r); }
static const char *dmarc_name(int r) { return dmarccheck_result_name((dmarccheck_result)r); }

char *metrics_format_reports(const metrics_reports *r)
{
    strbuf b = {0};

    out_head(&b, "mxguard_report_rows_buffered", "gauge",
             "DMARC report rows held in memory until the next flush to the store.");
    strbuf_addf(&b, "mxguard_report_rows_buffered %lu\n", r->rows_buffered);
    out_head(&b, "mxguard_report_rows_flushed_total", "counter", "DMARC report rows written to the store.");
    strbuf_addf(&b, "mxguard_report_rows_flushed_total %lu\n", r->rows_flushed);
    out_head(&b, "mxguard_report_messages_dropped_total", "counter",
             "Messages left out of DMARC reports: max_rows reached while the store lagged, or lost at stop.");
    strbuf_addf(&b, "mxguard_report_messages_dropped_total %lu\n", r->messages_dropped);
    out_head(&b, "mxguard_report_flush_errors_total", "counter",
             "Failed attempts to open or write the DMARC report store.");
    strbuf_addf(&b, "mxguard_report_flush_errors_total %lu\n", r->flush_errors);
    if (!r->totals_known)
        return strbuf_take(&b);
    out_head(&b, "mxguard_reports_built_total", "counter",
             "DMARC aggregate reports built (the store's total, all hosts, as of the last flush).");
    strbuf_addf(&b, "mxguard_reports_built_total %lu\n", r->built);
    out_head(&b, "mxguard_reports_sent_total", "counter",
             "DMARC aggregate reports sent to a destination (the store's total, as of the last flush).");
    strbuf_addf(&b, "mxguard_reports_sent_total %lu\n", r->sent);
    out_head(&b, "mxguard_reports_failed_total", "counter",
             "DMARC aggregate report sends that failed (the store's total, as of the last flush).");
    strbuf_addf(&b, "mxguard_reports_failed_total %lu\n", r->failed);
    return strbuf_take(&b);
}

char *metrics_format(metrics_t *m, const char *extra)
{
    static const char *const dry_mode[2] = {"fired", "dry_run"};
    strbuf b = {0};
    unsigned long cum = 0;

    if (m == NULL)
        return strbuf_take(&b);
    out_head(&b, "mxguard_build_info", "gauge", "Version of the running mxguard.");
    strbuf_addf(&b, "mxguard_build_info{version=\"%s\"} 1\n", PACKAGE_VERSION);

    out_head(&b, "mxguard_decisions_total", "counter", "Messages decided (one per decision line), by action.");
    for (int a = 0; a < NACTIONS; a++)
        strbuf_addf(&b, "mxguard_decisions_total{action=\"%s\"} %lu\n", verdict_action_name((verdict_action)a),
            get(&m->actions[a]));

    out_head(&b, "mxguard_rule_matches_total", "counter",
             "Rules that decided a message (mode fired; \"default\" when none matched) or matched in dry run.");
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->rules.n; i++)
        for (int k = 0; k < 2; k++) {
            strbuf_addf(&b, "mxguard_rule_matches_total{rule=\"");
            out_label(&b, m->rules.v[i].name);
            strbuf_addf(&b, "\",mode=\"%s\"} %lu\n", dry_mode[k], m->rules.v[i].count[k]);
        }
    pthread_mutex_unlock(&m->mu);

    out_head(&b, "mxguard_check_results_total", "counter", "Results of the checks of decided messages.");
    out_results(&b, "spf", m->spf, NSPF, spf_name);
    out_results(&b, "spf_helo", m->spf_helo, NSPF, spf_name);
    out_results(&b, "dkim", m->dkim, NDKIM, dkim_name);
    out_results(&b, "dmarc", m->dmarc, NDMARC, dmarc_name);
    strbuf_addf(&b, "mxguard_check_results_total{check=\"dnsbl\",result=\"listed\"} %lu\n", get(&m->dnsbl_listed));
    strbuf_addf(&b, "mxguard_check_results_total{check=\"dnsbl\",result=\"clean\"} %lu\n", get(&m->dnsbl_clean));

    out_head(&b, "mxguard_dnsbl_matches_total", "counter", "Decided messages each DNS list matched.");
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->lists.n; i++) {
        strbuf_addf(&b, "mxguard_dnsbl_matches_total{list=\"");
        out_label(&b, m->lists.v[i].name);
        strbuf_addf(&b, "\"} %lu\n", m->lists.v[i].count[0]);
    }
    pthread_mutex_unlock(&m->mu);

    out_head(&b, "mxguard_dns_queries_total", "counter", "DNS queries of every check, by outcome.");
    for (int s = 0; s < NDNS; s++)
        strbuf_addf(&b, "mxguard_dns_queries_total{outcome=\"%s\"} %lu\n", dns_status_name((dns_status)s),
            get(&m->dns[s]));

    out_head(&b, "mxguard_dns_query_duration_seconds", "histogram", "Time from the start of a DNS query to its answer or deadline.");
    for (size_t i = 0; i < NBUCKETS; i++) {
        cum += get(&m->dns_bucket[i]);
        if (i < NBUCKETS - 1)
            strbuf_addf(&b, "mxguard_dns_query_duration_seconds_bucket{le=\"%g\"} %lu\n",
                (double)dns_bounds_us[i] / 1e6, cum);
        else
            strbuf_addf(&b, "mxguard_dns_query_duration_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
    }
    strbuf_addf(&b, "mxguard_dns_query_duration_seconds_sum %.6f\n",
        (double)atomic_load_explicit(&m->dns_usec, memory_order_relaxed) / 1e6);
    strbuf_addf(&b, "mxguard_dns_query_duration_seconds_count %lu\n", cum);

    out_head(&b, "mxguard_messages_in_flight", "gauge", "Messages between MAIL FROM and their decision or end.");
    strbuf_addf(&b, "mxguard_messages_in_flight %ld\n", atomic_load_explicit(&m->in_flight, memory_order_relaxed));

    out_head(&b, "mxguard_config_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
    strbuf_addf(&b, "mxguard_config_reloads_total{result=\"ok\"} %lu\n", get(&m->reload_ok));
    strbuf_addf(&b, "mxguard_config_reloads_total{result=\"failed\"} %lu\n", get(&m->reload_failed));

    out_head(&b, "mxguard_config_info", "gauge", "The configuration in use: SHA-256 of its file.");
    pthread_mutex_lock(&m->mu);
    strbuf_addf(&b, "mxguard_config_info{sha256=\"%s\"} 1\n", m->sha256);
    pthread_mutex_unlock(&m->mu);

    if (extra)
        strbuf_adds(&b, extra);
    return strbuf_take(&b);
}
