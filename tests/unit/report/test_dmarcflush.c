/*
 * test_dmarcflush.c - the daemon's DMARC report flush (dmarcflush.h) with
 * its thread, against the fake store (fakestore.h): rows flushed and
 * counted with the store's totals cached; a store down (open or write
 * failing) keeps the rows and writes them later with exact counts, the
 * store re-opened, one warning a minute and one recovery line; the bound
 * drops and counts (also rows put back after a failed write); the final
 * flush at stop, bounded when the store is down or hangs; what is not
 * recorded (no rua, our own report mail, no row); several threads adding
 * during flushes and failures give exact totals.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dmarcflush.h"
#include "dmarcrow.h"
#include "fakestore.h"
#include "facts.h"
#include "log.h"
#include "testutil.h"
#include "xalloc.h"

#define T0 ((time_t)1764806400 + 3600) /* 2025-12-04 01:00:00 UTC */
#define OWN "dmarc-reports@example.net"

static const verdict_t ACCEPT = {.action = ACTION_ACCEPT, .rule = "default"};

/* A message from org.example (p=reject, rua) from ip that passed DMARC. */
static facts_t *msg_facts(const char *ip)
{
    facts_t *f = facts_new();

    facts_set(&f->client_addr, ip);
    facts_set(&f->mail_from, "bounce@org.example");
    facts_set(&f->sender_domain, "org.example");
    f->spf_mfrom = SPFCHECK_PASS;
    facts_set(&f->spf_domain, "org.example");
    f->dmarc.result = DMARCCHECK_PASS;
    f->dmarc.from = FROMHDR_OK;
    snprintf(f->dmarc.domain, sizeof(f->dmarc.domain), "org.example");
    snprintf(f->dmarc.policy_domain, sizeof(f->dmarc.policy_domain), "org.example");
    snprintf(f->dmarc.org_domain, sizeof(f->dmarc.org_domain), "org.example");
    f->dmarc.p = DMARCCHECK_POLICY_REJECT;
    f->dmarc.policy_tag = "p";
    f->dmarc.published = DMARCCHECK_POLICY_REJECT;
    f->dmarc.applied = DMARCCHECK_POLICY_NONE;
    f->dmarc.spf_aligned = true;
    f->dmarc.rua = true;
    return f;
}

/* The row a message from ip makes (to look its count up in the store). */
static dmarcrow *row_for(const char *ip)
{
    facts_t *f = msg_facts(ip);
    dmarcrow *r = dmarcrow_from_facts(f, &ACCEPT, T0, 0, NULL);

    ck_assert_ptr_nonnull(r);
    facts_free(f);
    return r;
}

/* Add n messages from ip; each must be counted (or each dropped). */
static void add_from(dmarcflush_t *fl, const char *ip, int n, dmarcflush_result want)
{
    facts_t *f = msg_facts(ip);

    for (int i = 0; i < n; i++) {
        dmarcflush_result r = dmarcflush_add(fl, f, &ACCEPT, T0, "alice@org.example");
        ck_assert_msg(r == want, "%s: %s, want %s", ip, dmarcflush_result_name(r), dmarcflush_result_name(want));
    }
    facts_free(f);
}

static unsigned long store_count(const char *ip)
{
    dmarcrow *r = row_for(ip);
    unsigned long c = fakestore_count(r);

    dmarcrow_free(r);
    return c;
}

static dmarcflush_stats stats(const dmarcflush_t *fl)
{
    dmarcflush_stats s;
    dmarcflush_stats_get(fl, &s);
    return s;
}

