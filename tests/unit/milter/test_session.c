/*
 * test_session.c - the per-connection context through whole SMTP
 * transactions, with a real config snapshot and DNS answers from libunbound
 * local data: SPF verdicts at RCPT, end-of-message edits (A-R insert, forged
 * A-R deletion in descending order, quarantine), dry-run, the one decision
 * line per message, and reload isolation of messages in flight.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "dmarcflush.h"
#include "dmarcrow.h"
#include "log.h"
#include "report/fakestore.h"
#include "session.h"
#include "snapshot.h"
#include "testutil.h"
#include "xalloc.h"

static const char *const zones[] = {"example. static", "broken.example. refuse", NULL};
static const char *const data[] = {
    "pass.example. TXT \"v=spf1 ip4:192.0.2.1 -all\"",
    "fail.example. TXT \"v=spf1 -all\"",
    "soft.example. TXT \"v=spf1 ~all\"",
    "hold.example. TXT \"v=spf1 ip4:192.0.2.1 -all\"",
    "mail.pass.example. TXT \"v=spf1 ip4:192.0.2.1 -all\"",
    "mail.pass.example. A 192.0.2.1",
    "_dmarc.pass.example. TXT \"v=DMARC1; p=reject; rua=mailto:d@pass.example\"",
    "_dmarc.hold.example. TXT \"v=DMARC1; p=none\"",
    NULL,
};

static const char *conf_a =
    "authserv_id = \"mx.example.net\";\n"
    "trusted_networks = [\"10.0.0.0/8\"];\n"
    "rules = (\n"
    "  { name = \"would-softfail\"; match = { spf = [\"softfail\"]; }; action = \"reject\"; dry_run = true; },\n"
    "  { name = \"spf-fail\"; match = { spf = [\"fail\"]; }; action = \"reject\";\n"
    "    reply = { code = 550; xcode = \"5.7.23\"; text = \"SPF validation failed\"; }; },\n"
    "  { name = \"spf-temp\"; match = { spf = [\"temperror\"]; }; action = \"tempfail\";\n"
    "    reply = { code = 451; xcode = \"4.7.24\"; text = \"SPF temporary error\"; }; },\n"
    "  { name = \"hold\"; match = { sender_domain = [\"hold.example\"]; }; action = \"quarantine\"; reason = \"held for review\"; }\n"
    ");\n";

/* Same, but SPF fail is only quarantined. */
static const char *conf_b =
    "authserv_id = \"mx.example.net\";\n"
    "rules = ( { name = \"fail-hold\"; match = { spf = [\"fail\"]; }; action = \"quarantine\"; } );\n";

static void install_with(const char *text, dmarcflush_t *reports)
{
    dns_options opt = {.timeout_ms = 2000, .local_zones = zones, .local_data = data};
    char err[256];
    conf_t *c = conf_load_string(text, "test.conf", NULL, NULL);
    snapshot_t *s;

    ck_assert_ptr_nonnull(c);
    s = snapshot_from_conf(c, &opt, err, sizeof(err));
    ck_assert_msg(s != NULL, "snapshot: %s", err);
    snapshot_attach_reports(s, reports);
    snapshot_install(s);
}

static void install(const char *text)
{
    install_with(text, NULL);
}

static void setup(void)
{
    install(conf_a);
    tu_log_start();
}

static void teardown(void)
{
    tu_log_stop();
    snapshot_shutdown();
}

/* Number of decision lines logged so far. */
static int decisions(void)
{
    int n = 0;
    for (const char *p = tu_log_text(); (p = strstr(p, "decision ")) != NULL; p++)
        n++;
    return n;
}

static session_t *open_session(const char *addr, const char *helo)
{
    session_t *s = session_new();
    ck_assert_ptr_nonnull(s);
    ck_assert_int_eq(session_connect(s, "client.example", addr).status, SESSION_CONTINUE);
    ck_assert_int_eq(session_helo(s, helo).status, SESSION_CONTINUE);
    return s;
}

