/*
 * test_summary.c - reading decision lines back: declog_parse() is the exact
 * inverse of strbuf_quote()/declog_format() (round trips over awkward
 * values, every malformed shape refused with a reason); mxguard summary's
 * counts over syslog, journal and stderr lines (other programs skipped,
 * malformed lines counted, --since and --rule); the envelope explain reads
 * from Received and Return-Path headers; the rule walk that rules_eval_explain()
 * reports (the same outcome as rules_eval()).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "declog.h"
#include "strbuf.h"
#include "explain.h"
#include "facts.h"
#include "log.h"
#include "rules.h"
#include "summary.h"
#include "testutil.h"
#include "xalloc.h"

/* ---- declog_parse --------------------------------------------------------- */

/* quote v, parse "decision k=<quoted>", get v back */
static void round_trip(const char *v)
{
    char *q = strbuf_quote(v), *line = xasprintf("decision k=%s z=1", q);
    declog_fields d;
    const char *got;
    char err[128];

    ck_assert_msg(declog_parse(line, &d, err, sizeof(err)), "[%s]: %s", line, err);
    ck_assert_uint_eq(d.n, 2);
    ck_assert(declog_get(&d, "k", &got));
    if (v == NULL)
        ck_assert_ptr_null(got);
    else
        ck_assert_msg(got && strcmp(got, v) == 0, "round trip of [%s] via [%s] gave [%s]", v, q, got ? got : "NULL");
    ck_assert(declog_get(&d, "z", &got) && strcmp(got, "1") == 0);
    declog_fields_clear(&d);
    free(q);
    free(line);
}

START_TEST(parse_round_trip)
{
    static const char *const values[] = {
        "plain", "", "-", "--", "a b", "a=b", "say \"hi\"", "back\\slash", "tab\there", "line\r\nbreak",
        "\x01\x1f\x7f", "caf\xc3\xa9", "<a@b.example>", "550 5.7.1 Rejected; see \"x\"", "\"", "\\", "=",
        "trailing ", " leading", "x\\x41",
    };
    char chunk[61];

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++)
        round_trip(values[i]);
    round_trip(NULL);
    /* every byte value but NUL, 60 at a time (under the 256-byte cut even
     * when each becomes \xHH) */
    for (int start = 1; start < 256; start += 60) {
        size_t n = 0;
        for (int b = start; b < start + 60 && b < 256; b++)
            chunk[n++] = (char)b;
        chunk[n] = '\0';
        round_trip(chunk);
    }
}
END_TEST

START_TEST(parse_format_round_trip)
{
    facts_t *f = facts_new();
    verdict_t v = {.action = ACTION_REJECT, .rule = "spf-fail", .code = "550", .xcode = "5.7.23",
                       .text = "SPF \"validation\" failed"};
    const char *dry[] = {"would-a", "would-b"};
    declog_entry e = {.facts = f, .verdict = &v, .stage = STAGE_RCPT, .dry_run = dry, .ndry_run = 2,
                      .elapsed_ms = 12};
    declog_fields d;
    const char *got;
    char *line;

    facts_set(&f->client_addr, "192.0.2.1");
    facts_set(&f->helo, "evil host\r\ninjected=1");
    facts_set(&f->mail_from, "");
    f->spf_mfrom = SPFCHECK_FAIL;
    line = declog_format(&e);
    ck_assert_msg(declog_parse(line, &d, NULL, 0), "[%s]", line);
    ck_assert_str_eq(d.key[0], "stage");
    ck_assert(declog_get(&d, "helo", &got) && strcmp(got, "evil host\r\ninjected=1") == 0);
    ck_assert(!declog_get(&d, "injected", &got));
    ck_assert(declog_get(&d, "mail_from", &got) && strcmp(got, "<>") == 0);
    ck_assert(declog_get(&d, "queue_id", &got) && got == NULL);
    ck_assert(declog_get(&d, "reply", &got) && strcmp(got, "550 5.7.23 SPF \"validation\" failed") == 0);
    ck_assert(declog_get(&d, "dry_run", &got) && strcmp(got, "would-a,would-b") == 0);
    ck_assert(declog_get(&d, "rule", &got) && strcmp(got, "spf-fail") == 0);
    ck_assert(declog_get(&d, "elapsed_ms", &got) && strcmp(got, "12") == 0);
    declog_fields_clear(&d);
    free(line);
    facts_free(f);
}
END_TEST