/* Kick and wait (bounded) until that flush has ended. */
static void flush_wait(dmarcflush_t *fl)
{
    unsigned long before = stats(fl).flushes;

    dmarcflush_kick(fl);
    for (int i = 0; i < 1000 && stats(fl).flushes == before; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_assert_msg(stats(fl).flushes > before, "no flush within 10 s");
}

static int count_lines(const char *what)
{
    int n = 0;
    for (const char *p = tu_log_text(); (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

static dmarcflush_t *start(size_t max_rows, unsigned stop_seconds)
{
    dmarcflush_options o = {
        .store = "postgresql://u:secret@db.example/reports",
        .own_email = OWN,
        .flush_interval = 3600, /* only kicks flush in these tests */
        .max_rows = max_rows,
        .stop_seconds = stop_seconds,
    };
    dmarcflush_t *fl = dmarcflush_new(&o);
    char err[256];

    ck_assert_msg(dmarcflush_start(fl, err, sizeof(err)), "%s", err);
    return fl;
}

static void setup(void)
{
    fakestore_reset();
    tu_log_start();
}

static void teardown(void)
{
    tu_log_stop();
    fakestore_reset();
}

START_TEST(test_flush_counts)
{
    dmarcflush_t *fl = start(100, 2);
    dmarcflush_stats s;

    fakestore_set_totals(5, 4, 1);
    add_from(fl, "192.0.2.1", 3, DMARCFLUSH_ADDED);
    add_from(fl, "192.0.2.2", 2, DMARCFLUSH_ADDED);
    s = stats(fl);
    ck_assert_uint_eq(s.rows_buffered, 2);
    ck_assert_uint_eq(s.messages_added, 5);
    ck_assert(!s.totals_known);
    ck_assert_uint_eq(fakestore_opens(), 0); /* lazily */
    flush_wait(fl);
    ck_assert_uint_eq(fakestore_rows(), 2);
    ck_assert_uint_eq(store_count("192.0.2.1"), 3);
    ck_assert_uint_eq(store_count("192.0.2.2"), 2);
    s = stats(fl);
    ck_assert_uint_eq(s.rows_buffered, 0);
    ck_assert_uint_eq(s.rows_flushed, 2);
    ck_assert_uint_eq(s.messages_flushed, 5);
    ck_assert_uint_eq(s.flush_errors, 0);
    ck_assert(s.totals_known);
    ck_assert_uint_eq(s.reports_built, 5);
    ck_assert_uint_eq(s.reports_sent, 4);
    ck_assert_uint_eq(s.reports_failed, 1);
    /* the same key again: the store adds up; the store stays open */
    add_from(fl, "192.0.2.1", 4, DMARCFLUSH_ADDED);
    flush_wait(fl);
    ck_assert_uint_eq(store_count("192.0.2.1"), 7);
    ck_assert_uint_eq(stats(fl).rows_flushed, 3);
    ck_assert_uint_eq(fakestore_opens(), 1);
    ck_assert(dmarcflush_stop(fl));
    ck_assert_int_eq(fakestore_open_now(), 0);
    dmarcflush_free(fl);
    ck_assert_ptr_null(strstr(tu_log_text(), "warning"));
    ck_assert_ptr_null(strstr(tu_log_text(), "secret")); /* the URI's password is never logged */
}
END_TEST

/* Down at open, then at write: rows kept, written later with exact counts. */
START_TEST(test_store_down)
{
    dmarcflush_t *fl = start(100, 2);
    dmarcflush_stats s;

    fakestore_fail_open(true);
    add_from(fl, "192.0.2.1", 3, DMARCFLUSH_ADDED);
    flush_wait(fl);
    s = stats(fl);
    ck_assert_uint_eq(s.flush_errors, 1);
    ck_assert_uint_eq(s.rows_buffered, 1);
    ck_assert_uint_eq(s.rows_flushed, 0);
    ck_assert_int_eq(count_lines("cannot open: fake store down"), 1);
    ck_assert_ptr_null(strstr(tu_log_text(), "secret"));
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "postgresql://u:***@db.example/reports"));
    /* again: counted, but no second warning within the minute */
    add_from(fl, "192.0.2.1", 2, DMARCFLUSH_ADDED);
    flush_wait(fl);
    ck_assert_uint_eq(stats(fl).flush_errors, 2);
    ck_assert_int_eq(count_lines("failed attempt(s), "), 1);
    /* opens now, but writes fail: the store is closed again (re-opened next time) */
    fakestore_fail_open(false);
    fakestore_fail_add(true);
    add_from(fl, "192.0.2.3", 1, DMARCFLUSH_ADDED);
    flush_wait(fl);
    s = stats(fl);
    ck_assert_uint_eq(s.flush_errors, 3);
    ck_assert_uint_eq(s.rows_buffered, 2);
    ck_assert_uint_eq(fakestore_opens(), 3);
    ck_assert_int_eq(fakestore_open_now(), 0);
    ck_assert_uint_eq(fakestore_rows(), 0);
    /* back: everything with exact counts, one recovery line */
    fakestore_fail_add(false);
    flush_wait(fl);
    s = stats(fl);
    ck_assert_uint_eq(s.rows_buffered, 0);
    ck_assert_uint_eq(s.rows_flushed, 2);
    ck_assert_uint_eq(s.messages_flushed, 6);
    ck_assert_uint_eq(s.messages_dropped, 0);
    ck_assert_uint_eq(store_count("192.0.2.1"), 5);
    ck_assert_uint_eq(store_count("192.0.2.3"), 1);
    ck_assert_int_eq(count_lines("works again"), 1);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "after 3 failed attempt(s)"));
    flush_wait(fl);
    ck_assert_int_eq(count_lines("works again"), 1);
    dmarcflush_free(fl);
}
END_TEST

