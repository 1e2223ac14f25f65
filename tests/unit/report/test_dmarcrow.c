/*
 * test_dmarcrow.c - DMARC aggregate report rows (dmarcrow.h) and the
 * in-memory aggregator (dmarcagg.h): the key, the disposition truth table
 * and its reasons, messages that make no row, the bound, and exact totals
 * with several threads adding at once.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dmarcagg.h"
#include "dmarcrow.h"
#include "facts.h"
#include "testutil.h"
#include "xalloc.h"

#define T0 ((time_t)1764806400 + 3600) /* 2025-12-04 01:00:00 UTC */
#define DAY0 ((time_t)1764806400)      /* 2025-12-04 00:00:00 UTC */

static void add_sig(facts_t *f, const char *d, const char *s, dkimcheck_result res)
{
    f->dkim_sigs = xreallocarray(f->dkim_sigs, f->ndkim_sigs + 1, sizeof(*f->dkim_sigs));
    memset(&f->dkim_sigs[f->ndkim_sigs], 0, sizeof(f->dkim_sigs[0]));
    f->dkim_sigs[f->ndkim_sigs].domain = xstrdup_or_null(d);
    f->dkim_sigs[f->ndkim_sigs].selector = xstrdup_or_null(s);
    f->dkim_sigs[f->ndkim_sigs].result = res;
    f->ndkim_sigs++;
}

/* A message from org.example (p=reject) that passed DMARC through DKIM. */
static facts_t *base_facts(void)
{
    facts_t *f = facts_new();

    facts_set(&f->client_addr, "192.0.2.1");
    facts_set(&f->mail_from, "bounce@bounce.example");
    facts_set(&f->sender_domain, "bounce.example");
    f->spf_mfrom = SPFCHECK_PASS;
    facts_set(&f->spf_domain, "bounce.example");
    add_sig(f, "org.example", "sel1", DKIMCHECK_PASS);
    f->dmarc.result = DMARCCHECK_PASS;
    f->dmarc.from = FROMHDR_OK;
    snprintf(f->dmarc.domain, sizeof(f->dmarc.domain), "org.example");
    snprintf(f->dmarc.policy_domain, sizeof(f->dmarc.policy_domain), "org.example");
    snprintf(f->dmarc.org_domain, sizeof(f->dmarc.org_domain), "org.example");
    f->dmarc.p = DMARCCHECK_POLICY_REJECT;
    f->dmarc.policy_tag = "p";
    f->dmarc.published = DMARCCHECK_POLICY_REJECT;
    f->dmarc.applied = DMARCCHECK_POLICY_NONE;
    f->dmarc.dkim_aligned = true;
    return f;
}

/* Make it a DMARC failure of a policy pub (t=y if testing). */
static void make_fail(facts_t *f, dmarccheck_policy pub, bool testing)
{
    f->dmarc.result = DMARCCHECK_FAIL;
    f->dmarc.dkim_aligned = f->dmarc.spf_aligned = false;
    f->dmarc.p = f->dmarc.published = pub;
    f->dmarc.testing = testing;
    f->dmarc.applied = !testing ? pub
                       : pub == DMARCCHECK_POLICY_REJECT ? DMARCCHECK_POLICY_QUARANTINE
                                                         : DMARCCHECK_POLICY_NONE;
    f->dmarc.reason = "no aligned SPF or DKIM pass";
    f->dkim_sigs[0].result = DKIMCHECK_FAIL;
}

static const verdict_t ACCEPT_DEFAULT = {.action = ACTION_ACCEPT, .rule = "default"};

static dmarcrow *row_of(const facts_t *f, const verdict_t *v, time_t now)
{
    dmarcrow_skip why;
    dmarcrow *r = dmarcrow_from_facts(f, v, now, 0, &why);
    ck_assert_msg(r != NULL, "no row: %s", dmarcrow_skip_name(why));
    ck_assert_int_eq(why, DMARCROW_MADE);
    return r;
}

/* ---- the key ----------------------------------------------------------- */

static void m_policy_domain(facts_t *f) { snprintf(f->dmarc.policy_domain, sizeof(f->dmarc.policy_domain), "other.example"); }
static void m_source_ip(facts_t *f) { facts_set(&f->client_addr, "192.0.2.2"); }
static void m_header_from(facts_t *f) { snprintf(f->dmarc.domain, sizeof(f->dmarc.domain), "sub.org.example"); }
static void m_envelope_from(facts_t *f) { facts_set(&f->sender_domain, "other.example"); }
static void m_null_sender(facts_t *f) { facts_set(&f->mail_from, ""); facts_set(&f->sender_domain, ""); }
static void m_dkim_domain(facts_t *f) { facts_set(&f->dkim_sigs[0].domain, "mail.org.example"); }
static void m_dkim_selector(facts_t *f) { facts_set(&f->dkim_sigs[0].selector, "sel2"); }
static void m_dkim_result(facts_t *f) { f->dkim_sigs[0].result = DKIMCHECK_FAIL; }
static void m_dkim_more(facts_t *f) { add_sig(f, "list.example", "s", DKIMCHECK_PASS); }
static void m_dkim_none(facts_t *f) { dkimcheck_sigs_free(f->dkim_sigs, f->ndkim_sigs); f->dkim_sigs = NULL; f->ndkim_sigs = 0; }
static void m_spf_result(facts_t *f) { f->spf_mfrom = SPFCHECK_SOFTFAIL; }
static void m_spf_domain(facts_t *f) { facts_set(&f->spf_domain, "helo.example"); }
static void m_spf_unset(facts_t *f) { f->spf_mfrom = SPFCHECK_UNSET; }
static void m_aligned(facts_t *f) { f->dmarc.spf_aligned = true; }
static void m_fail(facts_t *f) { make_fail(f, DMARCCHECK_POLICY_NONE, false); }

