/*
 * test_spf.c - unit tests of policy/checks/spfcheck.c with spfdns.c and spfrecord.c.
 *
 * DNS data is libunbound local data under a static "example." zone (plus a
 * "refuse" zone for SERVFAIL); the timeout case forwards one zone to a UDP
 * socket on 127.0.0.1 that never answers.  Nothing leaves the host.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dns.h"
#include "spfcheck.h"
#include "testutil.h"
#include "xalloc.h"

static const char *const zones[] = {
    "example. static",
    "refused.example. refuse",
    "100.51.198.in-addr.arpa. static", /* TEST-NET-2 reverse: unbound blocks it by default */
    "_mxguard-cidr0. static",          /* forged marker names: answered here, not forwarded */
    "_mxguard-cidr0-0000000000000000. static",
    NULL,
};

/* The long record: 10 strings, about 2400 octets > 2048. */
static char long_record[3000];
static char many_macros[600];

static const char *const data[] = {
    "pass.example. TXT \"v=spf1 ip4:192.0.2.0/24 -all\"",
    "pass.example. TXT \"unrelated text\"",
    "soft.example. TXT \"v=spf1 ~all\"",
    "neutral.example. TXT \"v=spf1 ?all\"",
    "nospf.example. A 192.0.2.1",
    "nospf.example. TXT \"just some text\"",
    "tf.example. TXT \"v=spf1 a:x.refused.example -all\"",
    "bad.example. TXT \"v=spf1 foo:bar -all\"",
    "badmacro.example. TXT \"v=spf1 exists:%{z}.example -all\"",
    "two.example. TXT \"v=spf1 -all\"",
    "two.example. TXT \"v=spf1 +all\"",
    "inc1.example. TXT \"v=spf1 include:inc2.example -all\"",
    "inc2.example. TXT \"v=spf1 include:inc3.example ~all\"",
    "inc3.example. TXT \"v=spf1 ip4:192.0.2.77 -all\"",
    "incnone.example. TXT \"v=spf1 include:nospf.example -all\"",
    "h1.example. A 203.0.113.1", "h2.example. A 203.0.113.2", "h3.example. A 203.0.113.3",
    "h4.example. A 203.0.113.4", "h5.example. A 203.0.113.5", "h6.example. A 203.0.113.6",
    "h7.example. A 203.0.113.7", "h8.example. A 203.0.113.8", "h9.example. A 203.0.113.9",
    "h10.example. A 203.0.113.10", "h11.example. A 203.0.113.11",
    "lim10.example. TXT \"v=spf1 a:h1.example a:h2.example a:h3.example a:h4.example a:h5.example "
    "a:h6.example a:h7.example a:h8.example a:h9.example a:h10.example -all\"",
    "lim11.example. TXT \"v=spf1 a:h1.example a:h2.example a:h3.example a:h4.example a:h5.example "
    "a:h6.example a:h7.example a:h8.example a:h9.example a:h10.example a:h11.example -all\"",
    "six.example. TXT \"v=spf1 a:h1.example a:h2.example a:h3.example a:h4.example a:h5.example a:h6.example\"",
    "inclim.example. TXT \"v=spf1 include:six.example a:h7.example a:h8.example a:h9.example a:h10.example -all\"",
    "incok.example. TXT \"v=spf1 include:six.example a:h7.example a:h8.example a:h9.example ip4:192.0.2.99 -all\"",
    "void2.example. TXT \"v=spf1 a:nx1.example a:nx2.example -all\"",
    "void3.example. TXT \"v=spf1 a:nx1.example a:nx2.example a:nx3.example -all\"",
    "mx.helo.example. TXT \"v=spf1 ip4:192.0.2.10 -all\"",
    "v6.example. TXT \"v=spf1 ip6:2001:db8::/32 a:host6.example -all\"",
    "host6.example. AAAA 2001:db9::25",
    "mxs.example. TXT \"v=spf1 mx -all\"",
    "mxs.example. MX 10 mail.mxs.example.",
    "mail.mxs.example. A 192.0.2.25",
    "mail.mxs.example. AAAA 2001:db8:25::1",
    "cidr0.example. TXT \"v=spf1 a:h9.example/0 -all\"",
    "exp.example. TXT \"v=spf1 -all exp=explain.example\"",
    "explain.example. TXT \"Sender %{l} is not allowed by %{d}\"",
    /* an mx/0 term followed by ptr: the PTR names must not inherit /0 */
    "mx0ptr.example. TXT \"v=spf1 mx/0 ptr -all\"",
    "mx0ptr.example. MX 10 noaddr.example.",
    "7.100.51.198.in-addr.arpa. PTR host.mx0ptr.example.",
    "host.mx0ptr.example. A 203.0.113.50",
    /* a name built from the client's HELO must not forge the /0 marker */
    "inject.example. TXT \"v=spf1 a:%{h} -all\"",
    "slowinc.example. TXT \"v=spf1 include:slow.example.org -all\"",
    NULL, /* long.example */
    NULL, /* macros.example */
    NULL,
};

