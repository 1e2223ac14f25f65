/*
 * test_report.c - "mxguard report" run in-process (report_main) against a
 * real SQLite store filled through rstore_add, a real DNS server (Debian's
 * unbound, testdns.h) holding the DMARC and _report._dmarc records, and
 * shell scripts standing in for sendmail (one that saves its stdin and
 * arguments, one that exits 75):
 *   - --output-dir: one file per destination with the RFC 9990 name, valid
 *     against the schema, rows and counts as stored; an external
 *     destination with a _report._dmarc record (or a wildcard one) gets its
 *     file, one without does not; no rua, a size limit too small: nothing;
 *     a second run writes nothing;
 *   - --dry-run writes nothing and releases its claims;
 *   - sendmail failing: the report kept, retried later with the same
 *     Report-ID and file name, each destination sent once;
 *   - a claim lost mid-report (renewal refused) stops that report;
 *   - the rate limit defers; a DNS failure is retried; expiry;
 *   - a report that cannot be rendered fails and is kept, never marked done.
 * No MTA: the end-to-end run through Postfix is tests/e2e's.
 */
#include "config.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <zlib.h>

#include "dmarcrow.h"
#include "report.h"
#include "rstore.h"
#include "strbuf.h"
#include "testdns.h"
#include "testutil.h"
#include "xalloc.h"

#define XSD "data/dmarc/rfc9990/dmarc-xml-0.2.xsd"
#define DAY 86400
#define BEGIN ((int64_t)20600 * DAY) /* 2026-05-27 */
#define END (BEGIN + DAY - 1)
#define NOW (END + 3600)             /* the day is closed */
#define RECEIVER "example.org"
#define EMAIL "dmarc-reports@example.org"

static const char zone[] =
    "local-zone: \".\" refuse\n"
    "local-zone: \"example.\" static\n"
    /* a: its own domain, an external one that agreed, one that did not,
     * and a scheme that is not mail */
    "local-data: '_dmarc.a.example. TXT \"v=DMARC1; p=reject; rua=mailto:rua@a.example, "
    "mailto:agg@ext.example!10m,mailto:nope@noverify.example , https://r.example/x\"'\n"
    "local-data: 'a.example._report._dmarc.ext.example. TXT \"v=DMARC1\"'\n"
    "local-data: 'noverify.example. TXT \"v=spf1 -all\"'\n"
    /* b: a record without rua */
    "local-data: '_dmarc.b.example. TXT \"v=DMARC1; p=none\"'\n"
    /* c: a size limit no report fits */
    "local-data: '_dmarc.c.example. TXT \"v=DMARC1; p=quarantine; rua=mailto:r@c.example!1\"'\n"
    /* d: an external destination verified by a wildcard record (unbound's
     * local-data has no wildcards: a redirect zone answers every name
     * under _report._dmarc.wild.example as a wildcard would) */
    "local-data: '_dmarc.d.example. TXT \"v=DMARC1; p=none; rua=mailto:x@wild.example\"'\n"
    "local-zone: \"_report._dmarc.wild.example.\" redirect\n"
    "local-data: '_report._dmarc.wild.example. TXT \"v=DMARC1;\"'\n"
    /* e: no record at all (NXDOMAIN) */
    /* ctl: a rua with control bytes (ESC [31m, BEL) and a good address */
    "local-data: '_dmarc.ctl.example. TXT \"v=DMARC1; p=none; rua=mailto:x@ctl.example\\027[31m\\007,"
    "mailto:y@ctl.example\"'\n"
    /* slow.example: its DNS server does not answer */
    "local-zone: \"slow.example.\" transparent\n"
    "forward-zone:\n"
    "    name: \"slow.example.\"\n"
    "    forward-addr: 127.0.0.1@1\n";

typedef struct fx {
    tdns dns;
    char dir[64];
    char *conf, *out, *sendmail, *store;
} fx;

static void write_file(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(chmod(path, mode), 0);
}

/* sendmail scripts: "ok" saves args and mail as N.args and N.mail in
 * DIR/sent; "fail" exits 75 (EX_TEMPFAIL) after reading the mail;
 * "fail-ext" fails only for agg@ext.example; "steal" is "ok" that first
 * hands every claimed report to another reporter (as if this run's lease
 * had run out and another reporter had claimed them) with sqlite3. */