START_TEST(spf_pass_accepts_with_authres_and_strips_ours)
{
    session_t *s = open_session("192.0.2.1", "mail.pass.example");
    session_edits ed;
    session_reply r;

    ck_assert_int_eq(session_mail(s, "<alice@pass.example>", NULL).status, SESSION_CONTINUE);
    session_queue_id(s, "QID123");
    ck_assert_int_eq(session_rcpt(s, "<bob@example.net>").status, SESSION_CONTINUE);
    session_header(s, "Authentication-Results", "mx.example.net; spf=pass smtp.mailfrom=x@y");
    session_header(s, "Subject", "hi");
    session_header(s, "authentication-results", "other.example; spf=fail");
    session_header(s, "AUTHENTICATION-RESULTS", "(forged)\r\n\tMX.Example.NET; dkim=pass");
    session_eoh(s);
    r = session_eom(s, &ed, NULL, NULL);
    ck_assert_int_eq(r.status, SESSION_CONTINUE);
    ck_assert_uint_eq(ed.nauthres_delete, 2);
    ck_assert_int_eq(ed.authres_delete[0], 3); /* descending */
    ck_assert_int_eq(ed.authres_delete[1], 1);
    ck_assert_ptr_nonnull(ed.authres_insert);
    ck_assert_ptr_nonnull(strstr(ed.authres_insert, "mx.example.net;"));
    ck_assert_ptr_nonnull(strstr(ed.authres_insert, "spf=pass smtp.mailfrom=alice@pass.example"));
    ck_assert_ptr_nonnull(strstr(ed.authres_insert, "smtp.helo=mail.pass.example"));
    ck_assert_ptr_null(ed.quarantine);
    ck_assert_int_eq(decisions(), 1);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "queue_id=QID123"));
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "spf=pass"));
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "rule=default"));
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "action=accept"));
    session_free(s);
    ck_assert_int_eq(decisions(), 1);
}
END_TEST

/* Found by fuzz_session: headers after an end of message (no MTA sends
 * them; no MTA sends that order) and a second end of message must
 * still give deletions in descending order. */
START_TEST(authres_deletions_descending_after_repeated_eom)
{
    session_t *s = open_session("192.0.2.1", "mail.pass.example");
    session_edits ed;

    ck_assert_int_eq(session_mail(s, "<alice@pass.example>", NULL).status, SESSION_CONTINUE);
    ck_assert_int_eq(session_rcpt(s, "<bob@example.net>").status, SESSION_CONTINUE);
    session_header(s, "Authentication-Results", "mx.example.net; spf=pass");  /* 1 ours */
    session_header(s, "Authentication-Results", "other.example; spf=pass");   /* 2 */
    session_header(s, "Authentication-Results", "mx.example.net; dkim=pass"); /* 3 ours */
    session_eoh(s);
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_CONTINUE);
    ck_assert_uint_eq(ed.nauthres_delete, 2);
    ck_assert_int_eq(ed.authres_delete[0], 3);
    ck_assert_int_eq(ed.authres_delete[1], 1);
    session_header(s, "Authentication-Results", "mx.example.net; dmarc=pass"); /* 4 ours */
    session_header(s, "Authentication-Results", "mx.example.net; arc=pass");   /* 5 ours */
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_CONTINUE);
    ck_assert_uint_eq(ed.nauthres_delete, 4);
    for (size_t i = 1; i < ed.nauthres_delete; i++)
        ck_assert_int_gt(ed.authres_delete[i - 1], ed.authres_delete[i]);
    ck_assert_int_eq(ed.authres_delete[0], 5);
    ck_assert_int_eq(ed.authres_delete[3], 1);
    session_free(s);
}
END_TEST

START_TEST(spf_fail_rejects_at_rcpt_and_logs_once)
{
    session_t *s = open_session("192.0.2.1", "mail.pass.example");
    session_reply r;

    session_mail(s, "<mallory@fail.example>", NULL);
    r = session_rcpt(s, "<bob@example.net>");
    ck_assert_int_eq(r.status, SESSION_REJECT);
    ck_assert_str_eq(r.code, "550");
    ck_assert_str_eq(r.xcode, "5.7.23");
    ck_assert_str_eq(r.text, "SPF validation failed");
    r = session_rcpt(s, "<carol@example.net>");
    ck_assert_int_eq(r.status, SESSION_REJECT);
    ck_assert_int_eq(decisions(), 0); /* logged when the MTA ends the transaction */
    session_abort(s);
    ck_assert_int_eq(decisions(), 1);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "stage=rcpt"));
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "rule=spf-fail"));
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "action=reject"));
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "rcpts_rejected=2"));
    session_free(s);
    ck_assert_int_eq(decisions(), 1);
}
END_TEST