static const struct {
    const char *name;
    void (*mutate)(facts_t *f);
    verdict_t v;     /* .rule NULL: ACCEPT_DEFAULT */
    time_t dt;       /* added to T0 */
} key_cases[] = {
    {"policy domain", m_policy_domain, {0}, 0},
    {"period", NULL, {0}, 86400},
    {"source ip", m_source_ip, {0}, 0},
    {"header_from", m_header_from, {0}, 0},
    {"envelope_from", m_envelope_from, {0}, 0},
    {"envelope_from <>", m_null_sender, {0}, 0},
    {"disposition", NULL, {.action = ACTION_QUARANTINE, .rule = "q"}, 0},
    {"disposition reject", NULL, {.action = ACTION_REJECT, .rule = "q"}, 0},
    {"dkim domain", m_dkim_domain, {0}, 0},
    {"dkim selector", m_dkim_selector, {0}, 0},
    {"dkim result", m_dkim_result, {0}, 0},
    {"dkim one more", m_dkim_more, {0}, 0},
    {"dkim none", m_dkim_none, {0}, 0},
    {"spf result", m_spf_result, {0}, 0},
    {"spf domain", m_spf_domain, {0}, 0},
    {"spf not evaluated", m_spf_unset, {0}, 0},
    {"spf aligned", m_aligned, {0}, 0},
    {"dmarc fail", m_fail, {0}, 0},
};
#define NKEY (sizeof(key_cases) / sizeof(key_cases[0]))

typedef struct collected {
    size_t rows;
    unsigned long messages;
    unsigned long max_count;
} collected;

static void collect(const dmarcrow *r, unsigned long count, void *arg)
{
    collected *c = arg;
    ck_assert_ptr_nonnull(r->policy_domain);
    c->rows++;
    c->messages += count;
    if (count > c->max_count)
        c->max_count = count;
}

/* Two messages differing in one key field: two rows; two equal: one row, count 2. */
START_TEST(test_key)
{
    facts_t *a = base_facts(), *b = base_facts();
    verdict_t vb = key_cases[_i].v.rule ? key_cases[_i].v : ACCEPT_DEFAULT;
    dmarcrow *ra, *rb;
    dmarcagg_t *agg = dmarcagg_new(100);
    collected c = {0};

    if (key_cases[_i].mutate)
        key_cases[_i].mutate(b);
    ra = row_of(a, &ACCEPT_DEFAULT, T0);
    rb = row_of(b, &vb, T0 + key_cases[_i].dt);
    ck_assert_msg(!dmarcrow_key_equal(ra, rb), "%s: same key", key_cases[_i].name);
    ck_assert(dmarcagg_add(agg, ra));
    ck_assert(dmarcagg_add(agg, rb));
    ck_assert_uint_eq(dmarcagg_rows(agg), 2);
    ck_assert_uint_eq(dmarcagg_take(agg, collect, &c), 2);
    ck_assert_uint_eq(c.rows, 2);
    ck_assert_uint_eq(c.messages, 2);
    ck_assert_uint_eq(c.max_count, 1);
    dmarcrow_free(ra);
    dmarcrow_free(rb);
    dmarcagg_free(agg);
    facts_free(a);
    facts_free(b);
}
END_TEST

/* Equal keys: within one period, the DKIM set in another order, the same
 * address in another spelling, domains in other case. */