static dns_t *new_dns(const char *upstream, unsigned timeout_ms)
{
    static const char *d[sizeof(data) / sizeof(data[0])];
    dns_options o;
    char err[256] = "";
    dns_t *dns;
    size_t n = 0, pos;

    /* long.example: 10 character-strings of about 240 octets */
    pos = (size_t)sprintf(long_record, "long.example. TXT \"v=spf1");
    for (int s = 0; s < 10; s++) {
        if (s)
            pos += (size_t)sprintf(long_record + pos, " \"");
        for (int k = 0; k < 17; k++)
            pos += (size_t)sprintf(long_record + pos, " ip4:192.0.2.1");
        pos += (size_t)sprintf(long_record + pos, "\"");
    }
    /* macros.example: 20 macros in one term (more than 16 per term) */
    pos = (size_t)sprintf(many_macros, "macros.example. TXT \"v=spf1 exists:");
    for (int i = 0; i < 20; i++)
        pos += (size_t)sprintf(many_macros + pos, "%%{l}.");
    sprintf(many_macros + pos, "example -all\"");

    for (size_t i = 0; data[i]; i++)
        d[n++] = data[i];
    d[n++] = long_record;
    d[n++] = many_macros;
    d[n] = NULL;
    memset(&o, 0, sizeof(o));
    o.upstream = upstream;
    o.timeout_ms = timeout_ms;
    o.local_zones = zones;
    o.local_data = d;
    dns = dns_new(&o, err, sizeof(err));
    ck_assert_msg(dns != NULL, "dns_new: %s", err);
    return dns;
}

static dns_t *dns;

static void setup(void)
{
    dns = new_dns("127.0.0.1@1", 3000);
}

static void teardown(void)
{
    dns_free(dns);
    dns = NULL;
}

/* Check MAIL FROM and return the result; out is cleared by the caller. */
static spfcheck_result mf(const char *ip, const char *helo, const char *from, spfcheck_output *out)
{
    spfcheck_input in = { ip, helo, from, "mx.receiver.example" };
    spfcheck_result r = spfcheck_mailfrom(dns, &in, out);
    ck_assert_int_eq(r, out->result);
    return r;
}

static spfcheck_result mf1(const char *ip, const char *from)
{
    spfcheck_output out = { SPFCHECK_UNSET, NULL, NULL, NULL };
    spfcheck_result r = mf(ip, "client.example", from, &out);
    ck_assert_ptr_nonnull(out.reason);
    spfcheck_output_clear(&out);
    return r;
}