START_TEST(dry_run_logged_not_applied)
{
    session_t *s = open_session("192.0.2.1", "mail.pass.example");
    session_edits ed;

    session_mail(s, "<x@soft.example>", NULL);
    ck_assert_int_eq(session_rcpt(s, "<bob@example.net>").status, SESSION_CONTINUE);
    ck_assert_int_eq(session_rcpt(s, "<eve@example.net>").status, SESSION_CONTINUE);
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_CONTINUE);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "dry_run=would-softfail "));
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "action=accept"));
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "rcpts=2"));
    ck_assert_ptr_nonnull(strstr(ed.authres_insert, "spf=softfail"));
    session_free(s);
}
END_TEST

START_TEST(quarantine_at_eom)
{
    session_t *s = open_session("192.0.2.1", "mail.pass.example");
    session_edits ed;

    session_mail(s, "<x@hold.example>", NULL);
    ck_assert_int_eq(session_rcpt(s, "<bob@example.net>").status, SESSION_CONTINUE);
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_CONTINUE);
    ck_assert_ptr_nonnull(ed.quarantine);
    ck_assert_str_eq(ed.quarantine, "held for review");
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "action=quarantine"));
    session_free(s);
}
END_TEST

static bool refuse_apply(const session_edits *ed, void *arg)
{
    int *calls = arg;
    (*calls)++;
    return ed->quarantine == NULL;
}

START_TEST(refused_quarantine_defers_and_logs_it)
{
    session_t *s = open_session("192.0.2.1", "mail.pass.example");
    session_edits ed;
    session_reply r;
    int calls = 0;

    session_mail(s, "<x@hold.example>", NULL);
    ck_assert_int_eq(session_rcpt(s, "<bob@example.net>").status, SESSION_CONTINUE);
    r = session_eom(s, &ed, refuse_apply, &calls);
    ck_assert_int_eq(calls, 1);
    ck_assert_int_eq(r.status, SESSION_TEMPFAIL);
    ck_assert_str_eq(r.code, "451");
    ck_assert_int_eq(decisions(), 1);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "action=tempfail"));
    ck_assert_ptr_null(strstr(tu_log_text(), "action=quarantine"));
    session_free(s);
}
END_TEST

START_TEST(dns_failure_tempfails)
{
    session_t *s = open_session("192.0.2.1", "mail.pass.example");
    session_reply r;

    session_mail(s, "<x@broken.example>", NULL);
    r = session_rcpt(s, "<bob@example.net>");
    ck_assert_int_eq(r.status, SESSION_TEMPFAIL);
    ck_assert_str_eq(r.code, "451");
    session_free(s);
    ck_assert_int_eq(decisions(), 1);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "spf=temperror"));
}
END_TEST

START_TEST(trusted_client_skips_spf)
{
    session_t *s = open_session("10.1.2.3", "laptop");
    session_edits ed;

    session_mail(s, "<x@fail.example>", NULL);
    ck_assert_int_eq(session_rcpt(s, "<bob@example.net>").status, SESSION_CONTINUE);
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_CONTINUE);
    ck_assert_int_eq(session_facts(s)->spf_mfrom, SPFCHECK_UNSET);
    ck_assert_ptr_nonnull(strstr(ed.authres_insert, "none"));
    ck_assert_ptr_null(strstr(ed.authres_insert, "spf="));
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "spf=- "));
    session_free(s);
}
END_TEST

START_TEST(null_sender_uses_helo_identity)
{
    session_t *s = open_session("192.0.2.1", "mail.pass.example");
    session_edits ed;

    session_mail(s, "<>", NULL);
    ck_assert_int_eq(session_rcpt(s, "<bob@example.net>").status, SESSION_CONTINUE);
    ck_assert_int_eq(session_facts(s)->spf_mfrom, SPFCHECK_PASS);
    session_eom(s, &ed, NULL, NULL);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "mail_from=<>"));
    ck_assert_ptr_nonnull(strstr(ed.authres_insert, "smtp.mailfrom=postmaster@mail.pass.example"));
    session_free(s);
}
END_TEST