START_TEST(test_same_key)
{
    facts_t *a = base_facts(), *b = base_facts();
    dmarcrow *ra, *rb, *rc;
    dmarcagg_t *agg = dmarcagg_new(100);
    collected c = {0};

    add_sig(a, "list.example", "s", DKIMCHECK_FAIL);
    add_sig(b, "List.Example", "s", DKIMCHECK_FAIL);
    /* b: the signatures in the other order */
    dkimcheck_sig t = b->dkim_sigs[0];
    b->dkim_sigs[0] = b->dkim_sigs[1];
    b->dkim_sigs[1] = t;
    facts_set(&b->sender_domain, "BOUNCE.example");
    ra = row_of(a, &ACCEPT_DEFAULT, T0);
    rb = row_of(b, &ACCEPT_DEFAULT, DAY0 + 86399);
    ck_assert(dmarcrow_key_equal(ra, rb));
    ck_assert_uint_eq(dmarcrow_key_hash(ra), dmarcrow_key_hash(rb));
    ck_assert(dmarcagg_add(agg, ra));
    ck_assert(dmarcagg_add(agg, rb));
    ck_assert_uint_eq(dmarcagg_rows(agg), 1);
    /* the copy is the aggregator's: the caller's row may go */
    rc = dmarcrow_copy(ra);
    dmarcrow_free(ra);
    dmarcrow_free(rb);
    ck_assert(dmarcagg_add(agg, rc));
    ck_assert_uint_eq(dmarcagg_take(agg, collect, &c), 1);
    ck_assert_uint_eq(c.messages, 3);
    ck_assert_uint_eq(c.max_count, 3);
    ck_assert_uint_eq(dmarcagg_rows(agg), 0);
    /* emptied */
    memset(&c, 0, sizeof(c));
    ck_assert_uint_eq(dmarcagg_take(agg, collect, &c), 0);
    ck_assert_uint_eq(c.rows, 0);
    dmarcrow_free(rc);
    dmarcagg_free(agg);
    facts_free(a);
    facts_free(b);
}
END_TEST

/* The fields of a row. */
START_TEST(test_fields)
{
    facts_t *f = base_facts();
    dmarcrow *r;

    f->dmarc.sp = DMARCCHECK_POLICY_QUARANTINE;
    f->dmarc.adkim_strict = true;
    f->dmarc.rua = true;
    snprintf(f->dmarc.domain, sizeof(f->dmarc.domain), "Mail.ORG.example");
    r = row_of(f, &ACCEPT_DEFAULT, T0);
    ck_assert_str_eq(r->policy_domain, "org.example");
    ck_assert_str_eq(r->header_from, "mail.org.example");
    ck_assert_str_eq(r->envelope_from, "bounce.example");
    ck_assert_str_eq(r->source_ip, "192.0.2.1");
    ck_assert_int_eq(r->begin, DAY0);
    ck_assert_int_eq(r->end, DAY0 + 86399);
    ck_assert_int_eq(r->disposition, DMARCROW_DISP_PASS);
    ck_assert_uint_eq(r->nreasons, 0);
    ck_assert(r->dkim_aligned && !r->spf_aligned);
    ck_assert_uint_eq(r->ndkim, 1);
    ck_assert_str_eq(r->dkim[0].domain, "org.example");
    ck_assert_str_eq(r->dkim[0].selector, "sel1");
    ck_assert_int_eq(r->dkim[0].result, DKIMCHECK_PASS);
    ck_assert_str_eq(r->spf_domain, "bounce.example");
    ck_assert_int_eq(r->spf, SPFCHECK_PASS);
    /* policy_published, carried */
    ck_assert_int_eq(r->p, DMARCCHECK_POLICY_REJECT);
    ck_assert_int_eq(r->sp, DMARCCHECK_POLICY_QUARANTINE);
    ck_assert_int_eq(r->np, DMARCCHECK_POLICY_UNSET);
    ck_assert(r->adkim_strict && !r->aspf_strict && r->rua && !r->psl && !r->testing);
    dmarcrow_free(r);
    /* an hourly period */
    r = dmarcrow_from_facts(f, &ACCEPT_DEFAULT, T0 + 1800, 3600, NULL);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->begin, T0);
    ck_assert_int_eq(r->end, T0 + 3599);
    dmarcrow_free(r);
    facts_free(f);
}
END_TEST

/* IPv6 source addresses in canonical form; one key for every spelling. */
START_TEST(test_ipv6)
{
    static const char *const spellings[] = {"2001:db8::1", "2001:DB8:0:0::1", "2001:0db8:0000::0001",
                                            "IPv6:2001:db8::1"};
    facts_t *f = base_facts();
    dmarcrow *first = NULL;

    for (size_t i = 0; i < sizeof(spellings) / sizeof(spellings[0]); i++) {
        facts_set(&f->client_addr, spellings[i]);
        dmarcrow *r = row_of(f, &ACCEPT_DEFAULT, T0);
        ck_assert_str_eq(r->source_ip, "2001:db8::1");
        if (first == NULL) {
            first = r;
        } else {
            ck_assert(dmarcrow_key_equal(first, r));
            dmarcrow_free(r);
        }
    }
    facts_set(&f->client_addr, "::ffff:192.0.2.1");
    dmarcrow *r = row_of(f, &ACCEPT_DEFAULT, T0);
    ck_assert_str_eq(r->source_ip, "::ffff:192.0.2.1");
    ck_assert(!dmarcrow_key_equal(first, r));
    dmarcrow_free(r);
    dmarcrow_free(first);
    facts_free(f);
}
END_TEST

