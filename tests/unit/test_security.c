/*
 * test_security.c - the peers' vulnerability classes, each shown harmless
 * in mxguard through the session (real config snapshot, DNS from
 * libunbound local data).  Cases: tests/data/security/SOURCES.
 *   - forged A-R with our authserv-id in several cases/foldings/comments
 *     around other hosts' ones: all ours deleted, in descending order,
 *     others kept (CVE-2022-48521 class)
 *   - result injection through MAIL FROM / DKIM d= carrying ( ; " :
 *     our A-R stays one header, every such value quoted (CVE-2020-12272)
 *   - several From fields, several domains in one, From without domain:
 *     never dmarc=pass (CVE-2019-16378, CVE-2021-34555)
 *   - overlong / malformed ARC-Seal, A-R, DKIM-Signature; NUL and bare
 *     CR/LF in values; 5000 headers; a 64 KB header line: no crash, a
 *     verdict, one decision line
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "log.h"
#include "session.h"
#include "snapshot.h"
#include "testutil.h"

static const char *const zones[] = {"example. static", NULL};
static const char *const data[] = {
    "victim.example. TXT \"v=spf1 ip4:192.0.2.1 -all\"",
    "_dmarc.victim.example. TXT \"v=DMARC1; p=reject\"",
    "attacker.example. TXT \"v=spf1 ip4:192.0.2.1 -all\"",
    NULL,
};

static const char *conf_text =
    "authserv_id = \"mx.example.net\";\n"
    "spf = { enabled = true; helo = false; };\n"
    "dkim = { enabled = true; };\n"
    "dmarc = { enabled = true; };\n"
    "rules = ( { name = \"dmarc-reject\"; match = { dmarc = [\"fail\", \"permerror\"]; }; action = \"reject\"; } );\n";

static void setup(void)
{
    dns_options opt = {.timeout_ms = 2000, .local_zones = zones, .local_data = data};
    char err[256];
    conf_t *c = conf_load_string(conf_text, "test.conf", NULL, NULL);
    snapshot_t *s;

    ck_assert_ptr_nonnull(c);
    s = snapshot_from_conf(c, &opt, err, sizeof(err));
    ck_assert_msg(s != NULL, "snapshot: %s", err);
    snapshot_install(s);
    tu_log_start();
}

static void teardown(void)
{
    tu_log_stop();
    snapshot_shutdown();
}

static session_t *open_msg(const char *from)
{
    session_t *s = session_new();
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(session_connect(s, "client.example", "192.0.2.1").status, SESSION_CONTINUE);
    ck_assert_int_eq(session_helo(s, "client.example").status, SESSION_CONTINUE);
    ck_assert_int_eq(session_mail(s, from, NULL).status, SESSION_CONTINUE);
    ck_assert_int_eq(session_rcpt(s, "<bob@example.net>").status, SESSION_CONTINUE);
    return s;
}

static int decisions(void)
{
    int n = 0;
    for (const char *p = tu_log_text(); (p = strstr(p, "decision ")) != NULL; p++)
        n++;
    return n;
}

/* Our A-R value: one header, no line break but our "\n\t" folding. */
static void assert_one_header(const char *v)
{
    ck_assert_ptr_nonnull(v);
    for (const char *p = v; *p; p++) {
        ck_assert_msg(*p != '\r', "CR in our A-R");
        ck_assert_msg(*p != '\n' || p[1] == '\t', "bare LF in our A-R");
    }
}

START_TEST(forged_authres_all_ours_deleted_descending)
{
    session_t *s = open_msg("<a@victim.example>");
    session_edits ed;
    static const int want[] = {8, 6, 5, 3, 1};

    session_header(s, "From", "a@victim.example");
    session_header(s, "Authentication-Results", "mx.example.net; dkim=pass header.d=victim.example");    /* 1 ours */
    session_header(s, "Authentication-Results", "other.example; dkim=pass");                            /* 2 */
    session_header(s, "authentication-results", "MX.EXAMPLE.NET;\r\n\tdmarc=pass");                      /* 3 ours */
    session_header(s, "Authentication-Results", "mx.example.net.other; spf=pass");                      /* 4 */
    session_header(s, "AUTHENTICATION-RESULTS", "(c (nested)) \"mx.example.net\" ; spf=pass");          /* 5 ours */
    session_header(s, "Authentication-Results", "\r\n\tmx.example.net");                                /* 6 ours, partial */
    session_header(s, "Authentication-Results", "(unterminated mx.example.net; spf=pass");              /* 7 */
    session_header(s, "Authentication-Results", "mx.example.net(x); arc=pass");                         /* 8 ours */
    session_eoh(s);
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_CONTINUE);
    ck_assert_uint_eq(ed.nauthres_delete, 5);
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq(ed.authres_delete[i], want[i]);
    assert_one_header(ed.authres_insert);
    /* a repeated end of message keeps the order (found by fuzz_session) */
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_CONTINUE);
    ck_assert_int_eq(ed.authres_delete[0], 8);
    session_free(s);
}
END_TEST

START_TEST(injection_through_mail_from_is_quoted)
{
    session_t *s = open_msg("<\"x;dkim=pass(\"@victim.example>");
    session_edits ed;

    session_header(s, "From", "a@victim.example");
    session_eoh(s);
    (void)session_eom(s, &ed, NULL, NULL);
    if (ed.authres_insert != NULL) {
        assert_one_header(ed.authres_insert);
        const char *mf = strstr(ed.authres_insert, "smtp.mailfrom=");
        ck_assert_ptr_null(strstr(ed.authres_insert, "; dkim=pass"));
        /* the sender is one quoted-string: its ; and ( are text */
        ck_assert_msg(mf != NULL && mf[14] == '"', "A-R: %s", ed.authres_insert);
        ck_assert_ptr_nonnull(strstr(mf, "\\\"x;dkim=pass(\\\"@victim.example\""));
    }
    session_free(s);
}
END_TEST