START_TEST(two_messages_one_line_each)
{
    session_t *s = open_session("192.0.2.1", "mail.pass.example");
    session_edits ed;

    session_mail(s, "<a@pass.example>", NULL);
    session_rcpt(s, "<bob@example.net>");
    session_eom(s, &ed, NULL, NULL);
    session_mail(s, "<b@fail.example>", NULL);
    ck_assert_int_eq(session_rcpt(s, "<bob@example.net>").status, SESSION_REJECT);
    session_mail(s, "<c@pass.example>", NULL); /* RSET-less new transaction */
    session_rcpt(s, "<bob@example.net>");
    session_eom(s, &ed, NULL, NULL);
    ck_assert_int_eq(decisions(), 3);
    session_free(s);
    ck_assert_int_eq(decisions(), 3);
}
END_TEST

START_TEST(reload_keeps_snapshot_of_message_in_flight)
{
    session_t *s = open_session("192.0.2.1", "mail.pass.example");
    session_edits ed;
    session_reply r;

    session_mail(s, "<x@fail.example>", NULL); /* runs on conf_a */
    install(conf_b);                          /* reload mid-message */
    r = session_rcpt(s, "<bob@example.net>");
    ck_assert_int_eq(r.status, SESSION_REJECT); /* still conf_a's rule */
    session_abort(s);
    session_mail(s, "<x@fail.example>", NULL); /* next message: conf_b */
    ck_assert_int_eq(session_rcpt(s, "<bob@example.net>").status, SESSION_CONTINUE);
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_CONTINUE);
    ck_assert_ptr_nonnull(ed.quarantine);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "rule=fail-hold"));
    session_free(s);
}
END_TEST

/* A reload that turns DKIM on while a connection negotiated the body away:
 * DKIM is not run for it (it would fail every signature), while a
 * connection that gets the body checks it. */
START_TEST(dkim_needs_the_negotiated_body)
{
    session_t *s;
    session_edits ed;

    install("authserv_id = \"mx.example.net\";\ndkim = { enabled = true; };\n");
    s = open_session("192.0.2.1", "mail.pass.example");
    session_set_body_skipped(s, true);
    session_mail(s, "<a@pass.example>", NULL);
    session_rcpt(s, "<bob@example.net>");
    session_header(s, "From", "a@pass.example");
    session_eoh(s);
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_CONTINUE);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), " dkim=- "));
    session_free(s);

    s = open_session("192.0.2.1", "mail.pass.example");
    session_mail(s, "<a@pass.example>", NULL);
    session_rcpt(s, "<bob@example.net>");
    session_header(s, "From", "a@pass.example");
    session_eoh(s);
    session_body(s, (const unsigned char *)"hi\r\n", 4);
    ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_CONTINUE);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), " dkim=none "));
    session_free(s);
}
END_TEST

/* One message with a forged A-R of each id; *ed as session_eom left it. */
static void authres_message(session_t *s, session_edits *ed)
{
    ck_assert_int_eq(session_connect(s, "client.example", "192.0.2.1").status, SESSION_CONTINUE);
    session_helo(s, "mail.pass.example");
    session_mail(s, "<alice@pass.example>", NULL);
    session_rcpt(s, "<bob@example.net>");
    session_header(s, "Authentication-Results", "mx.example.net; spf=pass");   /* 1 */
    session_header(s, "Authentication-Results", "mta.example.org; dkim=pass"); /* 2 */
    session_eoh(s);
    ck_assert_int_eq(session_eom(s, ed, NULL, NULL).status, SESSION_CONTINUE);
    ck_assert_ptr_nonnull(ed->authres_insert);
    ck_assert_uint_eq(ed->nauthres_delete, 1);
}

/* authserv_id unset: the MTA's {j} is the id written and the id whose
 * forged headers go; authserv_id set: it wins over {j}. */
START_TEST(authserv_id_from_mta_name)
{
    session_t *s;
    session_edits ed;

    install("trusted_networks = [];\n");
    s = session_new();
    session_mta_name(s, "mta.example.org");
    authres_message(s, &ed);
    ck_assert_msg(strncmp(ed.authres_insert, "mta.example.org;", 16) == 0, "[%s]", ed.authres_insert);
    ck_assert_int_eq(ed.authres_delete[0], 2);
    session_free(s);

    /* set in the config: that one, whatever the MTA says */
    install("authserv_id = \"mx.example.net\";\n");
    s = session_new();
    session_mta_name(s, "mta.example.org");
    authres_message(s, &ed);
    ck_assert_msg(strncmp(ed.authres_insert, "mx.example.net;", 15) == 0, "[%s]", ed.authres_insert);
    ck_assert_int_eq(ed.authres_delete[0], 1);
    session_free(s);
}
END_TEST

