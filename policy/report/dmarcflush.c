/*
 * dmarcflush.c - the DMARC report rows of the daemon (dmarcflush.h): the
 * aggregator the sessions add to, and the thread that writes it to the
 * store.
 *
 * The thread waits on a condition variable (CLOCK_MONOTONIC) for the next
 * interval, a kick or the stop.  A flush opens the store if it is not
 * open (if it cannot, the rows stay in the aggregator), then takes every
 * entry out of the aggregator (copies: dmarcagg_take frees its own),
 * writes them in batches of DMARCFLUSH_BATCH rows (one transaction each)
 * and puts back what was not written.  The store handle, the outage state and the rate-limited log
 * belong to the thread alone; the figures read by the metrics are atomics.
 *
 * SECURITY: a PostgreSQL URI may carry a password: the log shows the URI
 * with it masked (rstore_uri_shown).
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dmarcagg.h"
#include "dmarcflush.h"
#include "dmarcrow.h"
#include "log.h"
#include "rstore.h"
#include "xalloc.h"

struct dmarcflush {
    dmarcagg_t *agg;          /* owned; any thread adds */
    char *uri;                /* the store URI */
    char *label;              /* how the log names the store */
    char *own_email;          /* or NULL */
    unsigned interval, stop_seconds, period;

    pthread_mutex_t lock;     /* the fields below it, up to the figures */
    pthread_cond_t cond;      /* signals kicked, stopping, done */
    bool started, kicked, stopping, done, joined;
    pthread_t thread;

    /* figures (atomics: read by the metrics from any thread) */
    atomic_ulong added, rows_flushed, messages_flushed, lost, errors, flushes;
    atomic_ulong built, sent, failed;
    atomic_bool totals_known;

    /* the flush thread's own */
    rstore_t *st;             /* open store, or NULL */
    bool failing;             /* the last flush failed */
    unsigned long outage_errors; /* failures since the store last worked */
    unsigned long warn_errors;   /* failures since the last warning */
    unsigned long warn_dropped;  /* dmarcagg_dropped at the last warning */
    long last_warn;              /* monotonic seconds of the last warning; -1 none */
    char last_err[256];
};

/* Rows taken out of the aggregator for one flush. */
typedef struct flush_batch {
    dmarcrow **rows;
    unsigned long *counts;
    size_t n, cap;
} flush_batch;

static long mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec;
}

dmarcflush_t *dmarcflush_new(const dmarcflush_options *opt)
{
    dmarcflush_t *fl = xcalloc(1, sizeof(*fl));
    pthread_condattr_t ca;

    fl->agg = dmarcagg_new(opt->max_rows);
    fl->uri = xstrdup(opt->store);
    fl->label = rstore_uri_shown(opt->store);
    fl->own_email = opt->own_email && *opt->own_email ? xstrdup(opt->own_email) : NULL;
    fl->interval = opt->flush_interval ? opt->flush_interval : 1;
    fl->stop_seconds = opt->stop_seconds ? opt->stop_seconds : DMARCFLUSH_STOP_SECONDS;
    fl->period = opt->period;
    pthread_mutex_init(&fl->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&fl->cond, &ca);
    pthread_condattr_destroy(&ca);
    fl->last_warn = -1;
    return fl;
}

/* ---- the mail path ---------------------------------------------------- */

dmarcflush_result dmarcflush_add(dmarcflush_t *fl, const facts_t *f, const verdict_t *v, time_t now,
                                 const char *from_address)
{
    dmarcrow *r;
    bool ok;

    if (fl->own_email && from_address && strcasecmp(from_address, fl->own_email) == 0)
        return DMARCFLUSH_OWN_MAIL;
    if (!f->dmarc.rua)
        return DMARCFLUSH_NO_RUA;
    r = dmarcrow_from_facts(f, v, now, fl->period, NULL);
    if (r == NULL)
        return DMARCFLUSH_NO_ROW;
    ok = dmarcagg_add(fl->agg, r);
    dmarcrow_free(r);
    if (!ok)
        return DMARCFLUSH_DROPPED;
    atomic_fetch_add_explicit(&fl->added, 1, memory_order_relaxed);
    return DMARCFLUSH_ADDED;
}

