/*
 * test_dmarcxml.c - the RFC 9990 aggregate report document: every field's
 * XML and the schema's element order (a whole document compared), escaping
 * of hostile text and refusal of hostile domains, IPv6, the empty
 * envelope_from of <>, the 100-DKIM cap with aligned passes first, gzip
 * round trip, file name and Subject.  Every document rendered here is also
 * validated with xmllint --schema against the copied RFC 9990 schema.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#include "dmarcxml.h"
#include "testutil.h"
#include "xalloc.h"

#define XSD "data/dmarc/rfc9990/dmarc-xml-0.2.xsd"

/* xmllint --noout --schema on text; fails the test (with xmllint's output)
 * unless it validates.  A missing xmllint fails too (status 127). */
static void assert_valid(const char *xml)
{
    char *path = tu_write_temp(xml);
    char *cmd = xasprintf("xmllint --noout --schema '%s' '%s' 2>&1", tu_path(XSD), path);
    char out[4096];
    size_t n;
    FILE *p = popen(cmd, "r");
    int st;

    ck_assert_ptr_nonnull(p);
    n = fread(out, 1, sizeof(out) - 1, p);
    out[n] = '\0';
    st = pclose(p);
    unlink(path);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "xmllint status %d: %.1000s\n%.2000s", st, out,
                  xml);
    ck_assert_msg(strstr(out, "validates") != NULL, "xmllint said: %s", out);
    free(cmd);
    free(path);
}

/* ---- a report to vary ---------------------------------------------------- */

static const dmarcxml_reason reasons1[] = {
    {DMARCXML_REASON_LOCAL_POLICY, "rule accept-partners"},
};
static const dmarcxml_dkim dkim1[] = {
    {"Example.COM.", "sel1", DMARCXML_DKIM_PASS, true, NULL},
    {"esp.example", "s2024", DMARCXML_DKIM_FAIL, false, "signature did not verify"},
};
static const dmarcxml_spf spf1 = {"bounce.example.com", DMARCXML_SPF_SOFTFAIL, NULL};

static dmarcxml_row base_row(void)
{
    dmarcxml_row w = {
        .source_ip = "192.0.2.123",
        .count = 7,
        .disposition = DMARCXML_DISP_NONE,
        .dkim_aligned_pass = true,
        .spf_aligned_pass = false,
        .reasons = reasons1,
        .nreasons = 1,
        .header_from = "example.com",
        .envelope_from = "bounce.example.com",
        .envelope_to = NULL,
        .dkim = dkim1,
        .ndkim = 2,
        .spf = &spf1,
    };
    return w;
}

static dmarcxml_report base_report(const dmarcxml_row *rows, size_t nrows)
{
    dmarcxml_report r = {
        .meta = {.org_name = "Receiver Org",
                 .email = "dmarc-reports@mx.receiver.example",
                 .extra_contact_info = NULL,
                 .report_id = "1721001600.example.com@mx.receiver.example",
                 .receiver = "mx.receiver.example",
                 .unique_id = "a1b2c3",
                 .begin = 1721001600,
                 .end = 1721087999,
                 .generator = NULL},
        .policy = {.domain = "example.com",
                   .p = DMARCXML_POLICY_REJECT,
                   .has_sp = false,
                   .has_np = false,
                   .adkim = 0,
                   .aspf = 0,
                   .discovery = DMARCXML_DISCOVERY_TREEWALK,
                   .testing = false},
        .rows = rows,
        .nrows = nrows,
    };
    return r;
}

/* Render, require success, validate against the schema. */
static char *render_valid(const dmarcxml_report *r, dmarcxml_stats *st)
{
    char err[256] = "";
    char *xml = dmarcxml_render(r, st, err, sizeof err);

    ck_assert_msg(xml != NULL, "render failed: %s", err);
    assert_valid(xml);
    return xml;
}

static void assert_has(const char *xml, const char *want)
{
    ck_assert_msg(strstr(xml, want) != NULL, "missing [%s] in\n%.3000s", want, xml);
}

