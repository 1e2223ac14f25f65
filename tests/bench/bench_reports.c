/*
 * bench_reports.c - what DMARC aggregate reports cost off the mail path:
 * MESSAGES messages of one UTC day over DOMAINS policy domains go through
 * the daemon's aggregator (dmarcagg, as the sessions add them) and are
 * written to a store (rstore_add, as the flush thread does) in FLUSHES
 * flushes spread over the day.  Prints the aggregation CPU per message,
 * the time of each flush (median, max, total), the distinct rows and the
 * store size (SQLite: the file with its WAL).  Run by tests/bench/reports.sh,
 * which then times `mxguard report` over the store.  Asserts nothing about
 * time; fails only when the store refuses the rows or loses a count.
 *
 * Each message's row: domain i % DOMAINS, one of SOURCES source addresses
 * of that domain, and one of four outcomes (DMARC pass by DKIM and SPF,
 * pass by DKIM only, fail rejected, fail quarantined), so a domain has up
 * to SOURCES x 4 rows.
 *
 * Usage: bench_reports STORE_URI MESSAGES DOMAINS [FLUSHES] [SOURCES] [DAY]
 *   DAY: the period's begin (UTC seconds, a multiple of 86400).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dmarcagg.h"
#include "dmarcrow.h"
#include "rstore.h"
#include "xalloc.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* The row of message i (a template whose strings are rewritten in place). */
typedef struct bench_row {
    dmarcrow r;
    dmarcrow_dkim dkim;
    char domain[64], ip[64], selector[16];
} bench_row;

static void bench_fill(bench_row *b, unsigned long i, unsigned long domains, unsigned sources, time_t day)
{
    unsigned long d = i % domains;
    unsigned src = (unsigned)((i / domains) % sources);
    unsigned outcome = (unsigned)((i / domains / sources) % 4);

    memset(&b->r, 0, sizeof(b->r));
    snprintf(b->domain, sizeof(b->domain), "d%lu.bench.example", d);
    snprintf(b->ip, sizeof(b->ip), "198.51.%lu.%u", d % 256, src + 1);
    snprintf(b->selector, sizeof(b->selector), "s%u", outcome % 2);
    b->r.p = outcome == 3 ? DMARCCHECK_POLICY_QUARANTINE : DMARCCHECK_POLICY_REJECT;
    b->r.sp = b->r.np = DMARCCHECK_POLICY_UNSET;
    b->r.rua = true;
    b->r.policy_domain = b->domain;
    b->r.begin = day;
    b->r.end = day + DMARCROW_DEFAULT_PERIOD - 1;
    b->r.source_ip = b->ip;
    b->r.header_from = b->domain;
    b->r.envelope_from = b->domain;
    b->r.disposition = outcome < 2 ? DMARCROW_DISP_PASS : outcome == 2 ? DMARCROW_DISP_REJECT
                                                                       : DMARCROW_DISP_QUARANTINE;
    b->r.dkim_aligned = outcome < 2;
    b->r.spf_aligned = outcome == 0;
    b->dkim.domain = b->domain;
    b->dkim.selector = b->selector;
    b->dkim.result = outcome < 2 ? DKIMCHECK_PASS : DKIMCHECK_FAIL;
    b->r.dkim = &b->dkim;
    b->r.ndkim = 1;
    b->r.spf_domain = b->domain;
    b->r.spf = outcome == 0 ? SPFCHECK_PASS : SPFCHECK_FAIL;
}

/* What one flush hands to rstore_add. */
typedef struct bench_batch {
    dmarcrow **rows;
    unsigned long *counts;
    size_t n, cap;
    unsigned long messages;
} bench_batch;