START_TEST(injection_through_dkim_d_is_refused)
{
    session_t *s = open_msg("<a@attacker.example>");
    session_edits ed;
    session_reply r;

    session_header(s, "DKIM-Signature",
                   " v=1; a=rsa-sha256; d=example.net(.victim.example; s=sel; h=from; bh=AAAA; b=AAAA");
    session_header(s, "From", "a@victim.example");
    session_eoh(s);
    r = session_eom(s, &ed, NULL, NULL);
    /* never aligned with victim.example: DMARC fails, the rule rejects */
    ck_assert_int_eq(r.status, SESSION_REJECT);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "dmarc=fail"));
    session_free(s);
}
END_TEST

static void from_refused(const char *const *froms, size_t n)
{
    session_t *s = open_msg("<a@attacker.example>");
    session_edits ed;

    for (size_t i = 0; i < n; i++)
        session_header(s, "From", froms[i]);
    session_eoh(s);
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_REJECT);
    ck_assert_ptr_null(strstr(tu_log_text(), "dmarc=pass"));
    ck_assert_int_eq(decisions(), 1);
    session_free(s);
}

START_TEST(multi_from_value)
{
    static const char *const f[] = {"a@attacker.example, b@victim.example"};
    from_refused(f, 1);
}
END_TEST

START_TEST(malformed_multi_from)
{
    static const char *const f[] = {"user1@victim.example, user2, user3@victim.example"};
    from_refused(f, 1);
}
END_TEST

START_TEST(two_from_fields)
{
    static const char *const f[] = {"a@attacker.example", "b@victim.example"};
    from_refused(f, 2);
}
END_TEST

START_TEST(from_without_domain)
{
    static const char *const f[] = {"undisclosed-recipients:;"};
    from_refused(f, 1);
}
END_TEST

/* Garbage headers of every kind: a verdict and one decision line. */
START_TEST(garbage_headers_give_a_verdict)
{
    session_t *s = open_msg("<a@attacker.example>");
    session_edits ed;
    char *big = malloc(65537);
    char *longtok = malloc(4097);
    char *dkim;

    memset(big, 'A', 65536);
    big[65536] = '\0';
    memset(longtok, 'x', 4096);
    longtok[4096] = '\0';
    session_header(s, "From", "a@attacker.example");
    session_header(s, "ARC-Authentication-Results", "i=1; mrouter.example; dkim=pass; (null)=pass; (null)=pass smtp.domain=x");
    session_header(s, "ARC-Seal", "i=1; a=rsa-sha256; cv=none; d=; s=; b=");
    session_header(s, "ARC-Seal", longtok);
    session_header(s, "Authentication-Results", big);
    session_header(s, "X-Long", big);
    session_header(s, "Subject", "bare\rCR and bare\nLF and \r\r\n\n");
    session_header(s, "Subject", "");
    dkim = malloc(70000);
    snprintf(dkim, 70000, " v=1; a=rsa-sha256; d=%s; s=%s; h=from; bh=x; b=%s", longtok, longtok, big);
    session_header(s, "DKIM-Signature", dkim);
    session_header(s, "DKIM-Signature", " v=1; ; ; =; d; s=; a=; b=; bh=; h=;;;");
    for (int i = 0; i < 5000; i++)
        session_header(s, i % 2 ? "Authentication-Results" : "X-H", "mx.example.net; spf=pass");
    session_eoh(s);
    session_body(s, (const unsigned char *)"body\0with NUL\r\n", 15);
    (void)session_eom(s, &ed, NULL, NULL);
    ck_assert_uint_eq(ed.nauthres_delete, 2500);
    ck_assert_int_eq(ed.authres_delete[0], 2501);
    ck_assert_int_eq(decisions(), 1);
    session_free(s);
    free(big);
    free(longtok);
    free(dkim);
}
END_TEST

/* A NUL inside a value: what follows it is not seen (libmilter hands
 * NUL-terminated strings), and the part before decides. */
START_TEST(nul_in_header_value)
{
    static const char v[] = "a@attacker.example\0, b@victim.example";
    session_t *s = open_msg("<a@attacker.example>");
    session_edits ed;

    session_header(s, "From", v);
    session_header(s, "Authentication-Results", "other.example\0mx.example.net; spf=pass");
    session_eoh(s);
    (void)session_eom(s, &ed, NULL, NULL);
    ck_assert_uint_eq(ed.nauthres_delete, 0);
    ck_assert_ptr_null(strstr(tu_log_text(), "victim.example"));
    session_free(s);
}
END_TEST

int main(void)
{
    Suite *su = suite_create("security");
    TCase *tc = tcase_create("cve-classes");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, forged_authres_all_ours_deleted_descending);
    tcase_add_test(tc, injection_through_mail_from_is_quoted);
    tcase_add_test(tc, injection_through_dkim_d_is_refused);
    tcase_add_test(tc, multi_from_value);
    tcase_add_test(tc, malformed_multi_from);
    tcase_add_test(tc, two_from_fields);
    tcase_add_test(tc, from_without_domain);
    tcase_add_test(tc, garbage_headers_give_a_verdict);
    tcase_add_test(tc, nul_in_header_value);
    suite_add_tcase(su, tc);
    return tu_run(su);
}
