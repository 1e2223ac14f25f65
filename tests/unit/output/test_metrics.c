/*
 * test_metrics.c - the metrics registry and the Prometheus endpoint: the
 * listen address syntax, counters per action, rule (fired / dry run), check
 * result and DNS list from decisions, DNS outcomes and the latency histogram
 * through a real resolver (libunbound local data), messages in flight
 * through whole sessions, the config hash, label escaping and the name cap,
 * and the HTTP server (GET /metrics, 404, 405) on 127.0.0.1.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "conf.h"
#include "declog.h"
#include "dmarcflush.h"
#include "dns.h"
#include "metrics.h"
#include "metricsrv.h"
#include "session.h"
#include "snapshot.h"
#include "testutil.h"
#include "xalloc.h"

/* The value of the sample line "name{labels}" (or "name") in text; -1 if
 * absent.  The line must appear exactly once. */
static long sample(const char *text, const char *series)
{
    char *want = xasprintf("\n%s ", series);
    const char *p = strstr(text, want);
    long v = -1;

    if (p != NULL) {
        ck_assert_msg(strstr(p + 1, want) == NULL, "%s appears twice", series);
        v = strtol(p + strlen(want), NULL, 10);
    }
    free(want);
    return v;
}

/* ---- listen address ------------------------------------------------------ */

static const struct {
    const char *in;
    bool ok;
    int family;
    unsigned port;
} listen_cases[] = {
    {"127.0.0.1:9142", true, AF_INET, 9142},
    {"0.0.0.0:1", true, AF_INET, 1},
    {"[::1]:65535", true, AF_INET6, 65535},
    {"127.0.0.1:0", false, 0, 0},
    {"127.0.0.1:65536", false, 0, 0},
    {"127.0.0.1:", false, 0, 0},
    {"127.0.0.1", false, 0, 0},
    {"localhost:9142", false, 0, 0},
    {"::1:9142", false, 0, 0},
    {"[127.0.0.1]:9142", false, 0, 0},
    {"[::1]9142", false, 0, 0},
    {":9142", false, 0, 0},
    {"127.0.0.1:91x2", false, 0, 0},
};

START_TEST(test_listen_syntax)
{
    struct sockaddr_storage ss;
    unsigned len = 0;
    char err[256] = "";
    bool ok = metrics_parse_listen(listen_cases[_i].in, (struct sockaddr *)&ss, &len, err, sizeof(err));

    ck_assert_msg(ok == listen_cases[_i].ok, "%s: %s", listen_cases[_i].in, err);
    if (!ok) {
        ck_assert_msg(strstr(err, listen_cases[_i].in) != NULL, "reason names the value: %s", err);
        return;
    }
    ck_assert_int_eq(ss.ss_family, listen_cases[_i].family);
    if (ss.ss_family == AF_INET) {
        ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
        ck_assert_uint_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port), listen_cases[_i].port);
    } else {
        ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
        ck_assert_uint_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port), listen_cases[_i].port);
    }
}
END_TEST

/* ---- counters from decisions --------------------------------------------- */

static void decide(metrics_t *m, verdict_action a, const char *rule, spfcheck_result spf,
                   dkimcheck_result dkim, const char *const *dry, size_t ndry)
{
    facts_t *f = facts_new();
    verdict_t v = {.action = a, .rule = rule};
    declog_entry e = {.facts = f, .verdict = &v, .stage = STAGE_EOM, .dry_run = dry, .ndry_run = ndry};

    f->spf_mfrom = spf;
    f->spf_helo = SPFCHECK_PASS;
    f->dkim = dkim;
    f->dmarc.result = a == ACTION_REJECT ? DMARCCHECK_FAIL : DMARCCHECK_UNSET;
    metrics_decision(m, &e);
    facts_free(f);
}