static void bench_take(const dmarcrow *r, unsigned long count, void *arg)
{
    bench_batch *b = arg;

    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 1024;
        b->rows = xrealloc(b->rows, b->cap * sizeof(*b->rows));
        b->counts = xrealloc(b->counts, b->cap * sizeof(*b->counts));
    }
    b->rows[b->n] = dmarcrow_copy(r);
    b->counts[b->n++] = count;
    b->messages += count;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: bench_reports STORE_URI MESSAGES DOMAINS [FLUSHES] [SOURCES] [DAY]\n");
        return 2;
    }
    const char *uri = argv[1];
    unsigned long messages = strtoul(argv[2], NULL, 10), domains = strtoul(argv[3], NULL, 10);
    unsigned long flushes = argc > 4 ? strtoul(argv[4], NULL, 10) : 100;
    unsigned sources = argc > 5 ? (unsigned)strtoul(argv[5], NULL, 10) : 10;
    time_t day = argc > 6 ? (time_t)strtoll(argv[6], NULL, 10) : (time(NULL) / 86400 - 2) * 86400;
    char err[512] = "";
    double *fl, agg_cpu = 0, flush_total = 0;
    unsigned long stored = 0, rows_total = 0;
    rstore_totals tot;
    bench_row b;
    rstore_t *st;
    dmarcagg_t *agg;

    if (messages == 0 || domains == 0 || flushes == 0 || sources == 0)
        return 2;
    st = rstore_open(uri, err, sizeof(err));
    if (st == NULL) {
        fprintf(stderr, "bench_reports: %s\n", err);
        return 1;
    }
    agg = dmarcagg_new(10000000);
    fl = xcalloc(flushes, sizeof(double));
    for (unsigned long f = 0; f < flushes; f++) {
        unsigned long from = messages * f / flushes, to = messages * (f + 1) / flushes;
        bench_batch batch = {0};
        unsigned long late = 0;
        double c0 = cpu_ms(), t0;

        for (unsigned long i = from; i < to; i++) {
            bench_fill(&b, i, domains, sources, day);
            if (!dmarcagg_add(agg, &b.r)) {
                fprintf(stderr, "bench_reports: the aggregator dropped a message\n");
                return 1;
            }
        }
        agg_cpu += cpu_ms() - c0;
        dmarcagg_take(agg, bench_take, &batch);
        t0 = now_ms();
        if (!rstore_add(st, (const dmarcrow *const *)batch.rows, batch.counts, batch.n, &late, err, sizeof(err))) {
            fprintf(stderr, "bench_reports: flush %lu: %s\n", f, err);
            return 1;
        }
        fl[f] = now_ms() - t0;
        flush_total += fl[f];
        stored += batch.messages;
        rows_total += batch.n;
        for (size_t k = 0; k < batch.n; k++)
            dmarcrow_free(batch.rows[k]);
        free(batch.rows);
        free(batch.counts);
    }
    if (!rstore_totals_get(st, &tot, err, sizeof(err))) {
        fprintf(stderr, "bench_reports: totals: %s\n", err);
        return 1;
    }
    qsort(fl, flushes, sizeof(double), cmp_double);
    printf("bench_reports: %s store, %lu messages, %lu policy domains, %u sources each, one day (begin %lld)\n",
           rstore_kind(st), messages, domains, sources, (long long)day);
    printf("bench_reports: aggregation %.3f us CPU per message (dmarcagg_add, one thread)\n",
           agg_cpu * 1000.0 / (double)messages);
    printf("bench_reports: %lu flushes of %.0f rows on average: median %.1f ms, max %.1f ms, total %.2f s\n",
           flushes, (double)rows_total / (double)flushes, fl[flushes / 2], fl[flushes - 1], flush_total / 1000.0);
    printf("bench_reports: stored %lu distinct rows in %lu reports\n", tot.rows, tot.reports_open + tot.reports_sent);
    if (strncmp(uri, "sqlite:", 7) == 0) {
        char wal[4200];
        snprintf(wal, sizeof(wal), "%s-wal", uri + 7);
        printf("bench_reports: store size %.1f MB (WAL %.1f MB)\n", (double)file_size(uri + 7) / 1e6,
               (double)file_size(wal) / 1e6);
    }
    free(fl);
    dmarcagg_free(agg);
    rstore_close(st);
    if (stored != messages) {
        fprintf(stderr, "bench_reports: %lu of %lu messages reached the store\n", stored, messages);
        return 1;
    }
    return 0;
}