static void set_sendmail(const fx *f, const char *kind)
{
    char *s;

    if (strcmp(kind, "ok") == 0)
        s = xasprintf("#!/bin/sh\nd='%s/sent'\nmkdir -p \"$d\"\nn=$(ls \"$d\" | grep -c '\\.mail$')\n"
                      "printf '%%s\\n' \"$@\" > \"$d/$n.args\"\ncat > \"$d/$n.mail\"\n",
                      f->dir);
    else if (strcmp(kind, "fail") == 0)
        s = xasprintf("#!/bin/sh\ncat > /dev/null\nexit 75\n");
    else if (strcmp(kind, "steal") == 0)
        s = xasprintf("#!/bin/sh\nsqlite3 -cmd '.timeout 5000' '%s/reports.db' "
                      "\"UPDATE reports SET owner = 'thief:1', lease_until = %lld WHERE owner IS NOT NULL\" || exit 1\n"
                      "d='%s/sent'\nmkdir -p \"$d\"\nn=$(ls \"$d\" | grep -c '\\.mail$')\n"
                      "printf '%%s\\n' \"$@\" > \"$d/$n.args\"\ncat > \"$d/$n.mail\"\n",
                      f->dir, (long long)(NOW + 600), f->dir);
    else
        s = xasprintf("#!/bin/sh\nfor a; do last=$a; done\n[ \"$last\" = agg@ext.example ] && exit 75\n"
                      "d='%s/sent'\nmkdir -p \"$d\"\nn=$(ls \"$d\" | grep -c '\\.mail$')\n"
                      "printf '%%s\\n' \"$@\" > \"$d/$n.args\"\ncat > \"$d/$n.mail\"\n",
                      f->dir);
    write_file(f->sendmail, s, 0755);
    free(s);
}

static void write_conf(const fx *f, unsigned rate_limit)
{
    char *c = xasprintf("dns = { upstream = \"%s\"; timeout_ms = 1500; };\n"
                        "reports = {\n  store = \"%s\";\n  org_name = \"Example Org\";\n"
                        "  email = \"" EMAIL "\";\n  sendmail = \"%s\";\n  rate_limit = %u;\n"
                        "  max_recipients = 4;\n  flush_interval = 60;\n  retention_days = 30;\n};\n",
                        f->dns.upstream, f->store, f->sendmail, rate_limit);
    write_file(f->conf, c, 0644);
    free(c);
}

static void fx_start(fx *f, unsigned rate_limit)
{
    char tmpl[] = "/tmp/mxguard-report-XXXXXX";

    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    snprintf(f->dir, sizeof(f->dir), "%s", tmpl);
    f->conf = xasprintf("%s/mxguard.conf", f->dir);
    f->out = xasprintf("%s/out", f->dir);
    f->sendmail = xasprintf("%s/sendmail", f->dir);
    f->store = xasprintf("sqlite:%s/reports.db", f->dir);
    tdns_start(&f->dns, zone);
    write_conf(f, rate_limit);
    set_sendmail(f, "ok");
}

static void fx_stop(fx *f)
{
    char *cmd = xasprintf("rm -rf '%s'", f->dir);

    tdns_stop(&f->dns);
    ck_assert_int_eq(system(cmd), 0);
    free(cmd);
    free(f->conf);
    free(f->out);
    free(f->sendmail);
    free(f->store);
}

/* ---- the store ------------------------------------------------------------ */

static dmarcrow *mkrow(const char *domain, int64_t begin, const char *ip, const char *from, bool pass)
{
    dmarcrow *r = xcalloc(1, sizeof(*r));

    r->p = DMARCCHECK_POLICY_REJECT;
    r->sp = DMARCCHECK_POLICY_UNSET;
    r->np = DMARCCHECK_POLICY_UNSET;
    r->rua = true;
    r->policy_domain = xstrdup(domain);
    r->begin = (time_t)begin;
    r->end = (time_t)(begin + DAY - 1);
    r->source_ip = xstrdup(ip);
    r->header_from = xstrdup(from);
    r->envelope_from = xstrdup(pass ? from : "");
    r->disposition = pass ? DMARCROW_DISP_PASS : DMARCROW_DISP_REJECT;
    r->dkim_aligned = pass;
    r->spf_aligned = false;
    r->ndkim = 1;
    r->dkim = xcalloc(1, sizeof(*r->dkim));
    r->dkim[0].domain = xstrdup(from);
    r->dkim[0].selector = xstrdup("s1");
    r->dkim[0].result = pass ? DKIMCHECK_PASS : DKIMCHECK_FAIL;
    r->spf_domain = xstrdup(pass ? from : "");
    r->spf = pass ? SPFCHECK_NONE : SPFCHECK_UNSET;
    return r;
}