START_TEST(test_decisions)
{
    static const char *const dry1[] = {"would-reject"};
    static const char *const dry2[] = {"would-reject", "odd\"name\\x"};
    metrics_t *m = metrics_new();
    char *t;

    decide(m, ACTION_ACCEPT, "default", SPFCHECK_PASS, DKIMCHECK_PASS, NULL, 0);
    decide(m, ACTION_ACCEPT, "default", SPFCHECK_NEUTRAL, DKIMCHECK_NONE, dry1, 1);
    decide(m, ACTION_REJECT, "spf-fail", SPFCHECK_FAIL, DKIMCHECK_UNSET, dry2, 2);
    decide(m, ACTION_QUARANTINE, "hold", SPFCHECK_UNSET, DKIMCHECK_FAIL, NULL, 0);
    decide(m, ACTION_TEMPFAIL, NULL, SPFCHECK_TEMPERROR, DKIMCHECK_UNSET, NULL, 0);
    metrics_in_flight(m, 1);
    metrics_in_flight(m, 1);
    metrics_in_flight(m, -1);
    metrics_reload(m, true);
    metrics_reload(m, false);
    metrics_reload(m, false);
    t = metrics_format(m, "# HELP x_extra y\n# TYPE x_extra gauge\nx_extra 7\n");

    ck_assert_int_eq(sample(t, "mxguard_decisions_total{action=\"accept\"}"), 2);
    ck_assert_int_eq(sample(t, "mxguard_decisions_total{action=\"reject\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_decisions_total{action=\"tempfail\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_decisions_total{action=\"quarantine\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_decisions_total{action=\"discard\"}"), 0);
    /* a verdict without a rule name is "default" */
    ck_assert_int_eq(sample(t, "mxguard_rule_matches_total{rule=\"default\",mode=\"fired\"}"), 3);
    ck_assert_int_eq(sample(t, "mxguard_rule_matches_total{rule=\"spf-fail\",mode=\"fired\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_rule_matches_total{rule=\"spf-fail\",mode=\"dry_run\"}"), 0);
    ck_assert_int_eq(sample(t, "mxguard_rule_matches_total{rule=\"would-reject\",mode=\"dry_run\"}"), 2);
    ck_assert_int_eq(sample(t, "mxguard_rule_matches_total{rule=\"would-reject\",mode=\"fired\"}"), 0);
    ck_assert_int_eq(sample(t, "mxguard_rule_matches_total{rule=\"odd\\\"name\\\\x\",mode=\"dry_run\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"spf\",result=\"pass\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"spf\",result=\"fail\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"spf\",result=\"temperror\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"spf\",result=\"softfail\"}"), 0);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"spf\",result=\"unset\"}"), -1);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"spf_helo\",result=\"pass\"}"), 5);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"dkim\",result=\"pass\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"dkim\",result=\"none\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"dkim\",result=\"fail\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"dmarc\",result=\"fail\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"dmarc\",result=\"pass\"}"), 0);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"dmarc\",result=\"unset\"}"), -1);
    /* no lists configured: nothing evaluated */
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"dnsbl\",result=\"clean\"}"), 0);
    ck_assert_int_eq(sample(t, "mxguard_messages_in_flight"), 1);
    ck_assert_int_eq(sample(t, "mxguard_config_reloads_total{result=\"ok\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_config_reloads_total{result=\"failed\"}"), 2);
    ck_assert_int_eq(sample(t, "mxguard_config_info{sha256=\"\"}"), 1);
    ck_assert_int_eq(sample(t, "x_extra"), 7);
    ck_assert_ptr_nonnull(strstr(t, "# TYPE mxguard_decisions_total counter\n"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE mxguard_dns_query_duration_seconds histogram\n"));
    ck_assert_msg(t[strlen(t) - 1] == '\n', "ends with a newline");
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(test_null_and_cap)
{
    metrics_t *m = metrics_new();
    char *t;

    /* NULL: everything is a no-op */
    metrics_in_flight(NULL, 1);
    metrics_reload(NULL, true);
    metrics_dns(DNS_ANSWER, 10, NULL);
    ck_assert(metrics_set_config(NULL, "/nonexistent"));
    t = metrics_format(NULL, NULL);
    ck_assert_str_eq(t, "");
    free(t);

    /* more rule names than kept: the rest count under "_other" */
    for (int i = 0; i < METRICS_MAX_NAMES + 10; i++) {
        char name[32];
        snprintf(name, sizeof(name), "r%d", i);
        decide(m, ACTION_ACCEPT, name, SPFCHECK_UNSET, DKIMCHECK_UNSET, NULL, 0);
    }
    decide(m, ACTION_ACCEPT, "r0", SPFCHECK_UNSET, DKIMCHECK_UNSET, NULL, 0);
    t = metrics_format(m, NULL);
    ck_assert_int_eq(sample(t, "mxguard_rule_matches_total{rule=\"r0\",mode=\"fired\"}"), 2);
    ck_assert_int_eq(sample(t, "mxguard_rule_matches_total{rule=\"r511\",mode=\"fired\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_rule_matches_total{rule=\"r512\",mode=\"fired\"}"), -1);
    ck_assert_int_eq(sample(t, "mxguard_rule_matches_total{rule=\"_other\",mode=\"fired\"}"), 10);
    free(t);
    metrics_free(m);
}
END_TEST

START_TEST(test_config_hash)
{
    metrics_t *m = metrics_new();
    char *path = tu_write_temp("abc");
    char *t;

    ck_assert(metrics_set_config(m, path));
    t = metrics_format(m, NULL);
    /* SHA-256("abc"), FIPS 180-2 appendix B.1 */
    ck_assert_int_eq(
        sample(t, "mxguard_config_info{sha256=\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}"),
        1);
    free(t);
    tu_log_start();
    ck_assert(!metrics_set_config(m, "/nonexistent/mxguard.conf"));
    tu_log_stop();
    t = metrics_format(m, NULL);
    ck_assert_int_eq(sample(t, "mxguard_config_info{sha256=\"\"}"), 1);
    free(t);
    free(path);
    metrics_free(m);
}
END_TEST

/* ---- DNS through a real resolver ----------------------------------------- */

START_TEST(test_dns_outcomes)
{
    static const char *const zones[] = {"example. static", "broken.example. refuse", NULL};
    static const char *const data[] = {"a.example. TXT \"x\"", NULL};
    dns_options opt = {.timeout_ms = 2000, .local_zones = zones, .local_data = data};
    metrics_t *m = metrics_new();
    char err[256];
    dns_t *dns = dns_new(&opt, err, sizeof(err));
    dns_answer *a;
    char *t;

    ck_assert_msg(dns != NULL, "%s", err);
    dns_set_observer(dns, metrics_dns, m);
    for (int i = 0; i < 3; i++) {
        dns_lookup(dns, "a.example", DNS_TYPE_TXT, &a);
        ck_assert_int_eq(a->status, DNS_ANSWER);
        dns_answer_free(a);
    }
    dns_lookup(dns, "nope.example", DNS_TYPE_TXT, &a);
    ck_assert_int_eq(a->status, DNS_NXDOMAIN);
    dns_answer_free(a);
    dns_lookup(dns, "a.example", DNS_TYPE_A, &a);
    ck_assert_int_eq(a->status, DNS_NODATA);
    dns_answer_free(a);
    dns_lookup(dns, "bad..name", DNS_TYPE_TXT, &a); /* never sent: still counted */
    ck_assert_int_eq(a->status, DNS_ERROR);
    dns_answer_free(a);
    /* observer off: not counted */
    dns_set_observer(dns, NULL, NULL);
    dns_lookup(dns, "a.example", DNS_TYPE_TXT, &a);
    dns_answer_free(a);
    dns_free(dns);

    /* hand-made latencies land in their buckets */
    metrics_dns(DNS_TIMEOUT, 2000000, m);   /* 2 s: le 2.5 */
    metrics_dns(DNS_SERVFAIL, 20000000, m); /* 20 s: only +Inf */
    t = metrics_format(m, NULL);
    ck_assert_int_eq(sample(t, "mxguard_dns_queries_total{outcome=\"answer\"}"), 3);
    ck_assert_int_eq(sample(t, "mxguard_dns_queries_total{outcome=\"nxdomain\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_dns_queries_total{outcome=\"nodata\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_dns_queries_total{outcome=\"error\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_dns_queries_total{outcome=\"timeout\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_dns_queries_total{outcome=\"servfail\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_dns_query_duration_seconds_count"), 8);
    ck_assert_int_eq(sample(t, "mxguard_dns_query_duration_seconds_bucket{le=\"+Inf\"}"), 8);
    ck_assert_int_eq(sample(t, "mxguard_dns_query_duration_seconds_bucket{le=\"10\"}"), 7);
    ck_assert_int_eq(sample(t, "mxguard_dns_query_duration_seconds_bucket{le=\"2.5\"}"), 7);
    /* local data answers within a second */
    ck_assert_int_eq(sample(t, "mxguard_dns_query_duration_seconds_bucket{le=\"1\"}"), 6);
    ck_assert_ptr_nonnull(strstr(t, "\nmxguard_dns_query_duration_seconds_sum 22."));
    free(t);
    metrics_free(m);
}
END_TEST

/* ---- whole sessions ------------------------------------------------------ */

START_TEST(test_sessions)
{
    static const char *const zones[] = {"example. static", NULL};
    static const char *const data[] = {"pass.example. TXT \"v=spf1 ip4:192.0.2.1 -all\"",
                                       "fail.example. TXT \"v=spf1 -all\"", NULL};
    dns_options opt = {.timeout_ms = 2000, .local_zones = zones, .local_data = data};
    const char *text = "authserv_id = \"mx.example.net\";\n"
                       "rules = (\n"
                       "  { name = \"would\"; match = { spf = [\"pass\"]; }; action = \"reject\"; dry_run = true; },\n"
                       "  { name = \"spf-fail\"; match = { spf = [\"fail\"]; }; action = \"reject\"; }\n"
                       ");\n";
    metrics_t *m = metrics_new();
    conf_t *c = conf_load_string(text, "t.conf", NULL, NULL);
    char err[256];
    snapshot_t *snap;
    session_t *s;
    session_edits ed;
    char *t;

    ck_assert_ptr_nonnull(c);
    snap = snapshot_from_conf(c, &opt, err, sizeof(err));
    ck_assert_msg(snap != NULL, "%s", err);
    snapshot_attach_metrics(snap, m);
    snapshot_install(snap);
    tu_log_start();

    s = session_new();
    session_connect(s, "client.example", "192.0.2.1");
    session_helo(s, "client.example");
    session_mail(s, "<a@pass.example>", NULL);
    t = metrics_format(m, NULL);
    ck_assert_int_eq(sample(t, "mxguard_messages_in_flight"), 1);
    free(t);
    session_rcpt(s, "<b@dest.example>");
    session_eoh(s);
    session_eom(s, &ed, NULL, NULL);
    t = metrics_format(m, NULL);
    ck_assert_int_eq(sample(t, "mxguard_messages_in_flight"), 0);
    free(t);
    /* second message on the connection: refused at RCPT, then QUIT */
    session_mail(s, "<a@fail.example>", NULL);
    ck_assert_int_eq(session_rcpt(s, "<b@dest.example>").status, SESSION_REJECT);
    session_abort(s);
    /* third: aborted before any verdict (no decision line) */
    session_mail(s, "<a@pass.example>", NULL);
    session_abort(s);
    session_free(s);

    t = metrics_format(m, NULL);
    ck_assert_int_eq(sample(t, "mxguard_messages_in_flight"), 0);
    ck_assert_int_eq(sample(t, "mxguard_decisions_total{action=\"accept\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_decisions_total{action=\"reject\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_rule_matches_total{rule=\"would\",mode=\"dry_run\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_rule_matches_total{rule=\"spf-fail\",mode=\"fired\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_rule_matches_total{rule=\"default\",mode=\"fired\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"spf\",result=\"pass\"}"), 1);
    ck_assert_int_eq(sample(t, "mxguard_check_results_total{check=\"spf\",result=\"fail\"}"), 1);
    /* SPF of pass.example, fail.example and the HELO name went through DNS */
    ck_assert_int_ge(sample(t, "mxguard_dns_queries_total{outcome=\"answer\"}"), 2);
    free(t);
    tu_log_stop();
    snapshot_shutdown();
    metrics_free(m);
}
END_TEST

/* ---- the HTTP endpoint --------------------------------------------------- */

/* One HTTP/1.0 request to 127.0.0.1:port; returns the whole answer. */
static char *http(unsigned port, const char *request)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    struct timeval tv = {5, 0};
    char *buf = xmalloc(65536);
    size_t len = 0;
    ssize_t n;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(write(fd, request, strlen(request)), (ssize_t)strlen(request));
    while (len < 65535 && (n = read(fd, buf + len, 65535 - len)) > 0)
        len += (size_t)n;
    buf[len] = '\0';
    close(fd);
    return buf;
}

START_TEST(test_http)
{
    metrics_t *m = metrics_new();
    metricsrv_t *srv = NULL;
    char listen[64], err[256];
    unsigned port = 0;
    char *r;

    /* a free port: try a few in the dynamic range */
    for (int i = 0; i < 50 && srv == NULL; i++) {
        port = 20000u + (unsigned)((getpid() * 7919 + i * 104729) % 40000);
        snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
        tu_log_start();
        srv = metricsrv_start(listen, m, NULL, err, sizeof(err));
        tu_log_stop();
    }
    ck_assert_msg(srv != NULL, "%s", err);
    decide(m, ACTION_REJECT, "spf-fail", SPFCHECK_FAIL, DKIMCHECK_UNSET, NULL, 0);

    r = http(port, "GET /metrics HTTP/1.0\r\n\r\n");
    ck_assert_msg(strncmp(r, "HTTP/1.", 7) == 0 && strncmp(r + 8, " 200", 4) == 0, "%.80s", r);
    ck_assert_msg(strstr(r, "Content-Type: text/plain; version=0.0.4") != NULL, "%.300s", r);
    ck_assert_int_eq(sample(r, "mxguard_decisions_total{action=\"reject\"}"), 1);
    ck_assert_int_eq(sample(r, "mxguard_connections_open"), 0);
    ck_assert_int_eq(sample(r, "mxguard_report_rows_buffered"), -1); /* reports off */
    free(r);
    r = http(port, "GET / HTTP/1.0\r\n\r\n");
    ck_assert_msg(strncmp(r + 8, " 404", 4) == 0, "%.80s", r);
    free(r);
    r = http(port, "POST /metrics HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
    ck_assert_msg(strncmp(r + 8, " 405", 4) == 0, "%.80s", r);
    free(r);

    /* the same port again: refused with a reason */
    tu_log_start();
    ck_assert_ptr_null(metricsrv_start(listen, m, NULL, err, sizeof(err)));
    ck_assert_msg(strstr(err, listen) != NULL, "%s", err);
    ck_assert_ptr_null(metricsrv_start("localhost:1", m, NULL, err, sizeof(err)));
    tu_log_stop();
    metricsrv_stop(srv);
    metricsrv_stop(NULL);
    metrics_free(m);
}
END_TEST

/* The DMARC report figures: each one in its own series. */
START_TEST(test_reports_format)
{
    metrics_reports r = {.rows_buffered = 1, .rows_flushed = 2, .messages_dropped = 3, .flush_errors = 4,
                         .totals_known = true, .built = 5, .sent = 6, .failed = 7};
    char *t = metrics_format_reports(&r);

    ck_assert_int_eq(sample(t, "mxguard_report_rows_buffered"), 1);
    ck_assert_int_eq(sample(t, "mxguard_report_rows_flushed_total"), 2);
    ck_assert_int_eq(sample(t, "mxguard_report_messages_dropped_total"), 3);
    ck_assert_int_eq(sample(t, "mxguard_report_flush_errors_total"), 4);
    ck_assert_int_eq(sample(t, "mxguard_reports_built_total"), 5);
    ck_assert_int_eq(sample(t, "mxguard_reports_sent_total"), 6);
    ck_assert_int_eq(sample(t, "mxguard_reports_failed_total"), 7);
    ck_assert_ptr_nonnull(strstr(t, "# TYPE mxguard_report_rows_buffered gauge\n"));
    ck_assert_ptr_nonnull(strstr(t, "# TYPE mxguard_reports_sent_total counter\n"));
    free(t);
    /* the store's totals not read yet: those three are not there at all */
    r.totals_known = false;
    t = metrics_format_reports(&r);
    ck_assert_int_eq(sample(t, "mxguard_report_flush_errors_total"), 4);
    ck_assert_ptr_null(strstr(t, "mxguard_reports_"));
    free(t);
}
END_TEST

/* The endpoint with reports on: the flusher's figures at scrape time. */
START_TEST(test_http_reports)
{
    static const verdict_t accept = {.action = ACTION_ACCEPT, .rule = "default"};
    dmarcflush_options o = {.store = "sqlite:/nonexistent/r.db", .flush_interval = 60, .max_rows = 1};
    dmarcflush_t *fl = dmarcflush_new(&o); /* not started: no store */
    metrics_t *m = metrics_new();
    metricsrv_t *srv = NULL;
    facts_t *f = facts_new();
    char listen[64], err[256];
    unsigned port = 0;
    char *r;

    facts_set(&f->client_addr, "192.0.2.1");
    facts_set(&f->sender_domain, "org.example");
    f->dmarc.result = DMARCCHECK_PASS;
    f->dmarc.from = FROMHDR_OK;
    snprintf(f->dmarc.domain, sizeof(f->dmarc.domain), "org.example");
    snprintf(f->dmarc.policy_domain, sizeof(f->dmarc.policy_domain), "org.example");
    f->dmarc.p = f->dmarc.published = DMARCCHECK_POLICY_REJECT;
    f->dmarc.policy_tag = "p";
    f->dmarc.applied = DMARCCHECK_POLICY_NONE;
    f->dmarc.rua = true;
    ck_assert_int_eq(dmarcflush_add(fl, f, &accept, 1764806400, NULL), DMARCFLUSH_ADDED);
    facts_set(&f->client_addr, "192.0.2.2"); /* a second row: over max_rows */
    ck_assert_int_eq(dmarcflush_add(fl, f, &accept, 1764806400, NULL), DMARCFLUSH_DROPPED);
    for (int i = 0; i < 50 && srv == NULL; i++) {
        port = 20000u + (unsigned)((getpid() * 7919 + i * 104729 + 17) % 40000);
        snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
        tu_log_start();
        srv = metricsrv_start(listen, m, fl, err, sizeof(err));
        tu_log_stop();
    }
    ck_assert_msg(srv != NULL, "%s", err);
    r = http(port, "GET /metrics HTTP/1.0\r\n\r\n");
    ck_assert_int_eq(sample(r, "mxguard_report_rows_buffered"), 1);
    ck_assert_int_eq(sample(r, "mxguard_report_messages_dropped_total"), 1);
    ck_assert_int_eq(sample(r, "mxguard_report_rows_flushed_total"), 0);
    ck_assert_int_eq(sample(r, "mxguard_report_flush_errors_total"), 0);
    ck_assert_ptr_null(strstr(r, "mxguard_reports_")); /* the store's totals unknown: not shown */
    ck_assert_int_eq(sample(r, "mxguard_connections_open"), 0);
    free(r);
    metricsrv_stop(srv);
    metrics_free(m);
    dmarcflush_free(fl);
    facts_free(f);
}
END_TEST

static Suite *metrics_suite(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_listen_syntax, 0, (int)(sizeof(listen_cases) / sizeof(listen_cases[0])));
    tcase_add_test(tc, test_decisions);
    tcase_add_test(tc, test_null_and_cap);
    tcase_add_test(tc, test_config_hash);
    tcase_add_test(tc, test_dns_outcomes);
    tcase_add_test(tc, test_sessions);
    tcase_add_test(tc, test_http);
    tcase_add_test(tc, test_reports_format);
    tcase_add_test(tc, test_http_reports);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc = tu_run(metrics_suite());
    tu_cleanup();
    return rc;
}
