/*
 * test_dmarcflush_store.c - the daemon's flush (dmarcflush.h) into the real
 * SQLite store (rstore.h, no fake): rows written by the flush thread at
 * stop are the store's rows, with the messages they count.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dmarcflush.h"
#include "rstore.h"
#include "testutil.h"
#include "xalloc.h"

#define T0 ((time_t)1764806400 + 3600) /* 2025-12-04 01:00:00 UTC */

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
    f->dmarc.p = f->dmarc.published = DMARCCHECK_POLICY_REJECT;
    f->dmarc.policy_tag = "p";
    f->dmarc.applied = DMARCCHECK_POLICY_NONE;
    f->dmarc.spf_aligned = true;
    f->dmarc.rua = true;
    return f;
}

START_TEST(test_sqlite)
{
    static const verdict_t accept = {.action = ACTION_ACCEPT, .rule = "default"};
    char dir[] = "/tmp/mxg-flush-XXXXXX", *uri, err[256];
    dmarcflush_options o = {.flush_interval = 3600, .max_rows = 100, .stop_seconds = 5};
    dmarcflush_t *fl;
    dmarcflush_stats st;
    facts_t *a = msg_facts("192.0.2.1"), *b = msg_facts("2001:db8::1");
    rstore_t *s;
    rstore_totals t;
    rstore_report *r = NULL;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    uri = xasprintf("sqlite:%s/reports.db", dir);
    o.store = uri;
    fl = dmarcflush_new(&o);
    ck_assert_msg(dmarcflush_start(fl, err, sizeof(err)), "%s", err);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(dmarcflush_add(fl, a, &accept, T0, NULL), DMARCFLUSH_ADDED);
    ck_assert_int_eq(dmarcflush_add(fl, b, &accept, T0, NULL), DMARCFLUSH_ADDED);
    ck_assert(dmarcflush_stop(fl));
    dmarcflush_stats_get(fl, &st);
    ck_assert_uint_eq(st.rows_flushed, 2);
    ck_assert_uint_eq(st.messages_flushed, 4);
    ck_assert_uint_eq(st.flush_errors, 0);
    dmarcflush_free(fl);

    s = rstore_open(uri, err, sizeof(err));
    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_msg(rstore_totals_get(s, &t, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(t.rows, 2);
    ck_assert_uint_eq(t.reports_open, 1);
    ck_assert_int_eq(rstore_claim(s, T0 + 2 * 86400, T0 + 2 * 86400, "test:1", 600, &r, err, sizeof(err)), 1);
    ck_assert_str_eq(r->policy_domain, "org.example");
    ck_assert_uint_eq(r->messages, 4);
    ck_assert_uint_eq(r->nrows, 2);
    rstore_report_free(r);
    rstore_close(s);
    facts_free(a);
    facts_free(b);
    {
        char *cmd = xasprintf("rm -rf '%s'", dir);
        ck_assert_int_eq(system(cmd), 0);
        free(cmd);
    }
    free(uri);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dmarcflush_store");
    TCase *tc = tcase_create("sqlite");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_sqlite);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