/* <>: envelope_from is empty; SPF keeps the domain it checked (HELO). */
START_TEST(test_null_sender)
{
    facts_t *f = base_facts();
    dmarcrow *r;

    facts_set(&f->mail_from, "");
    facts_set(&f->sender_domain, "");
    facts_set(&f->spf_domain, "mx.bounce.example");
    r = row_of(f, &ACCEPT_DEFAULT, T0);
    ck_assert_str_eq(r->envelope_from, "");
    ck_assert_str_eq(r->spf_domain, "mx.bounce.example");
    dmarcrow_free(r);
    /* sender_domain never set: taken from mail_from */
    facts_set(&f->sender_domain, NULL);
    r = row_of(f, &ACCEPT_DEFAULT, T0);
    ck_assert_str_eq(r->envelope_from, "");
    dmarcrow_free(r);
    facts_set(&f->mail_from, "x@Y.example");
    r = row_of(f, &ACCEPT_DEFAULT, T0);
    ck_assert_str_eq(r->envelope_from, "y.example");
    dmarcrow_free(r);
    facts_free(f);
}
END_TEST

/* ---- disposition truth table ------------------------------------------- */

#define NOPOL DMARCCHECK_POLICY_UNSET
#define PNONE DMARCCHECK_POLICY_NONE
#define PQUAR DMARCCHECK_POLICY_QUARANTINE
#define PREJ DMARCCHECK_POLICY_REJECT

static const struct {
    const char *name;
    dmarccheck_result result;
    dmarccheck_policy published; /* for FAIL */
    bool testing;
    verdict_action action;
    const char *rule;
    dmarcrow_disposition want;
    const char *want_reasons; /* "type:comment type ..." */
} truth[] = {
    {"pass, accepted", DMARCCHECK_PASS, PREJ, false, ACTION_ACCEPT, "default", DMARCROW_DISP_PASS, ""},
    {"pass p=quarantine, accepted", DMARCCHECK_PASS, PQUAR, false, ACTION_ACCEPT, "default", DMARCROW_DISP_PASS,
     ""},
    {"pass p=none, accepted: none (no enforcing policy)", DMARCCHECK_PASS, PNONE, false, ACTION_ACCEPT, "default",
     DMARCROW_DISP_NONE, ""},
    {"pass, t=y: no test mode", DMARCCHECK_PASS, PREJ, true, ACTION_ACCEPT, "default", DMARCROW_DISP_PASS, ""},
    {"pass, quarantined by a rule", DMARCCHECK_PASS, PREJ, false, ACTION_QUARANTINE, "spamhaus",
     DMARCROW_DISP_QUARANTINE, "local_policy:spamhaus"},
    {"pass, rejected by a rule", DMARCCHECK_PASS, PNONE, false, ACTION_REJECT, "virus", DMARCROW_DISP_REJECT,
     "local_policy:virus"},
    {"fail p=reject, rejected", DMARCCHECK_FAIL, PREJ, false, ACTION_REJECT, "dmarc", DMARCROW_DISP_REJECT, ""},
    {"fail p=quarantine, quarantined", DMARCCHECK_FAIL, PQUAR, false, ACTION_QUARANTINE, "dmarc",
     DMARCROW_DISP_QUARANTINE, ""},
    {"fail p=none, accepted", DMARCCHECK_FAIL, PNONE, false, ACTION_ACCEPT, "default", DMARCROW_DISP_NONE, ""},
    {"fail p=reject, a rule accepted", DMARCCHECK_FAIL, PREJ, false, ACTION_ACCEPT, "allow-partners",
     DMARCROW_DISP_NONE, "local_policy:allow-partners"},
    {"fail p=reject, the default accepted", DMARCCHECK_FAIL, PREJ, false, ACTION_ACCEPT, NULL, DMARCROW_DISP_NONE,
     "local_policy:default"},
    {"fail p=reject, quarantined instead", DMARCCHECK_FAIL, PREJ, false, ACTION_QUARANTINE, "soft",
     DMARCROW_DISP_QUARANTINE, "local_policy:soft"},
    {"fail p=quarantine, rejected instead", DMARCCHECK_FAIL, PQUAR, false, ACTION_REJECT, "hard",
     DMARCROW_DISP_REJECT, "local_policy:hard"},
    {"fail p=quarantine t=y, accepted", DMARCCHECK_FAIL, PQUAR, true, ACTION_ACCEPT, "default",
     DMARCROW_DISP_NONE, "policy_test_mode"},
    {"fail p=reject t=y, quarantined", DMARCCHECK_FAIL, PREJ, true, ACTION_QUARANTINE, "dmarc",
     DMARCROW_DISP_QUARANTINE, "policy_test_mode"},
    {"fail p=reject t=y, accepted", DMARCCHECK_FAIL, PREJ, true, ACTION_ACCEPT, "default", DMARCROW_DISP_NONE,
     "policy_test_mode local_policy:default"},
    {"fail p=none t=y, accepted", DMARCCHECK_FAIL, PNONE, true, ACTION_ACCEPT, "default", DMARCROW_DISP_NONE, ""},
    {"fail p=reject, discarded", DMARCCHECK_FAIL, PREJ, false, ACTION_DISCARD, "drop", DMARCROW_DISP_REJECT,
     "other:discarded by rule drop"},
    {"fail p=none, discarded", DMARCCHECK_FAIL, PNONE, false, ACTION_DISCARD, "drop", DMARCROW_DISP_REJECT,
     "local_policy:drop other:discarded by rule drop"},
    {"temperror, accepted", DMARCCHECK_TEMPERROR, PREJ, false, ACTION_ACCEPT, "default", DMARCROW_DISP_NONE,
     "other:organizational domain lookup failed"},
    {"temperror, rejected", DMARCCHECK_TEMPERROR, PREJ, false, ACTION_REJECT, "strict", DMARCROW_DISP_REJECT,
     "local_policy:strict other:organizational domain lookup failed"},
};
#define NTRUTH (sizeof(truth) / sizeof(truth[0]))