START_TEST(parse_malformed)
{
    static const char *const bad[] = {
        "decision",                     /* no keys */
        "decision ",                    /* empty key */
        "Decision a=1",                 /* not the prefix */
        "decision a=1  b=2",            /* two spaces */
        "decision a=1 b",               /* no = */
        "decision A=1",                 /* upper-case key */
        "decision a=",                  /* empty bare value */
        "decision a=\"x",               /* unterminated */
        "decision a=\"x\"y",            /* text after quotes */
        "decision a=\"\\q\"",           /* bad escape */
        "decision a=\"\\x00\"",         /* NUL */
        "decision a=\"\\x4\"",          /* short hex */
        "decision a=x\"y",              /* quote in a bare value */
        "decision a=1 a=2",             /* duplicate */
        "decision a=\x01",              /* control byte */
        "decision a=\"\t\"",            /* raw tab inside quotes */
        "decision a=1 ",                /* trailing space */
    };
    declog_fields d;
    char err[128];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(!declog_parse(bad[i], &d, err, sizeof(err)), "accepted [%s]", bad[i]);
        ck_assert_msg(err[0] != '\0', "no reason for [%s]", bad[i]);
        ck_assert_uint_eq(d.n, 0);
    }
}
END_TEST

/* ---- summary ---------------------------------------------------------------- */

#define L(stage, from, rule, dry, action, extra)                                                            \
    "decision stage=" stage " queue_id=- client_addr=192.0.2.1 client_name=x helo=h mail_from=" from       \
    " rcpts=1 rcpts_rejected=0 spf=pass spf_domain=- spf_helo=- dnsbl_score=- dnsbl=- dkim=" extra        \
    " rule=" rule " dry_run=" dry " action=" action " reply=- elapsed_ms=3"

/* The JSON report of lines fed to a summary with options o. */
static char *report(const summary_options *o, const char *const *lines, size_t n, bool json)
{
    summary_t *s = summary_new(o);
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    for (size_t i = 0; i < n; i++)
        summary_line(s, lines[i]);
    summary_print(s, fp, json);
    fclose(fp);
    summary_free(s);
    return buf;
}

#define HAS(buf, want) ck_assert_msg(strstr((buf), (want)) != NULL, "missing [%s] in:\n%s", (want), (buf))

START_TEST(summary_counts)
{
    const char *const lines[] = {
        "Nov 23 10:00:00 mx postfix/smtpd[1]: connect from x[192.0.2.1]",
        "Nov 23 10:00:01 mx mxguard[7]: " L("eom", "<a@Signer.Example>", "default", "dkim-fail", "accept", "pass:signer.example"),
        "Nov 23 10:00:02 mx mxguard[7]: " L("rcpt", "<b@spam.example>", "spf-fail", "-", "reject", "-"),
        "2026-11-23T10:00:03.123456+00:00 mx mxguard[7]: " L("eom", "<>", "dkim-fail", "-", "reject", "fail:x.example,pass:y.example"),
        "Nov 23 10:00:04 mx mxguard[7]: mxguard 0.1.0 started on unix:/run/mxguard/mxguard.sock",
        "Nov 23 10:00:05 mx mxguard[7]: decision stage=eom broken=\"",
        "mxguard: " L("eom", "<c@signer.example>", "default", "-", "accept", "none"),
        L("eom", "<d@signer.example>", "hold", "dkim-fail,spf-soft", "quarantine", "-"),
        "Nov 23 10:00:06 mx mxguard[7]: decision stage=eom rule=x action=bogus",
        "Nov 23 10:00:07 mx postfix/cleanup[2]: warning: mxguard: decision stage=eom rule=x action=reject",
    };
    summary_options o = {0};
    char *r = report(&o, lines, sizeof(lines) / sizeof(lines[0]), true);

    HAS(r, "\"lines\": 10, \"decisions\": 5, \"malformed\": 2, \"other_programs\": 2, \"other_mxguard\": 1");
    HAS(r, "\"actions\": {\"accept\": 2, \"reject\": 2, \"quarantine\": 1}");
    HAS(r, "\"fired\": {\"default\": 2, \"dkim-fail\": 1, \"hold\": 1, \"spf-fail\": 1}");
    HAS(r, "\"dry_run\": {\"dkim-fail\": 2, \"spf-soft\": 1}");
    HAS(r, "\"dkim\": {\"-\": 2, \"pass\": 2, \"fail\": 1, \"none\": 1}");
    HAS(r, "\"accept\": {\"signer.example\": 2}");
    HAS(r, "\"reject\": {\"<>\": 1, \"spam.example\": 1}");
    HAS(r, "{\"line\": 6, \"reason\": \"unterminated quoted value");
    HAS(r, "{\"line\": 9, \"reason\": \"no valid action or rule key\"}");
    HAS(r, "\"untimed\": 2");
    free(r);

    /* --rule: decided by it, or would have been (dry-run) */
    o.rule = "dkim-fail";
    r = report(&o, lines, sizeof(lines) / sizeof(lines[0]), true);
    HAS(r, "\"decisions\": 3,");
    HAS(r, "\"other_rule\": 2");
    free(r);

    /* text: a hostile value is printed quoted, never raw */
    o.rule = NULL;
    {
        const char *const evil[] = {L("eom", "\"<x@a\\x1b[31mred.example>\"", "default", "-", "accept", "-")};
        r = report(&o, evil, 1, false);
        ck_assert_ptr_null(strchr(r, '\x1b'));
        HAS(r, "\"a\\x1b[31mred.example\"");
        free(r);
    }
}
END_TEST

