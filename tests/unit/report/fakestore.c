/*
 * fakestore.c - the in-memory test double of rstore.h (fakestore.h).  One
 * process-wide store under a mutex: the flush thread writes while the test
 * thread reads.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakestore.h"
#include "rstore.h"
#include "xalloc.h"

struct rstore {
    int unused;
};

static pthread_mutex_t fs_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fs_cond = PTHREAD_COND_INITIALIZER;
static struct {
    bool fail_open, fail_add, hang_open, hang_add, late;
    unsigned opens, adds;
    int open_now;
    dmarcrow **rows;
    unsigned long *counts;
    size_t n;
    rstore_totals totals;
} fs;

void fakestore_reset(void)
{
    pthread_mutex_lock(&fs_lock);
    for (size_t i = 0; i < fs.n; i++)
        dmarcrow_free(fs.rows[i]);
    free(fs.rows);
    free(fs.counts);
    memset(&fs, 0, sizeof(fs));
    pthread_cond_broadcast(&fs_cond);
    pthread_mutex_unlock(&fs_lock);
}

#define FS_SET(field, v)                                                                                     \
    do {                                                                                                     \
        pthread_mutex_lock(&fs_lock);                                                                        \
        fs.field = (v);                                                                                      \
        pthread_cond_broadcast(&fs_cond);                                                                    \
        pthread_mutex_unlock(&fs_lock);                                                                      \
    } while (0)

void fakestore_fail_open(bool on) { FS_SET(fail_open, on); }
void fakestore_fail_add(bool on) { FS_SET(fail_add, on); }
void fakestore_hang_open(bool on) { FS_SET(hang_open, on); }
void fakestore_hang_add(bool on) { FS_SET(hang_add, on); }
void fakestore_late(bool on) { FS_SET(late, on); }

void fakestore_set_totals(unsigned long built, unsigned long sent, unsigned long failed)
{
    pthread_mutex_lock(&fs_lock);
    fs.totals.built = built;
    fs.totals.sent = sent;
    fs.totals.failed = failed;
    pthread_mutex_unlock(&fs_lock);
}

size_t fakestore_rows(void)
{
    size_t n;
    pthread_mutex_lock(&fs_lock);
    n = fs.n;
    pthread_mutex_unlock(&fs_lock);
    return n;
}

unsigned long fakestore_messages(void)
{
    unsigned long m = 0;
    pthread_mutex_lock(&fs_lock);
    for (size_t i = 0; i < fs.n; i++)
        m += fs.counts[i];
    pthread_mutex_unlock(&fs_lock);
    return m;
}

unsigned long fakestore_count(const dmarcrow *r)
{
    unsigned long c = 0;
    pthread_mutex_lock(&fs_lock);
    for (size_t i = 0; i < fs.n; i++)
        if (dmarcrow_key_equal(fs.rows[i], r))
            c = fs.counts[i];
    pthread_mutex_unlock(&fs_lock);
    return c;
}

void fakestore_each(void (*fn)(const dmarcrow *r, unsigned long count, void *arg), void *arg)
{
    pthread_mutex_lock(&fs_lock);
    for (size_t i = 0; i < fs.n; i++)
        fn(fs.rows[i], fs.counts[i], arg);
    pthread_mutex_unlock(&fs_lock);
}

unsigned fakestore_opens(void)
{
    unsigned n;
    pthread_mutex_lock(&fs_lock);
    n = fs.opens;
    pthread_mutex_unlock(&fs_lock);
    return n;
}

unsigned fakestore_adds(void)
{
    unsigned n;
    pthread_mutex_lock(&fs_lock);
    n = fs.adds;
    pthread_mutex_unlock(&fs_lock);
    return n;
}

int fakestore_open_now(void)
{
    int n;
    pthread_mutex_lock(&fs_lock);
    n = fs.open_now;
    pthread_mutex_unlock(&fs_lock);
    return n;
}

/* ---- rstore.h ---- */

rstore_t *rstore_open(const char *uri, char *err, size_t errsz)
{
    rstore_t *st = NULL;

    (void)uri;
    pthread_mutex_lock(&fs_lock);
    fs.opens++;
    while (fs.hang_open)
        pthread_cond_wait(&fs_cond, &fs_lock);
    if (fs.fail_open) {
        snprintf(err, errsz, "fake store down");
    } else {
        st = xcalloc(1, sizeof(*st));
        fs.open_now++;
    }
    pthread_mutex_unlock(&fs_lock);
    return st;
}

void rstore_close(rstore_t *st)
{
    if (st == NULL)
        return;
    pthread_mutex_lock(&fs_lock);
    fs.open_now--;
    pthread_mutex_unlock(&fs_lock);
    free(st);
}