const char *dmarcflush_result_name(dmarcflush_result r)
{
    switch (r) {
    case DMARCFLUSH_ADDED: return "added";
    case DMARCFLUSH_OWN_MAIL: return "own mail";
    case DMARCFLUSH_NO_RUA: return "no rua";
    case DMARCFLUSH_NO_ROW: return "no row";
    case DMARCFLUSH_DROPPED: return "dropped";
    }
    return "?";
}

void dmarcflush_stats_get(const dmarcflush_t *fl, dmarcflush_stats *out)
{
    dmarcflush_t *m = (dmarcflush_t *)fl; /* atomics: loads only */

    memset(out, 0, sizeof(*out));
    out->rows_buffered = dmarcagg_rows(fl->agg);
    out->messages_added = atomic_load(&m->added);
    out->rows_flushed = atomic_load(&m->rows_flushed);
    out->messages_flushed = atomic_load(&m->messages_flushed);
    out->messages_dropped = dmarcagg_dropped(fl->agg) + atomic_load(&m->lost);
    out->flush_errors = atomic_load(&m->errors);
    out->flushes = atomic_load(&m->flushes);
    out->totals_known = atomic_load(&m->totals_known);
    out->reports_built = atomic_load(&m->built);
    out->reports_sent = atomic_load(&m->sent);
    out->reports_failed = atomic_load(&m->failed);
}

/* ---- one flush (the thread) -------------------------------------------- */

static void batch_collect(const dmarcrow *r, unsigned long count, void *arg)
{
    flush_batch *b = arg;

    if (b->n == b->cap) {
        b->cap = b->cap ? b->cap * 2 : 64;
        b->rows = xreallocarray(b->rows, b->cap, sizeof(*b->rows));
        b->counts = xreallocarray(b->counts, b->cap, sizeof(*b->counts));
    }
    b->rows[b->n] = dmarcrow_copy(r);
    b->counts[b->n++] = count;
}

/* Put rows [from, n) back into the aggregator (past the bound they are
 * dropped and counted there), then free the batch. */
static void batch_put_back(dmarcflush_t *fl, flush_batch *b, size_t from)
{
    for (size_t i = from; i < b->n; i++)
        dmarcagg_add_n(fl->agg, b->rows[i], b->counts[i]);
    for (size_t i = 0; i < b->n; i++)
        dmarcrow_free(b->rows[i]);
    free(b->rows);
    free(b->counts);
    memset(b, 0, sizeof(*b));
}

static void store_close(dmarcflush_t *fl)
{
    if (fl->st != NULL)
        rstore_close(fl->st);
    fl->st = NULL;
}

/* A failed open or write: counted, the store closed (re-opened next time),
 * the reason kept for the rate-limited warning. */
static void flush_failed(dmarcflush_t *fl, const char *what, const char *err)
{
    atomic_fetch_add(&fl->errors, 1);
    fl->failing = true;
    fl->outage_errors++;
    fl->warn_errors++;
    snprintf(fl->last_err, sizeof(fl->last_err), "%s: %s", what, err);
    store_close(fl);
}

/* The store's counters for the metrics (one small table: never a count
 * over the rows); a failure here is a store failure. */
static bool read_totals(dmarcflush_t *fl)
{
    rstore_totals t;
    char err[256];

    if (!rstore_counters_get(fl->st, &t, err, sizeof(err))) {
        flush_failed(fl, "cannot read the totals", err);
        return false;
    }
    atomic_store(&fl->built, t.built);
    atomic_store(&fl->sent, t.sent);
    atomic_store(&fl->failed, t.failed);
    atomic_store(&fl->totals_known, true);
    return true;
}