START_TEST(summary_since)
{
    time_t now = 1800000000, t;
    const char *const lines[] = {
        "2027-01-15T08:00:00Z mx mxguard[7]: " L("eom", "<a@old.example>", "default", "-", "accept", "-"),
        "2027-01-15T09:00:00+01:00 mx mxguard[7]: " L("eom", "<a@same.example>", "default", "-", "accept", "-"),
        "2027-01-15T08:30:00Z mx mxguard[7]: " L("eom", "<a@new.example>", "default", "-", "reject", "-"),
        "mxguard: " L("eom", "<a@untimed.example>", "default", "-", "accept", "-"),
    };
    summary_options o = {0};
    char *r;

    ck_assert(summary_parse_since("2h", now, &t) && t == now - 7200);
    ck_assert(summary_parse_since("7d", now, &t) && t == now - 7 * 86400);
    ck_assert(summary_parse_since("2027-01-15", now, &t));
    ck_assert(summary_parse_since("2027-01-15 08:00", now, &t));
    ck_assert(summary_parse_since("2027-01-15T08:00:01", now, &t));
    ck_assert(!summary_parse_since("yesterday", now, &t));
    ck_assert(!summary_parse_since("5x", now, &t));
    ck_assert(!summary_parse_since("2027-01-15 garbage", now, &t));

    o.since = 1800000000; /* 2027-01-15T08:00:00Z */
    r = report(&o, lines, 4, true);
    HAS(r, "\"decisions\": 3,");
    HAS(r, "\"no_timestamp\": 1");
    HAS(r, "\"before_since\": 0");
    free(r);
    o.since = 1800000001;
    r = report(&o, lines, 4, true);
    HAS(r, "\"decisions\": 1,");
    HAS(r, "\"before_since\": 2");
    HAS(r, "\"reject\": {\"new.example\": 1}");
    free(r);
}
END_TEST

/* The daemon's log_file lines (log_format_line) carry a time stamp that
 * summary --since reads, in any time zone; a warning line is not a decision. */
START_TEST(summary_reads_log_file_lines)
{
    char l1[1024], l2[1024], l3[1024], l4[1024];
    const char *lines[] = {l1, l2, l3, l4};
    summary_options o = {0};
    const char *tz = getenv("TZ");
    char *savedtz = tz ? xstrdup(tz) : NULL, *r;

    setenv("TZ", "XYZ3", 1); /* POSIX: 3 hours west of UTC, no DST, no tzdata needed */
    tzset();
    log_format_line(l1, sizeof(l1), 1800000000 - 60, 5, "mx", 42, 6 /* LOG_INFO */,
                    L("eom", "<a@early.example>", "default", "-", "accept", "-"));
    log_format_line(l2, sizeof(l2), 1800000000, 999999, "mx", 42, 6,
                    L("eom", "<a@ontime.example>", "default", "-", "accept", "-"));
    log_format_line(l3, sizeof(l3), 1800000000 + 60, 0, "mx", 42, 3 /* LOG_ERR */, "decision in an error");
    log_format_line(l4, sizeof(l4), 1800000000 + 60, 0, "mx", 42, 6,
                    L("eom", "<a@late.example>", "default", "-", "reject", "-"));
    ck_assert_str_eq(l2, "2027-01-15T05:00:00.999999-03:00 mx mxguard[42]: "
                         L("eom", "<a@ontime.example>", "default", "-", "accept", "-") "\n");
    ck_assert_msg(strstr(l3, " mx mxguard[42]: error: decision in an error\n") != NULL, "%s", l3);
    o.since = 1800000000;
    r = report(&o, lines, 4, true);
    HAS(r, "\"decisions\": 2,");
    HAS(r, "\"before_since\": 1");
    HAS(r, "\"no_timestamp\": 0");
    HAS(r, "\"other_mxguard\": 1");
    HAS(r, "\"reject\": {\"late.example\": 1}");
    free(r);
    if (savedtz)
        setenv("TZ", savedtz, 1);
    else
        unsetenv("TZ");
    free(savedtz);
    tzset();
}
END_TEST

