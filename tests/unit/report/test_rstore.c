/*
 * test_rstore.c - the DMARC report store (rstore.h), every case against
 * SQLite (a file in a temporary directory) and against a real PostgreSQL
 * (a private server started by tests/lib/pgserver.sh in that directory,
 * on a unix socket only; each case in its own PostgreSQL schema).  Loop
 * index 0: SQLite, 1: PostgreSQL.
 *
 * Cases: URI syntax; the URI as shown (passwords masked, also in a
 * malformed URI's reason); schema creation, reopening, refusal of a newer
 * version; upserts that add counts; hostile strings, IPv6 and an empty
 * envelope_from round-tripping exactly; policy_published; claims of
 * closed periods, leases, renewals, next_try, done/failed/release, done
 * refused when rows came in during the claim; destinations and the
 * rate-limit log; late rows; expiry; totals and counters; a lost
 * PostgreSQL connection; a least-privilege PostgreSQL role;
 * and processes at once: exact sums from concurrent adders, every report
 * claimed exactly once by two racing claimers.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "dmarcrow.h"
#include "rstore.h"
#include "testutil.h"
#include "xalloc.h"

#define DAY0 ((int64_t)1764806400) /* 2025-12-04 00:00:00 UTC */
#define DAY (int64_t)86400
#define NOW (DAY0 + 3 * DAY)
#define BACKENDS 2 /* loop index: 0 SQLite, 1 PostgreSQL */

static char tmpdir[64];
static char pgdir[96];
static char pguri[512];
static pid_t main_pid;
static int seq;
static char err[512];

/* ---- the PostgreSQL server ----------------------------------------------- */

static void pg_stop(void)
{
    char cmd[512];

    if (getpid() != main_pid || tmpdir[0] == '\0')
        return;
    if (pgdir[0] != '\0') {
        snprintf(cmd, sizeof(cmd), "sh '%s' stop '%s'", tu_path("lib/pgserver.sh"), pgdir);
        if (system(cmd) != 0)
            fprintf(stderr, "test_rstore: %s failed\n", cmd);
        pgdir[0] = '\0';
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_rstore: %s failed\n", cmd);
    tmpdir[0] = '\0';
}

static void on_signal(int sig)
{
    pg_stop();
    signal(sig, SIG_DFL);
    raise(sig);
}

static void pg_start(void)
{
    char cmd[512];
    FILE *p;
    size_t n;

    snprintf(tmpdir, sizeof(tmpdir), "/tmp/mxguard-rstore-XXXXXX");
    if (mkdtemp(tmpdir) == NULL || chmod(tmpdir, 0711) != 0) {
        perror("test_rstore: temporary directory");
        exit(1);
    }
    main_pid = getpid();
    atexit(pg_stop);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGSEGV, on_signal);
    signal(SIGABRT, on_signal);
    snprintf(pgdir, sizeof(pgdir), "%s/pg", tmpdir);
    snprintf(cmd, sizeof(cmd), "sh '%s' start '%s'", tu_path("lib/pgserver.sh"), pgdir);
    if ((p = popen(cmd, "r")) == NULL) {
        perror("test_rstore: popen");
        exit(1);
    }
    n = fread(pguri, 1, sizeof(pguri) - 1, p);
    pguri[n] = '\0';
    pguri[strcspn(pguri, "\n")] = '\0';
    if (pclose(p) != 0 || strncmp(pguri, "postgresql://", 13) != 0) {
        fprintf(stderr, "test_rstore: %s failed (output \"%s\")\n", cmd, pguri);
        exit(1); /* a failure, never a skip */
    }
}

static PGconn *pg_raw(const char *uri)
{
    PGconn *c = PQconnectdb(uri);
    ck_assert_msg(PQstatus(c) == CONNECTION_OK, "connect %s: %s", uri, PQerrorMessage(c));
    return c;
}