/* The bound: new rows past max_rows dropped and counted, also those put
 * back after a failed write while new ones filled the room. */
START_TEST(test_bound)
{
    dmarcflush_t *fl = start(2, 2);
    dmarcflush_stats s;

    fakestore_fail_open(true);
    add_from(fl, "192.0.2.1", 3, DMARCFLUSH_ADDED);
    add_from(fl, "192.0.2.2", 2, DMARCFLUSH_ADDED);
    add_from(fl, "192.0.2.3", 4, DMARCFLUSH_DROPPED);
    add_from(fl, "192.0.2.1", 1, DMARCFLUSH_ADDED); /* a held key still counts */
    s = stats(fl);
    ck_assert_uint_eq(s.messages_dropped, 4);
    ck_assert_uint_eq(s.messages_added, 6);
    flush_wait(fl);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "4 message(s) dropped over max_rows"));
    /* a write that hangs, then fails: meanwhile two new keys fill the room */
    fakestore_fail_open(false);
    fakestore_fail_add(true);
    fakestore_hang_add(true);
    dmarcflush_kick(fl);
    for (int i = 0; i < 1000 && fakestore_adds() == 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_assert_uint_eq(fakestore_adds(), 1); /* the rows are out of the aggregator */
    ck_assert_uint_eq(stats(fl).rows_buffered, 0);
    add_from(fl, "192.0.2.4", 1, DMARCFLUSH_ADDED);
    add_from(fl, "192.0.2.5", 1, DMARCFLUSH_ADDED);
    fakestore_hang_add(false);
    /* the put-back of .1 (4 messages) and .2 (2) finds no room */
    for (int i = 0; i < 1000 && stats(fl).flush_errors < 2; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fakestore_fail_add(false);
    flush_wait(fl);
    s = stats(fl);
    ck_assert_uint_eq(s.flush_errors, 2);
    ck_assert_uint_eq(s.messages_dropped, 4 + 4 + 2);
    ck_assert_uint_eq(fakestore_rows(), 2);
    ck_assert_uint_eq(store_count("192.0.2.4"), 1);
    ck_assert_uint_eq(store_count("192.0.2.5"), 1);
    ck_assert_uint_eq(store_count("192.0.2.1"), 0);
    dmarcflush_free(fl);
}
END_TEST

/* A store that cannot be opened: the rows stay in the aggregator (never
 * taken out and put back), so the bound keeps counting them meanwhile. */
START_TEST(test_open_first)
{
    dmarcflush_t *fl = start(2, 2);
    dmarcflush_stats s;

    add_from(fl, "192.0.2.1", 3, DMARCFLUSH_ADDED);
    add_from(fl, "192.0.2.2", 2, DMARCFLUSH_ADDED);
    fakestore_fail_open(true);
    fakestore_hang_open(true);
    dmarcflush_kick(fl);
    for (int i = 0; i < 1000 && fakestore_opens() == 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ck_assert_uint_eq(fakestore_opens(), 1); /* the open hangs now */
    ck_assert_uint_eq(stats(fl).rows_buffered, 2);
    add_from(fl, "192.0.2.3", 1, DMARCFLUSH_DROPPED); /* the bound still holds */
    add_from(fl, "192.0.2.1", 1, DMARCFLUSH_ADDED);
    fakestore_hang_open(false);
    for (int i = 0; i < 1000 && stats(fl).flush_errors == 0; i++) {
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    s = stats(fl);
    ck_assert_uint_eq(s.flush_errors, 1);
    ck_assert_uint_eq(s.rows_buffered, 2);
    ck_assert_uint_eq(fakestore_adds(), 0);
    fakestore_fail_open(false);
    flush_wait(fl);
    s = stats(fl);
    ck_assert_uint_eq(s.messages_dropped, 1);
    ck_assert_uint_eq(s.messages_flushed, 6);
    ck_assert_uint_eq(store_count("192.0.2.1"), 4);
    ck_assert_uint_eq(store_count("192.0.2.2"), 2);
    ck_assert_uint_eq(store_count("192.0.2.3"), 0);
    dmarcflush_free(fl);
}
END_TEST

START_TEST(test_final_flush)
{
    dmarcflush_t *fl = start(100, 2);

    add_from(fl, "192.0.2.1", 2, DMARCFLUSH_ADDED);
    add_from(fl, "192.0.2.2", 1, DMARCFLUSH_ADDED);
    ck_assert_uint_eq(fakestore_adds(), 0);
    ck_assert(dmarcflush_stop(fl));
    ck_assert_uint_eq(store_count("192.0.2.1"), 2);
    ck_assert_uint_eq(store_count("192.0.2.2"), 1);
    ck_assert_uint_eq(stats(fl).messages_dropped, 0);
    ck_assert_int_eq(fakestore_open_now(), 0);
    dmarcflush_free(fl);
    ck_assert_ptr_null(strstr(tu_log_text(), "lost"));
}
END_TEST

/* The store down at stop: retried for stop_seconds, then lost and said. */
START_TEST(test_final_flush_down)
{
    dmarcflush_t *fl = start(100, 2);
    struct timespec t0, t1;
    unsigned opens;

    fakestore_fail_open(true);
    add_from(fl, "192.0.2.1", 2, DMARCFLUSH_ADDED);
    add_from(fl, "192.0.2.2", 1, DMARCFLUSH_ADDED);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert(dmarcflush_stop(fl));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_le(t1.tv_sec - t0.tv_sec, 4);
    opens = fakestore_opens();
    ck_assert_uint_ge(opens, 1); /* retried while time was left */
    ck_assert_uint_le(opens, 3);
    ck_assert_uint_eq(stats(fl).messages_dropped, 3);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "final flush"));
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "2 row(s) of 3 message(s) lost"));
    dmarcflush_free(fl);
}
END_TEST