/* ---- explain: the envelope from the headers ------------------------------- */

START_TEST(envelope_from_headers)
{
    const char *msg = "Return-Path: <alice@signer.example>\r\n"
                      "Received: from mail.signer.example (mail.signer.example [192.0.2.10])\r\n"
                      "\tby mx.example.net (Postfix) with ESMTP id 4XyZ\r\n"
                      "\tfor <bob@rcpt.example>; Mon, 1 Jan 2024 10:00:00 +0000\r\n"
                      "Received: from inner.example (inner [198.51.100.1]) by mail.signer.example\r\n"
                      "To: Someone <other@rcpt.example>\r\n"
                      "\r\nbody\r\nReceived: from body.example ([203.0.113.9])\r\n";
    const char *v6 = "Received: from [IPv6:2001:db8::1] (unknown [IPv6:2001:db8::1])\n"
                     "\tby mx.example.net\n"
                     "Return-Path: <>\n"
                     "Delivered-To: carol@rcpt.example\n"
                     "To: dave@rcpt.example\n\n";
    explain_envelope e;

    explain_envelope_from_headers(msg, strlen(msg), &e);
    ck_assert_str_eq(e.client_addr, "192.0.2.10");
    ck_assert_str_eq(e.client_name, "mail.signer.example");
    ck_assert_str_eq(e.helo, "mail.signer.example");
    ck_assert_str_eq(e.mail_from, "alice@signer.example");
    ck_assert_str_eq(e.rcpt, "bob@rcpt.example");
    explain_envelope_clear(&e);

    explain_envelope_from_headers(v6, strlen(v6), &e);
    ck_assert_str_eq(e.client_addr, "2001:db8::1");
    ck_assert_ptr_null(e.client_name);
    ck_assert_str_eq(e.helo, "[IPv6:2001:db8::1]");
    ck_assert_str_eq(e.mail_from, "");
    ck_assert_str_eq(e.rcpt, "carol@rcpt.example");
    explain_envelope_clear(&e);

    explain_envelope_from_headers("Subject: none\n\n", 15, &e);
    ck_assert_ptr_null(e.client_addr);
    ck_assert_ptr_null(e.mail_from);
    ck_assert_ptr_null(e.rcpt);
    explain_envelope_clear(&e);
}
END_TEST

/* ---- explain: the rule walk, reported by the walk itself ----------------- */

typedef struct walk {
    char text[2048];
} walk;

static void on_step(const rules_explain_item *it, void *arg)
{
    walk *w = arg;
    size_t n = strlen(w->text);

    snprintf(w->text + n, sizeof(w->text) - n, "%s:%d:%s%s%s%s%s;", it->rule, it->step, it->dry_run ? "dry:" : "",
             it->cond ? it->cond : "", it->actual ? " => " : "", it->actual ? it->actual : "",
             it->step == RULES_STEP_DEFAULT ? verdict_action_name(it->verdict->action) : "");
}