static void assert_lacks(const char *xml, const char *bad)
{
    ck_assert_msg(strstr(xml, bad) == NULL, "unexpected [%s] in\n%.3000s", bad, xml);
}

static size_t count_of(const char *xml, const char *s)
{
    size_t n = 0;
    for (const char *p = xml; (p = strstr(p, s)) != NULL; p += strlen(s))
        n++;
    return n;
}

/* ---- the whole document: every element in the schema's order ----------- */

static const char full_want[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">\n"
    "  <version>1.0</version>\n"
    "  <report_metadata>\n"
    "    <org_name>Receiver Org</org_name>\n"
    "    <email>dmarc-reports@mx.receiver.example</email>\n"
    "    <extra_contact_info>https://receiver.example/dmarc</extra_contact_info>\n"
    "    <report_id>1721001600.example.com@mx.receiver.example</report_id>\n"
    "    <date_range>\n"
    "      <begin>1721001600</begin>\n"
    "      <end>1721087999</end>\n"
    "    </date_range>\n"
    "    <generator>mxguard</generator>\n"
    "  </report_metadata>\n"
    "  <policy_published>\n"
    "    <domain>example.com</domain>\n"
    "    <p>reject</p>\n"
    "    <sp>quarantine</sp>\n"
    "    <np>reject</np>\n"
    "    <adkim>s</adkim>\n"
    "    <aspf>r</aspf>\n"
    "    <discovery_method>psl</discovery_method>\n"
    "    <testing>y</testing>\n"
    "  </policy_published>\n"
    "  <record>\n"
    "    <row>\n"
    "      <source_ip>192.0.2.123</source_ip>\n"
    "      <count>7</count>\n"
    "      <policy_evaluated>\n"
    "        <disposition>none</disposition>\n"
    "        <dkim>pass</dkim>\n"
    "        <spf>fail</spf>\n"
    "        <reason>\n"
    "          <type>local_policy</type>\n"
    "          <comment>rule accept-partners</comment>\n"
    "        </reason>\n"
    "      </policy_evaluated>\n"
    "    </row>\n"
    "    <identifiers>\n"
    "      <header_from>example.com</header_from>\n"
    "      <envelope_from>bounce.example.com</envelope_from>\n"
    "      <envelope_to>receiver.example</envelope_to>\n"
    "    </identifiers>\n"
    "    <auth_results>\n"
    "      <dkim>\n"
    "        <domain>example.com</domain>\n"
    "        <selector>sel1</selector>\n"
    "        <result>pass</result>\n"
    "      </dkim>\n"
    "      <dkim>\n"
    "        <domain>esp.example</domain>\n"
    "        <selector>s2024</selector>\n"
    "        <result>fail</result>\n"
    "        <human_result>signature did not verify</human_result>\n"
    "      </dkim>\n"
    "      <spf>\n"
    "        <domain>bounce.example.com</domain>\n"
    "        <scope>mfrom</scope>\n"
    "        <result>softfail</result>\n"
    "      </spf>\n"
    "    </auth_results>\n"
    "  </record>\n"
    "</feedback>\n";

START_TEST(test_full_document)
{
    dmarcxml_row w = base_row();
    dmarcxml_report r;
    dmarcxml_stats st;
    char *xml;

    w.envelope_to = "Receiver.Example";
    r = base_report(&w, 1);
    r.meta.extra_contact_info = "https://receiver.example/dmarc";
    r.meta.generator = "mxguard";
    r.policy.has_sp = true;
    r.policy.sp = DMARCXML_POLICY_QUARANTINE;
    r.policy.has_np = true;
    r.policy.np = DMARCXML_POLICY_REJECT;
    r.policy.adkim = 's';
    r.policy.aspf = 'r';
    r.policy.discovery = DMARCXML_DISCOVERY_PSL;
    r.policy.testing = true;
    xml = render_valid(&r, &st);
    ck_assert_str_eq(xml, full_want);
    ck_assert_uint_eq(st.rows_written, 1);
    ck_assert_uint_eq(st.rows_skipped, 0);
    ck_assert_uint_eq(st.dkim_dropped, 0);
    assert_lacks(xml, "pct");
    free(xml);
}
END_TEST

/* The minimal report leaves every optional element out. */
START_TEST(test_minimal_document)
{
    dmarcxml_row w = base_row();
    dmarcxml_report r;
    char *xml;

    w.reasons = NULL;
    w.nreasons = 0;
    w.envelope_from = NULL;
    w.dkim = NULL;
    w.ndkim = 0;
    w.spf = NULL;
    r = base_report(&w, 1);
    xml = render_valid(&r, NULL);
    assert_has(xml, "<discovery_method>treewalk</discovery_method>");
    assert_has(xml, "<testing>n</testing>");
    assert_has(xml, "<auth_results>\n    </auth_results>");
    assert_has(xml, "<identifiers>\n      <header_from>example.com</header_from>\n    </identifiers>");
    assert_lacks(xml, "<sp>");
    assert_lacks(xml, "<np>");
    assert_lacks(xml, "<adkim>");
    assert_lacks(xml, "<reason>");
    assert_lacks(xml, "<generator>");
    assert_lacks(xml, "<extra_contact_info>");
    free(xml);
}
END_TEST

/* ---- each enumerated field ---------------------------------------------- */

START_TEST(test_policy_values)
{
    static const char *const names[] = {"none", "quarantine", "reject"};
    dmarcxml_row w = base_row();
    dmarcxml_report r = base_report(&w, 1);
    char want[64];
    char *xml;

    r.policy.p = (dmarcxml_policy)_i;
    r.policy.has_sp = true;
    r.policy.sp = (dmarcxml_policy)((_i + 1) % 3);
    r.policy.has_np = true;
    r.policy.np = (dmarcxml_policy)((_i + 2) % 3);
    xml = render_valid(&r, NULL);
    snprintf(want, sizeof want, "<p>%s</p>\n    <sp>%s</sp>\n    <np>%s</np>", names[_i],
             names[(_i + 1) % 3], names[(_i + 2) % 3]);
    assert_has(xml, want);
    free(xml);
}
END_TEST

START_TEST(test_dispositions)
{
    static const char *const names[] = {"none", "pass", "quarantine", "reject"};
    dmarcxml_row w = base_row();
    dmarcxml_report r = base_report(&w, 1);
    char want[128];
    char *xml;

    w.disposition = (dmarcxml_disposition)_i;
    w.dkim_aligned_pass = _i % 2;
    w.spf_aligned_pass = !(_i % 2);
    xml = render_valid(&r, NULL);
    snprintf(want, sizeof want, "<disposition>%s</disposition>\n        <dkim>%s</dkim>\n"
             "        <spf>%s</spf>", names[_i], _i % 2 ? "pass" : "fail", _i % 2 ? "fail" : "pass");
    assert_has(xml, want);
    free(xml);
}
END_TEST

START_TEST(test_reasons)
{
    static const dmarcxml_reason all[] = {
        {DMARCXML_REASON_LOCAL_POLICY, "rule a"},
        {DMARCXML_REASON_MAILING_LIST, NULL},
        {DMARCXML_REASON_OTHER, "why & <how>"},
        {DMARCXML_REASON_POLICY_TEST_MODE, NULL},
        {DMARCXML_REASON_TRUSTED_FORWARDER, "fwd.example"},
    };
    dmarcxml_row w = base_row();
    dmarcxml_report r = base_report(&w, 1);
    char *xml;

    w.reasons = all;
    w.nreasons = 5;
    xml = render_valid(&r, NULL);
    assert_has(xml, "<spf>fail</spf>\n"
                    "        <reason>\n          <type>local_policy</type>\n"
                    "          <comment>rule a</comment>\n        </reason>\n"
                    "        <reason>\n          <type>mailing_list</type>\n        </reason>\n"
                    "        <reason>\n          <type>other</type>\n"
                    "          <comment>why &amp; &lt;how&gt;</comment>\n        </reason>\n"
                    "        <reason>\n          <type>policy_test_mode</type>\n        </reason>\n"
                    "        <reason>\n          <type>trusted_forwarder</type>\n"
                    "          <comment>fwd.example</comment>\n        </reason>\n"
                    "      </policy_evaluated>");
    free(xml);
}
END_TEST

START_TEST(test_dkim_results)
{
    static const char *const names[] = {"none",    "pass",      "fail",     "policy",
                                        "neutral", "temperror", "permerror"};
    dmarcxml_dkim k = {"example.com", "sel", (dmarcxml_dkim_result)_i, false, NULL};
    dmarcxml_row w = base_row();
    dmarcxml_report r = base_report(&w, 1);
    char want[128];
    char *xml;

    w.dkim = &k;
    w.ndkim = 1;
    xml = render_valid(&r, NULL);
    snprintf(want, sizeof want, "<selector>sel</selector>\n        <result>%s</result>\n      </dkim>",
             names[_i]);
    assert_has(xml, want);
    free(xml);
}
END_TEST

START_TEST(test_spf_results)
{
    static const char *const names[] = {"none",   "pass",    "fail",      "softfail",
                                        "policy", "neutral", "temperror", "permerror"};
    dmarcxml_spf s = {"Mail.Example.", (dmarcxml_spf_result)_i, "x"};
    dmarcxml_row w = base_row();
    dmarcxml_report r = base_report(&w, 1);
    char want[192];
    char *xml;

    w.spf = &s;
    xml = render_valid(&r, NULL);
    snprintf(want, sizeof want,
             "<spf>\n        <domain>mail.example</domain>\n        <scope>mfrom</scope>\n"
             "        <result>%s</result>\n        <human_result>x</human_result>\n      </spf>",
             names[_i]);
    assert_has(xml, want);
    ck_assert_uint_eq(count_of(xml, "<spf>"), 2); /* policy_evaluated's and the one result */
    free(xml);
}
END_TEST

/* ---- identifiers and addresses ------------------------------------------ */

START_TEST(test_null_sender)
{
    dmarcxml_row w = base_row();
    dmarcxml_report r = base_report(&w, 1);
    char *xml;

    w.envelope_from = "";
    xml = render_valid(&r, NULL);
    assert_has(xml, "<header_from>example.com</header_from>\n      <envelope_from></envelope_from>\n"
                    "    </identifiers>");
    free(xml);
}
END_TEST

static const struct {
    const char *in, *want;
} ips[] = {
    {"192.0.2.1", "192.0.2.1"},
    {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
    {"2001:db8:1:2:3:4:5:6", "2001:db8:1:2:3:4:5:6"},
    {"::ffff:192.0.2.7", "::ffff:192.0.2.7"},
    {"fe80::1", "fe80::1"},
};

START_TEST(test_source_ip)
{
    dmarcxml_row w = base_row();
    dmarcxml_report r = base_report(&w, 1);
    char want[128];
    char *xml;

    w.source_ip = ips[_i].in;
    xml = render_valid(&r, NULL);
    snprintf(want, sizeof want, "<source_ip>%s</source_ip>", ips[_i].want);
    assert_has(xml, want);
    free(xml);
}
END_TEST

/* ---- hostile values ----------------------------------------------------- */

/* Free text: entities for markup, '?' for control bytes and broken UTF-8,
 * well-formed UTF-8 kept. */
START_TEST(test_escape_text)
{
    static const dmarcxml_reason rs[] = {
        {DMARCXML_REASON_OTHER, "a]]>b\x01\x1f\x7f\t\r\nc"},
    };
    static const dmarcxml_dkim k[] = {
        {"example.com", "sel", DMARCXML_DKIM_FAIL, false, "bad \xc3(\xed\xa0\x80 \xef\xbf\xbe \xc2\x85 end"},
    };
    dmarcxml_row w = base_row();
    dmarcxml_report r = base_report(&w, 1);
    char *xml;

    r.meta.org_name = "Tom & Jerry's <\"Mail\"> Gr\xc3\xbc\xc3\x9f\x65 \xf0\x9f\x93\xa7";
    r.meta.email = "x@y.example\x80\xff";
    w.reasons = rs;
    w.dkim = k;
    w.ndkim = 1;
    xml = render_valid(&r, NULL);
    assert_has(xml, "<org_name>Tom &amp; Jerry&apos;s &lt;&quot;Mail&quot;&gt; "
                    "Gr\xc3\xbc\xc3\x9f\x65 \xf0\x9f\x93\xa7</org_name>");
    assert_has(xml, "<email>x@y.example?" "?</email>");
    assert_has(xml, "<comment>a]]&gt;b??????c</comment>");
    /* \xc3( : lone lead byte; \xed\xa0\x80: a surrogate; U+FFFE; U+0085 (C1) */
    assert_has(xml, "<human_result>bad ?(??? ??? ?? end</human_result>");
    free(xml);
}
END_TEST

START_TEST(test_text_cap)
{
    dmarcxml_row w = base_row();
    dmarcxml_report r = base_report(&w, 1);
    char *big = xmalloc(5000), *xml;
    char *start, *end;

    memset(big, 'A', 4999);
    big[4999] = '\0';
    r.meta.org_name = big;
    xml = render_valid(&r, NULL);
    start = strstr(xml, "<org_name>") + strlen("<org_name>");
    end = strstr(xml, "</org_name>");
    ck_assert_int_eq((int)(end - start), DMARCXML_TEXT_MAX);
    free(xml);
    free(big);
}
END_TEST

/* A row whose identifiers are not domain names (or whose IP is not an
 * address) is skipped whole; the valid row beside it is written. */
static const struct {
    const char *what;
    const char *ip, *hfrom, *efrom, *eto;
} bad_rows[] = {
    {"header_from markup", "192.0.2.1", "evil<script>.example", "a.example", NULL},
    {"header_from ampersand", "192.0.2.1", "a&b.example", "a.example", NULL},
    {"header_from quote", "192.0.2.1", "a\".example", "a.example", NULL},
    {"header_from control", "192.0.2.1", "a\x01.example", "a.example", NULL},
    {"header_from UTF-8", "192.0.2.1", "b\xc3\xbc" "cher.example", "a.example", NULL},
    {"header_from empty", "192.0.2.1", "", "a.example", NULL},
    {"header_from label 64", "192.0.2.1",
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.example", NULL, NULL},
    {"header_from NULL", "192.0.2.1", NULL, NULL, NULL},
    {"envelope_from hostile", "192.0.2.1", "example.com", "a@b.example", NULL},
    {"envelope_to hostile", "192.0.2.1", "example.com", "", "x y.example"},
    {"ip hostile", "192.0.2.1<", "example.com", "", NULL},
    {"ip v6 zone", "fe80::1%eth0", "example.com", "", NULL},
    {"ip garbage", "not-an-ip", "example.com", "", NULL},
    {"ip NULL", NULL, "example.com", "", NULL},
};

START_TEST(test_hostile_row_skipped)
{
    dmarcxml_row w[2] = {base_row(), base_row()};
    dmarcxml_report r = base_report(w, 2);
    dmarcxml_stats st;
    char *xml;

    w[0].source_ip = bad_rows[_i].ip;
    w[0].header_from = bad_rows[_i].hfrom;
    w[0].envelope_from = bad_rows[_i].efrom;
    w[0].envelope_to = bad_rows[_i].eto;
    w[1].source_ip = "198.51.100.9";
    xml = render_valid(&r, &st);
    ck_assert_msg(st.rows_skipped == 1 && st.rows_written == 1, "%s: skipped %zu written %zu",
                  bad_rows[_i].what, st.rows_skipped, st.rows_written);
    ck_assert_uint_eq(count_of(xml, "<record>"), 1);
    assert_has(xml, "<source_ip>198.51.100.9</source_ip>");
    free(xml);
}
END_TEST

/* Hostile DKIM d=/s= and SPF domains: that result is left out and counted. */
START_TEST(test_hostile_auth_dropped)
{
    static const dmarcxml_dkim k[] = {
        {"good.example", "<b>sel", DMARCXML_DKIM_PASS, true, NULL},
        {"good.example", "s&1", DMARCXML_DKIM_FAIL, false, NULL},
        {"ev\"il.example", "s1", DMARCXML_DKIM_FAIL, false, NULL},
        {"good.example", NULL, DMARCXML_DKIM_FAIL, false, NULL},
        {"good.example", "ok._sel", DMARCXML_DKIM_PASS, false, NULL},
    };
    static const dmarcxml_spf s = {"a'b.example", DMARCXML_SPF_PASS, NULL};
    dmarcxml_row w = base_row();
    dmarcxml_report r = base_report(&w, 1);
    dmarcxml_stats st;
    char *xml;

    w.dkim = k;
    w.ndkim = 5;
    w.spf = &s;
    xml = render_valid(&r, &st);
    ck_assert_uint_eq(st.dkim_dropped, 4);
    ck_assert_uint_eq(st.spf_dropped, 1);
    ck_assert_uint_eq(count_of(xml, "<dkim>\n"), 1);
    assert_has(xml, "<selector>ok._sel</selector>");
    assert_lacks(xml, "<b>");
    assert_lacks(xml, "a'b");
    assert_lacks(xml, "<scope>");
    free(xml);
}
END_TEST

/* ---- the 100-DKIM cap --------------------------------------------------- */

START_TEST(test_dkim_cap)
{
    enum { N = 150 };
    dmarcxml_dkim *k = xcalloc(N, sizeof *k);
    char (*dom)[32] = xcalloc(N, sizeof *dom);
    dmarcxml_row w = base_row();
    dmarcxml_report r = base_report(&w, 1);
    dmarcxml_stats st;
    char *xml;
    const char *p;

    /* 140 non-passes and unaligned passes first, then 10 aligned passes */
    for (int i = 0; i < N; i++) {
        snprintf(dom[i], sizeof dom[i], "d%d.example", i);
        k[i].domain = dom[i];
        k[i].selector = "s";
        if (i >= 140) {
            k[i].result = DMARCXML_DKIM_PASS;
            k[i].aligned = true;
        } else {
            k[i].result = i % 2 ? DMARCXML_DKIM_PASS : DMARCXML_DKIM_FAIL;
            k[i].aligned = i % 4 == 0; /* aligned fails (and unaligned passes) keep their place */
        }
    }
    w.dkim = k;
    w.ndkim = N;
    xml = render_valid(&r, &st);
    ck_assert_uint_eq(count_of(xml, "<dkim>\n"), DMARCXML_DKIM_MAX);
    ck_assert_uint_eq(st.dkim_dropped, N - DMARCXML_DKIM_MAX);
    /* the aligned passes lead, in input order, then d0.. in input order */
    p = strstr(xml, "<auth_results>");
    for (int i = 0; i < DMARCXML_DKIM_MAX; i++) {
        int want = i < 10 ? 140 + i : i - 10;
        char d[48];
        snprintf(d, sizeof d, "<domain>d%d.example</domain>", want);
        p = strstr(p, "<dkim>\n");
        ck_assert_ptr_nonnull(p);
        ck_assert_msg(strncmp(p + strlen("<dkim>\n        "), d, strlen(d)) == 0,
                      "dkim #%d is not %s: %.60s", i, d, p);
        p++;
    }
    assert_lacks(xml, "<domain>d90.example</domain>");
    free(xml);
    free(k);
    free(dom);
}
END_TEST

/* ---- refusals ----------------------------------------------------------- */

START_TEST(test_refused)
{
    dmarcxml_row w = base_row();
    dmarcxml_report r;
    char err[128];

    static const char *const why[] = {
        "org_name", "email", "report_id", "receiver", "unique_id", "date range",
        "policy domain", "adkim", "no row",
    };
    r = base_report(&w, 1);
    switch (_i) {
    case 0: r.meta.org_name = ""; break;
    case 1: r.meta.email = NULL; break;
    case 2: r.meta.report_id = "id with space"; break;
    case 3: r.meta.receiver = "mx<.example"; break;
    case 4: r.meta.unique_id = "a-b"; break;
    case 5: r.meta.end = r.meta.begin - 1; break;
    case 6: r.policy.domain = "exa&mple.com"; break;
    case 7: r.policy.adkim = 'x'; break;
    case 8: w.header_from = "<>"; break;
    }
    err[0] = '\0';
    ck_assert_ptr_null(dmarcxml_render(&r, NULL, err, sizeof err));
    ck_assert_msg(strstr(err, why[_i]) != NULL, "case %d: err [%s]", _i, err);
}
END_TEST

/* ---- gzip --------------------------------------------------------------- */

static char *gunzip(const unsigned char *gz, size_t gzlen, size_t *outlen)
{
    z_stream z;
    size_t cap = 4096;
    char *out = xmalloc(cap);
    int rc;

    memset(&z, 0, sizeof z);
    ck_assert_int_eq(inflateInit2(&z, 15 + 16), Z_OK); /* gzip only */
    z.next_in = (Bytef *)(uintptr_t)gz;
    z.avail_in = (uInt)gzlen;
    do {
        if (z.total_out == cap) {
            cap *= 2;
            out = xrealloc(out, cap);
        }
        z.next_out = (Bytef *)out + z.total_out;
        z.avail_out = (uInt)(cap - z.total_out);
        rc = inflate(&z, Z_NO_FLUSH);
        ck_assert_msg(rc == Z_OK || rc == Z_STREAM_END, "inflate: %d", rc);
    } while (rc != Z_STREAM_END);
    ck_assert_uint_eq(z.avail_in, 0);
    *outlen = z.total_out;
    inflateEnd(&z);
    return out;
}

START_TEST(test_gzip_roundtrip)
{
    enum { N = 300 };
    dmarcxml_row *w = xcalloc(N, sizeof *w);
    char (*ip)[32] = xcalloc(N, sizeof *ip);
    dmarcxml_report r;
    unsigned char *gz, *gz2;
    size_t gzlen, gz2len, back;
    char *xml, *plain;

    for (int i = 0; i < N; i++) {
        w[i] = base_row();
        snprintf(ip[i], sizeof ip[i], "2001:db8::%x", i);
        w[i].source_ip = ip[i];
        w[i].count = (uint64_t)i + 1;
    }
    r = base_report(w, N);
    xml = render_valid(&r, NULL);
    ck_assert(dmarcxml_gzip(xml, strlen(xml), &gz, &gzlen));
    ck_assert_uint_ge(gzlen, 18);
    ck_assert_uint_eq(gz[0], 0x1f); /* RFC 1952 magic */
    ck_assert_uint_eq(gz[1], 0x8b);
    ck_assert_uint_eq(gz[2], 8); /* deflate */
    ck_assert_uint_lt(gzlen, strlen(xml));
    plain = gunzip(gz, gzlen, &back);
    ck_assert_uint_eq(back, strlen(xml));
    ck_assert(memcmp(plain, xml, back) == 0);
    /* a re-send is the same bytes */
    ck_assert(dmarcxml_gzip(xml, strlen(xml), &gz2, &gz2len));
    ck_assert_uint_eq(gzlen, gz2len);
    ck_assert(memcmp(gz, gz2, gzlen) == 0);
    free(plain);
    free(gz);
    free(gz2);
    free(xml);
    free(w);
    free(ip);
}
END_TEST

START_TEST(test_gzip_empty)
{
    unsigned char *gz;
    size_t gzlen, back;
    char *plain;

    ck_assert(dmarcxml_gzip("", 0, &gz, &gzlen));
    plain = gunzip(gz, gzlen, &back);
    ck_assert_uint_eq(back, 0);
    free(plain);
    free(gz);
}
END_TEST

/* ---- file name and Subject ---------------------------------------------- */

START_TEST(test_filename_subject)
{
    dmarcxml_row w = base_row();
    dmarcxml_report r = base_report(&w, 1);
    char *s;

    r.meta.receiver = "MX.Receiver.Example.";
    r.policy.domain = "Example.COM";
    s = dmarcxml_filename(&r);
    ck_assert_str_eq(s, "mx.receiver.example!example.com!1721001600!1721087999!a1b2c3.xml.gz");
    free(s);
    s = dmarcxml_subject(&r);
    ck_assert_str_eq(s, "Report Domain: example.com Submitter: mx.receiver.example "
                        "Report-ID: <1721001600.example.com@mx.receiver.example>");
    free(s);

    r.meta.unique_id = "a!b";
    ck_assert_ptr_null(dmarcxml_filename(&r));
    r.meta.unique_id = "a1b2c3";
    r.policy.domain = "x!y.example";
    ck_assert_ptr_null(dmarcxml_filename(&r));
    ck_assert_ptr_null(dmarcxml_subject(&r));
    r.policy.domain = "example.com";
    r.meta.report_id = "a>b";
    ck_assert_ptr_null(dmarcxml_subject(&r));
    r.meta.report_id = "a..b@c";
    ck_assert_ptr_null(dmarcxml_subject(&r));
    r.meta.report_id = "a.b@c";
    s = dmarcxml_subject(&r);
    ck_assert_str_eq(s, "Report Domain: example.com Submitter: mx.receiver.example Report-ID: <a.b@c>");
    free(s);
}
END_TEST

/* The copied sample validates with the copied schema (xmllint and the data
 * are sound). */
START_TEST(test_sample_validates)
{
    FILE *f = fopen(tu_path("data/dmarc/rfc9990/dmarc-xml-0.2.xml"), "r");
    char buf[8192];
    size_t n;

    ck_assert_ptr_nonnull(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    assert_valid(buf);
}
END_TEST

static Suite *dmarcxml_suite(void)
{
    Suite *s = suite_create("dmarcxml");
    TCase *tc = tcase_create("fields");

    tcase_add_test(tc, test_sample_validates);
    tcase_add_test(tc, test_full_document);
    tcase_add_test(tc, test_minimal_document);
    tcase_add_loop_test(tc, test_policy_values, 0, 3);
    tcase_add_loop_test(tc, test_dispositions, 0, 4);
    tcase_add_test(tc, test_reasons);
    tcase_add_loop_test(tc, test_dkim_results, 0, 7);
    tcase_add_loop_test(tc, test_spf_results, 0, 8);
    tcase_add_test(tc, test_null_sender);
    tcase_add_loop_test(tc, test_source_ip, 0, (int)(sizeof(ips) / sizeof(ips[0])));
    suite_add_tcase(s, tc);

    tc = tcase_create("hostile");
    tcase_add_test(tc, test_escape_text);
    tcase_add_test(tc, test_text_cap);
    tcase_add_loop_test(tc, test_hostile_row_skipped, 0, (int)(sizeof(bad_rows) / sizeof(bad_rows[0])));
    tcase_add_test(tc, test_hostile_auth_dropped);
    tcase_add_test(tc, test_dkim_cap);
    tcase_add_loop_test(tc, test_refused, 0, 9);
    suite_add_tcase(s, tc);

    tc = tcase_create("transport");
    tcase_add_test(tc, test_gzip_roundtrip);
    tcase_add_test(tc, test_gzip_empty);
    tcase_add_test(tc, test_filename_subject);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = tu_run(dmarcxml_suite());
    tu_cleanup();
    return rc;
}