/* A write that hangs at stop: stop gives up after the bound. */
START_TEST(test_final_flush_hangs)
{
    dmarcflush_t *fl = start(100, 1);
    struct timespec t0, t1;

    add_from(fl, "192.0.2.1", 2, DMARCFLUSH_ADDED);
    fakestore_hang_add(true);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ck_assert(!dmarcflush_stop(fl));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ck_assert_int_le(t1.tv_sec - t0.tv_sec, 5);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "a write still hangs after 1 s"));
    fakestore_hang_add(false);
    dmarcflush_free(fl); /* waits for the write, then frees */
    ck_assert_uint_eq(store_count("192.0.2.1"), 2);
}
END_TEST

/* Not recorded: no rua, our own report mail, no row. */
START_TEST(test_skipped)
{
    dmarcflush_options o = {.store = "sqlite:/nonexistent/r.db", .own_email = OWN, .flush_interval = 60,
                            .max_rows = 10};
    dmarcflush_t *fl = dmarcflush_new(&o); /* not started: adds only */
    facts_t *f = msg_facts("192.0.2.1");
    static const verdict_t tempfail = {.action = ACTION_TEMPFAIL, .rule = "t", .code = "451", .xcode = "4.7.1"};

    ck_assert_int_eq(dmarcflush_add(fl, f, &ACCEPT, T0, OWN), DMARCFLUSH_OWN_MAIL);
    ck_assert_int_eq(dmarcflush_add(fl, f, &ACCEPT, T0, "DMARC-Reports@Example.NET"), DMARCFLUSH_OWN_MAIL);
    ck_assert_int_eq(dmarcflush_add(fl, f, &tempfail, T0, NULL), DMARCFLUSH_NO_ROW);
    f->dmarc.rua = false;
    ck_assert_int_eq(dmarcflush_add(fl, f, &ACCEPT, T0, NULL), DMARCFLUSH_NO_RUA);
    f->dmarc.rua = true;
    f->dmarc.result = DMARCCHECK_NONE;
    ck_assert_int_eq(dmarcflush_add(fl, f, &ACCEPT, T0, NULL), DMARCFLUSH_NO_ROW);
    ck_assert_uint_eq(stats(fl).rows_buffered, 0);
    ck_assert_uint_eq(stats(fl).messages_added, 0);
    f->dmarc.result = DMARCCHECK_PASS;
    ck_assert_int_eq(dmarcflush_add(fl, f, &ACCEPT, T0, "other@example.net"), DMARCFLUSH_ADDED);
    ck_assert_uint_eq(stats(fl).rows_buffered, 1);
    ck_assert(dmarcflush_stop(fl)); /* never started: nothing to stop */
    ck_assert_uint_eq(fakestore_opens(), 0);
    dmarcflush_free(fl);
    facts_free(f);
    /* no own address configured: nothing is taken for it */
    o.own_email = NULL;
    fl = dmarcflush_new(&o);
    f = msg_facts("192.0.2.1");
    ck_assert_int_eq(dmarcflush_add(fl, f, &ACCEPT, T0, OWN), DMARCFLUSH_ADDED);
    dmarcflush_free(fl);
    facts_free(f);
}
END_TEST