START_TEST(explain_walk)
{
    const char *text = "rules = (\n"
                       "  { name = \"helo\"; match = { spf_helo = [ \"fail\" ]; }; action = \"reject\"; },\n"
                       "  { name = \"would\"; match = { spf = [ \"pass\", \"none\" ]; }; action = \"reject\"; dry_run = true; },\n"
                       "  { name = \"late\"; match = { dkim = [ \"fail\" ]; }; action = \"reject\"; },\n"
                       "  { name = \"dom\"; match = { sender_domain = [ \"x.example\" ]; dnsbl_score = 3; }; action = \"quarantine\"; }\n"
                       ");\n"
                       "default_action = \"tempfail\";\n";
    conf_t *c = conf_load_string(text, "t.conf", NULL, NULL);
    facts_t *f = facts_new();
    verdict_t v, v2;
    walk w = {{0}};

    ck_assert_ptr_nonnull(c);
    f->stage = STAGE_RCPT;
    f->spf_mfrom = SPFCHECK_PASS;
    f->spf_helo = SPFCHECK_NONE;
    /* at RCPT: helo false, would matches (dry), late pending: the walk stops */
    ck_assert_int_eq(rules_eval_explain(c->rules, f, &v, NULL, NULL, on_step, &w), RULES_PENDING);
    ck_assert_str_eq(w.text, "helo:2:spf_helo = [ \"fail\" ] => spf_helo is none;would:1:dry:;late:3:dkim = [ \"fail\" ];dom:5:;");
    ck_assert_int_eq(rules_eval(c->rules, f, &v2, NULL, NULL), RULES_PENDING);

    /* at EOM: late false, dom false on its sender_domain, the default decides */
    w.text[0] = '\0';
    f->stage = STAGE_EOM;
    f->dkim = DKIMCHECK_PASS;
    facts_set(&f->sender_domain, "y.example");
    ck_assert_int_eq(rules_eval_explain(c->rules, f, &v, NULL, NULL, on_step, &w), RULES_DECIDED);
    ck_assert_str_eq(w.text, "helo:2:spf_helo = [ \"fail\" ] => spf_helo is none;would:1:dry:;"
                             "late:2:dkim = [ \"fail\" ] => dkim is pass;"
                             "dom:2:sender_domain = [ \"x.example\" ];default:6:tempfail;");
    ck_assert_str_eq(v.rule, "default");
    ck_assert_int_eq(rules_eval(c->rules, f, &v2, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v2.rule, v.rule);

    /* a rule that decides: the ones below are not reached */
    w.text[0] = '\0';
    f->spf_helo = SPFCHECK_FAIL;
    ck_assert_int_eq(rules_eval_explain(c->rules, f, &v, NULL, NULL, on_step, &w), RULES_DECIDED);
    ck_assert_str_eq(w.text, "helo:0:;would:5:dry:;late:5:;dom:5:;");
    ck_assert_str_eq(v.rule, "helo");
    facts_free(f);
    conf_free(c);
}
END_TEST

/* A false dnsbl_score shows the score against the threshold (issue 14:
 * "dnsbl_score = 5 is false" alone said nothing about the score). */
START_TEST(explain_walk_shows_values)
{
    const char *text = "rules = (\n"
                       "  { name = \"bl\"; match = { dnsbl_score = 5; }; action = \"reject\"; },\n"
                       "  { name = \"sf\"; match = { spf = [ \"fail\" ]; }; action = \"reject\"; },\n"
                       "  { name = \"dm\"; match = { dmarc = [ \"fail\" ]; }; action = \"reject\"; }\n"
                       ");\n";
    conf_t *c = conf_load_string(text, "t.conf", NULL, NULL);
    facts_t *f = facts_new();
    verdict_t v;
    walk w = {{0}};

    ck_assert_ptr_nonnull(c);
    f->stage = STAGE_EOM;
    f->spf_mfrom = SPFCHECK_SOFTFAIL;
    ck_assert_int_eq(rules_eval_explain(c->rules, f, &v, NULL, NULL, on_step, &w), RULES_DECIDED);
    ck_assert_str_eq(w.text, "bl:2:dnsbl_score = 5 => the score is 0, below 5;"
                             "sf:2:spf = [ \"fail\" ] => spf is softfail;"
                             "dm:2:dmarc = [ \"fail\" ] => dmarc was not evaluated;default:6:accept;");
    facts_free(f);
    conf_free(c);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("summary");
    TCase *tc = tcase_create("all");

    tcase_add_test(tc, parse_round_trip);
    tcase_add_test(tc, parse_format_round_trip);
    tcase_add_test(tc, parse_malformed);
    tcase_add_test(tc, summary_counts);
    tcase_add_test(tc, summary_since);
    tcase_add_test(tc, summary_reads_log_file_lines);
    tcase_add_test(tc, envelope_from_headers);
    tcase_add_test(tc, explain_walk);
    tcase_add_test(tc, explain_walk_shows_values);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(suite());
}
