/*
 * test_dnsbl.c - DNS block/allow lists (policy/checks/dnsbl.c): query names (RFC
 * 5782 test entries, tests/data/dnsbl), answer filters, weights that add up
 * and cancel, domain lists, timeouts and SERVFAIL as not listed, hostile TXT
 * reasons, addresses that are never queried, and the policy conditions
 * dnsbl_score / dnsbl_listed with the stage they become known.
 *
 * DNS answers come from libunbound local data; names outside it go to a
 * UDP socket on 127.0.0.1 that never answers (timeouts).  Nothing leaves
 * loopback.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libconfig.h>

#include "conf.h"
#include "dns.h"
#include "dnsbl.h"
#include "facts.h"
#include "rules.h"
#include "testutil.h"
#include "xalloc.h"

/* ---- fixtures -------------------------------------------------------------- */

static const char *const zones[] = {"test. static", NULL};

/* 192.0.2.10 is on bl1, bl2, the allow-list and bitmask lists; 192.0.2.20
 * only on bl1; 192.0.2.30 gets answers that are not listings. */
static const char *const data[] = {
    "10.2.0.192.bl1.test. A 127.0.0.2",
    "10.2.0.192.bl1.test. TXT \"Listed: see https://bl1.test/q?192.0.2.10\"",
    "20.2.0.192.bl1.test. A 127.0.0.2",
    "20.2.0.192.bl1.test. TXT \"evil\\013\\010550 5.7.1 injected\\000more\\127\\255 \\\"q\\\" end\"",
    "10.2.0.192.bl2.test. A 127.0.0.4",
    "10.2.0.192.wl.test. A 127.0.0.5",
    "10.2.0.192.range.test. A 127.0.0.12",
    "10.2.0.192.mask.test. A 127.0.0.6",
    "30.2.0.192.bl1.test. A 127.255.255.254",
    "30.2.0.192.bl2.test. A 192.0.2.1",
    "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl1.test. A 127.0.0.3",
    "2.0.0.0.0.0.f.7.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.bl1.test. A 127.0.0.2",
    /* addresses that must never be queried, listed in case they are */
    "3.2.1.10.bl1.test. A 127.0.0.2",
    "1.0.0.127.bl1.test. A 127.0.0.2",
    "1.1.168.192.bl1.test. A 127.0.0.2",
    "test.dbl.test. A 127.0.1.2",
    "spammer.example.dbl.test. A 127.0.1.2",
    "spammer.example.dbl.test. TXT \"spammer domain\"",
    "badsender.example.dbl.test. A 127.0.1.3",
    "badfrom.example.dbl.test. A 127.0.1.4",
    NULL,
};

typedef struct sink {
    int fd;
    int port;
} sink;

/* A bound UDP socket that is never read: queries to it time out. */
static void sink_open(sink *s)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);

    s->fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(s->fd, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(s->fd, (struct sockaddr *)&sin, &sl), 0);
    s->port = ntohs(sin.sin_port);
}

typedef struct fixture {
    sink sk;
    dns_t *dns;
    conf_t *conf;
    char errors[4096];
} fixture;

static void collect(const char *msg, void *arg)
{
    fixture *fx = arg;
    size_t used = strlen(fx->errors);
    snprintf(fx->errors + used, sizeof(fx->errors) - used, "%s\n", msg);
}

/* Load a config text (dnsbl lists and rules) and a local resolver. */
static void fx_open(fixture *fx, const char *text)
{
    char up[64], err[256] = "";
    dns_options o = {up, 2000, zones, data, 0};

    memset(fx, 0, sizeof(*fx));
    sink_open(&fx->sk);
    snprintf(up, sizeof(up), "127.0.0.1@%d", fx->sk.port);
    fx->dns = dns_new(&o, err, sizeof(err));
    ck_assert_msg(fx->dns != NULL, "dns_new: %s", err);
    fx->conf = conf_load_string(text, "t.conf", collect, fx);
    ck_assert_msg(fx->conf != NULL, "config: %s", fx->errors);
}

static void fx_close(fixture *fx)
{
    conf_free(fx->conf);
    dns_free(fx->dns);
    close(fx->sk.fd);
}