/* Write the batch; true if every row was written.  Rows not written are
 * put back. */
static bool write_batch(dmarcflush_t *fl, flush_batch *b)
{
    char err[256];

    for (size_t i = 0; i < b->n; i += DMARCFLUSH_BATCH) {
        size_t k = b->n - i < DMARCFLUSH_BATCH ? b->n - i : DMARCFLUSH_BATCH;
        unsigned long late = 0, msgs = 0;

        if (!rstore_add(fl->st, (const dmarcrow *const *)b->rows + i, b->counts + i, k, &late, err,
                        sizeof(err))) {
            flush_failed(fl, "cannot write rows", err);
            batch_put_back(fl, b, i);
            return false;
        }
        for (size_t j = i; j < i + k; j++)
            msgs += b->counts[j];
        atomic_fetch_add(&fl->rows_flushed, k);
        atomic_fetch_add(&fl->messages_flushed, msgs);
        if (late > 0)
            log_info("reports: %lu row(s) added to reports already sent (they will not be reported)", late);
    }
    batch_put_back(fl, b, b->n);
    return true;
}

/* One flush: everything held to the store.  True on success. */
static bool flush_once(dmarcflush_t *fl)
{
    flush_batch b = {0};
    unsigned long msgs = 0;
    size_t nrows;
    char err[256];

    /* the store first: while it cannot be opened the rows stay where they
     * are (counted by the bound), never taken out and put back */
    if (fl->st == NULL && (fl->st = rstore_open(fl->uri, err, sizeof(err))) == NULL) {
        flush_failed(fl, "cannot open", err);
        return false;
    }
    dmarcagg_take(fl->agg, batch_collect, &b);
    nrows = b.n;
    for (size_t i = 0; i < b.n; i++)
        msgs += b.counts[i];
    if (!write_batch(fl, &b) || !read_totals(fl))
        return false;
    if (fl->failing)
        log_info("reports: %s works again: %zu row(s) of %lu message(s) written after %lu failed attempt(s)",
                 fl->label, nrows, msgs, fl->outage_errors);
    fl->failing = false;
    fl->outage_errors = 0;
    return true;
}

/* At most one warning a DMARCFLUSH_LOG_INTERVAL about store failures and
 * messages dropped over the bound since the last one. */