START_TEST(test_truth_table)
{
    facts_t *f = base_facts();
    verdict_t v = {.action = truth[_i].action, .rule = truth[_i].rule};
    char got[512] = "";
    dmarcrow *r;

    if (truth[_i].result != DMARCCHECK_PASS)
        make_fail(f, truth[_i].published, truth[_i].testing);
    else {
        f->dmarc.testing = truth[_i].testing;
        f->dmarc.p = f->dmarc.published = truth[_i].published;
    }
    if (truth[_i].result == DMARCCHECK_TEMPERROR) {
        f->dmarc.result = DMARCCHECK_TEMPERROR;
        f->dmarc.applied = DMARCCHECK_POLICY_UNSET;
        f->dmarc.reason = "organizational domain lookup failed";
    }
    r = row_of(f, &v, T0);
    for (size_t i = 0; i < r->nreasons; i++) {
        size_t n = strlen(got);
        snprintf(got + n, sizeof(got) - n, "%s%s%s%s", i ? " " : "", dmarcrow_reason_name(r->reasons[i].type),
                 r->reasons[i].comment ? ":" : "", r->reasons[i].comment ? r->reasons[i].comment : "");
    }
    ck_assert_msg(r->disposition == truth[_i].want, "%s: disposition %s, want %s", truth[_i].name,
                  dmarcrow_disposition_name(r->disposition), dmarcrow_disposition_name(truth[_i].want));
    ck_assert_msg(strcmp(got, truth[_i].want_reasons) == 0, "%s: reasons [%s], want [%s]", truth[_i].name, got,
                  truth[_i].want_reasons);
    /* policy_evaluated dkim/spf: pass only on a DMARC pass here */
    ck_assert(r->dkim_aligned == (truth[_i].result == DMARCCHECK_PASS));
    dmarcrow_free(r);
    facts_free(f);
}
END_TEST

/* A dry-run rule changes nothing: its verdict makes no row, and the row of
 * the verdict applied is the one without it. */
START_TEST(test_dry_run)
{
    facts_t *f = base_facts();
    verdict_t dry = {.action = ACTION_REJECT, .rule = "would-reject", .dry_run = true};
    dmarcrow_skip why;

    make_fail(f, PREJ, false);
    ck_assert_ptr_null(dmarcrow_from_facts(f, &dry, T0, 0, &why));
    ck_assert_int_eq(why, DMARCROW_SKIP_NOT_APPLIED);
    dry.action = ACTION_ACCEPT;
    ck_assert_ptr_null(dmarcrow_from_facts(f, &dry, T0, 0, &why));
    ck_assert_int_eq(why, DMARCROW_SKIP_NOT_APPLIED);
    dmarcrow *r = row_of(f, &ACCEPT_DEFAULT, T0);
    ck_assert_int_eq(r->disposition, DMARCROW_DISP_NONE);
    ck_assert_uint_eq(r->nreasons, 1);
    ck_assert_str_eq(r->reasons[0].comment, "default");
    dmarcrow_free(r);
    facts_free(f);
}
END_TEST

/* ---- messages that make no row ------------------------------------------ */

static void n_unset(facts_t *f) { f->dmarc.result = DMARCCHECK_UNSET; }
static void n_none(facts_t *f)
{
    f->dmarc.result = DMARCCHECK_NONE;
    f->dmarc.policy_domain[0] = '\0';
    f->dmarc.policy_tag = NULL;
}
static void n_permerror(facts_t *f) { f->dmarc.result = DMARCCHECK_PERMERROR; }
static void n_perm_from(facts_t *f)
{
    f->dmarc.result = DMARCCHECK_PERMERROR;
    f->dmarc.domain[0] = f->dmarc.policy_domain[0] = '\0';
    f->dmarc.policy_tag = NULL;
}
static void n_temp_norecord(facts_t *f)
{
    f->dmarc.result = DMARCCHECK_TEMPERROR;
    f->dmarc.policy_domain[0] = '\0';
    f->dmarc.policy_tag = NULL;
}
static void n_trusted(facts_t *f) { f->trusted = true; }
static void n_auth(facts_t *f) { f->authenticated = true; }
static void n_noaddr(facts_t *f) { facts_set(&f->client_addr, NULL); }
static void n_badaddr(facts_t *f) { facts_set(&f->client_addr, "unix:/var/run/x"); }