/* Errors of a config that must not load. */
static const char *conf_errors(const char *text, char *buf, size_t len)
{
    fixture fx;
    conf_t *c;

    memset(&fx, 0, sizeof(fx));
    c = conf_load_string(text, "t.conf", collect, &fx);
    ck_assert_msg(c == NULL, "config loaded: %s", text);
    snprintf(buf, len, "%s", fx.errors);
    return buf;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define LISTS                                                                                         \
    "dnsbl = (\n"                                                                                     \
    " { name = \"bl1\"; zone = \"bl1.test\"; type = \"ip\"; weight = 5; },\n"                         \
    " { name = \"bl2\"; zone = \"bl2.test\"; type = \"ip\"; weight = 3; answers = [\"127.0.0.4\"]; },\n" \
    " { name = \"wl\"; zone = \"wl.test\"; type = \"ip\"; weight = -10; },\n"                         \
    " { name = \"dbl\"; zone = \"dbl.test\"; type = [\"helo\", \"sender\", \"from\"]; weight = 4;\n"  \
    "   answers = [\"127.0.1.[2..99]\"]; }\n"                                                         \
    ");\n"

/* ---- query names (RFC 5782 test entries) ---------------------------------- */

START_TEST(test_qnames)
{
    static const struct {
        const char *ip, *want;
    } ips[] = {
        {"127.0.0.2", "2.0.0.127.dnsbl.test"},
        {"127.0.0.1", "1.0.0.127.dnsbl.test"},
        {"192.0.2.99", "99.2.0.192.dnsbl.test"},
        /* RFC 5782's IPv6 test point ::FFFF:7F00:2 is, as a client address
         * (a dual-stack listener), the IPv4 client 127.0.0.2: queried in
         * IPv4 form, as mxguard.conf(5) promises for IPv4-mapped clients. */
        {"::ffff:7f00:2", "2.0.0.127.dnsbl.test"},
        {"::ffff:192.0.2.99", "99.2.0.192.dnsbl.test"},
        {"2001:db8::7f00:2", "2.0.0.0.0.0.f.7.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.dnsbl.test"},
        {"2001:db8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.dnsbl.test"},
        {"2001:DB8::1", "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.dnsbl.test"},
    };
    static const char *const bad_ips[] = {"", "192.0.2", "192.0.2.1.5", "[192.0.2.1]", "IPv6:::1", "x", "2001:db8::g"};
    static const struct {
        const char *d, *want;
    } doms[] = {
        {"TEST", "test.dnsbl.test"},
        {"INVALID", "invalid.dnsbl.test"},
        {"Mail.Example.COM.", "mail.example.com.dnsbl.test"},
        {"a_b.example", "a_b.example.dnsbl.test"},
    };
    static const char *const bad_doms[] = {"", ".", "a..b", ".a", "a b", "a;b", "a\nb", "[192.0.2.1]",
                                           "x@y", "\xc3\xa9.example"};
    char out[300], big[300];

    for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
        ck_assert_msg(dnsbl_ip_qname(ips[i].ip, "dnsbl.test", out, sizeof(out)), "%s", ips[i].ip);
        ck_assert_str_eq(out, ips[i].want);
    }
    for (size_t i = 0; i < sizeof(bad_ips) / sizeof(bad_ips[0]); i++)
        ck_assert_msg(!dnsbl_ip_qname(bad_ips[i], "dnsbl.test", out, sizeof(out)), "%s", bad_ips[i]);
    for (size_t i = 0; i < sizeof(doms) / sizeof(doms[0]); i++) {
        ck_assert_msg(dnsbl_domain_qname(doms[i].d, "dnsbl.test", out, sizeof(out)), "%s", doms[i].d);
        ck_assert_str_eq(out, doms[i].want);
    }
    for (size_t i = 0; i < sizeof(bad_doms) / sizeof(bad_doms[0]); i++)
        ck_assert_msg(!dnsbl_domain_qname(bad_doms[i], "dnsbl.test", out, sizeof(out)), "%s", bad_doms[i]);
    /* A 64-octet label, and a name that would pass 253 octets with the zone. */
    memset(big, 'a', 64);
    big[64] = '\0';
    ck_assert(!dnsbl_domain_qname(big, "dnsbl.test", out, sizeof(out)));
    for (size_t i = 0; i < 248; i += 2)
        big[i] = 'a', big[i + 1] = '.';
    big[248] = 'a';
    big[249] = '\0';
    ck_assert(dnsbl_domain_qname(big + 10, "dnsbl.test", out, sizeof(out))); /* 239 + 11 octets */
    ck_assert(!dnsbl_domain_qname(big, "dnsbl.test", out, sizeof(out)));
    ck_assert(!dnsbl_ip_qname("2001:db8::1", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
                                             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa."
                                             "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                              out, sizeof(out)));
}
END_TEST

/* ---- weights, filters, IPv6, special addresses ------------------------------ */

/* The lookup's results as the session puts them into the facts at end of
 * message (dnsbl_lookup_result), read the way the rules and outputs do. */
static int t_score(dnsbl_lookup_t *l)
{
    facts_dnsbl d = {0};
    int score;

    dnsbl_lookup_result(l, STAGE_EOM, &d);
    score = facts_dnsbl_score(&d);
    facts_dnsbl_clear(&d);
    return score;
}

static bool t_listed(dnsbl_lookup_t *l, const char *name)
{
    facts_dnsbl d = {0};
    const facts_dnsbl_list *li;
    bool listed;

    dnsbl_lookup_result(l, STAGE_EOM, &d);
    li = facts_dnsbl_find(&d, name);
    ck_assert_msg(li != NULL && li->known, "list %s not in the results", name);
    listed = li->listed;
    facts_dnsbl_clear(&d);
    return listed;
}

static bool t_evaluated(dnsbl_lookup_t *l)
{
    facts_dnsbl d = {0};
    bool ev;

    dnsbl_lookup_result(l, STAGE_EOM, &d);
    ev = d.evaluated;
    facts_dnsbl_clear(&d);
    return ev;
}

static char *t_matches(dnsbl_lookup_t *l)
{
    facts_dnsbl d = {0};
    char *m;

    dnsbl_lookup_result(l, STAGE_EOM, &d);
    m = facts_dnsbl_matches(&d);
    facts_dnsbl_clear(&d);
    return m;
}

/* Score and matches for one client address under the standard lists. */
static int score_of(fixture *fx, const char *addr, char **matches)
{
    dnsbl_lookup_t *l = dnsbl_lookup_new(fx->conf->dnsbl, fx->dns);
    int score;

    dnsbl_lookup_client(l, addr, false);
    score = t_score(l);
    if (matches)
        *matches = t_matches(l);
    dnsbl_lookup_free(l);
    return score;
}

START_TEST(test_weights)
{
    fixture fx;
    char *m = NULL;

    fx_open(&fx, LISTS);
    /* bl1 (5) + bl2 (3) + allow-list (-10) = -2 */
    ck_assert_int_eq(score_of(&fx, "192.0.2.10", &m), -2);
    ck_assert_str_eq(m, "bl1:127.0.0.2,bl2:127.0.0.4,wl:127.0.0.5");
    free(m);
    /* bl1 only */
    ck_assert_int_eq(score_of(&fx, "192.0.2.20", &m), 5);
    ck_assert_str_eq(m, "bl1:127.0.0.2");
    free(m);
    /* not listed anywhere (NXDOMAIN) */
    ck_assert_int_eq(score_of(&fx, "192.0.2.99", &m), 0);
    ck_assert_ptr_null(m);
    /* 127.255.255.254 (Spamhaus error code) under the default filter, and
     * 192.0.2.1 (outside 127/8) never count */
    tu_log_start();
    ck_assert_int_eq(score_of(&fx, "192.0.2.30", &m), 0);
    ck_assert_ptr_null(m);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "unexpected answer 192.0.2.1"));
    tu_log_stop();
    /* IPv6 nibble form */
    ck_assert_int_eq(score_of(&fx, "2001:db8::1", &m), 5);
    ck_assert_str_eq(m, "bl1:127.0.0.3");
    free(m);
    fx_close(&fx);
}
END_TEST

