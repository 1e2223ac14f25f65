/*
 * test_conf.c - the configuration loader (policy/config/conf.c).
 *
 * Every .conf file in tests/conf/good must load without a message; every
 * tests/conf/bad/NAME.conf must fail with exactly the errors listed in
 * tests/conf/bad/NAME.expect, one "NAME.conf:LINE: text" per line, where the
 * file name and line must be equal and text must occur in the reason.  The
 * shipped conf/mxguard.conf and every .conf in conf/examples must load too.
 */
#include "config.h"

#include <dirent.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "testutil.h"
#include "xalloc.h"

/* ---- helpers ------------------------------------------------------------ */

typedef struct errlist {
    char **v;
    size_t n;
} errlist;

static void errlist_add(const char *msg, void *arg)
{
    errlist *e = arg;
    e->v = xreallocarray(e->v, e->n + 1, sizeof(char *));
    e->v[e->n++] = xstrdup(msg);
}

static void errlist_free(errlist *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->v[i]);
    free(e->v);
    e->v = NULL;
    e->n = 0;
}

/* All errors, one a line, for failure messages (static buffer). */
static const char *errlist_text(const errlist *e)
{
    static char buf[8192];
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < e->n && used < sizeof(buf); i++)
        used += (size_t)snprintf(buf + used, sizeof(buf) - used, "  %s\n", e->v[i]);
    return buf;
}

static char *read_text(const char *path)
{
    FILE *fp = fopen(path, "r");
    char *buf = NULL;
    size_t len = 0, cap = 0, n;
    char chunk[4096];

    ck_assert_msg(fp != NULL, "cannot open %s", path);
    while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
        if (len + n + 1 > cap) {
            cap = (len + n + 1) * 2;
            buf = xrealloc(buf, cap);
        }
        memcpy(buf + len, chunk, n);
        len += n;
    }
    fclose(fp);
    if (buf == NULL)
        buf = xstrdup("");
    else
        buf[len] = '\0';
    return buf;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the files in dir ending with suffix. */
static size_t list_dir(const char *dir, const char *suffix, char ***out)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **v = NULL;
    size_t n = 0;

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || !has_suffix(de->d_name, suffix))
            continue;
        v = xreallocarray(v, n + 1, sizeof(char *));
        v[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (n > 1)
        qsort(v, n, sizeof(char *), cmp_str);
    *out = v;
    return n;
}

static char **good_files, **bad_files, **example_files;
static size_t ngood, nbad, nexamples;

static void free_lists(void)
{
    for (size_t i = 0; i < ngood; i++)
        free(good_files[i]);
    for (size_t i = 0; i < nbad; i++)
        free(bad_files[i]);
    for (size_t i = 0; i < nexamples; i++)
        free(example_files[i]);
    free(good_files);
    free(bad_files);
    free(example_files);
}

/* ---- good and bad files ------------------------------------------------- */

START_TEST(test_good_file)
{
    char path[4096];
    errlist e = {0};
    conf_t *c;

    snprintf(path, sizeof(path), "%s", tu_path("conf/good/"));
    strncat(path, good_files[_i], sizeof(path) - strlen(path) - 1);
    c = conf_load(path, errlist_add, &e);
    ck_assert_msg(c != NULL && e.n == 0, "%s should load:\n%s", good_files[_i], errlist_text(&e));
    ck_assert_str_eq(c->path, path);
    conf_free(c);
    errlist_free(&e);
}
END_TEST

/* Replace "DIR/NAME.conf:" at the start of msg by "NAME.conf:" (static). */
static const char *strip_dir(const char *msg, const char *path)
{
    size_t plen = strlen(path);
    const char *base = strrchr(path, '/');

    if (strncmp(msg, path, plen) == 0 && base)
        return msg + (size_t)(base + 1 - path);
    return msg;
}