START_TEST(test_basic_results)
{
    spfcheck_output out = { SPFCHECK_UNSET, NULL, NULL, NULL };

    ck_assert_int_eq(mf("192.0.2.10", "c.example", "user@pass.example", &out), SPFCHECK_PASS);
    ck_assert_str_eq(out.domain, "pass.example");
    ck_assert_ptr_null(out.explanation);
    spfcheck_output_clear(&out);

    ck_assert_int_eq(mf("198.51.100.1", "c.example", "user@pass.example", &out), SPFCHECK_FAIL);
    ck_assert_ptr_nonnull(out.explanation);
    ck_assert_str_eq(out.explanation, "pass.example does not designate 198.51.100.1 as a permitted sender");
    spfcheck_output_clear(&out);

    ck_assert_int_eq(mf1("198.51.100.1", "user@soft.example"), SPFCHECK_SOFTFAIL);
    ck_assert_int_eq(mf1("198.51.100.1", "user@neutral.example"), SPFCHECK_NEUTRAL);
    ck_assert_int_eq(mf1("198.51.100.1", "user@nospf.example"), SPFCHECK_NONE);
    ck_assert_int_eq(mf1("198.51.100.1", "user@nonexistent.example"), SPFCHECK_NONE);
    ck_assert_int_eq(mf1("198.51.100.1", "user@two.example"), SPFCHECK_PERMERROR);
    /* not a domain: none without any lookup */
    ck_assert_int_eq(mf1("198.51.100.1", "user@localhost"), SPFCHECK_NONE);
    ck_assert_int_eq(mf1("198.51.100.1", "user@[192.0.2.1]"), SPFCHECK_NONE);
    ck_assert_int_eq(mf1("198.51.100.1", "user@a..example"), SPFCHECK_NONE);
    /* loopback gets no free ride (libspf2 would pass it) */
    ck_assert_int_eq(mf1("127.0.0.1", "user@pass.example"), SPFCHECK_FAIL);
    /* IPv4-mapped IPv6 is the IPv4 client */
    ck_assert_int_eq(mf1("::ffff:192.0.2.10", "user@pass.example"), SPFCHECK_PASS);
}
END_TEST

START_TEST(test_temperror)
{
    spfcheck_output out = { SPFCHECK_UNSET, NULL, NULL, NULL };

    /* REFUSED for a mechanism's lookup */
    ck_assert_int_eq(mf("192.0.2.10", "c.example", "u@tf.example", &out), SPFCHECK_TEMPERROR);
    spfcheck_output_clear(&out);
    /* REFUSED for the record itself */
    ck_assert_int_eq(mf1("192.0.2.10", "u@x.refused.example"), SPFCHECK_TEMPERROR);
    /* bad client address: our failure, not the sender's */
    ck_assert_int_eq(mf1("not-an-ip", "u@pass.example"), SPFCHECK_TEMPERROR);
}
END_TEST

/* A UDP socket on 127.0.0.1 that never answers. */
static int sink_fd = -1;

START_TEST(test_timeout)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    char up[64];
    dns_t *slow;
    spfcheck_input in = { "192.0.2.10", "c.example", "u@slowinc.example", NULL };
    spfcheck_output out = { SPFCHECK_UNSET, NULL, NULL, NULL };

    sink_fd = socket(AF_INET, SOCK_DGRAM, 0);
    ck_assert_int_ge(sink_fd, 0);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(sink_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(getsockname(sink_fd, (struct sockaddr *)&sin, &sl), 0);
    snprintf(up, sizeof(up), "127.0.0.1@%d", ntohs(sin.sin_port));
    slow = new_dns(up, 300);
    ck_assert_int_eq(spfcheck_mailfrom(slow, &in, &out), SPFCHECK_TEMPERROR);
    spfcheck_output_clear(&out);
    dns_free(slow);
    close(sink_fd);
}
END_TEST

START_TEST(test_permerror_syntax)
{
    spfcheck_output out = { SPFCHECK_UNSET, NULL, NULL, NULL };

    ck_assert_int_eq(mf("192.0.2.10", "c.example", "u@bad.example", &out), SPFCHECK_PERMERROR);
    ck_assert_ptr_nonnull(strstr(out.reason, "syntax"));
    spfcheck_output_clear(&out);
    ck_assert_int_eq(mf1("192.0.2.10", "u@badmacro.example"), SPFCHECK_PERMERROR);
}
END_TEST