/* Rows of a.example (3 rows, 8 messages), b..e and slow: one row each. */
static void fill(const fx *f, int64_t begin, bool others)
{
    char err[256];
    rstore_t *st = rstore_open(f->store, err, sizeof(err));
    dmarcrow *rows[8];
    unsigned long counts[8] = {5, 2, 1, 4, 4, 4, 4, 4};
    size_t n = 0;

    ck_assert_msg(st != NULL, "%s", err);
    rows[n++] = mkrow("a.example", begin, "192.0.2.1", "a.example", true);
    rows[n++] = mkrow("a.example", begin, "2001:db8::7", "a.example", false);
    rows[n++] = mkrow("a.example", begin, "198.51.100.9", "mail.a.example", false);
    if (others) {
        rows[n++] = mkrow("b.example", begin, "192.0.2.2", "b.example", true);
        rows[n++] = mkrow("c.example", begin, "192.0.2.3", "c.example", true);
        rows[n++] = mkrow("d.example", begin, "192.0.2.4", "d.example", true);
        rows[n++] = mkrow("e.example", begin, "192.0.2.5", "e.example", true);
    }
    ck_assert_msg(rstore_add(st, (const dmarcrow *const *)rows, counts, n, NULL, err, sizeof(err)), "%s", err);
    for (size_t i = 0; i < n; i++)
        dmarcrow_free(rows[i]);
    rstore_close(st);
}

static void fill_slow(const fx *f)
{
    char err[256];
    rstore_t *st = rstore_open(f->store, err, sizeof(err));
    dmarcrow *row = mkrow("slow.example", BEGIN, "192.0.2.6", "slow.example", true);
    unsigned long one = 1;

    ck_assert_msg(st != NULL, "%s", err);
    ck_assert_msg(rstore_add(st, (const dmarcrow *const *)&row, &one, 1, NULL, err, sizeof(err)), "%s", err);
    dmarcrow_free(row);
    rstore_close(st);
}

static rstore_totals totals(const fx *f)
{
    char err[256];
    rstore_t *st = rstore_open(f->store, err, sizeof(err));
    rstore_totals t;

    ck_assert_msg(st != NULL, "%s", err);
    ck_assert_msg(rstore_totals_get(st, &t, err, sizeof(err)), "%s", err);
    rstore_close(st);
    return t;
}

/* ---- running it ------------------------------------------------------------ */

/* report_main with its stdout captured into *out (caller frees). */
static int run(const fx *f, char **out, int64_t now, const char *extra1, const char *extra2)
{
    char nowbuf[32], *path = xasprintf("%s/stdout", f->dir);
    char *argv[12];
    int argc = 0, saved, fd, rc;
    FILE *fp;
    long len;

    snprintf(nowbuf, sizeof(nowbuf), "%lld", (long long)now);
    argv[argc++] = "report";
    argv[argc++] = "-c";
    argv[argc++] = f->conf;
    argv[argc++] = "--now";
    argv[argc++] = nowbuf;
    if (extra1 != NULL)
        argv[argc++] = (char *)extra1;
    if (extra2 != NULL)
        argv[argc++] = (char *)extra2;
    argv[argc] = NULL;
    fflush(stdout);
    saved = dup(STDOUT_FILENO);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    ck_assert(saved >= 0 && fd >= 0);
    dup2(fd, STDOUT_FILENO);
    close(fd);
    rc = report_main(argc, argv);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    fp = fopen(path, "r");
    ck_assert_ptr_nonnull(fp);
    fseek(fp, 0, SEEK_END);
    len = ftell(fp);
    rewind(fp);
    *out = xcalloc(1, (size_t)len + 1);
    ck_assert_uint_eq(fread(*out, 1, (size_t)len, fp), (size_t)len);
    fclose(fp);
    free(path);
    fprintf(stderr, "--- mxguard report (exit %d):\n%s", rc, *out);
    return rc;
}

static int run_dir(const fx *f, char **out, int64_t now, const char *extra)
{
    return run(f, out, now, "--output-dir", extra ? extra : f->out) ;
}

/* Files under dir (recursively), as "sub/name" lines sorted. */
static size_t count_files(const char *dir)
{
    char *cmd = xasprintf("find '%s' -type f 2>/dev/null | wc -l", dir);
    FILE *p = popen(cmd, "r");
    unsigned long n = 0;

    ck_assert_ptr_nonnull(p);
    ck_assert_int_eq(fscanf(p, "%lu", &n), 1);
    pclose(p);
    free(cmd);
    return n;
}

static char *expected_name(const char *domain, int64_t begin)
{
    char uid[REPORT_UNIQUE_ID_SZ];

    report_unique_id(domain, begin, begin + DAY - 1, RECEIVER, uid);
    return xasprintf(RECEIVER "!%s!%lld!%lld!%s.xml.gz", domain, (long long)begin, (long long)(begin + DAY - 1),
                     uid);
}

/* gunzip a file into a string (caller frees). */
static char *gunzip_file(const char *path)
{
    gzFile g = gzopen(path, "rb");
    strbuf b = {0};
    char buf[4096];
    int n;

    ck_assert_msg(g != NULL, "cannot open %s", path);
    while ((n = gzread(g, buf, sizeof(buf))) > 0)
        strbuf_add(&b, buf, (size_t)n);
    ck_assert_int_eq(n, 0);
    gzclose(g);
    return strbuf_take(&b);
}