static const struct {
    const char *name;
    void (*mutate)(facts_t *f);
    verdict_action action;
    dmarcrow_skip want;
} norow[] = {
    {"not evaluated", n_unset, ACTION_ACCEPT, DMARCROW_SKIP_NOT_EVALUATED},
    {"trusted client", n_trusted, ACTION_ACCEPT, DMARCROW_SKIP_NOT_EVALUATED},
    {"authenticated client", n_auth, ACTION_ACCEPT, DMARCROW_SKIP_NOT_EVALUATED},
    {"no policy record", n_none, ACTION_ACCEPT, DMARCROW_SKIP_NO_POLICY},
    {"permerror", n_permerror, ACTION_ACCEPT, DMARCROW_SKIP_NO_POLICY},
    {"permerror from", n_perm_from, ACTION_REJECT, DMARCROW_SKIP_NO_POLICY},
    {"temperror before a record", n_temp_norecord, ACTION_ACCEPT, DMARCROW_SKIP_NO_POLICY},
    {"no client address", n_noaddr, ACTION_ACCEPT, DMARCROW_SKIP_NO_ADDRESS},
    {"not an IP address", n_badaddr, ACTION_ACCEPT, DMARCROW_SKIP_NO_ADDRESS},
    {"tempfail", NULL, ACTION_TEMPFAIL, DMARCROW_SKIP_NOT_APPLIED},
};
#define NNOROW (sizeof(norow) / sizeof(norow[0]))

START_TEST(test_no_row)
{
    facts_t *f = base_facts();
    verdict_t v = {.action = norow[_i].action, .rule = "r"};
    dmarcrow_skip why = DMARCROW_MADE;
    dmarcrow *r;

    if (norow[_i].mutate)
        norow[_i].mutate(f);
    r = dmarcrow_from_facts(f, &v, T0, 0, &why);
    ck_assert_msg(r == NULL, "%s: made a row", norow[_i].name);
    ck_assert_msg(why == norow[_i].want, "%s: %s, want %s", norow[_i].name, dmarcrow_skip_name(why),
                  dmarcrow_skip_name(norow[_i].want));
    facts_free(f);
}
END_TEST

/* ---- DKIM: at most 100 per row, passes first ----------------------------- */

START_TEST(test_dkim_bound)
{
    facts_t *f = base_facts();
    dmarcrow *r;
    char d[64];

    m_dkim_none(f);
    for (int i = 0; i < 150; i++) {
        snprintf(d, sizeof(d), "d%03d.example", i);
        add_sig(f, d, NULL, i % 3 == 0 ? DKIMCHECK_PASS : DKIMCHECK_FAIL);
    }
    add_sig(f, NULL, "s", DKIMCHECK_PERMERROR);
    r = row_of(f, &ACCEPT_DEFAULT, T0);
    ck_assert_uint_eq(r->ndkim, DMARCROW_DKIM_MAX);
    for (size_t i = 0; i < 50; i++)
        ck_assert_int_eq(r->dkim[i].result, DKIMCHECK_PASS);
    ck_assert_int_ne(r->dkim[50].result, DKIMCHECK_PASS);
    ck_assert_str_eq(r->dkim[0].domain, "d000.example");
    ck_assert_str_eq(r->dkim[1].domain, "d003.example");
    ck_assert_str_eq(r->dkim[0].selector, "");
    /* the missing d= sorts first among the others */
    ck_assert_str_eq(r->dkim[50].domain, "");
    dmarcrow_free(r);
    facts_free(f);
}
END_TEST

/* ---- the aggregator: bound ---------------------------------------------- */