const char *rstore_kind(const rstore_t *st)
{
    (void)st;
    return "sqlite";
}

bool rstore_add(rstore_t *st, const dmarcrow *const *rows, const unsigned long *counts, size_t n,
                unsigned long *late, char *err, size_t errsz)
{
    (void)st;
    pthread_mutex_lock(&fs_lock);
    fs.adds++;
    while (fs.hang_add)
        pthread_cond_wait(&fs_cond, &fs_lock);
    if (fs.fail_add) {
        pthread_mutex_unlock(&fs_lock);
        snprintf(err, errsz, "fake store refuses writes");
        return false;
    }
    unsigned long l = 0;
    for (size_t i = 0; i < n; i++) {
        size_t j;
        l += counts[i];
        for (j = 0; j < fs.n; j++)
            if (dmarcrow_key_equal(fs.rows[j], rows[i]))
                break;
        if (j == fs.n) {
            fs.rows = xreallocarray(fs.rows, fs.n + 1, sizeof(*fs.rows));
            fs.counts = xreallocarray(fs.counts, fs.n + 1, sizeof(*fs.counts));
            fs.rows[j] = dmarcrow_copy(rows[i]);
            fs.counts[j] = 0;
            fs.n++;
        }
        fs.counts[j] += counts[i];
    }
    if (!fs.late)
        l = 0;
    pthread_mutex_unlock(&fs_lock);
    if (late)
        *late = l;
    return true;
}

bool rstore_counters_get(rstore_t *st, rstore_totals *out, char *err, size_t errsz)
{
    (void)st;
    (void)err;
    (void)errsz;
    pthread_mutex_lock(&fs_lock);
    *out = fs.totals;
    pthread_mutex_unlock(&fs_lock);
    return true;
}

/* The reporter's side, and what the daemon must not call (the full
 * totals count over every row): fails if called. */
static bool fs_unused(char *err, size_t errsz)
{
    snprintf(err, errsz, "not in the fake store");
    return false;
}

bool rstore_totals_get(rstore_t *st, rstore_totals *out, char *err, size_t errsz)
{
    (void)st;
    memset(out, 0, sizeof(*out));
    return fs_unused(err, errsz);
}

void rstore_report_free(rstore_report *r)
{
    if (r == NULL)
        return;
    free(r->policy_domain);
    free(r);
}

int rstore_claim(rstore_t *st, int64_t closed_before, int64_t now, const char *owner, unsigned lease,
                 rstore_report **out, char *err, size_t errsz)
{
    (void)st, (void)closed_before, (void)now, (void)owner, (void)lease, (void)out;
    fs_unused(err, errsz);
    return -1;
}

bool rstore_rows(rstore_t *st, const rstore_report *r, rstore_row_fn fn, void *arg, char *err, size_t errsz)
{
    (void)st, (void)r, (void)fn, (void)arg;
    return fs_unused(err, errsz);
}

bool rstore_dest_sent(rstore_t *st, const rstore_report *r, const char *dest, bool *sent, char *err,
                      size_t errsz)
{
    (void)st, (void)r, (void)dest, (void)sent;
    return fs_unused(err, errsz);
}

bool rstore_mark_dest(rstore_t *st, const rstore_report *r, const char *dest, int64_t now, char *err,
                      size_t errsz)
{
    (void)st, (void)r, (void)dest, (void)now;
    return fs_unused(err, errsz);
}

bool rstore_dest_count(rstore_t *st, const char *dest, int64_t since, unsigned long *count, char *err,
                       size_t errsz)
{
    (void)st, (void)dest, (void)since, (void)count;
    return fs_unused(err, errsz);
}

bool rstore_done(rstore_t *st, const rstore_report *r, int64_t now, unsigned long *late, char *err, size_t errsz)
{
    (void)st, (void)r, (void)now, (void)late;
    return fs_unused(err, errsz);
}

bool rstore_failed(rstore_t *st, const rstore_report *r, int64_t next_try, const char *why, char *err,
                   size_t errsz)
{
    (void)st, (void)r, (void)next_try, (void)why;
    return fs_unused(err, errsz);
}

bool rstore_release(rstore_t *st, const rstore_report *r, int64_t next_try, char *err, size_t errsz)
{
    (void)st, (void)r, (void)next_try;
    return fs_unused(err, errsz);
}

bool rstore_expire(rstore_t *st, int64_t before, unsigned long *deleted, char *err, size_t errsz)
{
    (void)st, (void)before, (void)deleted;
    return fs_unused(err, errsz);
}

bool rstore_count(rstore_t *st, const char *what, unsigned long n, char *err, size_t errsz)
{
    (void)st, (void)what, (void)n;
    return fs_unused(err, errsz);
}