static void assert_valid(const char *xml)
{
    char *path = tu_write_temp(xml);
    char *cmd = xasprintf("xmllint --noout --schema '%s' '%s' > /dev/null 2>&1", tu_path(XSD), path);
    int st = system(cmd);

    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "xmllint rejects:\n%.3000s", xml);
    unlink(path);
    free(cmd);
    free(path);
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The sum of <count> values. */
static unsigned long sum_counts(const char *xml)
{
    unsigned long s = 0;

    for (const char *p = strstr(xml, "<count>"); p; p = strstr(p + 1, "<count>"))
        s += strtoul(p + 7, NULL, 10);
    return s;
}

static bool exists(const char *dir, const char *sub, const char *name)
{
    char *p = xasprintf("%s/%s/%s", dir, sub, name);
    bool e = access(p, F_OK) == 0;

    free(p);
    return e;
}

/* a.example's file for dest: valid, 3 rows, 8 messages, its metadata. */
static void check_a_file(const fx *f, const char *dest, const char *name)
{
    char *path = xasprintf("%s/%s/%s", f->out, dest, name);
    char *xml = gunzip_file(path);
    char uid[REPORT_UNIQUE_ID_SZ], *rid;
    struct stat sb;

    ck_assert_int_eq(stat(path, &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0777, 0644);
    assert_valid(xml);
    ck_assert_uint_eq(count_of(xml, "<record>"), 3);
    ck_assert_uint_eq(sum_counts(xml), 8);
    ck_assert_ptr_nonnull(strstr(xml, "<source_ip>2001:db8::7</source_ip>"));
    ck_assert_ptr_nonnull(strstr(xml, "<domain>a.example</domain>"));
    ck_assert_ptr_nonnull(strstr(xml, "<org_name>Example Org</org_name>"));
    report_unique_id("a.example", BEGIN, END, RECEIVER, uid);
    rid = xasprintf("<report_id>%s@" RECEIVER "</report_id>", uid);
    ck_assert_msg(strstr(xml, rid) != NULL, "no %s", rid);
    free(rid);
    free(xml);
    free(path);
}

/* ---- tests ---------------------------------------------------------------------- */

START_TEST(test_output_dir)
{
    fx f;
    char *out, *na, *nc, *nd;

    fx_start(&f, 0);
    fill(&f, BEGIN, true);
    /* not closed yet: the period ended less than flush_interval + 60 ago */
    ck_assert_int_eq(run_dir(&f, &out, END + 100, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "reports: 0 built, 0 sent, 0 failed, 0 skipped"));
    ck_assert_uint_eq(count_files(f.out), 0);
    free(out);

    ck_assert_int_eq(run_dir(&f, &out, NOW, NULL), 0);
    na = expected_name("a.example", BEGIN);
    nc = expected_name("c.example", BEGIN);
    nd = expected_name("d.example", BEGIN);
    ck_assert(exists(f.out, "rua@a.example", na));
    ck_assert(exists(f.out, "agg@ext.example", na));   /* verified */
    ck_assert(!exists(f.out, "nope@noverify.example", na)); /* not verified */
    ck_assert(exists(f.out, "x@wild.example", nd));    /* verified by a wildcard */
    ck_assert(!exists(f.out, "r@c.example", nc));      /* over its !1 limit */
    ck_assert_uint_eq(count_files(f.out), 3);
    check_a_file(&f, "rua@a.example", na);
    check_a_file(&f, "agg@ext.example", na);
    ck_assert_ptr_nonnull(strstr(out, "nope@noverify.example skipped: not verified"));
    ck_assert_ptr_nonnull(strstr(out, "r@c.example skipped"));
    ck_assert_ptr_nonnull(strstr(out, "b.example"));
    ck_assert_ptr_nonnull(strstr(out, "_dmarc.b.example: no rua"));
    ck_assert_ptr_nonnull(strstr(out, "_dmarc.e.example: no DMARC record"));
    /* built: a, c, d; sent: 3 files; skipped: noverify, c's limit, b, e */
    ck_assert_ptr_nonnull(strstr(out, "reports: 3 built, 3 sent, 0 failed, 4 skipped"));
    {
        rstore_totals t = totals(&f);
        ck_assert_uint_eq(t.built, 3);
        ck_assert_uint_eq(t.sent, 3);
        ck_assert_uint_eq(t.failed, 0);
        ck_assert_uint_eq(t.reports_open, 0);
        ck_assert_uint_eq(t.reports_sent, 5);
    }
    free(out);

    /* a second run: nothing */
    ck_assert_int_eq(run_dir(&f, &out, NOW + 60, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "reports: 0 built, 0 sent, 0 failed, 0 skipped"));
    ck_assert_uint_eq(count_files(f.out), 3);
    free(out);

    /* retention: 30 days after the period the report is gone */
    ck_assert_int_eq(run_dir(&f, &out, END + 31 * DAY, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "expired: 5 report(s)"));
    ck_assert_uint_eq(totals(&f).reports_sent, 0);
    free(out);
    free(na);
    free(nc);
    free(nd);
    fx_stop(&f);
}
END_TEST

START_TEST(test_dry_run)
{
    fx f;
    char *out, *na = expected_name("a.example", BEGIN);

    fx_start(&f, 0);
    fill(&f, BEGIN, false);
    ck_assert_int_eq(run(&f, &out, NOW, "--dry-run", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "dry run: a.example"));
    ck_assert_ptr_nonnull(strstr(out, "3 rows, 8 messages"));
    ck_assert_ptr_nonnull(strstr(out, na));
    ck_assert_ptr_nonnull(strstr(out, "rua@a.example would be sent"));
    ck_assert_ptr_nonnull(strstr(out, "agg@ext.example would be sent (verified)"));
    ck_assert_ptr_nonnull(strstr(out, "nope@noverify.example skipped: not verified"));
    ck_assert_ptr_nonnull(strstr(out, "reports (dry run): 1 to build, 2 to send, 0 failed, 1 skipped"));
    ck_assert_uint_eq(count_files(f.out), 0);
    {
        char *sent = xasprintf("%s/sent", f.dir);
        ck_assert_uint_eq(count_files(sent), 0); /* sendmail never ran */
        free(sent);
    }
    ck_assert_uint_eq(totals(&f).built, 0);
    ck_assert_uint_eq(totals(&f).reports_open, 1);
    free(out);
    /* --dry-run with --output-dir writes nothing either */
    ck_assert_int_eq(run(&f, &out, NOW, "--dry-run", "--verbose"), 0);
    free(out);
    ck_assert_int_eq(run(&f, &out, NOW, "--output-dir", f.out), 0);
    /* claims released: the real run sends */
    ck_assert(exists(f.out, "rua@a.example", na));
    ck_assert(exists(f.out, "agg@ext.example", na));
    ck_assert_ptr_nonnull(strstr(out, "reports: 1 built, 2 sent, 0 failed, 1 skipped"));
    free(out);
    free(na);
    fx_stop(&f);
}
END_TEST

/* A dry run with a --now a week ahead leaves each report's next try as it
 * was: a real run at the normal time still sends. */
START_TEST(test_dry_run_future)
{
    fx f;
    char *out, *na = expected_name("a.example", BEGIN);

    fx_start(&f, 0);
    fill(&f, BEGIN, false);
    ck_assert_int_eq(run(&f, &out, NOW + 7 * DAY, "--dry-run", NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "reports (dry run): 1 to build, 2 to send, 0 failed, 1 skipped"));
    free(out);
    ck_assert_int_eq(run_dir(&f, &out, NOW, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "reports: 1 built, 2 sent, 0 failed, 1 skipped"));
    ck_assert(exists(f.out, "rua@a.example", na));
    free(out);
    free(na);
    fx_stop(&f);
}
END_TEST

/* The mail N sendmail received and its arguments. */
static char *read_sent(const fx *f, int n, const char *ext)
{
    char *p = xasprintf("%s/sent/%d.%s", f->dir, n, ext);
    FILE *fp = fopen(p, "r");
    strbuf b = {0};
    char buf[4096];
    size_t got;

    ck_assert_msg(fp != NULL, "no %s", p);
    while ((got = fread(buf, 1, sizeof(buf), fp)) > 0)
        strbuf_add(&b, buf, got);
    fclose(fp);
    free(p);
    return strbuf_take(&b);
}

START_TEST(test_sendmail_retry)
{
    fx f;
    char *out, *na = expected_name("a.example", BEGIN), *sent = NULL;
    char uid[REPORT_UNIQUE_ID_SZ], *subject, *m, *args;

    fx_start(&f, 0);
    sent = xasprintf("%s/sent", f.dir);
    fill(&f, BEGIN, false);
    set_sendmail(&f, "fail");
    ck_assert_int_eq(run(&f, &out, NOW, NULL, NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "rua@a.example failed: "));
    ck_assert_ptr_nonnull(strstr(out, "exit status 75"));
    ck_assert_ptr_nonnull(strstr(out, "reports: 1 built, 0 sent, 2 failed, 1 skipped"));
    free(out);
    ck_assert_uint_eq(totals(&f).failed, 2);
    ck_assert_uint_eq(totals(&f).reports_open, 1);

    /* not due again before the retry delay (an hour after the first failure) */
    set_sendmail(&f, "fail-ext");
    ck_assert_int_eq(run(&f, &out, NOW + 1800, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "reports: 0 built, 0 sent, 0 failed, 0 skipped"));
    free(out);
    ck_assert_uint_eq(count_files(sent), 0);

    /* due: one destination takes it, the other fails again */
    ck_assert_int_eq(run(&f, &out, NOW + 3601, NULL, NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "reports: 1 built, 1 sent, 1 failed, 1 skipped"));
    free(out);
    ck_assert_uint_eq(count_files(sent), 2);
    args = read_sent(&f, 0, "args");
    ck_assert_str_eq(args, "-i\n-f\n" EMAIL "\n--\nrua@a.example\n");
    free(args);

    /* the next retry (two hours after the second failure) sends only to the one left */
    set_sendmail(&f, "ok");
    ck_assert_int_eq(run(&f, &out, NOW + 3601 + 3600, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "reports: 0 built, 0 sent, 0 failed, 0 skipped")); /* not due yet */
    free(out);
    ck_assert_int_eq(run(&f, &out, NOW + 3601 + 7201, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "rua@a.example sent before"));
    ck_assert_ptr_nonnull(strstr(out, "agg@ext.example sent (verified)"));
    ck_assert_ptr_nonnull(strstr(out, "reports: 1 built, 1 sent, 0 failed, 1 skipped"));
    free(out);
    ck_assert_uint_eq(count_files(sent), 4);
    args = read_sent(&f, 1, "args");
    ck_assert_str_eq(args, "-i\n-f\n" EMAIL "\n--\nagg@ext.example\n");
    free(args);

    /* both mails carry the same Report-ID and file name */
    report_unique_id("a.example", BEGIN, END, RECEIVER, uid);
    subject = xasprintf("Report-ID: <%s@" RECEIVER ">", uid);
    for (int i = 0; i < 2; i++) {
        m = read_sent(&f, i, "mail");
        for (char *p = strstr(m, "\n "); p != NULL; p = strstr(p, "\n ")) /* unfold */
            memmove(p, p + 1, strlen(p + 1) + 1);
        ck_assert_msg(strstr(m, subject) != NULL, "mail %d has no %s", i, subject);
        ck_assert_ptr_nonnull(strstr(m, na));
        ck_assert_ptr_nonnull(strstr(m, "\nAuto-Submitted: auto-generated\n"));
        ck_assert_ptr_nonnull(strstr(m, "From: " EMAIL "\n"));
        ck_assert_ptr_null(strchr(m, '\r'));
        free(m);
    }
    free(subject);

    /* and then nothing more */
    ck_assert_int_eq(run(&f, &out, NOW + 30000, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "reports: 0 built, 0 sent, 0 failed, 0 skipped"));
    free(out);
    ck_assert_uint_eq(count_files(sent), 4);
    free(sent);
    free(na);
    fx_stop(&f);
}
END_TEST

/* A claim lost mid-report (its lease ran out, another reporter took it):
 * the run renews before each destination, finds it lost and stops that
 * report without ending it; the other reporter's claim is untouched, and
 * once its lease runs out the report is sent to the destinations left. */
START_TEST(test_claim_lost)
{
    fx f;
    char *out, *sent, *args;

    fx_start(&f, 0);
    sent = xasprintf("%s/sent", f.dir);
    fill(&f, BEGIN, false);
    set_sendmail(&f, "steal");
    ck_assert_int_eq(run(&f, &out, NOW, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "rua@a.example sent; stopped: claim lost"));
    ck_assert_ptr_null(strstr(out, "agg@ext.example"));
    ck_assert_ptr_nonnull(strstr(out, "reports: 1 built, 1 sent, 0 failed, 0 skipped"));
    free(out);
    ck_assert_uint_eq(count_files(sent), 2); /* one mail: rua@a.example */
    ck_assert_uint_eq(totals(&f).reports_open, 1);
    ck_assert_uint_eq(totals(&f).failed, 0);
    {
        char *cmd = xasprintf("test \"$(sqlite3 '%s/reports.db' 'SELECT owner, attempts FROM reports')\" = 'thief:1|0'",
                              f.dir);
        ck_assert_msg(system(cmd) == 0, "the other reporter's claim was changed");
        free(cmd);
    }
    /* the thief's lease runs out: the next run sends to the one left */
    set_sendmail(&f, "ok");
    ck_assert_int_eq(run(&f, &out, NOW + 601, NULL, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "rua@a.example sent before"));
    ck_assert_ptr_nonnull(strstr(out, "agg@ext.example sent (verified)"));
    free(out);
    ck_assert_uint_eq(count_files(sent), 4);
    args = read_sent(&f, 1, "args");
    ck_assert_str_eq(args, "-i\n-f\n" EMAIL "\n--\nagg@ext.example\n");
    free(args);
    ck_assert_uint_eq(totals(&f).reports_sent, 1);
    free(sent);
    fx_stop(&f);
}
END_TEST

START_TEST(test_rate_limit)
{
    fx f;
    char *out, *n1 = expected_name("a.example", BEGIN), *n2 = expected_name("a.example", BEGIN + DAY);

    fx_start(&f, 1); /* one report per destination an hour */
    fill(&f, BEGIN, false);
    fill(&f, BEGIN + DAY, false);
    ck_assert_int_eq(run_dir(&f, &out, NOW + DAY, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "rua@a.example deferred: rate limit of 1 an hour"));
    ck_assert_ptr_nonnull(strstr(out, "reports: 2 built, 2 sent, 0 failed, 4 skipped"));
    free(out);
    ck_assert(exists(f.out, "rua@a.example", n1) != exists(f.out, "rua@a.example", n2)); /* one of the two */
    ck_assert(exists(f.out, "agg@ext.example", n1) == exists(f.out, "rua@a.example", n1));
    ck_assert_uint_eq(count_files(f.out), 2);
    /* still inside the hour: deferred, not tried */
    ck_assert_int_eq(run_dir(&f, &out, NOW + DAY + 1800, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "reports: 0 built, 0 sent, 0 failed, 0 skipped"));
    free(out);
    /* an hour later: sent */
    ck_assert_int_eq(run_dir(&f, &out, NOW + DAY + 3601, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "reports: 1 built, 2 sent, 0 failed, 1 skipped"));
    free(out);
    ck_assert(exists(f.out, "rua@a.example", n1) && exists(f.out, "rua@a.example", n2));
    ck_assert(exists(f.out, "agg@ext.example", n1) && exists(f.out, "agg@ext.example", n2));
    ck_assert_uint_eq(count_files(f.out), 4);
    free(n1);
    free(n2);
    fx_stop(&f);
}
END_TEST

START_TEST(test_dns_failure)
{
    fx f;
    char *out;

    fx_start(&f, 0);
    fill_slow(&f);
    ck_assert_int_eq(run_dir(&f, &out, NOW, NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "DNS failed (_dmarc.slow.example: "));
    ck_assert_ptr_nonnull(strstr(out, "reports: 0 built, 0 sent, 1 failed, 0 skipped"));
    free(out);
    ck_assert_uint_eq(totals(&f).reports_open, 1); /* kept for a retry */
    fx_stop(&f);
}
END_TEST

/* A report dmarcxml cannot render for a reason other than "no row" (here
 * a period before 1970, which the schema has no date for) is not marked
 * done unsent: it fails and stays for a retry. */
START_TEST(test_render_error)
{
    fx f;
    char *out;
    int64_t now = 3600; /* an hour after the period: not yet expired by retention_days */

    fx_start(&f, 0);
    fill(&f, -DAY, false);
    ck_assert_int_eq(run_dir(&f, &out, now, NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "failed: report not built: date range"));
    ck_assert_ptr_nonnull(strstr(out, "reports: 0 built, 0 sent, 1 failed, 0 skipped"));
    free(out);
    ck_assert_uint_eq(count_files(f.out), 0);
    ck_assert_uint_eq(totals(&f).reports_open, 1); /* kept */
    ck_assert_uint_eq(totals(&f).reports_sent, 0);
    /* and retried an hour later, not before */
    ck_assert_int_eq(run_dir(&f, &out, now + 1800, NULL), 0);
    ck_assert_ptr_nonnull(strstr(out, "reports: 0 built, 0 sent, 0 failed, 0 skipped"));
    free(out);
    ck_assert_int_eq(run_dir(&f, &out, now + 3601, NULL), 1);
    ck_assert_ptr_nonnull(strstr(out, "failed: report not built"));
    free(out);
    ck_assert_uint_eq(totals(&f).reports_open, 1);
    fx_stop(&f);
}
END_TEST

/* --verbose prints the rua from the DNS quoted: its control bytes as \xHH. */
START_TEST(test_verbose_rua_quoted)
{
    fx f;
    char *out, err[256];
    rstore_t *st;
    dmarcrow *row = mkrow("ctl.example", BEGIN, "192.0.2.7", "ctl.example", true);
    unsigned long one = 1;

    fx_start(&f, 0);
    st = rstore_open(f.store, err, sizeof(err));
    ck_assert_msg(st != NULL, "%s", err);
    ck_assert_msg(rstore_add(st, (const dmarcrow *const *)&row, &one, 1, NULL, err, sizeof(err)), "%s", err);
    rstore_close(st);
    dmarcrow_free(row);
    ck_assert_int_eq(run(&f, &out, NOW, "--dry-run", "--verbose"), 0);
    ck_assert_ptr_nonnull(strstr(out, "rua \"mailto:x@ctl.example\\x1b[31m\\x07,mailto:y@ctl.example\": "
                                      "1 mailto destination(s), 0 other scheme(s), 1 malformed"));
    ck_assert_ptr_nonnull(strstr(out, "y@ctl.example would be sent"));
    for (const char *p = out; *p; p++)
        ck_assert_msg((unsigned char)*p >= 0x20 || *p == '\n', "control byte 0x%02x in the output", *p);
    free(out);
    fx_stop(&f);
}
END_TEST

START_TEST(test_errors)
{
    fx f;
    char *bad;

    fx_start(&f, 0);
    /* usage */
    {
        char *argv[] = {"report", "--bogus", NULL};
        ck_assert_int_eq(report_main(2, argv), 2);
    }
    {
        char *argv[] = {"report", "--now", "yesterday", NULL};
        ck_assert_int_eq(report_main(3, argv), 2);
    }
    /* no org_name / email: refused */
    bad = xasprintf("%s/bad.conf", f.dir);
    write_file(bad, "reports = { store = \"sqlite:/nonexistent/x.db\"; };\n", 0644);
    {
        char *argv[] = {"report", "-c", bad, NULL};
        ck_assert_int_eq(report_main(3, argv), 2);
    }
    /* a config error */
    write_file(bad, "reports = { rate_limit = -1; };\n", 0644);
    {
        char *argv[] = {"report", "-c", bad, NULL};
        ck_assert_int_eq(report_main(3, argv), 2);
    }
    /* a store that cannot be opened */
    write_file(bad,
               "reports = { store = \"sqlite:/nonexistent/dir/x.db\"; org_name = \"O\"; email = \"r@example.org\"; };\n",
               0644);
    {
        char *argv[] = {"report", "-c", bad, NULL};
        ck_assert_int_eq(report_main(3, argv), 2);
    }
    /* a PostgreSQL store that cannot be reached: its URI shown without the password */
    write_file(bad,
               "reports = { store = \"postgresql://mx:s3cret-pw@/dmarc?host=/nonexistent/pg\"; org_name = \"O\";"
               " email = \"r@example.org\"; };\n",
               0644);
    {
        char *argv[] = {"report", "-c", bad, NULL};
        char *path = xasprintf("%s/stderr", f.dir), *err;
        int saved = dup(STDERR_FILENO), fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        FILE *fp;
        long len;

        ck_assert(saved >= 0 && fd >= 0);
        fflush(stderr);
        dup2(fd, STDERR_FILENO);
        close(fd);
        ck_assert_int_eq(report_main(3, argv), 2);
        fflush(stderr);
        dup2(saved, STDERR_FILENO);
        close(saved);
        fp = fopen(path, "r");
        ck_assert_ptr_nonnull(fp);
        fseek(fp, 0, SEEK_END);
        len = ftell(fp);
        rewind(fp);
        err = xcalloc(1, (size_t)len + 1);
        ck_assert_uint_eq(fread(err, 1, (size_t)len, fp), (size_t)len);
        fclose(fp);
        fprintf(stderr, "--- stderr:\n%s", err);
        ck_assert_ptr_nonnull(strstr(err, "mxguard report: store postgresql://mx:***@/dmarc"));
        ck_assert_ptr_null(strstr(err, "s3cret"));
        free(err);
        free(path);
    }
    free(bad);
    fx_stop(&f);
}
END_TEST

START_TEST(test_helpers)
{
    char a[REPORT_UNIQUE_ID_SZ], b[REPORT_UNIQUE_ID_SZ];

    report_unique_id("a.example", BEGIN, END, RECEIVER, a);
    report_unique_id("a.example", BEGIN, END, RECEIVER, b);
    ck_assert_str_eq(a, b);
    ck_assert_uint_eq(strlen(a), 16);
    ck_assert_uint_eq(strspn(a, "0123456789abcdef"), 16);
    report_unique_id("a.example", BEGIN + DAY, END + DAY, RECEIVER, b);
    ck_assert_str_ne(a, b);
    report_unique_id("a.example", BEGIN, END, "other.example", b);
    ck_assert_str_ne(a, b);
    ck_assert_uint_eq(report_retry_delay(0), 3600);
    ck_assert_uint_eq(report_retry_delay(1), 7200);
    ck_assert_uint_eq(report_retry_delay(4), 57600);
    ck_assert_uint_eq(report_retry_delay(5), 86400);
    ck_assert_uint_eq(report_retry_delay(400), 86400);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("report");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_helpers);
    tcase_add_test(tc, test_output_dir);
    tcase_add_test(tc, test_dry_run);
    tcase_add_test(tc, test_dry_run_future);
    tcase_add_test(tc, test_sendmail_retry);
    tcase_add_test(tc, test_claim_lost);
    tcase_add_test(tc, test_rate_limit);
    tcase_add_test(tc, test_dns_failure);
    tcase_add_test(tc, test_render_error);
    tcase_add_test(tc, test_verbose_rua_quoted);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return tu_run(s);
}