START_TEST(test_include_chain)
{
    ck_assert_int_eq(mf1("192.0.2.77", "u@inc1.example"), SPFCHECK_PASS);
    ck_assert_int_eq(mf1("192.0.2.78", "u@inc1.example"), SPFCHECK_FAIL);
    /* include of a domain without a record: permerror */
    ck_assert_int_eq(mf1("192.0.2.78", "u@incnone.example"), SPFCHECK_PERMERROR);
}
END_TEST

START_TEST(test_dns_term_limit)
{
    spfcheck_output out = { SPFCHECK_UNSET, NULL, NULL, NULL };

    ck_assert_int_eq(mf1("192.0.2.1", "u@lim10.example"), SPFCHECK_FAIL);
    ck_assert_int_eq(mf("192.0.2.1", "c.example", "u@lim11.example", &out), SPFCHECK_PERMERROR);
    ck_assert_str_eq(out.reason, "DNS lookup limit exceeded");
    spfcheck_output_clear(&out);
    /* counted across include: 1 + 6 + 4 = 11 */
    ck_assert_int_eq(mf1("192.0.2.99", "u@inclim.example"), SPFCHECK_PERMERROR);
    /* 1 + 6 + 3 = 10, then ip4 matches */
    ck_assert_int_eq(mf1("192.0.2.99", "u@incok.example"), SPFCHECK_PASS);
}
END_TEST

START_TEST(test_void_limit)
{
    spfcheck_output out = { SPFCHECK_UNSET, NULL, NULL, NULL };

    ck_assert_int_eq(mf1("192.0.2.1", "u@void2.example"), SPFCHECK_FAIL);
    ck_assert_int_eq(mf("192.0.2.1", "c.example", "u@void3.example", &out), SPFCHECK_PERMERROR);
    ck_assert_str_eq(out.reason, "void lookup limit exceeded");
    spfcheck_output_clear(&out);
}
END_TEST

START_TEST(test_null_sender_and_localpart)
{
    spfcheck_output out = { SPFCHECK_UNSET, NULL, NULL, NULL };

    /* <> : postmaster@HELO */
    ck_assert_int_eq(mf("192.0.2.10", "mx.helo.example", "", &out), SPFCHECK_PASS);
    ck_assert_str_eq(out.domain, "mx.helo.example");
    spfcheck_output_clear(&out);
    ck_assert_int_eq(mf("192.0.2.11", "mx.helo.example", "", &out), SPFCHECK_FAIL);
    spfcheck_output_clear(&out);
    /* <> with a HELO that is no domain: none */
    ck_assert_int_eq(mf("192.0.2.10", "localhost", "", &out), SPFCHECK_NONE);
    spfcheck_output_clear(&out);
    ck_assert_int_eq(mf("192.0.2.10", NULL, "", &out), SPFCHECK_NONE);
    spfcheck_output_clear(&out);
    /* "@domain": postmaster@domain, the local part in the explanation */
    ck_assert_int_eq(mf("198.51.100.1", "c.example", "@exp.example", &out), SPFCHECK_FAIL);
    ck_assert_str_eq(out.domain, "exp.example");
    ck_assert_str_eq(out.explanation, "Sender postmaster is not allowed by exp.example");
    spfcheck_output_clear(&out);
    /* an over-long local part is refused before libspf2 sees it */
    {
        char from[400];
        memset(from, 'x', 200);
        strcpy(from + 200, "@pass.example");
        ck_assert_int_eq(mf1("192.0.2.10", from), SPFCHECK_PERMERROR);
    }
}
END_TEST