static void pg_raw_exec(const char *uri, const char *sql)
{
    PGconn *c = pg_raw(uri);
    PGresult *r = PQexec(c, sql);
    ck_assert_msg(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK, "%s: %s", sql,
                  PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(c);
}

/* ---- stores ------------------------------------------------------------------ */

/* A new empty store's URI (caller frees): a new SQLite file, or a new
 * PostgreSQL schema named in the URI's options. */
static char *new_uri(int be)
{
    seq++;
    if (be == 0)
        return xasprintf("sqlite:%s/t-%d-%d.db", tmpdir, (int)getpid(), seq);
    char *sql = xasprintf("CREATE SCHEMA t_%d_%d", (int)getpid(), seq);
    pg_raw_exec(pguri, sql);
    free(sql);
    return xasprintf("%s&options=-csearch_path%%3Dt_%d_%d", pguri, (int)getpid(), seq);
}

static void raw_exec(int be, const char *uri, const char *sql)
{
    if (be == 1) {
        pg_raw_exec(uri, sql);
        return;
    }
    sqlite3 *db;
    char *msg = NULL;
    ck_assert_int_eq(sqlite3_open(uri + 7, &db), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg ? msg : "");
    sqlite3_close(db);
}

static rstore_t *must_open(const char *uri)
{
    rstore_t *st = rstore_open(uri, err, sizeof(err));
    ck_assert_msg(st != NULL, "open %s: %s", uri, err);
    return st;
}

/* A row of report (pd, day): IP ip, header_from hf, envelope_from ef. */
static dmarcrow *mkrow(const char *pd, int64_t day, const char *ip, const char *hf, const char *ef)
{
    dmarcrow *r = xcalloc(1, sizeof(*r));

    r->p = DMARCCHECK_POLICY_REJECT;
    r->policy_domain = xstrdup(pd);
    r->begin = (time_t)day;
    r->end = (time_t)(day + DAY - 1);
    r->source_ip = xstrdup(ip);
    r->header_from = xstrdup(hf);
    r->envelope_from = xstrdup(ef);
    r->disposition = DMARCROW_DISP_PASS;
    r->dkim_aligned = true;
    r->ndkim = 1;
    r->dkim = xcalloc(1, sizeof(*r->dkim));
    r->dkim[0].domain = xstrdup(hf);
    r->dkim[0].selector = xstrdup("sel1");
    r->dkim[0].result = DKIMCHECK_PASS;
    r->spf_domain = xstrdup(ef);
    r->spf = SPFCHECK_PASS;
    return r;
}

static void add1(rstore_t *st, const dmarcrow *r, unsigned long count, unsigned long *late)
{
    const dmarcrow *rows[1] = {r};
    ck_assert_msg(rstore_add(st, rows, &count, 1, late, err, sizeof(err)), "add: %s", err);
}

/* The rows a report holds. */
typedef struct collected {
    dmarcrow *rows[64];
    unsigned long counts[64];
    size_t n;
} collected;

static void collect_fn(const dmarcrow *row, unsigned long count, void *arg)
{
    collected *c = arg;
    ck_assert_uint_lt(c->n, 64);
    c->rows[c->n] = dmarcrow_copy(row);
    c->counts[c->n++] = count;
}

static void collect(rstore_t *st, const rstore_report *r, collected *c)
{
    memset(c, 0, sizeof(*c));
    ck_assert_msg(rstore_rows(st, r, collect_fn, c, err, sizeof(err)), "rows: %s", err);
}

static void collected_free(collected *c)
{
    for (size_t i = 0; i < c->n; i++)
        dmarcrow_free(c->rows[i]);
    c->n = 0;
}

/* The count of the stored row whose key equals r's (0: none). */
static unsigned long count_of(const collected *c, const dmarcrow *r)
{
    for (size_t i = 0; i < c->n; i++)
        if (dmarcrow_key_equal(c->rows[i], r))
            return c->counts[i];
    return 0;
}

static rstore_report *must_claim(rstore_t *st, int64_t closed_before, int64_t now, const char *owner)
{
    rstore_report *r = NULL;
    int rc = rstore_claim(st, closed_before, now, owner, 600, &r, err, sizeof(err));
    ck_assert_msg(rc == 1, "claim: rc %d %s", rc, rc < 0 ? err : "(none)");
    ck_assert_ptr_nonnull(r);
    return r;
}

static void claim_none(rstore_t *st, int64_t closed_before, int64_t now)
{
    rstore_report *r = NULL;
    int rc = rstore_claim(st, closed_before, now, "other:1", 600, &r, err, sizeof(err));
    ck_assert_msg(rc == 0, "claim: rc %d (%s) %s", rc, rc < 0 ? err : "", r ? r->policy_domain : "");
    ck_assert_ptr_null(r);
}

static rstore_totals totals(rstore_t *st)
{
    rstore_totals t;
    ck_assert_msg(rstore_totals_get(st, &t, err, sizeof(err)), "totals: %s", err);
    return t;
}

/* ---- URI ---------------------------------------------------------------------- */

START_TEST(test_uri)
{
    static const char *const good[] = {
        "sqlite:/var/lib/mxguard/reports.db",
        "sqlite:/tmp/a b.db",
        "postgresql:///mxguard?host=/run/postgresql",
        "postgresql://mxguard@db.example:5433/reports?sslmode=require",
        "postgres://u:p@[2001:db8::1]/db",
    };
    static const char *const bad[] = {
        "", "sqlite:", "sqlite:reports.db", "sqlite:/var/lib/", "sqlite:/a\nb",
        "mysql://db/x", "SQLITE:/x", "postgresql://db/x?nosuchoption=1",
        "postgresql://[2001:db8::1/db", "/var/lib/mxguard/reports.db",
    };

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        ck_assert_msg(rstore_uri_valid(good[i], err, sizeof(err)), "%s: %s", good[i], err);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(!rstore_uri_valid(bad[i], err, sizeof(err)), "accepted %s", bad[i]);
        ck_assert_msg(err[0] != '\0', "no reason for %s", bad[i]);
        ck_assert_ptr_null(rstore_open(bad[i], err, sizeof(err)));
    }
    /* good syntax, no server there */
    ck_assert_ptr_null(rstore_open("postgresql:///mxguard?host=/nonexistent/dir&user=mxguard&connect_timeout=2", err,
                                   sizeof(err)));
    ck_assert_msg(strstr(err, "postgresql: connect") != NULL, "%s", err);
}
END_TEST

/* The store as a log line or a message shows it: passwords masked, also
 * in the reason a malformed URI is refused for. */
START_TEST(test_uri_shown)
{
    static const struct {
        const char *uri, *want;
    } cases[] = {
        {"sqlite:/var/lib/mxguard/reports.db", "sqlite:/var/lib/mxguard/reports.db"},
        {"sqlite:/var/lib/u:pw@x/r.db?password=x", "sqlite:/var/lib/u:pw@x/r.db?password=x"},
        {"postgresql://db.example/reports", "postgresql://db.example/reports"},
        {"postgresql://u@db.example/reports", "postgresql://u@db.example/reports"},
        {"postgresql://u:s3cret@db.example:5433/reports", "postgresql://u:***@db.example:5433/reports"},
        {"postgres://u:p%40ss@[::1]/r?sslmode=require", "postgres://u:***@[::1]/r?sslmode=require"},
        {"postgresql://u:pa?ss#x@h/r", "postgresql://u:***@h/r"},
        {"postgresql://u:@h/r", "postgresql://u:***@h/r"},
        {"postgresql:///reports?host=/run/pg&password=s3cret&user=u",
         "postgresql:///reports?host=/run/pg&password=***&user=u"},
        {"postgresql://h/r?PASSWORD=x", "postgresql://h/r?PASSWORD=***"},
        {"postgresql://h/r?p%61ssword=x&password=y", "postgresql://h/r?p%61ssword=***&password=***"},
        {"postgresql://h/r?mypassword=x", "postgresql://h/r?mypassword=x"},
        {"postgresql://h/r?password", "postgresql://h/r?password"},
        {"postgresql://u:s3cret@h?password=two", "postgresql://u:***@h?password=***"},
        /* an '@' in the query (Azure-style user names) with no '/' before it */
        {"postgresql://db?user=me@corp&password=s3cret", "postgresql://db?user=me@corp&password=***"},
        {"postgresql://db:5432?user=me@corp&password=s3cret", "postgresql://db:***@corp&password=***"},
        {"postgresql://h/r?sslpassword=s3cret&sslkey=/k", "postgresql://h/r?sslpassword=***&sslkey=/k"},
    };
    static const char *const bad[] = {
        "postgresql://u:s3cret@[2001:db8::1/db",
        "postgresql://u:s3cret@h/db?password=s3cret%zz",
        "postgresql://u:pw@h/db?password=s3cret&nosuchoption=1",
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *got = rstore_uri_shown(cases[i].uri);
        ck_assert_msg(strcmp(got, cases[i].want) == 0, "%s: %s, want %s", cases[i].uri, got, cases[i].want);
        free(got);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(!rstore_uri_valid(bad[i], err, sizeof(err)), "accepted %s", bad[i]);
        ck_assert_msg(err[0] != '\0', "no reason for %s", bad[i]);
        ck_assert_msg(strstr(err, "s3cret") == NULL, "%s: %s", bad[i], err);
        ck_assert_msg(strstr(err, "postgresql: bad URI") != NULL, "%s: %s", bad[i], err);
    }
}
END_TEST

/* ---- schema ------------------------------------------------------------------------ */