START_TEST(test_filters)
{
    static const struct {
        const char *answers;
        bool listed; /* for the answer 127.0.0.12 (range.test) / 127.0.0.6 (mask.test) */
        const char *zone;
    } cases[] = {
        {"\"127.0.0.12\"", true, "range.test"},
        {"\"127.0.0.2\"", false, "range.test"},
        {"\"127.0.0.[2..11]\"", false, "range.test"},
        {"\"127.0.0.[2..12]\"", true, "range.test"},
        {"\"127.0.0.[2;4;12]\"", true, "range.test"},
        {"\"127.0.0.[2;4..11;13]\"", false, "range.test"},
        {"\"127.0.[0..255].[0..255]\"", true, "range.test"},
        {"\"127.0.0.2\", \"127.0.0.12\"", true, "range.test"},
        {"\"&0.0.0.4\"", true, "mask.test"},
        {"\"&0.0.0.8\"", false, "mask.test"},
        {"\"&0.0.0.9\"", false, "mask.test"},
        {"\"&0.0.0.2\"", true, "mask.test"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char text[512];
        fixture fx;

        snprintf(text, sizeof(text),
                 "dnsbl = ( { name = \"x\"; zone = \"%s\"; type = \"ip\"; weight = 1; answers = [ %s ]; } );",
                 cases[i].zone, cases[i].answers);
        fx_open(&fx, text);
        ck_assert_msg(score_of(&fx, "192.0.2.10", NULL) == (cases[i].listed ? 1 : 0), "answers %s",
                      cases[i].answers);
        fx_close(&fx);
    }
}
END_TEST

START_TEST(test_special_not_queried)
{
    static const char *const special[] = {
        "10.1.2.3", "127.0.0.1", "192.168.1.1", "172.16.5.4", "169.254.1.1", "100.64.0.1", "0.0.0.0",
        "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00::1", "ff02::1", "::ffff:10.1.2.3",
        "::ffff:127.0.0.1", NULL,
    };
    fixture fx;

    fx_open(&fx, LISTS);
    for (const char *const *a = special; *a; a++) {
        dnsbl_lookup_t *l = dnsbl_lookup_new(fx.conf->dnsbl, fx.dns);
        dns_cache_stats before, after;

        ck_assert_msg(dnsbl_addr_special(fx.conf->dnsbl, *a), "%s", *a);
        dns_cache_get_stats(fx.dns, &before);
        dnsbl_lookup_client(l, *a, false);
        dns_cache_get_stats(fx.dns, &after);
        /* no lookup at all, not even from the cache */
        ck_assert_msg(after.hits + after.misses == before.hits + before.misses, "%s: queried", *a);
        ck_assert(!t_evaluated(l));
        ck_assert_int_eq(t_score(l), 0);
        dnsbl_lookup_free(l);
    }
    /* documentation and global addresses are queried */
    ck_assert(!dnsbl_addr_special(fx.conf->dnsbl, "192.0.2.10"));
    ck_assert(!dnsbl_addr_special(fx.conf->dnsbl, "2001:db8::1"));
    ck_assert(!dnsbl_addr_special(fx.conf->dnsbl, "8.8.8.8"));
    ck_assert(dnsbl_addr_special(fx.conf->dnsbl, NULL));
    ck_assert(dnsbl_addr_special(fx.conf->dnsbl, "junk"));
    fx_close(&fx);
}
END_TEST

START_TEST(test_trusted_and_authenticated)
{
    fixture fx;
    dnsbl_lookup_t *l;

    fx_open(&fx, LISTS);
    l = dnsbl_lookup_new(fx.conf->dnsbl, fx.dns);
    dnsbl_lookup_client(l, "192.0.2.20", true);
    dnsbl_lookup_helo(l, "Spammer.Example"); /* a trusted client's HELO is not queried either */
    ck_assert(!t_evaluated(l));
    ck_assert(!t_listed(l, "dbl"));
    ck_assert_int_eq(t_score(l), 0);
    dnsbl_lookup_free(l);

    l = dnsbl_lookup_new(fx.conf->dnsbl, fx.dns);
    dnsbl_lookup_client(l, "192.0.2.20", false);
    ck_assert_int_eq(t_score(l), 5);
    dnsbl_lookup_sender(l, "badsender.example", true); /* AUTH: nothing counts */
    ck_assert(!t_evaluated(l));
    ck_assert_int_eq(t_score(l), 0);
    ck_assert(!t_listed(l, "bl1"));
    dnsbl_lookup_end_message(l);
    dnsbl_lookup_sender(l, "badsender.example", false); /* next message, no AUTH */
    ck_assert_int_eq(t_score(l), 9);
    dnsbl_lookup_free(l);
    fx_close(&fx);
}
END_TEST

/* ---- domain lists ------------------------------------------------------------- */

START_TEST(test_domain_lists)
{
    fixture fx;
    dnsbl_lookup_t *l;
    char *m;

    fx_open(&fx, LISTS);
    l = dnsbl_lookup_new(fx.conf->dnsbl, fx.dns);
    dnsbl_lookup_client(l, "192.0.2.99", false);
    dnsbl_lookup_helo(l, "Spammer.Example");
    ck_assert(t_listed(l, "dbl"));
    m = t_matches(l);
    ck_assert_str_eq(m, "dbl:127.0.1.2");
    free(m);
    /* a new HELO replaces the old one */
    dnsbl_lookup_helo(l, "clean.example");
    ck_assert(!t_listed(l, "dbl"));
    /* an address literal is not a domain: not queried */
    dnsbl_lookup_helo(l, "[192.0.2.99]");
    ck_assert(!t_listed(l, "dbl"));
    /* sender and From domains; each list counts once */
    dnsbl_lookup_sender(l, "badsender.example", false);
    ck_assert_int_eq(t_score(l), 4);
    dnsbl_lookup_from(l, "badfrom.example");
    ck_assert_int_eq(t_score(l), 4);
    m = t_matches(l);
    ck_assert_str_eq(m, "dbl:127.0.1.3");
    free(m);
    /* the message ends: its sender and From results go */
    dnsbl_lookup_end_message(l);
    ck_assert_int_eq(t_score(l), 0);
    /* the RFC 5782 domain test entries */
    dnsbl_lookup_sender(l, "TEST", false);
    ck_assert(t_listed(l, "dbl"));
    dnsbl_lookup_sender(l, "INVALID", false);
    ck_assert(!t_listed(l, "dbl"));
    dnsbl_lookup_free(l);
    fx_close(&fx);
}
END_TEST

START_TEST(test_header_domain)
{
    static const struct {
        const char *v, *want; /* want NULL: no domain */
    } cases[] = {
        {"user@Example.COM", "example.com"},
        {"Some One <user@example.com>", "example.com"},
        {"\"a@b, c\" <user@example.org>", "example.org"},
        {"user@example.net (comment @x.y)", "example.net"},
        {"(c) <user@example.net>", "example.net"},
        {"a@example.com, b@example.org", NULL},
        {"group: a@example.com;", NULL},
        {"<user@[192.0.2.1]>", NULL},
        {"no address", NULL},
        {"<a@b.example> <c@d.example>", NULL},
        {"\"unterminated <a@b.example>", NULL},
        {"", NULL},
    };
    char out[256];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        fromhdr_value fv;
        bool ok;

        fromhdr_parse(cases[i].v, &fv);
        ok = dnsbl_from_domain(&fv, out, sizeof(out));
        ck_assert_msg(ok == (cases[i].want != NULL), "[%s]", cases[i].v);
        if (ok)
            ck_assert_str_eq(out, cases[i].want);
    }
}
END_TEST