START_TEST(test_bad_file)
{
    char path[4096], expect_path[4096];
    const char *name = bad_files[_i];
    errlist e = {0};
    char *expect, *line, *save = NULL;
    size_t nexpect = 0;
    conf_t *c;

    snprintf(path, sizeof(path), "%s%s", tu_path("conf/bad/"), name);
    snprintf(expect_path, sizeof(expect_path), "%.*s.expect", (int)(strlen(path) - 5), path);
    ck_assert_msg(access(expect_path, R_OK) == 0, "%s has no .expect file", name);
    c = conf_load(path, errlist_add, &e);
    ck_assert_msg(c == NULL, "%s loaded but must fail", name);
    expect = read_text(expect_path);
    for (line = strtok_r(expect, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char prefix[512];
        const char *colon1, *colon2, *got;

        if (*line == '\0' || *line == '#')
            continue;
        ck_assert_msg(nexpect < e.n, "%s: missing error #%zu \"%s\"; got:\n%s", name, nexpect + 1, line,
                      errlist_text(&e));
        /* "NAME.conf:LINE: text": prefix up to and including ": " after the line. */
        colon1 = strchr(line, ':');
        ck_assert_ptr_nonnull(colon1);
        colon2 = strchr(colon1 + 1, ':');
        ck_assert_msg(colon2 && colon2[1] == ' ', "bad expectation \"%s\"", line);
        snprintf(prefix, sizeof(prefix), "%.*s", (int)(colon2 + 2 - line), line);
        got = strip_dir(e.v[nexpect], path);
        ck_assert_msg(strncmp(got, prefix, strlen(prefix)) == 0, "%s: error #%zu is \"%s\", want \"%s...\"",
                      name, nexpect + 1, got, prefix);
        ck_assert_msg(strstr(got + strlen(prefix), colon2 + 2) != NULL,
                      "%s: error #%zu is \"%s\", want it to contain \"%s\"", name, nexpect + 1, got, colon2 + 2);
        nexpect++;
    }
    ck_assert_msg(nexpect > 0, "%s.expect lists no error", name);
    ck_assert_msg(e.n == nexpect, "%s: %zu errors, %zu expected:\n%s", name, e.n, nexpect, errlist_text(&e));
    free(expect);
    errlist_free(&e);
}
END_TEST

/* The folders are there and hold the cases the suite is meant to cover. */
START_TEST(test_case_folders)
{
    char **expects = NULL;
    size_t nexp = list_dir(tu_path("conf/bad"), ".expect", &expects);

    ck_assert_uint_ge(ngood, 4);
    ck_assert_uint_ge(nbad, 25);
    ck_assert_uint_eq(nexp, nbad); /* no orphan .expect either */
    for (size_t i = 0; i < nexp; i++)
        free(expects[i]);
    free(expects);
}
END_TEST

/* ---- shipped files ------------------------------------------------------ */

START_TEST(test_shipped_default)
{
    errlist e = {0};
    conf_t *c = conf_load(tu_path("../conf/mxguard.conf"), errlist_add, &e);

    ck_assert_msg(c != NULL, "conf/mxguard.conf:\n%s", errlist_text(&e));
    /* It must start out of the box: default socket, no privilege drop. */
    ck_assert_str_eq(c->socket, "unix:/run/mxguard/mxguard.sock");
    ck_assert_ptr_null(c->user);
    ck_assert(c->spf_enabled);
    ck_assert(c->authres_add);
    ck_assert_uint_ge(cidr_list_count(c->trusted), 2);
    ck_assert(cidr_list_match(c->trusted, "127.0.0.1"));
    ck_assert(cidr_list_match(c->trusted, "::1"));
    ck_assert_uint_ge(rules_count(c->rules), 2);
    conf_free(c);
    errlist_free(&e);
}
END_TEST

/* Examples may name the "mxguard" system user, which the package creates;
 * where it does not exist the only error allowed is that one, and the file
 * must then load with the user replaced by an existing one. */
static conf_t *load_example(const char *name, errlist *e)
{
    char path[4096];
    conf_t *c;

    snprintf(path, sizeof(path), "%s%s", tu_path("../conf/examples/"), name);
    c = conf_load(path, errlist_add, e);
    if (c == NULL && getpwnam("mxguard") == NULL && e->n == 1 &&
        strstr(e->v[0], ": unknown user \"mxguard\"") != NULL) {
        char *text = read_text(path), *p = strstr(text, "\"mxguard\"");
        struct passwd *pw = getpwuid(getuid());
        char *fixed;

        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_nonnull(pw);
        *p = '\0';
        fixed = xasprintf("%s\"%s\"%s", text, pw->pw_name, p + strlen("\"mxguard\""));
        errlist_free(e);
        c = conf_load_string(fixed, name, errlist_add, e);
        free(fixed);
        free(text);
    }
    ck_assert_msg(c != NULL, "%s:\n%s", path, errlist_text(e));
    return c;
}

START_TEST(test_example_file)
{
    errlist e = {0};
    conf_t *c = load_example(example_files[_i], &e);

    ck_assert_uint_ge(rules_count(c->rules), 1);
    conf_free(c);
    errlist_free(&e);
}
END_TEST

/* ---- DKIM fail in the shipped policy ------------------------------------ */

/* Names of the rules that reject (deciding or dry-run), comma-separated. */
typedef struct rejects {
    char text[512];
} rejects;

static void rejects_add(rejects *r, const verdict_t *v)
{
    size_t n = strlen(r->text);

    if (v->action == ACTION_REJECT && v->rule != NULL)
        snprintf(r->text + n, sizeof(r->text) - n, "%s%s", n ? "," : "", v->rule);
}

static void rejects_dry(const verdict_t *would, void *arg)
{
    rejects_add(arg, would);
}

/* The rules that would reject (dry-run or not) an ordinary message from
 * the Internet at end of message with the given SPF and DKIM results. */
static void eval_rejects(const conf_t *c, spfcheck_result spf, dkimcheck_result dkim, rejects *out)
{
    facts_t *f = facts_new();
    dkimcheck_sig sig;
    verdict_t v;

    memset(out, 0, sizeof(*out));
    memset(&sig, 0, sizeof(sig));
    facts_set(&f->client_addr, "198.51.100.7");
    facts_set(&f->client_name, "mail.example.org");
    facts_set(&f->helo, "mail.example.org");
    facts_set(&f->mail_from, "alice@example.org");
    facts_set(&f->sender_domain, "example.org");
    facts_add_rcpt(f, "bob@example.net");
    f->spf_mfrom = spf;
    f->spf_helo = SPFCHECK_NONE;
    f->stage = STAGE_EOM;
    f->dkim = dkim;
    if (dkim != DKIMCHECK_NONE) {
        sig.result = dkim;
        sig.domain = (char *)"example.org";
        f->dkim_sigs = &sig;
        f->ndkim_sigs = 1;
    }
    ck_assert_int_eq(rules_eval(c->rules, f, &v, rejects_dry, out), RULES_DECIDED);
    rejects_add(out, &v);
    f->dkim_sigs = NULL;
    f->ndkim_sigs = 0;
    facts_free(f);
}

/* Rules that reject a message whose DKIM signature failed but not the
 * same message unsigned (RFC 6376 6.1: a failed signature counts as none);
 * "" when there are none. */
static void dkim_fail_rejects(const conf_t *c, char *out, size_t outlen)
{
    static const spfcheck_result spfs[] = {SPFCHECK_NONE, SPFCHECK_PASS, SPFCHECK_SOFTFAIL};

    out[0] = '\0';
    for (size_t i = 0; i < sizeof(spfs) / sizeof(spfs[0]); i++) {
        rejects unsigned_, failed;
        eval_rejects(c, spfs[i], DKIMCHECK_NONE, &unsigned_);
        eval_rejects(c, spfs[i], DKIMCHECK_FAIL, &failed);
        if (strcmp(unsigned_.text, failed.text) != 0 && out[0] == '\0')
            snprintf(out, outlen, "spf=%s: unsigned [%s], dkim=fail [%s]", spfcheck_result_name(spfs[i]),
                     unsigned_.text, failed.text);
    }
}

/* Issue 14: the shipped policy has no rule (not even a dry-run one) that
 * rejects on dkim = fail; strict.conf keeps one, which also shows that
 * the check finds such a rule. */
START_TEST(test_shipped_no_dkim_fail_reject)
{
    errlist e = {0};
    conf_t *c = conf_load(tu_path("../conf/mxguard.conf"), errlist_add, &e);
    char why[1200];

    ck_assert_msg(c != NULL, "conf/mxguard.conf:\n%s", errlist_text(&e));
    dkim_fail_rejects(c, why, sizeof(why));
    ck_assert_msg(why[0] == '\0', "conf/mxguard.conf rejects on DKIM fail: %s", why);
    conf_free(c);
    errlist_free(&e);

    c = load_example("strict.conf", &e);
    dkim_fail_rejects(c, why, sizeof(why));
    ck_assert_msg(strstr(why, "dkim=fail [dkim-fail]") != NULL, "strict.conf: [%s]", why);
    conf_free(c);
    errlist_free(&e);
}
END_TEST

START_TEST(test_examples_present)
{
    ck_assert_uint_ge(nexamples, 1);
    for (size_t i = 0; i < nexamples; i++)
        if (strcmp(example_files[i], "strict.conf") == 0)
            return;
    ck_abort_msg("conf/examples/strict.conf is missing");
}
END_TEST

/* ---- values ------------------------------------------------------------- */

START_TEST(test_defaults)
{
    errlist e = {0};
    conf_t *c = conf_load_string("", "empty.conf", errlist_add, &e);
    char host[256];

    ck_assert_msg(c != NULL, "%s", errlist_text(&e));
    ck_assert_str_eq(c->path, "empty.conf");
    ck_assert_str_eq(c->socket, "unix:/run/mxguard/mxguard.sock");
    ck_assert_ptr_null(c->user);
    ck_assert_ptr_null(c->pidfile);
    ck_assert_ptr_null(c->metrics); /* off by default */
    ck_assert_str_eq(c->syslog_facility, "mail");
    ck_assert_int_eq(gethostname(host, sizeof(host)), 0);
    host[sizeof(host) - 1] = '\0';
    ck_assert_str_eq(c->authserv_id, host);
    ck_assert_uint_eq(c->milter_timeout, 300);
    ck_assert_str_eq(c->dns_upstream, "system");
    ck_assert_uint_eq(c->dns_timeout_ms, 5000);
    ck_assert(c->spf_enabled);
    ck_assert(c->spf_helo);
    ck_assert(c->authres_add);
    ck_assert(c->authres_strip);
    ck_assert_ptr_nonnull(c->trusted);
    ck_assert_uint_eq(cidr_list_count(c->trusted), 0);
    ck_assert_ptr_nonnull(c->rules);
    ck_assert_uint_eq(rules_count(c->rules), 0);
    {
        facts_t *f = facts_new();
        verdict_t v;
        ck_assert_int_eq(rules_eval(c->rules, f, &v, NULL, NULL), RULES_DECIDED);
        ck_assert_int_eq(v.action, ACTION_ACCEPT);
        ck_assert_str_eq(v.rule, "default");
        facts_free(f);
    }
    conf_free(c);
}
END_TEST

/* Dry-run callback: keep the first rule name. */
static void test_dry_first(const verdict_t *would, void *arg)
{
    const char **first = arg;

    if (*first == NULL)
        *first = would->rule;
}

/* dkim { } values, defaults, and the dkim, dkim_domain and dkim_partial
 * conditions (known at end of message only). */
START_TEST(test_dkim_values_and_rules)
{
    errlist e = {0};
    conf_t *c = conf_load(tu_path("conf/good/dkim.conf"), errlist_add, &e);
    conf_t *d = conf_load_string("", "empty", NULL, NULL);
    facts_t *f = facts_new();
    dkimcheck_sig sigs[2];
    verdict_t v;
    const char *dry = NULL;

    ck_assert_msg(c != NULL, "%s", errlist_text(&e));
    ck_assert(c->dkim_enabled);
    ck_assert_uint_eq(c->dkim_min_key_bits, 2048);
    ck_assert_uint_eq(c->dkim_max_signatures, 3);
    ck_assert_uint_eq(c->dkim_clock_skew, 60);
    ck_assert_str_eq(c->dkim_required_headers[0], "from");
    ck_assert_str_eq(c->dkim_required_headers[1], "subject");
    ck_assert_ptr_null(c->dkim_required_headers[2]);
    ck_assert_ptr_nonnull(d);
    ck_assert(!d->dkim_enabled);
    ck_assert_uint_eq(d->dkim_min_key_bits, 1024);
    ck_assert_uint_eq(d->dkim_max_signatures, 5);
    ck_assert_uint_eq(d->dkim_clock_skew, 300);
    ck_assert_str_eq(d->dkim_required_headers[0], "from");
    ck_assert_ptr_null(d->dkim_required_headers[1]);

    memset(sigs, 0, sizeof(sigs));
    facts_set(&f->sender_domain, "bank.example");
    /* before end of message the DKIM rules are pending */
    f->stage = STAGE_DATA;
    ck_assert_int_eq(rules_eval(c->rules, f, &v, NULL, NULL), RULES_PENDING);
    /* not evaluated: no DKIM condition holds */
    f->stage = STAGE_EOM;
    ck_assert_int_eq(rules_eval(c->rules, f, &v, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "default");
    /* a pass for a subdomain of bank.example */
    sigs[0].result = DKIMCHECK_PASS;
    sigs[0].domain = (char *)"mail.bank.example";
    sigs[1].result = DKIMCHECK_FAIL;
    sigs[1].domain = (char *)"other.example";
    f->dkim = DKIMCHECK_PASS;
    f->dkim_sigs = sigs;
    f->ndkim_sigs = 2;
    ck_assert_int_eq(rules_eval(c->rules, f, &v, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "dkim-bank");
    /* the passing domain is not the bank: fail of the aggregate, reject */
    sigs[0].result = DKIMCHECK_FAIL;
    f->dkim = DKIMCHECK_FAIL;
    ck_assert_int_eq(rules_eval(c->rules, f, &v, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "dkim-fail");
    f->dkim = DKIMCHECK_TEMPERROR;
    ck_assert_int_eq(rules_eval(c->rules, f, &v, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "dkim-temp");
    /* a partial pass: the dry-run rule sees it */
    sigs[0].result = DKIMCHECK_PASS;
    sigs[0].partial = true;
    sigs[0].domain = (char *)"news.example";
    f->dkim = DKIMCHECK_PASS;
    ck_assert_int_eq(rules_eval(c->rules, f, &v, test_dry_first, &dry), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "default");
    ck_assert_ptr_nonnull(dry);
    ck_assert_str_eq(dry, "dkim-partial");
    f->dkim_sigs = NULL;
    f->ndkim_sigs = 0;
    facts_free(f);
    conf_free(c);
    conf_free(d);
    errlist_free(&e);
}
END_TEST

START_TEST(test_full_values)
{
    errlist e = {0};
    conf_t *c = conf_load(tu_path("conf/good/full.conf"), errlist_add, &e);
    facts_t *f;
    verdict_t v;

    ck_assert_msg(c != NULL, "%s", errlist_text(&e));
    ck_assert_str_eq(c->socket, "inet:8891@127.0.0.1");
    ck_assert_str_eq(c->user, "nobody");
    ck_assert_str_eq(c->pidfile, "/run/mxguard/test.pid");
    ck_assert_str_eq(c->syslog_facility, "local3");
    ck_assert_str_eq(c->authserv_id, "mx.example.com");
    ck_assert_uint_eq(c->milter_timeout, 120);
    ck_assert_str_eq(c->metrics, "[::1]:9142");
    ck_assert_str_eq(c->dns_upstream, "127.0.0.1@5353");
    ck_assert_uint_eq(c->dns_timeout_ms, 2500);
    ck_assert(!c->spf_enabled);
    ck_assert(!c->spf_helo);
    ck_assert(!c->authres_add);
    ck_assert(!c->authres_strip);
    ck_assert_uint_eq(cidr_list_count(c->trusted), 3);
    ck_assert(cidr_list_match(c->trusted, "192.0.2.200"));
    ck_assert(!cidr_list_match(c->trusted, "198.51.100.1"));
    ck_assert_uint_eq(rules_count(c->rules), 7);

    /* the default action is tempfail, with its default reply */
    f = facts_new();
    f->stage = STAGE_RCPT;
    f->spf_mfrom = SPFCHECK_FAIL;
    f->spf_helo = SPFCHECK_PERMERROR;
    ck_assert_int_eq(rules_eval(c->rules, f, &v, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "spf-fail");
    ck_assert_str_eq(v.code, "550");
    ck_assert_str_eq(v.xcode, "5.7.23");
    ck_assert_str_eq(v.text, "SPF validation failed");
    f->spf_mfrom = SPFCHECK_PASS;
    f->rcpt = "u@a.busy.example";
    ck_assert_int_eq(rules_eval(c->rules, f, &v, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "busy");
    ck_assert_str_eq(v.code, "452");
    ck_assert_str_eq(v.xcode, "4.7.1");
    ck_assert_str_eq(v.text, "Mailbox busy");
    facts_free(f);
    conf_free(c);
}
END_TEST

typedef struct socket_case {
    const char *socket;
    bool ok;
    const char *want_socket; /* conf_t's spelling when ok; NULL: as written */
} socket_case;

static const socket_case socket_cases[] = {
    {"unix:/run/mxguard/mxguard.sock", true, NULL},
    {"local:/var/spool/postfix/private/mxguard", true, NULL},
    {"inet:8891@127.0.0.1", true, NULL},
    {"inet:1@localhost", true, NULL},
    {"inet:65535@mx.example.com", true, NULL},
    {"inet6:8891@::1", true, NULL},
    {"inet6:8891@2001:db8::25", true, NULL},
    /* Postfix's spelling (smtpd_milters = inet:127.0.0.1:8891) */
    {"inet:127.0.0.1:8891", true, "inet:8891@127.0.0.1"},
    {"inet:localhost:1", true, "inet:1@localhost"},
    {"inet:mx.example.com:65535", true, "inet:65535@mx.example.com"},
    {"inet:[::1]:8891", true, "inet6:8891@::1"},
    {"inet:[2001:db8::25]:8891", true, "inet6:8891@2001:db8::25"},
    {"inet:127.0.0.1:0", false, NULL},
    {"inet:127.0.0.1:65536", false, NULL},
    {"inet:127.0.0.1:", false, NULL},
    {"inet::8891", false, NULL},
    {"inet:127.0.0.1:port", false, NULL},
    {"inet:bad host:8891", false, NULL},
    {"inet:[127.0.0.1]:8891", false, NULL},
    {"inet:[::1:8891", false, NULL},
    {"inet6:::1:8891", false, NULL},
    {"unix:relative/path", false, NULL},
    {"unix:", false, NULL},
    {"/run/mxguard.sock", false, NULL},
    {"inet:0@127.0.0.1", false, NULL},
    {"inet:65536@127.0.0.1", false, NULL},
    {"inet:123456@127.0.0.1", false, NULL},
    {"inet:8891", false, NULL},
    {"inet:8891@", false, NULL},
    {"inet:port@127.0.0.1", false, NULL},
    {"inet:@127.0.0.1", false, NULL},
    {"inet:8891@::1", false, NULL},
    {"inet6:8891@127.0.0.1x!", false, NULL},
    {"inet:8891@bad host", false, NULL},
    {"tcp:8891@127.0.0.1", false, NULL},
    {"", false, NULL},
};

START_TEST(test_socket_syntax)
{
    const socket_case *sc = &socket_cases[_i];
    char *text = xasprintf("socket = \"%s\";\n", sc->socket);
    errlist e = {0};
    conf_t *c = conf_load_string(text, "s.conf", errlist_add, &e);

    ck_assert_msg((c != NULL) == sc->ok, "socket \"%s\": %s", sc->socket, c ? "accepted" : errlist_text(&e));
    if (!sc->ok) {
        ck_assert_uint_eq(e.n, 1);
        ck_assert_msg(strncmp(e.v[0], "s.conf:1: bad socket", 20) == 0, "%s", e.v[0]);
    } else {
        ck_assert_str_eq(c->socket, sc->want_socket ? sc->want_socket : sc->socket);
    }
    conf_free(c);
    errlist_free(&e);
    free(text);
}
END_TEST

typedef struct upstream_case {
    const char *upstream;
    bool ok;
} upstream_case;

/* The syntax itself is dns_upstream_valid()'s (policy/dns/dns.c); these are the
 * clear cases the loader must pass on. */
static const upstream_case upstream_cases[] = {
    {"system", true},        {"127.0.0.1", true},   {"127.0.0.1@5353", true}, {"::1", true},
    {"2001:db8::53@53", true}, {"dns.example", false}, {"", false},         {"127.0.0.1@", false},
    {"127.0.0.1@99999", false},
};

START_TEST(test_upstream)
{
    const upstream_case *uc = &upstream_cases[_i];
    char *text = xasprintf("dns = { upstream = \"%s\"; };\n", uc->upstream);
    errlist e = {0};
    conf_t *c = conf_load_string(text, "u.conf", errlist_add, &e);

    ck_assert_msg((c != NULL) == uc->ok, "upstream \"%s\": %s", uc->upstream, c ? "accepted" : errlist_text(&e));
    if (!uc->ok) {
        ck_assert_uint_eq(e.n, 1);
        ck_assert_msg(strncmp(e.v[0], "u.conf:1: bad dns.upstream", 26) == 0, "%s", e.v[0]);
    } else {
        ck_assert_str_eq(c->dns_upstream, uc->upstream);
    }
    conf_free(c);
    errlist_free(&e);
    free(text);
}
END_TEST

/* A domain name of 111 characters (REPORTS_RECEIVER_MAX) and one of 112. */
#define LABEL_60 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define LABEL_50 "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define RECEIVER_111 LABEL_60 "." LABEL_50
#define RECEIVER_112 LABEL_60 "." LABEL_50 "b"

/* reports { }: off by default with its defaults; every key read; enabled
 * needs org_name and email; receiver from email. */
START_TEST(test_reports_values)
{
    errlist e = {0};
    conf_t *d = conf_load_string("", "r.conf", errlist_add, &e);
    conf_t *c;

    ck_assert_ptr_nonnull(d);
    ck_assert(!d->reports_enabled);
    ck_assert_str_eq(d->reports_store, REPORTS_DEFAULT_STORE);
    ck_assert_ptr_null(d->reports_org_name);
    ck_assert_ptr_null(d->reports_receiver);
    ck_assert_uint_eq(d->reports_flush_interval, 60);
    ck_assert_uint_eq(d->reports_max_rows, 100000);
    ck_assert_uint_eq(d->reports_retention_days, 30);
    ck_assert_str_eq(d->reports_sendmail, "/usr/sbin/sendmail");
    ck_assert_uint_eq(d->reports_rate_limit, 60);
    ck_assert_uint_eq(d->reports_max_recipients, 4);
    ck_assert_int_eq(d->reports_line, 0);
    conf_free(d);

    c = conf_load_string("# reports\nreports = {\n enabled = true;\n store = \"postgresql://mx@db.example/dmarc\";\n"
                         " org_name = \"Example & Co <MX>\";\n email = \"dmarc-reports@mx.example.org\";\n"
                         " extra_contact_info = \"+1 555 0100\";\n flush_interval = 5;\n max_rows = 7;\n"
                         " retention_days = 9;\n sendmail = \"/usr/local/sbin/sendmail\";\n rate_limit = 0;\n"
                         " max_recipients = 2;\n};\n",
                         "r.conf", errlist_add, &e);
    ck_assert_msg(c != NULL, "%s", errlist_text(&e));
    ck_assert(c->reports_enabled);
    ck_assert_str_eq(c->reports_store, "postgresql://mx@db.example/dmarc");
    ck_assert_str_eq(c->reports_org_name, "Example & Co <MX>");
    ck_assert_str_eq(c->reports_email, "dmarc-reports@mx.example.org");
    ck_assert_str_eq(c->reports_receiver, "mx.example.org");
    ck_assert_str_eq(c->reports_extra_contact_info, "+1 555 0100");
    ck_assert_uint_eq(c->reports_flush_interval, 5);
    ck_assert_uint_eq(c->reports_max_rows, 7);
    ck_assert_uint_eq(c->reports_retention_days, 9);
    ck_assert_str_eq(c->reports_sendmail, "/usr/local/sbin/sendmail");
    ck_assert_uint_eq(c->reports_rate_limit, 0);
    ck_assert_uint_eq(c->reports_max_recipients, 2);
    ck_assert_int_eq(c->reports_line, 2);
    conf_free(c);

    c = conf_load_string("reports = { email = \"r@a.example\"; receiver = \"b.example\"; store = \"sqlite:/x.db\"; };\n",
                         "r.conf", errlist_add, &e);
    ck_assert_msg(c != NULL, "%s", errlist_text(&e));
    ck_assert_str_eq(c->reports_receiver, "b.example");
    conf_free(c);

    /* 111 characters, the longest receiver (REPORTS_RECEIVER_MAX), set or from email */
    c = conf_load_string("reports = { receiver = \"" RECEIVER_111 "\"; };\n", "r.conf", errlist_add, &e);
    ck_assert_msg(c != NULL, "%s", errlist_text(&e));
    ck_assert_uint_eq(strlen(c->reports_receiver), REPORTS_RECEIVER_MAX);
    conf_free(c);
    c = conf_load_string("reports = { email = \"r@" RECEIVER_111 "\"; };\n", "r.conf", errlist_add, &e);
    ck_assert_msg(c != NULL, "%s", errlist_text(&e));
    ck_assert_str_eq(c->reports_receiver, RECEIVER_111);
    conf_free(c);
    errlist_free(&e);
}
END_TEST

typedef struct reports_bad {
    const char *text;   /* inside reports = { ... } */
    const char *error;  /* the start of the one error, after "r.conf:LINE: " */
} reports_bad;

static const reports_bad reports_bad_cases[] = {
    {"enabled = true; email = \"r@x.example\";", "reports.enabled needs reports.org_name"},
    {"enabled = true; org_name = \"X\";", "reports.enabled needs reports.email"},
    {"store = \"mysql://x\";", "bad reports.store \"mysql://x\": unknown store kind"},
    {"store = \"sqlite:reports.db\";", "bad reports.store \"sqlite:reports.db\": sqlite: needs an absolute"},
    {"store = \"/var/lib/x.db\";", "bad reports.store"},
    {"store = \"postgresql://u:s3cret@[2001:db8::1/db\";", "bad reports.store \"postgresql://u:***@[2001:db8::1/db\": "},
    {"store = \"postgresql://u@h/db?password=s3cret&bogus=1\";", "bad reports.store \"postgresql://u@h/db?password=***&bogus=1\": "},
    {"email = \"nobody\";", "bad reports.email \"nobody\""},
    {"email = \"a b@x.example\";", "bad reports.email"},
    {"email = \"<a@x.example>\";", "bad reports.email"},
    {"email = \"a@-x..example\";", "bad reports.email"},
    {"receiver = \"not a domain\";", "bad reports.receiver"},
    /* 112 characters: the Report-ID "<16 hex>@<receiver>" would pass 128 */
    {"receiver = \"" RECEIVER_112 "\";", "bad reports.receiver \"aaaa"},
    {"email = \"r@" RECEIVER_112 "\";", "reports.receiver defaults to the domain of reports.email, which is longer than 111"},
    {"org_name = \"\";", "\"\": expected 1 to 1024 characters"},
    {"org_name = \"a\\nb\";", "\"a"},
    {"flush_interval = 0;", "reports.flush_interval 0 out of range (1..3600)"},
    {"max_rows = 0;", "reports.max_rows 0 out of range"},
    {"retention_days = 4000;", "reports.retention_days 4000 out of range (1..3650)"},
    {"max_recipients = 21;", "reports.max_recipients 21 out of range (1..20)"},
    {"sendmail = \"sendmail\";", "reports.sendmail \"sendmail\" must be an absolute path"},
    {"enabled = \"yes\";", "reports.enabled: expected true or false"},
    {"period = 3600;", "unknown key \"period\" in reports"},
};

START_TEST(test_reports_errors)
{
    const reports_bad *rc = &reports_bad_cases[_i];
    char *text = xasprintf("# reports\nreports = { %s };\n", rc->text);
    char *want = xasprintf("r.conf:2: %s", rc->error);
    errlist e = {0};

    ck_assert_ptr_null(conf_load_string(text, "r.conf", errlist_add, &e));
    ck_assert_msg(e.n == 1, "%s: %zu errors: %s", rc->text, e.n, errlist_text(&e));
    ck_assert_msg(strncmp(e.v[0], want, strlen(want)) == 0, "%s: got %s, want %s", rc->text, e.v[0], want);
    ck_assert_msg(strstr(e.v[0], "s3cret") == NULL, "a password in %s", e.v[0]); /* never in a log line */
    errlist_free(&e);
    free(text);
    free(want);
}
END_TEST

START_TEST(test_facilities)
{
    static const char *const good[] = {"mail", "daemon", "user", "local0", "local7", "LOCAL5"};
    static const char *const bad[] = {"kern", "local8", "", "mail "};

    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        char *text = xasprintf("syslog_facility = \"%s\";", good[i]);
        errlist e = {0};
        conf_t *c = conf_load_string(text, "f.conf", errlist_add, &e);
        ck_assert_msg(c != NULL, "%s: %s", good[i], errlist_text(&e));
        ck_assert_str_eq(c->syslog_facility, good[i]);
        conf_free(c);
        free(text);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *text = xasprintf("syslog_facility = \"%s\";", bad[i]);
        errlist e = {0};
        ck_assert_ptr_null(conf_load_string(text, "f.conf", errlist_add, &e));
        ck_assert_uint_eq(e.n, 1);
        ck_assert_msg(strstr(e.v[0], "f.conf:1: unknown syslog_facility") != NULL, "%s", e.v[0]);
        errlist_free(&e);
        free(text);
    }
}
END_TEST

/* ---- files and error channels ---------------------------------------- */

START_TEST(test_not_a_file)
{
    errlist e = {0};
    char *missing = xasprintf("%s", tu_path("conf/does-not-exist.conf"));

    ck_assert_ptr_null(conf_load(tu_path("conf/good"), errlist_add, &e));
    ck_assert_uint_eq(e.n, 1);
    ck_assert_msg(strstr(e.v[0], "conf/good: not a regular file") != NULL, "%s", e.v[0]);
    errlist_free(&e);

    ck_assert_ptr_null(conf_load(missing, errlist_add, &e));
    ck_assert_uint_eq(e.n, 1);
    ck_assert_msg(strstr(e.v[0], "does-not-exist.conf: cannot open: No such file or directory") != NULL, "%s",
                  e.v[0]);
    errlist_free(&e);
    free(missing);
}
END_TEST

START_TEST(test_unreadable)
{
    char *path = tu_write_temp("milter_timeout = 10;\n");
    errlist e = {0};
    conf_t *c;

    ck_assert_int_eq(chmod(path, 0), 0);
    c = conf_load(path, errlist_add, &e);
    if (geteuid() == 0) {
        /* root reads it anyway: it must then load normally */
        ck_assert_ptr_nonnull(c);
        ck_assert_uint_eq(c->milter_timeout, 10);
    } else {
        ck_assert_ptr_null(c);
        ck_assert_uint_eq(e.n, 1);
        ck_assert_msg(strstr(e.v[0], ": cannot open: Permission denied") != NULL, "%s", e.v[0]);
    }
    conf_free(c);
    errlist_free(&e);
    free(path);
}
END_TEST

/* A world-writable config loads, with a warning naming it. */
START_TEST(test_world_writable_warns)
{
    char *path = tu_write_temp("milter_timeout = 10;\n");
    conf_t *c;

    tu_log_start();
    c = conf_load(path, NULL, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_ptr_null(strstr(tu_log_text(), "world-writable"));
    conf_free(c);
    ck_assert_int_eq(chmod(path, 0666), 0);
    c = conf_load(path, NULL, NULL);
    ck_assert_ptr_nonnull(c);
    ck_assert_msg(strstr(tu_log_text(), "world-writable") != NULL, "%s", tu_log_text());
    ck_assert_ptr_nonnull(strstr(tu_log_text(), path));
    tu_log_stop();
    conf_free(c);
    free(path);
}
END_TEST

/* Without a callback, each error goes to log_error once. */
START_TEST(test_errors_to_log)
{
    const char *log;

    tu_log_start();
    ck_assert_ptr_null(conf_load_string("milter_timeout = 0;\nfoo = 1;\n", "x.conf", NULL, NULL));
    log = tu_log_text();
    tu_log_stop();
    ck_assert_msg(strstr(log, "x.conf:1: milter_timeout 0 out of range (1..3600)\n") != NULL, "%s", log);
    ck_assert_msg(strstr(log, "x.conf:2: unknown key \"foo\"\n") != NULL, "%s", log);
    ck_assert_msg(strstr(log, "x.conf:1:") < strstr(log, "x.conf:2:"), "order: %s", log);
}
END_TEST

/* A string load names the given file in syntax errors too. */
START_TEST(test_string_syntax_error)
{
    errlist e = {0};

    ck_assert_ptr_null(conf_load_string("a = 1;\nrules = ( { name = \"x\" } ;\n", "str.conf", errlist_add, &e));
    ck_assert_uint_eq(e.n, 1);
    ck_assert_msg(strncmp(e.v[0], "str.conf:2: ", 12) == 0, "%s", e.v[0]);
    errlist_free(&e);
}
END_TEST

/* An unclosed quote is named where the string started, not where libconfig
 * found the next quote; an escaped quote does not close a string, and an
 * error without a multi-line string keeps libconfig's line. */
START_TEST(test_unterminated_string)
{
    errlist e = {0};

    ck_assert_ptr_null(conf_load_string("a = \"x\\\"y\";\n# \"\nauthserv_id = \"mx;\nb = 1;\nc = \"z\";\n",
                                        "u.conf", errlist_add, &e));
    ck_assert_uint_eq(e.n, 1);
    ck_assert_str_eq(e.v[0], "u.conf:3: unterminated string starting at line 3 (libconfig: syntax error at line 6)");
    errlist_free(&e);
    ck_assert_ptr_null(conf_load_string("a = \"x\";\nb = ;\nc = \"y\nz\";\n", "v.conf", errlist_add, &e));
    ck_assert_uint_eq(e.n, 1);
    ck_assert_str_eq(e.v[0], "v.conf:2: syntax error");
    errlist_free(&e);
}
END_TEST

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("files");

    tcase_add_loop_test(tc, test_good_file, 0, (int)ngood);
    tcase_add_loop_test(tc, test_bad_file, 0, (int)nbad);
    tcase_add_test(tc, test_case_folders);
    tcase_add_test(tc, test_shipped_default);
    tcase_add_loop_test(tc, test_example_file, 0, (int)nexamples);
    tcase_add_test(tc, test_examples_present);
    tcase_add_test(tc, test_shipped_no_dkim_fail_reject);
    suite_add_tcase(s, tc);

    tc = tcase_create("values");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_full_values);
    tcase_add_test(tc, test_dkim_values_and_rules);
    tcase_add_loop_test(tc, test_socket_syntax, 0, (int)(sizeof(socket_cases) / sizeof(socket_cases[0])));
    tcase_add_loop_test(tc, test_upstream, 0, (int)(sizeof(upstream_cases) / sizeof(upstream_cases[0])));
    tcase_add_test(tc, test_facilities);
    tcase_add_test(tc, test_not_a_file);
    tcase_add_test(tc, test_unreadable);
    tcase_add_test(tc, test_errors_to_log);
    tcase_add_test(tc, test_world_writable_warns);
    tcase_add_test(tc, test_string_syntax_error);
    tcase_add_test(tc, test_unterminated_string);
    tcase_add_test(tc, test_reports_values);
    tcase_add_loop_test(tc, test_reports_errors, 0, (int)(sizeof(reports_bad_cases) / sizeof(reports_bad_cases[0])));
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    int rc;

    ngood = list_dir(tu_path("conf/good"), ".conf", &good_files);
    nbad = list_dir(tu_path("conf/bad"), ".conf", &bad_files);
    nexamples = list_dir(tu_path("../conf/examples"), ".conf", &example_files);
    rc = tu_run(conf_suite());
    free_lists();
    return rc;
}