START_TEST(test_schema)
{
    char *uri = new_uri(_i);
    rstore_t *st = must_open(uri);
    dmarcrow *r = mkrow("org.example", DAY0, "192.0.2.1", "org.example", "bounce.example");
    char sql[128];

    ck_assert_str_eq(rstore_kind(st), _i == 0 ? "sqlite" : "postgresql");
    ck_assert_uint_eq(totals(st).rows, 0);
    add1(st, r, 3, NULL);
    rstore_close(st);
    if (_i == 0) {
        struct stat sb;
        ck_assert_int_eq(stat(uri + 7, &sb), 0);
        ck_assert_uint_eq(sb.st_mode & 0777, 0640);
    }

    st = must_open(uri); /* reopened: the data kept, the schema not re-made */
    rstore_totals t = totals(st);
    ck_assert_uint_eq(t.rows, 1);
    ck_assert_uint_eq(t.reports_open, 1);
    rstore_close(st);

    snprintf(sql, sizeof(sql), "UPDATE report_schema SET version = %d", RSTORE_SCHEMA_VERSION + 1);
    raw_exec(_i, uri, sql);
    ck_assert_ptr_null(rstore_open(uri, err, sizeof(err)));
    ck_assert_msg(strstr(err, "newer") != NULL, "%s", err);
    dmarcrow_free(r);
    free(uri);
}
END_TEST

/* PostgreSQL: a role with only SELECT/INSERT/UPDATE/DELETE on the tables
 * (and USAGE on their sequences), no CREATE anywhere, opens a store the
 * superuser made and writes to it: opening runs no DDL when the schema is
 * current. */
START_TEST(test_pg_least_privilege)
{
    char *uri = new_uri(1), *schema, *sql, *role_uri;
    const char *u = strstr(uri, "&user="), *rest;
    rstore_t *st = must_open(uri); /* the superuser makes the schema */
    dmarcrow *d0 = mkrow("a.example", DAY0, "192.0.2.1", "a.example", "a.example");
    char role[64];

    rstore_close(st);
    ck_assert_ptr_nonnull(u);
    rest = strchr(u + 1, '&');
    ck_assert_ptr_nonnull(rest);
    schema = xasprintf("t_%d_%d", (int)getpid(), seq);
    snprintf(role, sizeof(role), "small_%d_%d", (int)getpid(), seq);
    sql = xasprintf("CREATE ROLE %s LOGIN; GRANT USAGE ON SCHEMA %s TO %s;"
                    " GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %s TO %s;"
                    " GRANT USAGE ON ALL SEQUENCES IN SCHEMA %s TO %s;"
                    " REVOKE CREATE ON SCHEMA public FROM PUBLIC",
                    role, schema, role, schema, role, schema, role);
    pg_raw_exec(pguri, sql);
    role_uri = xasprintf("%.*s&user=%s%s", (int)(u - uri), uri, role, rest);

    st = rstore_open(role_uri, err, sizeof(err));
    ck_assert_msg(st != NULL, "open as %s: %s", role, err);
    add1(st, d0, 2, NULL);
    add1(st, d0, 1, NULL);
    rstore_report *r = must_claim(st, DAY0 + DAY, NOW, "me:1");
    ck_assert_uint_eq(r->messages, 3);
    ck_assert_msg(rstore_done(st, r, NOW, NULL, err, sizeof(err)), "%s", err);
    rstore_report_free(r);
    rstore_close(st);
    /* the role really cannot create: an empty schema it cannot make */
    free(sql);
    sql = xasprintf("CREATE SCHEMA e_%s; GRANT USAGE ON SCHEMA e_%s TO %s", schema, schema,
                    role);
    pg_raw_exec(pguri, sql);
    free(role_uri);
    role_uri = xasprintf("%.*s&user=%s&options=-csearch_path%%3De_%s", (int)(u - uri), uri, role, schema);
    ck_assert_ptr_null(rstore_open(role_uri, err, sizeof(err)));
    ck_assert_msg(strstr(err, "permission denied") != NULL, "%s", err);
    dmarcrow_free(d0);
    free(role_uri);
    free(sql);
    free(schema);
    free(uri);
}
END_TEST