/* ---- timeouts, SERVFAIL, parallel ------------------------------------------- */

START_TEST(test_timeout_not_listed)
{
    fixture fx;
    dnsbl_lookup_t *l;
    double t0, dt;

    /* slow*.sink-tld are outside the local data: they go to the silent sink. */
    fx_open(&fx, "dnsbl_options = { timeout_ms = 300; };\n"
                 "dnsbl = ( { name = \"s1\"; zone = \"slow1.sink-tld\"; type = \"ip\"; weight = 5; },\n"
                 "          { name = \"s2\"; zone = \"slow2.sink-tld\"; type = \"ip\"; weight = 5; },\n"
                 "          { name = \"s3\"; zone = \"slow3.sink-tld\"; type = \"ip\"; weight = 5; },\n"
                 "          { name = \"bl1\"; zone = \"bl1.test\"; type = \"ip\"; weight = 2; } );");
    l = dnsbl_lookup_new(fx.conf->dnsbl, fx.dns);
    tu_log_start();
    t0 = now_s();
    dnsbl_lookup_client(l, "192.0.2.10", false);
    ck_assert_int_eq(t_score(l), 2);
    dt = now_s() - t0;
    ck_assert_msg(strstr(tu_log_text(), "dnsbl s1: 10.2.0.192.slow1.sink-tld: timeout, counted as not listed") != NULL, "log: %s", tu_log_text());
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "dnsbl s3: "));
    /* logged once, by dnsbl (which decides): the resolver adds no line */
    ck_assert_msg(strstr(tu_log_text(), "dns: ") == NULL, "log: %s", tu_log_text());
    tu_log_stop();
    /* the deadline holds: all three time out together, not one after another */
    ck_assert_msg(dt >= 0.25 && dt < 0.9, "took %.3f s", dt);
    ck_assert(!t_listed(l, "s2"));
    dnsbl_lookup_free(l);
    fx_close(&fx);
}
END_TEST