START_TEST(test_helo)
{
    spfcheck_input in = { "192.0.2.10", "mx.helo.example", "someone@pass.example", NULL };
    spfcheck_output out = { SPFCHECK_UNSET, NULL, NULL, NULL };

    ck_assert_int_eq(spfcheck_helo(dns, &in, &out), SPFCHECK_PASS);
    ck_assert_str_eq(out.domain, "mx.helo.example");
    spfcheck_output_clear(&out);
    in.client_ip = "192.0.2.12";
    ck_assert_int_eq(spfcheck_helo(dns, &in, &out), SPFCHECK_FAIL);
    spfcheck_output_clear(&out);
    in.helo = "mailhost";
    ck_assert_int_eq(spfcheck_helo(dns, &in, &out), SPFCHECK_NONE);
    spfcheck_output_clear(&out);
    in.helo = "[192.0.2.12]";
    ck_assert_int_eq(spfcheck_helo(dns, &in, &out), SPFCHECK_NONE);
    spfcheck_output_clear(&out);
    in.helo = NULL;
    ck_assert_int_eq(spfcheck_helo(dns, &in, &out), SPFCHECK_NONE);
    spfcheck_output_clear(&out);
    in.helo = "nospf.example";
    ck_assert_int_eq(spfcheck_helo(dns, &in, &out), SPFCHECK_NONE);
    spfcheck_output_clear(&out);
}
END_TEST

START_TEST(test_ipv6)
{
    ck_assert_int_eq(mf1("2001:db8::5", "u@v6.example"), SPFCHECK_PASS);
    ck_assert_int_eq(mf1("2001:db9::25", "u@v6.example"), SPFCHECK_PASS);   /* a: AAAA */
    ck_assert_int_eq(mf1("2001:db9::26", "u@v6.example"), SPFCHECK_FAIL);
    ck_assert_int_eq(mf1("192.0.2.5", "u@v6.example"), SPFCHECK_FAIL);
    ck_assert_int_eq(mf1("2001:db8:25::1", "u@mxs.example"), SPFCHECK_PASS); /* mx: AAAA */
    ck_assert_int_eq(mf1("192.0.2.25", "u@mxs.example"), SPFCHECK_PASS);
    ck_assert_int_eq(mf1("2001:db8:25::2", "u@mxs.example"), SPFCHECK_FAIL);
}
END_TEST

START_TEST(test_cidr0)
{
    /* a:h9.example/0: any client when h9 has an A record */
    ck_assert_int_eq(mf1("198.51.100.200", "u@cidr0.example"), SPFCHECK_PASS);
}
END_TEST

START_TEST(test_cidr0_not_inherited_by_ptr)
{
    /* host.mx0ptr.example does not resolve to the client: fail */
    ck_assert_int_eq(mf1("198.51.100.7", "u@mx0ptr.example"), SPFCHECK_FAIL);
}
END_TEST

START_TEST(test_cidr0_marker_not_forgeable)
{
    spfcheck_output out = { SPFCHECK_UNSET, NULL, NULL, NULL };

    ck_assert_int_eq(mf("198.51.100.200", "h9.example._mxguard-cidr0", "u@inject.example", &out),
                     SPFCHECK_FAIL);
    spfcheck_output_clear(&out);
    ck_assert_int_eq(mf("198.51.100.200", "h9.example._mxguard-cidr0-0000000000000000",
                        "u@inject.example", &out), SPFCHECK_FAIL);
    spfcheck_output_clear(&out);
}
END_TEST

START_TEST(test_record_bounds)
{
    spfcheck_output out = { SPFCHECK_UNSET, NULL, NULL, NULL };

    ck_assert_int_eq(mf("192.0.2.1", "c.example", "u@long.example", &out), SPFCHECK_PERMERROR);
    ck_assert_ptr_nonnull(strstr(out.reason, "too long"));
    spfcheck_output_clear(&out);
    ck_assert_int_eq(mf("192.0.2.1", "c.example", "u@macros.example", &out), SPFCHECK_PERMERROR);
    ck_assert_ptr_nonnull(strstr(out.reason, "macros"));
    spfcheck_output_clear(&out);
}
END_TEST