START_TEST(test_bound)
{
    facts_t *f = base_facts();
    dmarcagg_t *agg = dmarcagg_new(3);
    dmarcrow *rows[5];
    collected c = {0};
    char ip[32];

    for (int i = 0; i < 5; i++) {
        snprintf(ip, sizeof(ip), "192.0.2.%d", i + 10);
        facts_set(&f->client_addr, ip);
        rows[i] = row_of(f, &ACCEPT_DEFAULT, T0);
    }
    ck_assert(dmarcagg_add(agg, rows[0]));
    ck_assert(dmarcagg_add(agg, rows[1]));
    ck_assert(dmarcagg_add(agg, rows[2]));
    ck_assert(!dmarcagg_add(agg, rows[3]));
    ck_assert(!dmarcagg_add(agg, rows[4]));
    ck_assert(!dmarcagg_add(agg, rows[4]));
    ck_assert_uint_eq(dmarcagg_rows(agg), 3);
    ck_assert_uint_eq(dmarcagg_dropped(agg), 3);
    /* a key already held is still counted past the bound */
    ck_assert(dmarcagg_add(agg, rows[1]));
    ck_assert_uint_eq(dmarcagg_dropped(agg), 3);
    ck_assert_uint_eq(dmarcagg_take(agg, collect, &c), 3);
    ck_assert_uint_eq(c.messages, 4);
    ck_assert_uint_eq(c.max_count, 2);
    /* room again after a take; the dropped count stays */
    ck_assert(dmarcagg_add(agg, rows[4]));
    ck_assert_uint_eq(dmarcagg_rows(agg), 1);
    ck_assert_uint_eq(dmarcagg_dropped(agg), 3);
    for (int i = 0; i < 5; i++)
        dmarcrow_free(rows[i]);
    dmarcagg_free(agg); /* frees the row still held */
    /* max_rows 0 keeps nothing */
    agg = dmarcagg_new(0);
    rows[0] = row_of(f, &ACCEPT_DEFAULT, T0);
    ck_assert(!dmarcagg_add(agg, rows[0]));
    ck_assert_uint_eq(dmarcagg_rows(agg), 0);
    ck_assert_uint_eq(dmarcagg_dropped(agg), 1);
    dmarcrow_free(rows[0]);
    dmarcagg_free(agg);
    facts_free(f);
}
END_TEST

/* dmarcagg_add_n: rows put back with their counts, under the same bound
 * (new keys past it drop all n messages; held keys always add n). */
START_TEST(test_add_n)
{
    facts_t *f = base_facts();
    dmarcagg_t *agg = dmarcagg_new(2);
    dmarcrow *rows[3];
    collected c = {0};
    char ip[32];

    for (int i = 0; i < 3; i++) {
        snprintf(ip, sizeof(ip), "192.0.2.%d", i + 20);
        facts_set(&f->client_addr, ip);
        rows[i] = row_of(f, &ACCEPT_DEFAULT, T0);
    }
    ck_assert(dmarcagg_add_n(agg, rows[0], 7));
    ck_assert(dmarcagg_add(agg, rows[0]));
    ck_assert(dmarcagg_add_n(agg, rows[1], 0)); /* nothing, not even a key */
    ck_assert_uint_eq(dmarcagg_rows(agg), 1);
    ck_assert(dmarcagg_add_n(agg, rows[1], 5));
    ck_assert_uint_eq(dmarcagg_rows(agg), 2);
    ck_assert(!dmarcagg_add_n(agg, rows[2], 11)); /* new key past the bound */
    ck_assert_uint_eq(dmarcagg_dropped(agg), 11);
    ck_assert(dmarcagg_add_n(agg, rows[1], 3)); /* held key: still counted */
    ck_assert_uint_eq(dmarcagg_dropped(agg), 11);
    ck_assert_uint_eq(dmarcagg_take(agg, collect, &c), 2);
    ck_assert_uint_eq(c.messages, 8 + 8);
    ck_assert_uint_eq(c.max_count, 8);
    for (int i = 0; i < 3; i++)
        dmarcrow_free(rows[i]);
    dmarcagg_free(agg);
    facts_free(f);
}
END_TEST

/* ---- the aggregator: several threads ------------------------------------ */

#define NTHREADS 4
#define NKEYS 40     /* distinct keys, shared by all threads */
#define PER_THREAD 5000

typedef struct shared {
    dmarcagg_t *agg;
    dmarcrow *rows[NKEYS];
    collected got;
    pthread_mutex_t lock;   /* got */
    int writers_left;       /* under lock */
    unsigned long per_key[NKEYS]; /* counts taken, by key index */
} shared;

static void *writer(void *arg)
{
    shared *s = arg;

    for (int i = 0; i < PER_THREAD; i++)
        ck_assert(dmarcagg_add(s->agg, s->rows[i % NKEYS]));
    pthread_mutex_lock(&s->lock);
    s->writers_left--;
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void collect_shared(const dmarcrow *r, unsigned long count, void *arg)
{
    shared *s = arg;
    int k = -1;

    for (int i = 0; i < NKEYS; i++)
        if (dmarcrow_key_equal(r, s->rows[i]))
            k = i;
    ck_assert_int_ge(k, 0);
    s->per_key[k] += count; /* only the taker thread writes */
    s->got.rows++;
    s->got.messages += count;
}

/* Writers add while a taker takes: every message is counted exactly once. */
START_TEST(test_threads)
{
    facts_t *f = base_facts();
    shared s;
    pthread_t th[NTHREADS];
    char ip[64];
    int left, takes = 0;

    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.lock, NULL);
    s.agg = dmarcagg_new(NKEYS);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(ip, sizeof(ip), "2001:db8::%x", i + 1);
        facts_set(&f->client_addr, ip);
        s.rows[i] = row_of(f, &ACCEPT_DEFAULT, T0);
    }
    s.writers_left = NTHREADS;
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, writer, &s), 0);
    do { /* bounded: the writers end after PER_THREAD adds each */
        pthread_mutex_lock(&s.lock);
        left = s.writers_left;
        pthread_mutex_unlock(&s.lock);
        dmarcagg_take(s.agg, collect_shared, &s);
        takes++;
    } while (left > 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    dmarcagg_take(s.agg, collect_shared, &s);
    ck_assert_uint_eq(s.got.messages, (unsigned long)NTHREADS * PER_THREAD);
    for (int i = 0; i < NKEYS; i++)
        ck_assert_uint_eq(s.per_key[i], (unsigned long)NTHREADS * PER_THREAD / NKEYS);
    ck_assert_uint_eq(dmarcagg_dropped(s.agg), 0);
    ck_assert_uint_eq(dmarcagg_rows(s.agg), 0);
    ck_assert_int_ge(takes, 1);
    for (int i = 0; i < NKEYS; i++)
        dmarcrow_free(s.rows[i]);
    dmarcagg_free(s.agg);
    pthread_mutex_destroy(&s.lock);
    facts_free(f);
}
END_TEST