START_TEST(test_free_with_queries_in_flight)
{
    fixture fx;
    dnsbl_lookup_t *l;
    double t0, dt;

    fx_open(&fx, "dnsbl_options = { timeout_ms = 200; };\n"
                 "dnsbl = ( { name = \"s1\"; zone = \"slow1.sink-tld\"; type = [\"helo\", \"sender\"]; } );");
    l = dnsbl_lookup_new(fx.conf->dnsbl, fx.dns);
    tu_log_start();
    t0 = now_s();
    dnsbl_lookup_helo(l, "a.example");
    dnsbl_lookup_sender(l, "b.example", false);
    dnsbl_lookup_from(l, "c.example"); /* not a from list: nothing */
    dnsbl_lookup_free(l); /* waits: dns_free() below needs no query in flight */
    dt = now_s() - t0;
    /* both queries were waited for, together, up to their deadline */
    ck_assert_msg(strstr(tu_log_text(), "a.example.slow1.sink-tld: timeout") != NULL, "log: %s", tu_log_text());
    ck_assert_msg(strstr(tu_log_text(), "b.example.slow1.sink-tld: timeout") != NULL, "log: %s", tu_log_text());
    ck_assert_ptr_null(strstr(tu_log_text(), "c.example"));
    tu_log_stop();
    ck_assert_msg(dt >= 0.15 && dt < 0.9, "took %.3f s", dt);
    fx_close(&fx);
}
END_TEST