/* Without {j} (or with one that is no host name) the host name stays. */
START_TEST(authserv_id_without_mta_name)
{
    const char *bad[] = {NULL, "", "not a name", "a;b"};

    install("trusted_networks = [];\n");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        session_t *s = session_new();
        session_edits ed;
        conf_t *c = conf_load_string("", "empty.conf", NULL, NULL);
        char *want;

        ck_assert_ptr_nonnull(c);
        want = xasprintf("%s;", c->authserv_id); /* the host name */
        session_mta_name(s, bad[i]);
        ck_assert_int_eq(session_connect(s, "client.example", "192.0.2.1").status, SESSION_CONTINUE);
        session_mail(s, "<alice@pass.example>", NULL);
        session_rcpt(s, "<bob@example.net>");
        ck_assert_int_eq(session_eom(s, &ed, NULL, NULL).status, SESSION_CONTINUE);
        ck_assert_msg(strncmp(ed.authres_insert, want, strlen(want)) == 0, "[%s] want [%s]", ed.authres_insert,
                      want);
        free(want);
        conf_free(c);
        session_free(s);
    }
}
END_TEST

START_TEST(no_config_no_session)
{
    snapshot_shutdown();
    ck_assert_ptr_null(session_new());
}
END_TEST

/* A snapshot that cannot be built says which part failed: the resolver
 * or, here, DMARC (not "cannot start the DNS resolver" for everything). */
START_TEST(snapshot_error_names_the_part_that_failed)
{
    dns_options bad = {.upstream = "not-an-address"};
    dns_options opt = {.timeout_ms = 2000, .local_zones = zones, .local_data = data};
    char err[256];
    conf_t *c = conf_load_string(conf_b, "test.conf", NULL, NULL);

    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(snapshot_from_conf(c, &bad, err, sizeof(err)));
    ck_assert_str_eq(err, "cannot start the DNS resolver: bad upstream \"not-an-address\": "
                          "\"not-an-address\" is not an IP address");

    c = conf_load_string(conf_b, "test.conf", NULL, NULL);
    ck_assert_ptr_nonnull(c);
    c->dmarc_enabled = true;
    free(c->dmarc_mode);
    c->dmarc_mode = xstrdup("rfc7489");
    free(c->dmarc_psl_file);
    c->dmarc_psl_file = NULL;
    ck_assert_ptr_null(snapshot_from_conf(c, &opt, err, sizeof(err)));
    ck_assert_str_eq(err, "cannot set up DMARC: dmarc mode rfc7489 needs psl_file");
}
END_TEST

/* ---- the hand-off to the DMARC report rows ---------------------------- */

static const char *conf_reports =
    "authserv_id = \"mx.example.net\";\n"
    "dmarc = { enabled = true; };\n"
    "rules = (\n"
    "  { name = \"spf-fail\"; match = { spf = [\"fail\"]; }; action = \"reject\"; },\n"
    "  { name = \"hold\"; match = { sender_domain = [\"hold.example\"]; }; action = \"quarantine\"; }\n"
    ");\n";

/* One message through the session; the From field as given. */
static void one_message(session_t *s, const char *mail_from, const char *from, int eoms)
{
    session_edits ed;

    session_mail(s, mail_from, NULL);
    if (session_rcpt(s, "<bob@example.net>").status != SESSION_CONTINUE)
        return;
    session_header(s, "From", from);
    session_eoh(s);
    for (int i = 0; i < eoms; i++)
        session_eom(s, &ed, NULL, NULL);
}

typedef struct seen_rows {
    size_t n;
    unsigned long pass, quarantine, other; /* messages by disposition */
    bool local_policy_hold;                /* quarantine with local_policy "hold" */
} seen_rows;

static void see_row(const dmarcrow *r, unsigned long count, void *arg)
{
    seen_rows *sr = arg;

    sr->n++;
    ck_assert_str_eq(r->policy_domain, "pass.example");
    ck_assert_str_eq(r->header_from, "pass.example");
    if (r->disposition == DMARCROW_DISP_PASS) {
        sr->pass += count;
    } else if (r->disposition == DMARCROW_DISP_QUARANTINE) {
        sr->quarantine += count;
        for (size_t i = 0; i < r->nreasons; i++)
            if (r->reasons[i].type == DMARCROW_REASON_LOCAL_POLICY && r->reasons[i].comment &&
                strcmp(r->reasons[i].comment, "hold") == 0)
                sr->local_policy_hold = true;
    } else {
        sr->other += count;
    }
}