static void *writer_over(void *arg)
{
    shared *s = arg;

    for (int i = 0; i < PER_THREAD; i++)
        (void)dmarcagg_add(s->agg, s->rows[i % NKEYS]);
    return NULL;
}

/* Threads adding more distinct keys than the bound: kept + dropped is every
 * message, and no more than the bound is kept. */
START_TEST(test_threads_bound)
{
    facts_t *f = base_facts();
    shared s;
    pthread_t th[NTHREADS];
    char ip[64];

    memset(&s, 0, sizeof(s));
    pthread_mutex_init(&s.lock, NULL);
    s.agg = dmarcagg_new(NKEYS / 4);
    for (int i = 0; i < NKEYS; i++) {
        snprintf(ip, sizeof(ip), "198.51.100.%d", i + 1);
        facts_set(&f->client_addr, ip);
        s.rows[i] = row_of(f, &ACCEPT_DEFAULT, T0);
    }
    s.writers_left = NTHREADS;
    for (int i = 0; i < NTHREADS; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, writer_over, &s), 0);
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(th[i], NULL);
    ck_assert_uint_eq(dmarcagg_rows(s.agg), NKEYS / 4);
    dmarcagg_take(s.agg, collect_shared, &s);
    ck_assert_uint_eq(s.got.rows, NKEYS / 4);
    ck_assert_uint_eq(s.got.messages + dmarcagg_dropped(s.agg), (unsigned long)NTHREADS * PER_THREAD);
    ck_assert_uint_gt(dmarcagg_dropped(s.agg), 0);
    for (int i = 0; i < NKEYS; i++)
        dmarcrow_free(s.rows[i]);
    dmarcagg_free(s.agg);
    pthread_mutex_destroy(&s.lock);
    facts_free(f);
}
END_TEST

/* ---- names -------------------------------------------------------------- */

START_TEST(test_names)
{
    ck_assert_str_eq(dmarcrow_reason_name(DMARCROW_REASON_LOCAL_POLICY), "local_policy");
    ck_assert_str_eq(dmarcrow_reason_name(DMARCROW_REASON_MAILING_LIST), "mailing_list");
    ck_assert_str_eq(dmarcrow_reason_name(DMARCROW_REASON_OTHER), "other");
    ck_assert_str_eq(dmarcrow_reason_name(DMARCROW_REASON_POLICY_TEST_MODE), "policy_test_mode");
    ck_assert_str_eq(dmarcrow_reason_name(DMARCROW_REASON_TRUSTED_FORWARDER), "trusted_forwarder");
    ck_assert_str_eq(dmarcrow_disposition_name(DMARCROW_DISP_NONE), "none");
    ck_assert_str_eq(dmarcrow_disposition_name(DMARCROW_DISP_PASS), "pass");
    ck_assert_str_eq(dmarcrow_disposition_name(DMARCROW_DISP_QUARANTINE), "quarantine");
    ck_assert_str_eq(dmarcrow_disposition_name(DMARCROW_DISP_REJECT), "reject");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dmarcrow");
    TCase *tr = tcase_create("row");
    TCase *ta = tcase_create("aggregator");

    tcase_add_loop_test(tr, test_key, 0, (int)NKEY);
    tcase_add_test(tr, test_same_key);
    tcase_add_test(tr, test_fields);
    tcase_add_test(tr, test_ipv6);
    tcase_add_test(tr, test_null_sender);
    tcase_add_loop_test(tr, test_truth_table, 0, (int)NTRUTH);
    tcase_add_test(tr, test_dry_run);
    tcase_add_loop_test(tr, test_no_row, 0, (int)NNOROW);
    tcase_add_test(tr, test_dkim_bound);
    tcase_add_test(tr, test_names);
    suite_add_tcase(s, tr);
    tcase_set_timeout(ta, 120);
    tcase_add_test(ta, test_bound);
    tcase_add_test(ta, test_add_n);
    tcase_add_test(ta, test_threads);
    tcase_add_test(ta, test_threads_bound);
    suite_add_tcase(s, ta);
    return tu_run(s);
}