/* ---- TXT reasons -------------------------------------------------------------- */

START_TEST(test_txt_sanitize)
{
    char out[DNSBL_TXT_MAX + 1], big[1000];
    static const char hostile[] = "a\r\n550 5.7.1 x\0y\x7f\xff\tz  ";

    dnsbl_txt_sanitize(hostile, sizeof(hostile) - 1, out);
    ck_assert_str_eq(out, "a 550 5.7.1 x y z");
    memset(big, 'x', sizeof(big));
    dnsbl_txt_sanitize(big, sizeof(big), out);
    ck_assert_uint_eq(strlen(out), DNSBL_TXT_MAX);
    ck_assert_str_eq(out + DNSBL_TXT_MAX - 3, "...");
    dnsbl_txt_sanitize(NULL, 0, out);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(test_expand)
{
    fixture fx;
    dnsbl_lookup_t *l;
    char *r;

    fx_open(&fx, LISTS);
    l = dnsbl_lookup_new(fx.conf->dnsbl, fx.dns);
    dnsbl_lookup_client(l, "192.0.2.10", false);
    r = dnsbl_lookup_expand(l, "Blocked using ${dnsbl} (${dnsbl_zone} ${dnsbl_answer}): ${dnsbl_txt}");
    ck_assert_str_eq(r, "Blocked using bl1 (bl1.test 127.0.0.2): Listed: see https://bl1.test/q?192.0.2.10");
    free(r);
    dnsbl_lookup_free(l);

    /* a hostile TXT: no CR, LF, NUL or other control byte gets through */
    l = dnsbl_lookup_new(fx.conf->dnsbl, fx.dns);
    dnsbl_lookup_client(l, "192.0.2.20", false);
    r = dnsbl_lookup_expand(l, "${dnsbl_txt}");
    for (const char *p = r; *p; p++)
        ck_assert_msg(*p >= 0x20 && *p < 0x7f, "byte %02x in [%s]", (unsigned char)*p, r);
    ck_assert_str_eq(r, "evil 550 5.7.1 injected more \"q\" end");
    free(r);
    /* no listing: variables are empty, the text stays */
    dnsbl_lookup_free(l);
    l = dnsbl_lookup_new(fx.conf->dnsbl, fx.dns);
    dnsbl_lookup_client(l, "192.0.2.99", false);
    r = dnsbl_lookup_expand(l, "Go away [${dnsbl}] ${unknown}");
    ck_assert_str_eq(r, "Go away [] ${unknown}");
    free(r);
    dnsbl_lookup_free(l);
    fx_close(&fx);
}
END_TEST

/* ---- policy conditions ---------------------------------------------------------- */

START_TEST(test_rules_stages)
{
    fixture fx;
    facts_t *f;
    verdict_t v;
    dnsbl_lookup_t *l;

    fx_open(&fx, LISTS "rules = (\n"
                       " { name = \"listed-bl2\"; match = { dnsbl_listed = [\"bl2\"]; }; action = \"quarantine\"; dry_run = true; },\n"
                       " { name = \"ip-block\"; match = { dnsbl_listed = [\"bl1\"]; rcpt_domain = [\"x.example\"]; };\n"
                       "   action = \"reject\"; },\n"
                       " { name = \"score\"; match = { dnsbl_score = 5; }; action = \"reject\";\n"
                       "   reply = { text = \"Blocked using ${dnsbl}\"; }; }\n"
                       ");\n");
    f = facts_new();
    l = dnsbl_lookup_new(fx.conf->dnsbl, fx.dns);
    /* 192.0.2.20: bl1 only (5).  ip-block holds at RCPT for x.example. */
    facts_set(&f->client_addr, "192.0.2.20");
    dnsbl_lookup_client(l, f->client_addr, false);
    f->stage = STAGE_RCPT;
    dnsbl_lookup_result(l, f->stage, &f->dnsbl);
    f->rcpt = "a@x.example";
    ck_assert_int_eq(rules_eval(fx.conf->rules, f, &v, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "ip-block");
    /* The score includes the from list (dbl): known only at end of headers. */
    f->rcpt = "a@y.example";
    ck_assert_int_eq(rules_eval(fx.conf->rules, f, &v, NULL, NULL), RULES_PENDING);
    f->stage = STAGE_DATA;
    ck_assert_int_eq(rules_eval(fx.conf->rules, f, &v, NULL, NULL), RULES_PENDING); /* not filled yet */
    dnsbl_lookup_result(l, f->stage, &f->dnsbl);
    ck_assert_int_eq(rules_eval(fx.conf->rules, f, &v, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "score");
    dnsbl_lookup_free(l);
    facts_dnsbl_clear(&f->dnsbl);

    /* 192.0.2.10: -2, the allow-list cancels the block */
    l = dnsbl_lookup_new(fx.conf->dnsbl, fx.dns);
    dnsbl_lookup_client(l, "192.0.2.10", false);
    dnsbl_lookup_result(l, f->stage, &f->dnsbl);
    ck_assert_int_eq(rules_eval(fx.conf->rules, f, &v, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "default");
    dnsbl_lookup_free(l);
    facts_dnsbl_clear(&f->dnsbl);
    /* no lookup at all: score 0, nothing listed */
    ck_assert_int_eq(rules_eval(fx.conf->rules, f, &v, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "default");
    facts_free(f);
    fx_close(&fx);
}
END_TEST

/* With ip lists only, a score rule is known at connect and fires at RCPT. */
START_TEST(test_rules_ip_only_at_rcpt)
{
    fixture fx;
    facts_t *f;
    verdict_t v;
    dnsbl_lookup_t *l;

    fx_open(&fx, "dnsbl = ( { name = \"bl1\"; zone = \"bl1.test\"; type = \"ip\"; weight = 5; },\n"
                 "          { name = \"dbl\"; zone = \"dbl.test\"; type = \"helo\"; weight = 1; } );\n"
                 "rules = ( { name = \"score\"; match = { dnsbl_score = 5; }; action = \"reject\"; } );");
    ck_assert_int_eq(dnsbl_conf_stage(fx.conf->dnsbl, NULL), STAGE_HELO);
    ck_assert_int_eq(dnsbl_conf_stage(fx.conf->dnsbl, "bl1"), STAGE_CONNECT);
    f = facts_new();
    l = dnsbl_lookup_new(fx.conf->dnsbl, fx.dns);
    dnsbl_lookup_client(l, "192.0.2.20", false);
    f->stage = STAGE_CONNECT;
    dnsbl_lookup_result(l, f->stage, &f->dnsbl);
    ck_assert(facts_dnsbl_known(&f->dnsbl, "bl1"));
    ck_assert(!facts_dnsbl_known(&f->dnsbl, "dbl"));
    ck_assert_int_eq(rules_eval(fx.conf->rules, f, &v, NULL, NULL), RULES_PENDING);
    f->stage = STAGE_RCPT;
    dnsbl_lookup_result(l, f->stage, &f->dnsbl);
    ck_assert_int_eq(rules_eval(fx.conf->rules, f, &v, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "score");
    dnsbl_lookup_free(l);
    facts_free(f);
    fx_close(&fx);
}
END_TEST

START_TEST(test_bad_configs)
{
    static const struct {
        const char *text, *want;
    } cases[] = {
        {"dnsbl = ( { zone = \"a.test\"; type = \"ip\"; } );", "t.conf:1: dnsbl list has no name"},
        {"dnsbl = ( { name = \"a\"; type = \"ip\"; } );", "has no zone"},
        {"dnsbl = ( { name = \"a\"; zone = \"a.test\"; } );", "has no type"},
        {"dnsbl = ( { name = \"a\"; zone = \"a..test\"; type = \"ip\"; } );", "dnsbl zone: expected"},
        {"dnsbl = ( { name = \"a\"; zone = \"a.test\"; type = \"mx\"; } );", "unknown kind \"mx\""},
        {"dnsbl = ( { name = \"a\"; zone = \"a.test\"; type = [\"ip\", \"helo\"]; } );", "cannot be combined"},
        {"dnsbl = ( { name = \"a\"; zone = \"a.test\"; type = \"ip\"; weight = 0; } );", "weight 0 out of range"},
        {"dnsbl = ( { name = \"a\"; zone = \"a.test\"; type = \"ip\"; answers = [\"127.0.0.[3..2]\"]; } );",
         "bad filter"},
        {"dnsbl = ( { name = \"a\"; zone = \"a.test\"; type = \"ip\"; answers = [\"127.0.0.256\"]; } );",
         "bad filter"},
        {"dnsbl = ( { name = \"a\"; zone = \"a.test\"; type = \"ip\"; answers = [\"&0.0.0.0\"]; } );",
         "bad filter"},
        {"dnsbl = ( { name = \"a\"; zone = \"a.test\"; type = \"ip\"; answers = [\"127.0.0\"]; } );",
         "bad filter"},
        {"dnsbl = ( { name = \"a\"; zone = \"a.test\"; type = \"ip\"; colour = 1; } );", "unknown key \"colour\""},
        {"dnsbl = ( { name = \"a\"; zone = \"a.test\"; type = \"ip\"; },\n { name = \"a\"; zone = \"b.test\"; type = \"ip\"; } );",
         "t.conf:2: duplicate dnsbl name \"a\" (first defined at line 1)"},
        {"dnsbl_options = { timeout_ms = 5; };", "dnsbl_options.timeout_ms 5 out of range"},
        {"dnsbl_options = { retries = 5; };", "unknown key \"retries\" in dnsbl_options"},
        {"rules = ( { name = \"r\"; match = { dnsbl_listed = [\"nope\"]; }; action = \"reject\"; } );",
         "dnsbl_listed: no dnsbl list is named \"nope\""},
        {"rules = ( { name = \"r\"; match = { dnsbl_score = \"5\"; }; action = \"reject\"; } );",
         "dnsbl_score: expected an integer"},
    };
    char buf[4096];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *e = conf_errors(cases[i].text, buf, sizeof(buf));
        ck_assert_msg(strstr(e, cases[i].want) != NULL, "case %zu: [%s] not in [%s]", i, cases[i].want, e);
    }
}
END_TEST

static Suite *dnsbl_suite(void)
{
    Suite *s = suite_create("dnsbl");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_qnames);
    tcase_add_test(tc, test_weights);
    tcase_add_test(tc, test_filters);
    tcase_add_test(tc, test_special_not_queried);
    tcase_add_test(tc, test_trusted_and_authenticated);
    tcase_add_test(tc, test_domain_lists);
    tcase_add_test(tc, test_header_domain);
    tcase_add_test(tc, test_timeout_not_listed);
    tcase_add_test(tc, test_free_with_queries_in_flight);
    tcase_add_test(tc, test_txt_sanitize);
    tcase_add_test(tc, test_expand);
    tcase_add_test(tc, test_rules_stages);
    tcase_add_test(tc, test_rules_ip_only_at_rcpt);
    tcase_add_test(tc, test_bad_configs);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(dnsbl_suite());
}