/* Each message with DMARC facts and a rua is handed over once, with the
 * verdict applied; not our own report mail, not a record without rua, not
 * a message refused at RCPT (no DMARC yet). */
START_TEST(reports_hand_off_once_per_message)
{
    dmarcflush_options o = {.store = "sqlite:/fake/reports.db", .own_email = "dmarc-reports@pass.example",
                            .flush_interval = 3600, .max_rows = 100, .stop_seconds = 2};
    dmarcflush_t *fl = dmarcflush_new(&o);
    dmarcflush_stats st;
    seen_rows sr = {0};
    session_t *s;
    char err[256];

    fakestore_reset();
    ck_assert_msg(dmarcflush_start(fl, err, sizeof(err)), "%s", err);
    install_with(conf_reports, fl);
    s = open_session("192.0.2.1", "mail.pass.example");
    one_message(s, "<a@pass.example>", "Alice <alice@pass.example>", 1);   /* pass */
    one_message(s, "<a@pass.example>", "alice@pass.example", 2);           /* pass, eom twice */
    one_message(s, "<r@pass.example>", "Reports <DMARC-Reports@pass.example>", 1); /* ours */
    one_message(s, "<h@hold.example>", "h@hold.example", 1);              /* no rua */
    one_message(s, "<x@fail.example>", "x@pass.example", 1);              /* refused at RCPT */
    one_message(s, "<h@hold.example>", "Boss <boss@pass.example>", 1);    /* DMARC fail, held */
    session_free(s);
    ck_assert_int_eq(decisions(), 7); /* one more for the repeated end of message */
    dmarcflush_stats_get(fl, &st);
    ck_assert_uint_eq(st.messages_added, 3);
    ck_assert_uint_eq(st.rows_buffered, 2);
    ck_assert(dmarcflush_stop(fl));
    fakestore_each(see_row, &sr);
    ck_assert_uint_eq(sr.n, 2);
    ck_assert_uint_eq(sr.pass, 2);
    ck_assert_uint_eq(sr.quarantine, 1);
    ck_assert_uint_eq(sr.other, 0);
    ck_assert(sr.local_policy_hold);
    snapshot_shutdown(); /* the sessions' snapshot borrowed fl */
    dmarcflush_free(fl);
    fakestore_reset();
}
END_TEST

/* Reports off (no flusher attached): nothing is recorded, nothing fails. */
START_TEST(reports_off_records_nothing)
{
    session_t *s;

    fakestore_reset();
    install(conf_reports);
    s = open_session("192.0.2.1", "mail.pass.example");
    one_message(s, "<a@pass.example>", "alice@pass.example", 1);
    session_free(s);
    ck_assert_int_eq(decisions(), 1);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "dmarc=pass"));
    ck_assert_uint_eq(fakestore_opens(), 0);
}
END_TEST

static Suite *session_suite(void)
{
    Suite *su = suite_create("session");
    TCase *tc = tcase_create("transactions");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, spf_pass_accepts_with_authres_and_strips_ours);
    tcase_add_test(tc, spf_fail_rejects_at_rcpt_and_logs_once);
    tcase_add_test(tc, dry_run_logged_not_applied);
    tcase_add_test(tc, quarantine_at_eom);
    tcase_add_test(tc, refused_quarantine_defers_and_logs_it);
    tcase_add_test(tc, dns_failure_tempfails);
    tcase_add_test(tc, trusted_client_skips_spf);
    tcase_add_test(tc, null_sender_uses_helo_identity);
    tcase_add_test(tc, two_messages_one_line_each);
    tcase_add_test(tc, reload_keeps_snapshot_of_message_in_flight);
    tcase_add_test(tc, dkim_needs_the_negotiated_body);
    tcase_add_test(tc, authserv_id_from_mta_name);
    tcase_add_test(tc, authserv_id_without_mta_name);
    tcase_add_test(tc, no_config_no_session);
    tcase_add_test(tc, authres_deletions_descending_after_repeated_eom);
    tcase_add_test(tc, snapshot_error_names_the_part_that_failed);
    tcase_add_test(tc, reports_hand_off_once_per_message);
    tcase_add_test(tc, reports_off_records_nothing);
    suite_add_tcase(su, tc);
    return su;
}

int main(void)
{
    return tu_run(session_suite());
}