START_TEST(test_explanation_sanitized)
{
    spfcheck_output out = { SPFCHECK_UNSET, NULL, NULL, NULL };
    char from[300];

    /* a control byte in the local part reaches %{l}: replaced */
    ck_assert_int_eq(mf("198.51.100.1", "c.example", "a\001b@exp.example", &out), SPFCHECK_FAIL);
    ck_assert_str_eq(out.explanation, "Sender a?b is not allowed by exp.example");
    spfcheck_output_clear(&out);
    /* bounded length */
    memset(from, 'y', 120);
    strcpy(from + 120, "@exp.example");
    ck_assert_int_eq(mf("198.51.100.1", "c.example", from, &out), SPFCHECK_FAIL);
    ck_assert_ptr_nonnull(out.explanation);
    ck_assert_uint_le(strlen(out.explanation), 200);
    for (const char *p = out.explanation; *p; p++)
        ck_assert(*p >= 0x20 && *p < 0x7f);
    spfcheck_output_clear(&out);
}
END_TEST

struct worker {
    int ok, bad;
};

static void *worker_run(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 25; i++) {
        spfcheck_output out = { SPFCHECK_UNSET, NULL, NULL, NULL };
        spfcheck_input in = { (i % 2) ? "192.0.2.77" : "192.0.2.78", "c.example", "u@inc1.example", NULL };
        spfcheck_result want = (i % 2) ? SPFCHECK_PASS : SPFCHECK_FAIL;
        if (i % 5 == 4) {
            in.mail_from = "u@void3.example";
            want = SPFCHECK_PERMERROR;
        }
        if (spfcheck_mailfrom(dns, &in, &out) == want)
            w->ok++;
        else
            w->bad++;
        spfcheck_output_clear(&out);
    }
    return NULL;
}

START_TEST(test_concurrency)
{
    pthread_t th[8];
    struct worker w[8];

    memset(w, 0, sizeof(w));
    for (int i = 0; i < 8; i++)
        ck_assert_int_eq(pthread_create(&th[i], NULL, worker_run, &w[i]), 0);
    for (int i = 0; i < 8; i++) {
        pthread_join(th[i], NULL);
        ck_assert_int_eq(w[i].bad, 0);
        ck_assert_int_eq(w[i].ok, 25);
    }
}
END_TEST

START_TEST(test_result_names)
{
    spfcheck_result r;

    ck_assert_str_eq(spfcheck_result_name(SPFCHECK_PASS), "pass");
    ck_assert_str_eq(spfcheck_result_name(SPFCHECK_SOFTFAIL), "softfail");
    ck_assert_str_eq(spfcheck_result_name(SPFCHECK_UNSET), "unset");
    ck_assert(spfcheck_result_parse("TempError", &r));
    ck_assert_int_eq(r, SPFCHECK_TEMPERROR);
    ck_assert(spfcheck_result_parse("none", &r));
    ck_assert_int_eq(r, SPFCHECK_NONE);
    ck_assert(!spfcheck_result_parse("unset", &r));
    ck_assert(!spfcheck_result_parse("passed", &r));
    ck_assert(!spfcheck_result_parse(NULL, &r));
}
END_TEST

static Suite *spf_suite(void)
{
    Suite *s = suite_create("spf");
    TCase *tc = tcase_create("spf");

    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_basic_results);
    tcase_add_test(tc, test_temperror);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_permerror_syntax);
    tcase_add_test(tc, test_include_chain);
    tcase_add_test(tc, test_dns_term_limit);
    tcase_add_test(tc, test_void_limit);
    tcase_add_test(tc, test_null_sender_and_localpart);
    tcase_add_test(tc, test_helo);
    tcase_add_test(tc, test_ipv6);
    tcase_add_test(tc, test_cidr0);
    tcase_add_test(tc, test_cidr0_not_inherited_by_ptr);
    tcase_add_test(tc, test_cidr0_marker_not_forgeable);
    tcase_add_test(tc, test_record_bounds);
    tcase_add_test(tc, test_explanation_sanitized);
    tcase_add_test(tc, test_concurrency);
    tcase_add_test(tc, test_result_names);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(spf_suite());
}