/* SQLite: WAL mode, and an existing file that is no database is refused. */
START_TEST(test_sqlite_file)
{
    char *uri = new_uri(0), *junk = xasprintf("%s/junk-%d.db", tmpdir, (int)getpid()), *juri;
    rstore_t *st = must_open(uri);
    sqlite3 *db;
    sqlite3_stmt *s;
    FILE *f;

    rstore_close(st);
    ck_assert_int_eq(sqlite3_open(uri + 7, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &s, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(s), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(s, 0), "wal");
    sqlite3_finalize(s);
    sqlite3_close(db);

    f = fopen(junk, "w");
    ck_assert_ptr_nonnull(f);
    fputs("this is not a database, it is a text file long enough to have a header ....................\n", f);
    fclose(f);
    juri = xasprintf("sqlite:%s", junk);
    ck_assert_ptr_null(rstore_open(juri, err, sizeof(err)));
    ck_assert_msg(strstr(err, "sqlite") != NULL, "%s", err);
    juri[7] = '\0';
    free(juri);
    juri = xasprintf("sqlite:%s/no/such/dir/x.db", tmpdir);
    ck_assert_ptr_null(rstore_open(juri, err, sizeof(err)));
    free(juri);
    free(junk);
    free(uri);
}
END_TEST

/* ---- adding --------------------------------------------------------------------------- */

START_TEST(test_upsert)
{
    char *uri = new_uri(_i);
    rstore_t *st = must_open(uri);
    dmarcrow *a = mkrow("org.example", DAY0, "192.0.2.1", "org.example", "bounce.example");
    dmarcrow *b = mkrow("org.example", DAY0, "192.0.2.2", "org.example", "bounce.example");
    dmarcrow *c = mkrow("other.example", DAY0, "192.0.2.1", "other.example", "other.example");
    const dmarcrow *rows[] = {a, b, a, c};
    unsigned long counts[] = {2, 5, 4, 1};
    collected col;

    add1(st, a, 3, NULL);
    ck_assert_msg(rstore_add(st, rows, counts, 4, NULL, err, sizeof(err)), "%s", err);
    ck_assert_msg(rstore_add(st, rows, counts, 0, NULL, err, sizeof(err)), "%s", err);
    rstore_totals t = totals(st);
    ck_assert_uint_eq(t.rows, 3);
    ck_assert_uint_eq(t.reports_open, 2);

    rstore_report *r = must_claim(st, DAY0 + DAY, NOW, "me:1");
    ck_assert_str_eq(r->policy_domain, "org.example"); /* by end, then id: the first one made */
    ck_assert_int_eq(r->begin, DAY0);
    ck_assert_int_eq(r->end, DAY0 + DAY - 1);
    ck_assert_uint_eq(r->nrows, 2);
    ck_assert_uint_eq(r->messages, 3 + 2 + 5 + 4);
    collect(st, r, &col);
    ck_assert_uint_eq(col.n, 2);
    ck_assert_uint_eq(count_of(&col, a), 9);
    ck_assert_uint_eq(count_of(&col, b), 5);
    /* the order is fixed */
    collected again;
    collect(st, r, &again);
    for (size_t i = 0; i < col.n; i++) {
        ck_assert(dmarcrow_key_equal(col.rows[i], again.rows[i]));
        ck_assert_uint_eq(col.counts[i], again.counts[i]);
    }
    collected_free(&again);
    collected_free(&col);
    rstore_report_free(r);

    r = must_claim(st, DAY0 + DAY, NOW, "me:1");
    ck_assert_str_eq(r->policy_domain, "other.example");
    ck_assert_uint_eq(r->messages, 1);
    rstore_report_free(r);
    claim_none(st, DAY0 + DAY, NOW);

    dmarcrow_free(a);
    dmarcrow_free(b);
    dmarcrow_free(c);
    rstore_close(st);
    free(uri);
}
END_TEST

static void set_reasons(dmarcrow *r, const char *c0, const char *c1, const char *c2)
{
    const char *cs[3] = {c0, c1, c2};
    static const dmarcrow_reason_type types[3] = {DMARCROW_REASON_LOCAL_POLICY, DMARCROW_REASON_OTHER,
                                                  DMARCROW_REASON_POLICY_TEST_MODE};
    for (size_t i = 0; i < 3; i++) {
        r->reasons[i].type = types[i];
        r->reasons[i].comment = xstrdup_or_null(cs[i]);
    }
    r->nreasons = 3;
}

static void set_dkim(dmarcrow *r, size_t n, const char *d, const char *s)
{
    for (size_t i = 0; i < r->ndkim; i++) {
        free(r->dkim[i].domain);
        free(r->dkim[i].selector);
    }
    r->dkim = xreallocarray(r->dkim, n, sizeof(*r->dkim));
    r->ndkim = n;
    for (size_t i = 0; i < n; i++) {
        r->dkim[i].domain = i == 0 ? xstrdup(d) : xasprintf("d%zu.example", i);
        r->dkim[i].selector = i == 0 ? xstrdup(s) : xasprintf("s%zu", i);
        r->dkim[i].result = (dkimcheck_result)(i % (DKIMCHECK_PERMERROR + 1));
    }
}

START_TEST(test_hostile)
{
    static const char hostile[] = "a'b\"c\\d;e,f=g|h%i%41%%j'); DROP TABLE reports; --\t\x01\x1f\x7f\xc3\xa9\xff\xfe";
    char *uri = new_uri(_i), *longc = xmalloc(20001);
    rstore_t *st = must_open(uri);
    dmarcrow *rows[6];
    unsigned long counts[6] = {1, 2, 3, 4, 5, 6};
    collected col;

    memset(longc, 'x', 20000);
    memcpy(longc + 10000, hostile, sizeof(hostile) - 1);
    longc[20000] = '\0';
    rows[0] = mkrow(hostile, DAY0, "2001:db8::1", hostile, hostile);
    set_reasons(rows[0], hostile, NULL, "");
    set_dkim(rows[0], 3, hostile, hostile);
    rows[1] = mkrow(hostile, DAY0, "2001:db8::1", hostile, ""); /* empty envelope_from (<>) */
    set_reasons(rows[1], longc, "", NULL);
    rows[1]->spf = SPFCHECK_UNSET;
    free(rows[1]->spf_domain);
    rows[1]->spf_domain = xstrdup("");
    rows[2] = mkrow(hostile, DAY0, "2001:db8::1", hostile, ""); /* differs in NULL vs "" only */
    set_reasons(rows[2], longc, NULL, NULL);
    rows[2]->spf = SPFCHECK_UNSET;
    free(rows[2]->spf_domain);
    rows[2]->spf_domain = xstrdup("");
    rows[3] = mkrow(hostile, DAY0, "::ffff:192.0.2.1", "", "");
    set_dkim(rows[3], DMARCROW_DKIM_MAX, "", "");
    rows[3]->disposition = DMARCROW_DISP_REJECT;
    rows[3]->dkim_aligned = false;
    rows[3]->spf_aligned = true;
    rows[4] = mkrow(hostile, DAY0, "2001:db8::1", hostile, hostile);
    set_dkim(rows[4], 0, "", "");
    rows[5] = mkrow(hostile, DAY0, "192.0.2.1", "%25", "%"); /* an encoded-looking and a raw % differ */
    ck_assert_msg(rstore_add(st, (const dmarcrow *const *)rows, counts, 6, NULL, err, sizeof(err)), "%s", err);

    rstore_report *r = must_claim(st, DAY0 + DAY, NOW, "me:1");
    ck_assert_str_eq(r->policy_domain, hostile);
    ck_assert_uint_eq(r->nrows, 6);
    ck_assert_uint_eq(r->messages, 21);
    collect(st, r, &col);
    ck_assert_uint_eq(col.n, 6);
    for (size_t i = 0; i < 6; i++) {
        ck_assert_msg(count_of(&col, rows[i]) == counts[i], "row %zu: count %lu", i, count_of(&col, rows[i]));
        for (size_t j = 0; j < col.n; j++)
            if (dmarcrow_key_equal(col.rows[j], rows[i])) {
                ck_assert_str_eq(col.rows[j]->header_from, rows[i]->header_from);
                ck_assert_str_eq(col.rows[j]->policy_domain, hostile);
                ck_assert_int_eq(col.rows[j]->begin, DAY0);
                ck_assert_int_eq(col.rows[j]->p, DMARCCHECK_POLICY_REJECT);
            }
    }
    collected_free(&col);
    rstore_report_free(r);
    for (size_t i = 0; i < 6; i++)
        dmarcrow_free(rows[i]);
    free(longc);
    rstore_close(st);
    free(uri);
}
END_TEST

/* The latest add's policy_published wins while the report is open (within
 * one add, the caller's last row); a sent report keeps its own, and rows
 * added to it are late. */
START_TEST(test_published_late)
{
    char *uri = new_uri(_i);
    rstore_t *st = must_open(uri);
    dmarcrow *a = mkrow("org.example", DAY0, "192.0.2.1", "org.example", "org.example");
    dmarcrow *b = mkrow("org.example", DAY0, "192.0.2.2", "org.example", "org.example");
    unsigned long late = 99;

    a->p = DMARCCHECK_POLICY_NONE;
    add1(st, a, 1, &late);
    ck_assert_uint_eq(late, 0);
    a->p = DMARCCHECK_POLICY_QUARANTINE;
    a->sp = DMARCCHECK_POLICY_REJECT;
    a->testing = true;
    a->psl = true;
    b->p = DMARCCHECK_POLICY_REJECT;
    b->np = DMARCCHECK_POLICY_NONE;
    b->adkim_strict = true;
    {
        const dmarcrow *rows[] = {b, a}; /* a is the caller's last: a wins */
        unsigned long counts[] = {1, 1};
        ck_assert(rstore_add(st, rows, counts, 2, &late, err, sizeof(err)));
    }
    rstore_report *r = must_claim(st, DAY0 + DAY, NOW, "me:1");
    ck_assert_int_eq(r->p, DMARCCHECK_POLICY_QUARANTINE);
    ck_assert_int_eq(r->sp, DMARCCHECK_POLICY_REJECT);
    ck_assert_int_eq(r->np, DMARCCHECK_POLICY_UNSET);
    ck_assert(r->testing && r->psl && !r->adkim_strict && !r->aspf_strict);
    ck_assert_uint_eq(r->messages, 3);

    /* rows added while claimed (a flush between the reporter's rstore_rows
     * and its rstore_done) are not in what was sent: done counts them late */
    add1(st, b, 2, &late);
    ck_assert_uint_eq(late, 0);
    late = 99;
    ck_assert_msg(rstore_done(st, r, NOW, &late, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(late, 2);
    rstore_report_free(r);
    claim_none(st, DAY0 + 100 * DAY, NOW + 100 * DAY); /* sent: never claimed again */

    add1(st, b, 7, &late); /* late: the report went out */
    ck_assert_uint_eq(late, 7);
    {
        const dmarcrow *rows[] = {a, b};
        unsigned long counts[] = {1, 2};
        ck_assert(rstore_add(st, rows, counts, 2, &late, err, sizeof(err)));
        ck_assert_uint_eq(late, 3);
    }
    claim_none(st, DAY0 + 10 * DAY, NOW + 10 * DAY); /* never reported again */
    rstore_totals t = totals(st);
    ck_assert_uint_eq(t.reports_sent, 1);
    ck_assert_uint_eq(t.reports_open, 0);
    dmarcrow_free(a);
    dmarcrow_free(b);
    rstore_close(st);
    free(uri);
}
END_TEST

/* ---- claims ---------------------------------------------------------------------------- */

START_TEST(test_claim_closed_lease)
{
    char *uri = new_uri(_i);
    rstore_t *st = must_open(uri);
    dmarcrow *d0 = mkrow("a.example", DAY0, "192.0.2.1", "a.example", "a.example");
    dmarcrow *d1 = mkrow("a.example", DAY0 + DAY, "192.0.2.1", "a.example", "a.example");
    dmarcrow *e0 = mkrow("b.example", DAY0, "192.0.2.1", "b.example", "b.example");
    rstore_report *r1, *r2, *r3;

    add1(st, d0, 1, NULL);
    add1(st, d1, 1, NULL);
    /* only periods that ended before closed_before */
    r1 = must_claim(st, DAY0 + DAY, NOW, "host1:1");
    ck_assert_int_eq(r1->begin, DAY0);
    claim_none(st, DAY0 + DAY, NOW); /* held; the next day is not closed */
    claim_none(st, DAY0 + DAY - 1, NOW + 5000); /* not closed either */
    add1(st, e0, 1, NULL);
    r2 = must_claim(st, DAY0 + DAY, NOW, "host2:1"); /* the next one */
    ck_assert_str_eq(r2->policy_domain, "b.example");
    claim_none(st, DAY0 + DAY, NOW + 599);
    /* the leases ran out (host1 and host2 died): another owner takes them */
    r3 = must_claim(st, DAY0 + DAY, NOW + 600, "host3:1");
    ck_assert_int_eq(r3->id, r1->id);
    ck_assert_str_eq(r3->owner, "host3:1");
    /* host1 comes back late: its claim is gone, it can end nothing */
    ck_assert(!rstore_done(st, r1, NOW + 601, NULL, err, sizeof(err)));
    ck_assert_msg(strstr(err, "no longer held by host1:1") != NULL, "%s", err);
    ck_assert(!rstore_failed(st, r1, NOW + 601, "late", err, sizeof(err)));
    ck_assert(!rstore_release(st, r1, NOW + 601, err, sizeof(err)));
    /* host3 still holds it: released, claimable again */
    ck_assert_msg(rstore_release(st, r3, NOW + 600, err, sizeof(err)), "%s", err);
    rstore_report_free(r3);
    r3 = must_claim(st, DAY0 + DAY, NOW + 600, "host3:1");
    ck_assert_int_eq(r3->id, r1->id);
    rstore_report_free(r3);
    r3 = must_claim(st, DAY0 + DAY, NOW + 600, "host3:1");
    ck_assert_int_eq(r3->id, r2->id);
    rstore_report_free(r3);
    claim_none(st, DAY0 + DAY, NOW + 600);
    r3 = must_claim(st, DAY0 + 2 * DAY, NOW + 600, "host3:1");
    ck_assert_int_eq(r3->begin, DAY0 + DAY);
    rstore_report_free(r3);

    rstore_report_free(r1);
    rstore_report_free(r2);
    dmarcrow_free(d0);
    dmarcrow_free(d1);
    dmarcrow_free(e0);
    rstore_close(st);
    free(uri);
}
END_TEST

/* rstore_renew holds a claim past its first lease; a lost claim cannot be
 * renewed.  next_try is the report's own before the claim. */
START_TEST(test_renew_next_try)
{
    char *uri = new_uri(_i);
    rstore_t *st = must_open(uri);
    dmarcrow *d0 = mkrow("a.example", DAY0, "192.0.2.1", "a.example", "a.example");
    rstore_report *r1, *r2;

    add1(st, d0, 1, NULL);
    r1 = must_claim(st, DAY0 + DAY, NOW, "host1:1"); /* lease until NOW + 600 */
    ck_assert_int_eq(r1->next_try, 0);
    ck_assert_msg(rstore_renew(st, r1, NOW + 500, 600, err, sizeof(err)) == 1, "%s", err); /* until NOW + 1100 */
    claim_none(st, DAY0 + DAY, NOW + 600);
    claim_none(st, DAY0 + DAY, NOW + 1099);
    r2 = must_claim(st, DAY0 + DAY, NOW + 1100, "host2:1");
    ck_assert_int_eq(r2->id, r1->id);
    /* host1 lost it: renewing fails and changes nothing */
    ck_assert(rstore_renew(st, r1, NOW + 1100, 600, err, sizeof(err)) == 0);
    ck_assert_msg(strstr(err, "no longer held by host1:1") != NULL, "%s", err);
    claim_none(st, DAY0 + DAY, NOW + 1699); /* host2's lease stands */
    /* a failure sets the next try; the next claim carries it */
    ck_assert_msg(rstore_failed(st, r2, NOW + 5000, "x", err, sizeof(err)), "%s", err);
    rstore_report_free(r2);
    r2 = must_claim(st, DAY0 + DAY, NOW + 5000, "host2:1");
    ck_assert_int_eq(r2->next_try, NOW + 5000);
    ck_assert_msg(rstore_release(st, r2, r2->next_try, err, sizeof(err)), "%s", err);
    rstore_report_free(r2);
    r2 = must_claim(st, DAY0 + DAY, NOW + 5000, "host2:1");
    ck_assert_int_eq(r2->next_try, NOW + 5000);
    ck_assert_msg(rstore_done(st, r2, NOW + 5000, NULL, err, sizeof(err)), "%s", err);
    ck_assert(rstore_renew(st, r2, NOW + 5000, 600, err, sizeof(err)) == 0); /* done: no claim */
    rstore_report_free(r1);
    rstore_report_free(r2);
    dmarcrow_free(d0);
    rstore_close(st);
    free(uri);
}
END_TEST

START_TEST(test_done_failed_release)
{
    char *uri = new_uri(_i);
    rstore_t *st = must_open(uri);
    dmarcrow *d0 = mkrow("a.example", DAY0, "192.0.2.1", "a.example", "a.example");
    rstore_report *r;

    add1(st, d0, 1, NULL);
    r = must_claim(st, DAY0 + DAY, NOW, "me:1");
    ck_assert_uint_eq(r->attempts, 0);
    ck_assert_msg(rstore_failed(st, r, NOW + 100, "sendmail exit 75 'x'", err, sizeof(err)), "%s", err);
    rstore_report_free(r);
    claim_none(st, DAY0 + DAY, NOW + 99); /* next try not due */
    r = must_claim(st, DAY0 + DAY, NOW + 100, "me:1");
    ck_assert_uint_eq(r->attempts, 1);
    ck_assert(rstore_failed(st, r, NOW + 200, "again", err, sizeof(err)));
    rstore_report_free(r);
    r = must_claim(st, DAY0 + DAY, NOW + 200, "me:1");
    ck_assert_uint_eq(r->attempts, 2);
    /* release: attempts kept, next try honoured */
    ck_assert_msg(rstore_release(st, r, NOW + 3800, err, sizeof(err)), "%s", err);
    rstore_report_free(r);
    claim_none(st, DAY0 + DAY, NOW + 3799);
    r = must_claim(st, DAY0 + DAY, NOW + 3800, "me:1");
    ck_assert_uint_eq(r->attempts, 2);
    ck_assert_uint_eq(r->messages, 1);
    /* released at once (a dry run): claimable at once */
    ck_assert(rstore_release(st, r, NOW + 3800, err, sizeof(err)));
    rstore_report_free(r);
    r = must_claim(st, DAY0 + DAY, NOW + 3800, "me:1");
    ck_assert_msg(rstore_done(st, r, NOW + 3800, NULL, err, sizeof(err)), "%s", err);
    claim_none(st, DAY0 + 100 * DAY, NOW + 100 * DAY);
    rstore_totals t = totals(st);
    ck_assert_uint_eq(t.reports_sent, 1);

    /* a report that is gone: done/failed/release say so */
    ck_assert_msg(rstore_expire(st, DAY0 + DAY, NULL, err, sizeof(err)), "%s", err);
    ck_assert(!rstore_done(st, r, NOW, NULL, err, sizeof(err)));
    ck_assert(!rstore_failed(st, r, NOW, "x", err, sizeof(err)));
    ck_assert(!rstore_release(st, r, NOW, err, sizeof(err)));
    rstore_report_free(r);
    dmarcrow_free(d0);
    rstore_close(st);
    free(uri);
}
END_TEST

/* ---- destinations, expiry, totals -------------------------------------------------------- */

START_TEST(test_dests)
{
    static const char *const q = "mailto:o'brien\"\\;x@example.net";
    char *uri = new_uri(_i);
    rstore_t *st = must_open(uri);
    dmarcrow *d0 = mkrow("a.example", DAY0, "192.0.2.1", "a.example", "a.example");
    dmarcrow *e0 = mkrow("b.example", DAY0, "192.0.2.1", "b.example", "b.example");
    rstore_report *r1, *r2;
    bool sent = true;
    unsigned long n = 99;

    add1(st, d0, 1, NULL);
    add1(st, e0, 1, NULL);
    r1 = must_claim(st, DAY0 + DAY, NOW, "me:1");
    r2 = must_claim(st, DAY0 + DAY, NOW, "me:1");
    ck_assert(rstore_dest_sent(st, r1, q, &sent, err, sizeof(err)));
    ck_assert(!sent);
    ck_assert_msg(rstore_mark_dest(st, r1, q, NOW, err, sizeof(err)), "%s", err);
    ck_assert(rstore_dest_sent(st, r1, q, &sent, err, sizeof(err)));
    ck_assert(sent);
    ck_assert(rstore_dest_sent(st, r2, q, &sent, err, sizeof(err)));
    ck_assert(!sent);
    ck_assert(rstore_dest_sent(st, r1, "mailto:x@example.net", &sent, err, sizeof(err)));
    ck_assert(!sent);
    ck_assert(rstore_mark_dest(st, r2, q, NOW + 1800, err, sizeof(err)));
    ck_assert(rstore_mark_dest(st, r1, "other@example.net", NOW + 1800, err, sizeof(err)));
    ck_assert(rstore_dest_count(st, q, NOW - 3600, &n, err, sizeof(err)));
    ck_assert_uint_eq(n, 2);
    ck_assert(rstore_dest_count(st, q, NOW + 1, &n, err, sizeof(err)));
    ck_assert_uint_eq(n, 1);
    ck_assert(rstore_dest_count(st, q, NOW + 1801, &n, err, sizeof(err)));
    ck_assert_uint_eq(n, 0);
    ck_assert(rstore_dest_count(st, "nobody@example.net", 0, &n, err, sizeof(err)));
    ck_assert_uint_eq(n, 0);
    /* a dest marked twice (a retry) is still one destination */
    ck_assert(rstore_mark_dest(st, r1, q, NOW + 1900, err, sizeof(err)));
    ck_assert(rstore_dest_sent(st, r1, q, &sent, err, sizeof(err)));
    ck_assert(sent);
    rstore_report_free(r1);
    rstore_report_free(r2);
    dmarcrow_free(d0);
    dmarcrow_free(e0);
    rstore_close(st);
    free(uri);
}
END_TEST

START_TEST(test_expire_totals)
{
    char *uri = new_uri(_i);
    rstore_t *st = must_open(uri);
    dmarcrow *old = mkrow("a.example", DAY0, "192.0.2.1", "a.example", "a.example");
    dmarcrow *old2 = mkrow("a.example", DAY0, "192.0.2.2", "a.example", "a.example");
    dmarcrow *mid = mkrow("b.example", DAY0 + DAY, "192.0.2.1", "b.example", "b.example");
    dmarcrow *cur = mkrow("a.example", DAY0 + 2 * DAY, "192.0.2.1", "a.example", "a.example");
    rstore_report *r;
    unsigned long deleted = 99, n;
    bool sent;

    add1(st, old, 1, NULL);
    add1(st, old2, 1, NULL);
    add1(st, mid, 1, NULL);
    add1(st, cur, 1, NULL);
    r = must_claim(st, DAY0 + DAY, NOW, "me:1");
    ck_assert(rstore_mark_dest(st, r, "a@example.net", DAY0 + DAY + 10, err, sizeof(err)));
    ck_assert(rstore_done(st, r, DAY0 + DAY + 10, NULL, err, sizeof(err)));
    rstore_report_free(r);
    r = must_claim(st, DAY0 + 2 * DAY, NOW, "me:1");
    ck_assert(rstore_mark_dest(st, r, "a@example.net", DAY0 + 2 * DAY + 10, err, sizeof(err)));

    ck_assert(rstore_count(st, "built", 2, err, sizeof(err)));
    ck_assert(rstore_count(st, "sent", 3, err, sizeof(err)));
    ck_assert(rstore_count(st, "failed", 1, err, sizeof(err)));
    ck_assert(rstore_count(st, "built", 1, err, sizeof(err)));
    ck_assert(!rstore_count(st, "bogus", 1, err, sizeof(err)));
    ck_assert(!rstore_count(st, "built'; --", 1, err, sizeof(err)));
    rstore_totals t = totals(st);
    ck_assert_uint_eq(t.built, 3);
    ck_assert_uint_eq(t.sent, 3);
    ck_assert_uint_eq(t.failed, 1);
    ck_assert_uint_eq(t.reports_open, 2);
    ck_assert_uint_eq(t.reports_sent, 1);
    ck_assert_uint_eq(t.rows, 4);
    /* the counters alone (what the daemon reads after each flush) */
    rstore_totals c;
    memset(&c, 0xff, sizeof(c));
    ck_assert_msg(rstore_counters_get(st, &c, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(c.built, 3);
    ck_assert_uint_eq(c.sent, 3);
    ck_assert_uint_eq(c.failed, 1);
    ck_assert_uint_eq(c.reports_open, 0);
    ck_assert_uint_eq(c.reports_sent, 0);
    ck_assert_uint_eq(c.rows, 0);

    /* nothing ended before DAY0 */
    ck_assert(rstore_expire(st, DAY0, &deleted, err, sizeof(err)));
    ck_assert_uint_eq(deleted, 0);
    /* the first day's report (sent), its rows, its destinations, old send log */
    ck_assert_msg(rstore_expire(st, DAY0 + DAY, &deleted, err, sizeof(err)), "%s", err);
    ck_assert_uint_eq(deleted, 1);
    t = totals(st);
    ck_assert_uint_eq(t.reports_sent, 0);
    ck_assert_uint_eq(t.reports_open, 2);
    ck_assert_uint_eq(t.rows, 2);
    ck_assert_uint_eq(t.built, 3); /* totals are not expired */
    ck_assert(rstore_dest_count(st, "a@example.net", 0, &n, err, sizeof(err)));
    ck_assert_uint_eq(n, 2); /* both sends at or after DAY0 + DAY */
    ck_assert(rstore_expire(st, DAY0 + 2 * DAY, &deleted, err, sizeof(err)));
    ck_assert_uint_eq(deleted, 1);
    ck_assert(rstore_dest_count(st, "a@example.net", 0, &n, err, sizeof(err)));
    ck_assert_uint_eq(n, 1);
    ck_assert(rstore_dest_sent(st, r, "a@example.net", &sent, err, sizeof(err)));
    ck_assert(!sent);
    t = totals(st);
    ck_assert_uint_eq(t.rows, 1);
    ck_assert_uint_eq(t.reports_open, 1);
    rstore_report_free(r);
    dmarcrow_free(old);
    dmarcrow_free(old2);
    dmarcrow_free(mid);
    dmarcrow_free(cur);
    rstore_close(st);
    free(uri);
}
END_TEST

/* PostgreSQL: a connection the server dropped is re-made by the next call. */
START_TEST(test_pg_reconnect)
{
    char *uri = new_uri(1);
    rstore_t *st = must_open(uri);
    dmarcrow *d0 = mkrow("a.example", DAY0, "192.0.2.1", "a.example", "a.example");
    PGconn *c = pg_raw(pguri);
    PGresult *res;

    add1(st, d0, 1, NULL);
    res = PQexec(c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND backend_type = 'client backend'");
    ck_assert_int_eq(PQresultStatus(res), PGRES_TUPLES_OK);
    ck_assert_int_ge(PQntuples(res), 1);
    PQclear(res);
    PQfinish(c);
    usleep(100 * 1000);
    add1(st, d0, 2, NULL); /* fails on the dead connection, reconnects, adds once */
    ck_assert_uint_eq(totals(st).rows, 1);
    rstore_report *r = must_claim(st, DAY0 + DAY, NOW, "me:1");
    ck_assert_uint_eq(r->messages, 3);
    rstore_report_free(r);
    dmarcrow_free(d0);
    rstore_close(st);
    free(uri);
}
END_TEST

/* ---- processes at once ----------------------------------------------------------------------- */

#define NPROC 4
#define NITER 25
#define NKEYS 6

/* A child: open the store (all at once, on an empty one: the schema is
 * made once), add every key NITER times, one message each; two keys of
 * another report too. */
static int adder(const char *uri, int who)
{
    char e[512];
    rstore_t *st = rstore_open(uri, e, sizeof(e));
    dmarcrow *rows[NKEYS];
    unsigned long counts[NKEYS];
    int rc = 0;

    if (st == NULL) {
        fprintf(stderr, "adder %d: open: %s\n", who, e);
        return 1;
    }
    for (int k = 0; k < NKEYS; k++) {
        char ip[32];
        snprintf(ip, sizeof(ip), "192.0.2.%d", k);
        rows[k] = mkrow(k < 4 ? "a.example" : "b.example", DAY0, ip, "a.example", "a.example");
        counts[k] = 1;
    }
    for (int i = 0; i < NITER && rc == 0; i++) {
        /* each process its own order: the store orders the locks */
        const dmarcrow *order[NKEYS];
        for (int k = 0; k < NKEYS; k++)
            order[k] = rows[(k + who + i) % NKEYS];
        if (!rstore_add(st, order, counts, NKEYS, NULL, e, sizeof(e))) {
            fprintf(stderr, "adder %d: add %d: %s\n", who, i, e);
            rc = 1;
        }
    }
    for (int k = 0; k < NKEYS; k++)
        dmarcrow_free(rows[k]);
    rstore_close(st);
    return rc;
}

/* In a child: the parent's URI copied to static memory and the parent's
 * copy freed (the child leaves by _exit: nothing of the parent's left). */
static const char *child_uri(char *uri)
{
    static char copy[1024];
    snprintf(copy, sizeof(copy), "%s", uri);
    free(uri);
    return copy;
}

static void wait_children(pid_t *pids, int n)
{
    for (int i = 0; i < n; i++) {
        int status;
        ck_assert_int_eq(waitpid(pids[i], &status, 0), pids[i]);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d failed (status %d)", i, status);
    }
}

START_TEST(test_concurrent_add)
{
    char *uri = new_uri(_i);
    pid_t pids[NPROC];
    collected col;

    for (int p = 0; p < NPROC; p++) {
        pids[p] = fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] == 0)
            _exit(adder(child_uri(uri), p));
    }
    wait_children(pids, NPROC);

    rstore_t *st = must_open(uri);
    rstore_totals t = totals(st);
    ck_assert_uint_eq(t.rows, NKEYS);
    ck_assert_uint_eq(t.reports_open, 2);
    for (int rep = 0; rep < 2; rep++) {
        rstore_report *r = must_claim(st, DAY0 + DAY, NOW, "me:1");
        collect(st, r, &col);
        ck_assert_uint_eq(col.n, rep == 0 ? 4 : 2);
        ck_assert_uint_eq(r->messages, (unsigned long)col.n * NPROC * NITER);
        for (size_t i = 0; i < col.n; i++)
            ck_assert_uint_eq(col.counts[i], NPROC * NITER);
        collected_free(&col);
        rstore_report_free(r);
    }
    rstore_close(st);
    free(uri);
}
END_TEST

#define NREPORTS 24

/* A child: claim until nothing is left, writing each id to fd. */
static int claimer(const char *uri, int who, int fd)
{
    char e[512], owner[32];
    rstore_t *st = rstore_open(uri, e, sizeof(e));
    rstore_report *r;
    int rc, got = 0;

    if (st == NULL) {
        fprintf(stderr, "claimer %d: open: %s\n", who, e);
        return 1;
    }
    snprintf(owner, sizeof(owner), "host%d:%d", who, (int)getpid());
    while ((rc = rstore_claim(st, DAY0 + DAY, NOW, owner, 600, &r, e, sizeof(e))) == 1 && got <= NREPORTS) {
        int64_t id = r->id;
        usleep(2000); /* hold it a little while the other claims */
        if (write(fd, &id, sizeof(id)) != (ssize_t)sizeof(id) || !rstore_done(st, r, NOW, NULL, e, sizeof(e)))
            rc = -1;
        rstore_report_free(r);
        got++;
        if (rc < 0)
            break;
    }
    if (rc < 0)
        fprintf(stderr, "claimer %d: %s\n", who, e);
    rstore_close(st);
    return rc < 0 ? 1 : 0;
}

START_TEST(test_concurrent_claim)
{
    char *uri = new_uri(_i);
    rstore_t *st = must_open(uri);
    int fds[2], seen[NREPORTS + 1] = {0};
    int64_t ids[NREPORTS], id;
    pid_t pids[2];
    size_t total = 0;

    for (int i = 0; i < NREPORTS; i++) {
        char pd[32];
        snprintf(pd, sizeof(pd), "d%02d.example", i);
        dmarcrow *d = mkrow(pd, DAY0, "192.0.2.1", pd, pd);
        add1(st, d, 1, NULL);
        dmarcrow_free(d);
    }
    rstore_close(st); /* no connection of the parent's goes into a child */
    ck_assert_int_eq(pipe(fds), 0);
    for (int p = 0; p < 2; p++) {
        pids[p] = fork();
        ck_assert_int_ge(pids[p], 0);
        if (pids[p] == 0) {
            close(fds[0]);
            _exit(claimer(child_uri(uri), p, fds[1]));
        }
    }
    close(fds[1]);
    while (read(fds[0], &id, sizeof(id)) == (ssize_t)sizeof(id)) {
        ck_assert_uint_lt(total, NREPORTS);
        ids[total++] = id;
    }
    close(fds[0]);
    wait_children(pids, 2);
    ck_assert_uint_eq(total, NREPORTS);
    for (size_t i = 0; i < total; i++) {
        /* ids are 1..NREPORTS in a new store */
        ck_assert_int_ge(ids[i], 1);
        ck_assert_int_le(ids[i], NREPORTS);
        ck_assert_msg(seen[ids[i]]++ == 0, "report %lld claimed twice", (long long)ids[i]);
    }
    st = must_open(uri);
    ck_assert_uint_eq(totals(st).reports_sent, NREPORTS);
    rstore_close(st);
    free(uri);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rstore");
    TCase *tu = tcase_create("uri");
    TCase *tc = tcase_create("store");
    TCase *tp = tcase_create("processes");

    pg_start();
    tcase_add_test(tu, test_uri);
    tcase_add_test(tu, test_uri_shown);
    tcase_add_test(tu, test_sqlite_file);
    suite_add_tcase(s, tu);
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_schema, 0, BACKENDS);
    tcase_add_loop_test(tc, test_upsert, 0, BACKENDS);
    tcase_add_loop_test(tc, test_hostile, 0, BACKENDS);
    tcase_add_loop_test(tc, test_published_late, 0, BACKENDS);
    tcase_add_loop_test(tc, test_claim_closed_lease, 0, BACKENDS);
    tcase_add_loop_test(tc, test_renew_next_try, 0, BACKENDS);
    tcase_add_loop_test(tc, test_done_failed_release, 0, BACKENDS);
    tcase_add_loop_test(tc, test_dests, 0, BACKENDS);
    tcase_add_loop_test(tc, test_expire_totals, 0, BACKENDS);
    tcase_add_test(tc, test_pg_reconnect);
    tcase_add_test(tc, test_pg_least_privilege);
    suite_add_tcase(s, tc);
    tcase_set_timeout(tp, 300);
    tcase_add_loop_test(tp, test_concurrent_add, 0, BACKENDS);
    tcase_add_loop_test(tp, test_concurrent_claim, 0, BACKENDS);
    suite_add_tcase(s, tp);
    return tu_run(s);
}