static void maybe_warn(dmarcflush_t *fl)
{
    unsigned long dropped = dmarcagg_dropped(fl->agg);
    long now = mono_seconds();

    if (fl->warn_errors == 0 && dropped == fl->warn_dropped)
        return;
    if (fl->last_warn >= 0 && now - fl->last_warn < (long)DMARCFLUSH_LOG_INTERVAL)
        return;
    if (fl->warn_errors > 0)
        log_warn("reports: %s: %s (%lu failed attempt(s), %lu message(s) dropped over max_rows since the "
                 "last warning; %zu row(s) held)",
                 fl->label, fl->last_err, fl->warn_errors, dropped - fl->warn_dropped, dmarcagg_rows(fl->agg));
    else
        log_warn("reports: %lu message(s) dropped since the last warning: max_rows reached (%zu row(s) held)",
                 dropped - fl->warn_dropped, dmarcagg_rows(fl->agg));
    fl->last_warn = now;
    fl->warn_errors = 0;
    fl->warn_dropped = dropped;
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void count_lost(const dmarcrow *r, unsigned long count, void *arg)
{
    unsigned long *c = arg;
    (void)r;
    c[0]++;
    c[1] += count;
}

/* The last flush: retried while the store fails, until stop_seconds have
 * passed; what is left is lost (logged, counted). */
static void final_flush(dmarcflush_t *fl)
{
    long deadline = mono_seconds() + (long)fl->stop_seconds;
    unsigned long lost[2] = {0, 0};

    while (dmarcagg_rows(fl->agg) > 0 && !flush_once(fl) && mono_seconds() + 1 < deadline)
        sleep_ms(1000);
    dmarcagg_take(fl->agg, count_lost, lost);
    if (lost[1] > 0) {
        atomic_fetch_add(&fl->lost, lost[1]);
        log_error("reports: final flush: %s: %s: %lu row(s) of %lu message(s) lost", fl->label,
                  fl->failing ? fl->last_err : "added during the stop", lost[0], lost[1]);
    }
    store_close(fl);
}

static void *flush_thread(void *arg)
{
    dmarcflush_t *fl = arg;

    pthread_mutex_lock(&fl->lock);
    for (;;) {
        struct timespec due;
        clock_gettime(CLOCK_MONOTONIC, &due);
        due.tv_sec += fl->interval;
        while (!fl->kicked && !fl->stopping)
            if (pthread_cond_timedwait(&fl->cond, &fl->lock, &due) == ETIMEDOUT)
                break;
        if (fl->stopping)
            break;
        fl->kicked = false;
        pthread_mutex_unlock(&fl->lock);
        flush_once(fl);
        maybe_warn(fl);
        atomic_fetch_add(&fl->flushes, 1);
        pthread_mutex_lock(&fl->lock);
    }
    pthread_mutex_unlock(&fl->lock);
    final_flush(fl);
    atomic_fetch_add(&fl->flushes, 1);
    pthread_mutex_lock(&fl->lock);
    fl->done = true;
    pthread_cond_broadcast(&fl->cond);
    pthread_mutex_unlock(&fl->lock);
    return NULL;
}

/* ---- the owner ------------------------------------------------------- */

bool dmarcflush_start(dmarcflush_t *fl, char *err, size_t errsz)
{
    sigset_t all, old;
    int rc;

    if (fl->started)
        return true;
    /* The thread takes no signals: the daemon's signal thread waits for them. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    rc = pthread_create(&fl->thread, NULL, flush_thread, fl);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        snprintf(err, errsz, "cannot start the report flush thread: %s", strerror(rc));
        return false;
    }
    pthread_setname_np(fl->thread, "mxg-flush"); /* for top -H, ps -L and the benchmarks */
    fl->started = true;
    return true;
}

void dmarcflush_kick(dmarcflush_t *fl)
{
    pthread_mutex_lock(&fl->lock);
    fl->kicked = true;
    pthread_cond_broadcast(&fl->cond);
    pthread_mutex_unlock(&fl->lock);
}

bool dmarcflush_stop(dmarcflush_t *fl)
{
    struct timespec due;
    bool done;

    if (!fl->started)
        return true;
    clock_gettime(CLOCK_MONOTONIC, &due);
    due.tv_sec += (time_t)fl->stop_seconds + 2; /* the thread's own bound, and a margin */
    pthread_mutex_lock(&fl->lock);
    fl->stopping = true;
    pthread_cond_broadcast(&fl->cond);
    while (!fl->done)
        if (pthread_cond_timedwait(&fl->cond, &fl->lock, &due) == ETIMEDOUT)
            break;
    done = fl->done;
    pthread_mutex_unlock(&fl->lock);
    if (!done) {
        log_error("reports: final flush: %s: a write still hangs after %u s: giving it up (%zu row(s) held "
                  "are lost)",
                  fl->label, fl->stop_seconds, dmarcagg_rows(fl->agg));
        return false;
    }
    if (!fl->joined) {
        pthread_join(fl->thread, NULL);
        fl->joined = true;
    }
    return true;
}

void dmarcflush_free(dmarcflush_t *fl)
{
    if (fl == NULL)
        return;
    if (fl->started && !fl->stopping)
        dmarcflush_stop(fl);
    if (fl->started && !fl->joined) {
        pthread_join(fl->thread, NULL); /* a hung write must end first */
        fl->joined = true;
    }
    store_close(fl);
    dmarcagg_free(fl->agg);
    pthread_cond_destroy(&fl->cond);
    pthread_mutex_destroy(&fl->lock);
    free(fl->uri);
    free(fl->label);
    free(fl->own_email);
    free(fl);
}