/* ---- several threads adding during flushes and failures ---------------- */

#define NTHREADS 4
#define NKEYS 40
#define PER_THREAD 5000

typedef struct adder_arg {
    dmarcflush_t *fl;
    int id;
} adder_arg;

static void *adder(void *arg)
{
    adder_arg *a = arg;
    facts_t *f[NKEYS];
    char ip[32];

    for (int k = 0; k < NKEYS; k++) {
        snprintf(ip, sizeof(ip), "198.51.100.%d", k + 1);
        f[k] = msg_facts(ip);
    }
    for (int i = 0; i < PER_THREAD; i++) {
        int k = (i * 7 + a->id) % NKEYS;
        if (dmarcflush_add(a->fl, f[k], &ACCEPT, T0, NULL) != DMARCFLUSH_ADDED)
            abort();
    }
    for (int k = 0; k < NKEYS; k++)
        facts_free(f[k]);
    return NULL;
}

START_TEST(test_threads)
{
    dmarcflush_t *fl = start(1000, 5);
    pthread_t t[NTHREADS];
    adder_arg args[NTHREADS];
    unsigned long want[NKEYS] = {0}, total = 0;
    char ip[32];

    for (int i = 0; i < NTHREADS; i++) {
        args[i] = (adder_arg){fl, i};
        ck_assert_int_eq(pthread_create(&t[i], NULL, adder, &args[i]), 0);
    }
    /* flush all the time; the store refuses every third round */
    for (int round = 0; round < 30; round++) {
        fakestore_fail_add(round % 3 == 1);
        flush_wait(fl);
    }
    fakestore_fail_add(false);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    ck_assert(dmarcflush_stop(fl));
    for (int a = 0; a < NTHREADS; a++)
        for (int i = 0; i < PER_THREAD; i++)
            want[(i * 7 + a) % NKEYS]++;
    for (int k = 0; k < NKEYS; k++) {
        snprintf(ip, sizeof(ip), "198.51.100.%d", k + 1);
        ck_assert_uint_eq(store_count(ip), want[k]);
        total += want[k];
    }
    ck_assert_uint_eq(fakestore_messages(), total);
    ck_assert_uint_eq(stats(fl).messages_flushed, total);
    ck_assert_uint_eq(stats(fl).messages_added, total);
    ck_assert_uint_eq(stats(fl).messages_dropped, 0);
    dmarcflush_free(fl);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dmarcflush");
    TCase *tc = tcase_create("flush");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_flush_counts);
    tcase_add_test(tc, test_store_down);
    tcase_add_test(tc, test_bound);
    tcase_add_test(tc, test_open_first);
    tcase_add_test(tc, test_final_flush);
    tcase_add_test(tc, test_final_flush_down);
    tcase_add_test(tc, test_final_flush_hangs);
    tcase_add_test(tc, test_skipped);
    tcase_add_test(tc, test_threads);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
