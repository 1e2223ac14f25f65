/*
 * test_rules.c - the policy table (policy/table/rules.c) and the CIDR lists it
 * uses (policy/util/cidr.c): table-driven cases of facts -> outcome, rule, action,
 * reply and the dry-run rules reported on the way.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "cidr.h"
#include "facts.h"
#include "rules.h"
#include "spfcheck.h"
#include "testutil.h"
#include "xalloc.h"

/* ---- helpers ------------------------------------------------------------ */

typedef struct loaded {
    config_t cfg;
    rules_t *rules;
    char errors[2048]; /* "LINE: reason\n" per error */
} loaded;

static void collect_error(const char *file, int line, const char *reason, void *arg)
{
    loaded *l = arg;
    size_t used = strlen(l->errors);
    (void)file;
    snprintf(l->errors + used, sizeof(l->errors) - used, "%d: %s\n", line, reason);
}

/* Parse a config text and build the table from its "rules"/"default_action". */
static void load(loaded *l, const char *text)
{
    memset(l, 0, sizeof(*l));
    config_init(&l->cfg);
    ck_assert_msg(config_read_string(&l->cfg, text), "syntax: %s line %d", config_error_text(&l->cfg),
                  config_error_line(&l->cfg));
    l->rules = rules_from_config(config_lookup(&l->cfg, "rules"), config_lookup(&l->cfg, "default_action"),
                                 collect_error, l);
}

static void unload(loaded *l)
{
    rules_free(l->rules);
    config_destroy(&l->cfg);
}

/* Dry-run callback: append "name:action" to a comma-separated list. */
static void collect_dry(const verdict_t *would, void *arg)
{
    char *buf = arg;
    size_t used = strlen(buf);

    ck_assert(would->dry_run);
    snprintf(buf + used, 256 - used, "%s%s:%s", used ? "," : "", would->rule, verdict_action_name(would->action));
}

/* ---- the tables under test -------------------------------------------- */

static const char table_main[] =
    "default_action = \"accept\";\n"
    "rules = (\n"
    " { name = \"trusted\"; match = { trusted = true; }; action = \"accept\"; },\n"
    " { name = \"auth\"; match = { authenticated = true; }; action = \"accept\"; },\n"
    " { name = \"dry-fail\"; match = { spf = [\"fail\"]; }; action = \"reject\"; dry_run = true; },\n"
    " { name = \"spf-fail\"; match = { spf = [\"fail\", \"permerror\"]; }; action = \"reject\";\n"
    "   reply = { code = 550; xcode = \"5.7.23\"; text = \"SPF validation failed\"; }; },\n"
    " { name = \"spf-soft\"; match = { spf = [\"softfail\"]; }; action = \"quarantine\"; },\n"
    " { name = \"helo-fail\"; match = { spf_helo = [\"fail\"]; }; action = \"tempfail\"; },\n"
    " { name = \"net\"; match = { client_ip = [\"192.0.2.0/24\", \"2001:db8::/32\"]; };\n"
    "   action = \"discard\"; },\n"
    " { name = \"sender\"; match = { sender_domain = [\"example.com\", \".example.org\"]; };\n"
    "   action = \"reject\"; },\n"
    " { name = \"rcpt\"; match = { rcpt_domain = [\"blocked.test\"]; }; action = \"tempfail\";\n"
    "   reply = { code = 450; text = \"Mailbox busy\"; }; }\n"
    ");\n";

/* A rule whose condition is known late stops rules below it. */
static const char table_pending[] =
    "rules = (\n"
    " { name = \"by-rcpt\"; match = { rcpt_domain = [\"x.test\"]; }; action = \"reject\"; },\n"
    " { name = \"by-ip\"; match = { client_ip = [\"192.0.2.0/24\"]; }; action = \"tempfail\"; }\n"
    ");\n";

/* A known-false condition decides a rule even with another still unknown. */
static const char table_mixed[] =
    "default_action = \"discard\";\n"
    "rules = (\n"
    " { name = \"mixed\"; match = { client_ip = [\"10.0.0.0/8\"]; spf = [\"fail\"]; }; action = \"reject\"; },\n"
    " { name = \"always\"; match = {}; action = \"tempfail\"; }\n"
    ");\n";

static const char table_dry[] =
    "default_action = \"reject\";\n"
    "rules = (\n"
    " { name = \"d1\"; action = \"reject\"; dry_run = true; },\n"
    " { name = \"d2\"; match = { spf = [\"pass\"]; }; action = \"discard\"; dry_run = true; },\n"
    " { name = \"d3\"; match = { spf = [\"fail\"]; }; action = \"tempfail\"; dry_run = true; },\n"
    " { name = \"q\"; match = { spf = [\"none\"]; }; action = \"quarantine\"; reason = \"held for review\"; }\n"
    ");\n";

/* A dry-run rule that is not known yet must not hold back the rules below. */
static const char table_dry_pending[] =
    "rules = (\n"
    " { name = \"dry-spf\"; match = { spf = [\"fail\"]; }; action = \"reject\"; dry_run = true; },\n"
    " { name = \"by-net\"; match = { client_ip = [\"192.0.2.0/24\"]; }; action = \"tempfail\"; }\n"
    ");\n";

static const char table_default_quarantine[] = "default_action = \"quarantine\";\n";
static const char table_default_tempfail[] = "default_action = \"TempFail\";\n";
static const char table_empty[] = "";

/* ---- cases ------------------------------------------------------------ */

typedef struct rule_case {
    const char *name;
    const char *table;
    facts_stage stage;
    const char *client_addr;
    bool trusted;
    bool authenticated;
    const char *mail_from;     /* NULL: no MAIL yet; "" null sender */
    spfcheck_result spf;
    spfcheck_result spf_helo;
    const char *rcpt;          /* recipient being evaluated (RCPT) */
    const char *rcpts[3];      /* accepted recipients */
    rules_outcome want_outcome;
    const char *want_rule;     /* when decided */
    verdict_action want_action;
    const char *want_code;     /* NULL: no code expected */
    const char *want_xcode;
    const char *want_text;     /* NULL: no text expected */
    const char *want_dry;      /* "name:action,..." */
} rule_case;

#define U SPFCHECK_UNSET
#define V4 "198.51.100.7"

static const rule_case cases[] = {
    /* stages and order */
    {"connect untrusted: auth unknown -> pending", table_main, STAGE_CONNECT, V4, false, false, NULL, U, U,
     NULL, {NULL}, RULES_PENDING, NULL, 0, NULL, NULL, NULL, ""},
    {"connect trusted: first rule decides", table_main, STAGE_CONNECT, V4, true, false, NULL, U, U, NULL,
     {NULL}, RULES_DECIDED, "trusted", ACTION_ACCEPT, NULL, NULL, NULL, ""},
    {"helo untrusted -> pending", table_main, STAGE_HELO, V4, false, false, NULL, U, U, NULL, {NULL},
     RULES_PENDING, NULL, 0, NULL, NULL, NULL, ""},
    {"mail spf pass: rcpt rule unknown -> pending", table_main, STAGE_MAIL, V4, false, false, "a@other.test", SPFCHECK_PASS,
     SPFCHECK_NONE, NULL, {NULL}, RULES_PENDING, NULL, 0, NULL, NULL, NULL, ""},
    {"rcpt spf pass -> default accept", table_main, STAGE_RCPT, V4, false, false, "a@other.test", SPFCHECK_PASS,
     SPFCHECK_NONE, "u@ok.test", {NULL}, RULES_DECIDED, "default", ACTION_ACCEPT, NULL, NULL, NULL, ""},
    {"mail spf fail -> reject, dry-run reported", table_main, STAGE_MAIL, V4, false, false, "a@other.test",
     SPFCHECK_FAIL, SPFCHECK_NONE, NULL, {NULL}, RULES_DECIDED, "spf-fail", ACTION_REJECT, "550", "5.7.23",
     "SPF validation failed", "dry-fail:reject"},
    {"rcpt spf permerror -> reject", table_main, STAGE_RCPT, V4, false, false, "a@other.test",
     SPFCHECK_PERMERROR, U, "u@ok.test", {NULL}, RULES_DECIDED, "spf-fail", ACTION_REJECT, "550", "5.7.23",
     "SPF validation failed", ""},
    {"authenticated before spf", table_main, STAGE_RCPT, V4, false, true, "a@other.test", SPFCHECK_FAIL, U,
     "u@ok.test", {NULL}, RULES_DECIDED, "auth", ACTION_ACCEPT, NULL, NULL, NULL, ""},
    {"spf not evaluated -> condition false", table_main, STAGE_EOM, V4, false, false, "a@other.test", U, U,
     NULL, {"u@ok.test"}, RULES_DECIDED, "default", ACTION_ACCEPT, NULL, NULL, NULL, ""},
    {"softfail -> quarantine with default reason", table_main, STAGE_RCPT, V4, false, false, "a@other.test",
     SPFCHECK_SOFTFAIL, U, "u@ok.test", {NULL}, RULES_DECIDED, "spf-soft", ACTION_QUARANTINE, NULL, NULL,
     "mxguard rule spf-soft", ""},
    {"spf_helo fail -> tempfail default reply", table_main, STAGE_RCPT, V4, false, false, "a@other.test",
     SPFCHECK_PASS, SPFCHECK_FAIL, "u@ok.test", {NULL}, RULES_DECIDED, "helo-fail", ACTION_TEMPFAIL, "451",
     "4.7.1", "Message deferred by policy, try again later", ""},
    {"spf_helo not evaluated -> false", table_main, STAGE_RCPT, V4, false, false, "a@other.test",
     SPFCHECK_PASS, U, "u@ok.test", {NULL}, RULES_DECIDED, "default", ACTION_ACCEPT, NULL, NULL, NULL, ""},
    /* client_ip */
    {"client_ip v4 in network", table_main, STAGE_RCPT, "192.0.2.55", false, false, "a@other.test",
     SPFCHECK_PASS, U, "u@ok.test", {NULL}, RULES_DECIDED, "net", ACTION_DISCARD, NULL, NULL, NULL, ""},
    {"client_ip v6 in network", table_main, STAGE_RCPT, "2001:DB8:0:1::25", false, false, "a@other.test",
     SPFCHECK_PASS, U, "u@ok.test", {NULL}, RULES_DECIDED, "net", ACTION_DISCARD, NULL, NULL, NULL, ""},
    {"client_ip v4-mapped v6 matches v4 entry", table_main, STAGE_RCPT, "::ffff:192.0.2.9", false, false,
     "a@other.test", SPFCHECK_PASS, U, "u@ok.test", {NULL}, RULES_DECIDED, "net", ACTION_DISCARD, NULL, NULL,
     NULL, ""},
    {"client_ip outside", table_main, STAGE_RCPT, "192.0.3.1", false, false, "a@other.test", SPFCHECK_PASS, U,
     "u@ok.test", {NULL}, RULES_DECIDED, "default", ACTION_ACCEPT, NULL, NULL, NULL, ""},
    {"client_ip unknown (no address)", table_main, STAGE_RCPT, NULL, false, false, "a@other.test",
     SPFCHECK_PASS, U, "u@ok.test", {NULL}, RULES_DECIDED, "default", ACTION_ACCEPT, NULL, NULL, NULL, ""},
    /* sender_domain */
    {"sender_domain exact", table_main, STAGE_RCPT, V4, false, false, "a@example.com", SPFCHECK_PASS, U,
     "u@ok.test", {NULL}, RULES_DECIDED, "sender", ACTION_REJECT, "550", "5.7.1", "Message rejected by policy",
     ""},
    {"sender_domain exact, other case", table_main, STAGE_RCPT, V4, false, false, "a@EXAMPLE.Com",
     SPFCHECK_PASS, U, "u@ok.test", {NULL}, RULES_DECIDED, "sender", ACTION_REJECT, "550", "5.7.1",
     "Message rejected by policy", ""},
    {"sender_domain exact does not match subdomain", table_main, STAGE_RCPT, V4, false, false,
     "a@sub.example.com", SPFCHECK_PASS, U, "u@ok.test", {NULL}, RULES_DECIDED, "default", ACTION_ACCEPT,
     NULL, NULL, NULL, ""},
    {"sender_domain .sub matches subdomain", table_main, STAGE_RCPT, V4, false, false, "a@mx.Example.org",
     SPFCHECK_PASS, U, "u@ok.test", {NULL}, RULES_DECIDED, "sender", ACTION_REJECT, "550", "5.7.1",
     "Message rejected by policy", ""},
    {"sender_domain .sub does not match itself", table_main, STAGE_RCPT, V4, false, false, "a@example.org",
     SPFCHECK_PASS, U, "u@ok.test", {NULL}, RULES_DECIDED, "default", ACTION_ACCEPT, NULL, NULL, NULL, ""},
    {"sender_domain suffix without dot boundary", table_main, STAGE_RCPT, V4, false, false,
     "a@badexample.org", SPFCHECK_PASS, U, "u@ok.test", {NULL}, RULES_DECIDED, "default", ACTION_ACCEPT,
     NULL, NULL, NULL, ""},
    {"null sender matches no domain", table_main, STAGE_RCPT, V4, false, false, "", SPFCHECK_PASS, U,
     "u@ok.test", {NULL}, RULES_DECIDED, "default", ACTION_ACCEPT, NULL, NULL, NULL, ""},
    /* rcpt_domain */
    {"rcpt_domain unknown at MAIL -> pending", table_main, STAGE_MAIL, V4, false, false, "a@other.test",
     SPFCHECK_PASS, U, NULL, {NULL}, RULES_PENDING, NULL, 0, NULL, NULL, NULL, ""},
    {"rcpt_domain at RCPT: this recipient", table_main, STAGE_RCPT, V4, false, false, "a@other.test",
     SPFCHECK_PASS, U, "x@blocked.test", {"y@ok.test"}, RULES_DECIDED, "rcpt", ACTION_TEMPFAIL, "450",
     "4.7.1", "Mailbox busy", ""},
    {"rcpt_domain at RCPT: only this recipient counts", table_main, STAGE_RCPT, V4, false, false,
     "a@other.test", SPFCHECK_PASS, U, "x@ok.test", {"y@blocked.test"}, RULES_DECIDED, "default",
     ACTION_ACCEPT, NULL, NULL, NULL, ""},
    {"rcpt_domain at EOM: any accepted recipient", table_main, STAGE_EOM, V4, false, false, "a@other.test",
     SPFCHECK_PASS, U, NULL, {"a@ok.test", "b@BLOCKED.test"}, RULES_DECIDED, "rcpt", ACTION_TEMPFAIL, "450",
     "4.7.1", "Mailbox busy", ""},
    {"rcpt_domain at EOM: none matches", table_main, STAGE_EOM, V4, false, false, "a@other.test",
     SPFCHECK_PASS, U, NULL, {"a@ok.test", "b@blocked.test.example"}, RULES_DECIDED, "default",
     ACTION_ACCEPT, NULL, NULL, NULL, ""},
    /* pending stops the walk */
    {"rule below a pending rule cannot fire", table_pending, STAGE_MAIL, "192.0.2.1", false, false,
     "a@other.test", SPFCHECK_PASS, U, NULL, {NULL}, RULES_PENDING, NULL, 0, NULL, NULL, NULL, ""},
    {"...and fires once the rule above is decided", table_pending, STAGE_RCPT, "192.0.2.1", false, false,
     "a@other.test", SPFCHECK_PASS, U, "u@ok.test", {NULL}, RULES_DECIDED, "by-ip", ACTION_TEMPFAIL, "451",
     "4.7.1", "Message deferred by policy, try again later", ""},
    {"false condition decides despite an unknown one", table_mixed, STAGE_CONNECT, "192.0.2.1", false, false,
     NULL, U, U, NULL, {NULL}, RULES_DECIDED, "always", ACTION_TEMPFAIL, "451", "4.7.1",
     "Message deferred by policy, try again later", ""},
    {"true condition with an unknown one -> pending", table_mixed, STAGE_CONNECT, "10.1.2.3", false, false,
     NULL, U, U, NULL, {NULL}, RULES_PENDING, NULL, 0, NULL, NULL, NULL, ""},
    {"all conditions known and true", table_mixed, STAGE_MAIL, "10.1.2.3", false, false, "a@b.test",
     SPFCHECK_FAIL, U, NULL, {NULL}, RULES_DECIDED, "mixed", ACTION_REJECT, "550", "5.7.1",
     "Message rejected by policy", ""},
    /* dry run */
    {"dry-run rules reported, default applied", table_dry, STAGE_RCPT, V4, false, false, "a@b.test",
     SPFCHECK_PASS, U, "u@ok.test", {NULL}, RULES_DECIDED, "default", ACTION_REJECT, "550", "5.7.1",
     "Message rejected by policy", "d1:reject,d2:discard"},
    {"dry-run never the verdict, walk goes on", table_dry, STAGE_RCPT, V4, false, false, "a@b.test",
     SPFCHECK_NONE, U, "u@ok.test", {NULL}, RULES_DECIDED, "q", ACTION_QUARANTINE, NULL, NULL,
     "held for review", "d1:reject"},
    {"dry-run before a pending rule", table_dry, STAGE_CONNECT, V4, false, false, NULL, U, U, NULL, {NULL},
     RULES_PENDING, NULL, 0, NULL, NULL, NULL, "d1:reject"},
    {"pending dry-run rule does not stop the walk", table_dry_pending, STAGE_CONNECT, "192.0.2.7", false,
     false, NULL, U, U, NULL, {NULL}, RULES_DECIDED, "by-net", ACTION_TEMPFAIL, "451", "4.7.1",
     "Message deferred by policy, try again later", ""},
    {"...and is reported once known", table_dry_pending, STAGE_MAIL, "192.0.2.7", false, false, "a@b.test",
     SPFCHECK_FAIL, U, NULL, {NULL}, RULES_DECIDED, "by-net", ACTION_TEMPFAIL, "451", "4.7.1",
     "Message deferred by policy, try again later", "dry-spf:reject"},
    /* defaults */
    {"default quarantine", table_default_quarantine, STAGE_EOM, V4, false, false, "a@b.test", U, U, NULL,
     {"u@ok.test"}, RULES_DECIDED, "default", ACTION_QUARANTINE, NULL, NULL, "mxguard rule default", ""},
    {"default tempfail (case-insensitive name)", table_default_tempfail, STAGE_RCPT, V4, false, false,
     "a@b.test", U, U, "u@ok.test", {NULL}, RULES_DECIDED, "default", ACTION_TEMPFAIL, "451", "4.7.1",
     "Message deferred by policy, try again later", ""},
    {"no rules, no default -> accept at connect", table_empty, STAGE_CONNECT, V4, false, false, NULL, U, U,
     NULL, {NULL}, RULES_DECIDED, "default", ACTION_ACCEPT, NULL, NULL, NULL, ""},
};

static void check_str(const char *what, const char *got, const char *want, const char *casename)
{
    if (want == NULL)
        ck_assert_msg(got == NULL, "%s: %s: want NULL, got \"%s\"", casename, what, got);
    else
        ck_assert_msg(got != NULL && strcmp(got, want) == 0, "%s: %s: want \"%s\", got \"%s\"", casename, what,
                      want, got ? got : "(null)");
}

START_TEST(test_case)
{
    const rule_case *c = &cases[_i];
    loaded l;
    facts_t *f = facts_new();
    verdict_t v;
    char dry[256] = "";
    rules_outcome out;

    load(&l, c->table);
    ck_assert_msg(l.rules != NULL, "%s: table did not load: %s", c->name, l.errors);
    f->stage = c->stage;
    facts_set(&f->client_addr, c->client_addr);
    f->trusted = c->trusted;
    f->authenticated = c->authenticated;
    if (c->mail_from) {
        facts_set(&f->mail_from, c->mail_from);
        facts_set(&f->sender_domain, facts_addr_domain(c->mail_from));
    }
    f->spf_mfrom = c->spf;
    f->spf_helo = c->spf_helo;
    f->rcpt = c->rcpt;
    for (size_t i = 0; i < 3 && c->rcpts[i]; i++)
        facts_add_rcpt(f, c->rcpts[i]);

    out = rules_eval(l.rules, f, &v, collect_dry, dry);
    ck_assert_msg(out == c->want_outcome, "%s: outcome %d, want %d", c->name, (int)out, (int)c->want_outcome);
    ck_assert_msg(strcmp(dry, c->want_dry) == 0, "%s: dry-run \"%s\", want \"%s\"", c->name, dry, c->want_dry);
    if (out == RULES_DECIDED) {
        check_str("rule", v.rule, c->want_rule, c->name);
        ck_assert_msg(v.action == c->want_action, "%s: action %s, want %s", c->name, verdict_action_name(v.action),
                      verdict_action_name(c->want_action));
        check_str("code", v.code, c->want_code, c->name);
        check_str("xcode", v.xcode, c->want_xcode, c->name);
        check_str("text", v.text, c->want_text, c->name);
        ck_assert_msg(!v.dry_run, "%s: verdict marked dry-run", c->name);
    }
    facts_free(f);
    unload(&l);
}
END_TEST

/* The same facts give the SPF rule PENDING early and DECIDED from MAIL on. */
START_TEST(test_stage_progression)
{
    static const char table[] =
        "rules = ( { name = \"spf-fail\"; match = { spf = [\"fail\"]; }; action = \"reject\"; } );\n";
    static const struct {
        facts_stage stage;
        rules_outcome want;
    } steps[] = {
        {STAGE_CONNECT, RULES_PENDING}, {STAGE_HELO, RULES_PENDING}, {STAGE_MAIL, RULES_DECIDED},
        {STAGE_RCPT, RULES_DECIDED},    {STAGE_DATA, RULES_DECIDED}, {STAGE_EOM, RULES_DECIDED},
    };
    loaded l;
    facts_t *f = facts_new();
    verdict_t v;

    load(&l, table);
    ck_assert_ptr_nonnull(l.rules);
    ck_assert_uint_eq(rules_count(l.rules), 1);
    f->spf_mfrom = SPFCHECK_FAIL;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        f->stage = steps[i].stage;
        ck_assert_int_eq(rules_eval(l.rules, f, &v, NULL, NULL), steps[i].want);
        if (steps[i].want == RULES_DECIDED) {
            ck_assert_str_eq(v.rule, "spf-fail");
            ck_assert_int_eq(v.action, ACTION_REJECT);
        }
    }
    facts_free(f);
    unload(&l);
}
END_TEST

START_TEST(test_action_names)
{
    static const char *const names[] = {"accept", "reject", "tempfail", "quarantine", "discard"};
    verdict_action a;

    for (int i = 0; i < 5; i++) {
        ck_assert_str_eq(verdict_action_name((verdict_action)i), names[i]);
        ck_assert(verdict_action_parse(names[i], &a));
        ck_assert_int_eq(a, i);
    }
    ck_assert(verdict_action_parse("REJECT", &a));
    ck_assert_int_eq(a, ACTION_REJECT);
    ck_assert(!verdict_action_parse("drop", &a));
    ck_assert(!verdict_action_parse("", &a));
    ck_assert(!verdict_action_parse(NULL, &a));
}
END_TEST

/* Errors come with the line of the offending setting, all of them. */
START_TEST(test_errors_lines)
{
    static const char table[] =
        "rules = (\n"                                                      /* 1 */
        " { name = \"a\"; action = \"reject\"; },\n"                       /* 2 */
        " { name = \"a\"; action = \"accept\"; },\n"                       /* 3 */
        " { action = \"drop\";\n"                                          /* 4 */
        "   match = { spf = [ \"pass\",\n"                                 /* 5 */
        "                     \"bogus\" ]; colour = \"red\"; }; }\n"       /* 6 */
        ");\n"
        "default_action = \"maybe\";\n";                                   /* 8 */
    loaded l;

    load(&l, table);
    ck_assert_ptr_null(l.rules);
    ck_assert_msg(strstr(l.errors, "3: duplicate rule name \"a\" (first defined at line 2)") != NULL, "%s",
                  l.errors);
    ck_assert_msg(strstr(l.errors, "4: rule has no name") != NULL, "%s", l.errors);
    ck_assert_msg(strstr(l.errors, "4: unknown action \"drop\"") != NULL, "%s", l.errors);
    ck_assert_msg(strstr(l.errors, "6: unknown SPF result \"bogus\"") != NULL, "%s", l.errors);
    ck_assert_msg(strstr(l.errors, "6: unknown key \"colour\" in match") != NULL, "%s", l.errors);
    ck_assert_msg(strstr(l.errors, "8: unknown default_action \"maybe\"") != NULL, "%s", l.errors);
    unload(&l);
}
END_TEST

/* Verdict strings point into the table and survive until rules_free. */
START_TEST(test_verdict_points_into_table)
{
    loaded l;
    facts_t *f = facts_new();
    verdict_t v1, v2;

    load(&l, table_main);
    ck_assert_ptr_nonnull(l.rules);
    ck_assert_uint_eq(rules_count(l.rules), 9);
    f->stage = STAGE_RCPT;
    f->spf_mfrom = SPFCHECK_FAIL;
    ck_assert_int_eq(rules_eval(l.rules, f, &v1, NULL, NULL), RULES_DECIDED);
    ck_assert_int_eq(rules_eval(l.rules, f, &v2, NULL, NULL), RULES_DECIDED);
    ck_assert_ptr_eq(v1.rule, v2.rule);
    ck_assert_ptr_eq(v1.code, v2.code);
    ck_assert_str_eq(v1.code, "550");
    ck_assert_str_eq(v1.xcode, "5.7.23");
    facts_free(f);
    unload(&l);
}
END_TEST

/* ---- cidr.c ----------------------------------------------------------- */

typedef struct cidr_add_case {
    const char *text;
    bool ok;
    const char *want_err; /* substring */
} cidr_add_case;

static const cidr_add_case cidr_adds[] = {
    {"192.0.2.0/24", true, NULL},
    {"192.0.2.1", true, NULL},
    {"0.0.0.0/0", true, NULL},
    {"::1/128", true, NULL},
    {"2001:db8::/32", true, NULL},
    {"::/0", true, NULL},
    {"192.0.2.1/24", false, "host bits set"},
    {"2001:db8::1/32", false, "host bits set"},
    {"192.0.2.128/25", true, NULL},
    {"192.0.2.129/25", false, "host bits set"},
    {"192.0.2.0/33", false, "prefix length"},
    {"::/129", false, "prefix length"},
    {"192.0.2.0/", false, "prefix length"},
    {"192.0.2.0/2x", false, "prefix length"},
    {"192.0.2.0/-1", false, "prefix length"},
    {"192.0.2/24", false, "not an IPv4 or IPv6"},
    {"example.com", false, "not an IPv4 or IPv6"},
    {"", false, "empty"},
    {"/24", false, "invalid network"},
};

START_TEST(test_cidr_add)
{
    const cidr_add_case *c = &cidr_adds[_i];
    cidr_list *l = cidr_list_new();
    char err[256] = "";
    bool ok = cidr_list_add(l, c->text, err, sizeof(err));

    ck_assert_msg(ok == c->ok, "\"%s\": got %d (%s)", c->text, ok, err);
    ck_assert_uint_eq(cidr_list_count(l), ok ? 1 : 0);
    if (!ok)
        ck_assert_msg(strstr(err, c->want_err) != NULL, "\"%s\": error \"%s\" lacks \"%s\"", c->text, err,
                      c->want_err);
    cidr_list_free(l);
}
END_TEST

typedef struct cidr_match_case {
    const char *addr;
    bool want;
} cidr_match_case;

static const cidr_match_case cidr_matches[] = {
    {"192.0.2.0", true},         {"192.0.2.255", true},       {"192.0.3.0", false},
    {"10.9.9.9", true},          {"10.9.9.8", false},         {"::ffff:192.0.2.7", true},
    {"::FFFF:10.9.9.9", true},   {"::192.0.2.7", false},      {"2001:db8:ffff::1", true},
    {"2001:db9::1", false},      {"::1", true},               {"::2", false},
    {"fe80::1%eth0", false},     {"not-an-ip", false},        {"", false},
    {"192.0.2.1/32", false},     {"172.16.0.1", true},        {"172.31.255.255", true},
    {"172.32.0.0", false},
};

START_TEST(test_cidr_match)
{
    const cidr_match_case *c = &cidr_matches[_i];
    static const char *const nets[] = {"192.0.2.0/24", "10.9.9.9", "2001:db8::/32", "::1", "172.16.0.0/12"};
    cidr_list *l = cidr_list_new();
    char err[256];

    for (size_t i = 0; i < sizeof(nets) / sizeof(nets[0]); i++)
        ck_assert_msg(cidr_list_add(l, nets[i], err, sizeof(err)), "%s: %s", nets[i], err);
    ck_assert_msg(cidr_list_match(l, c->addr) == c->want, "\"%s\": want %d", c->addr, c->want);
    cidr_list_free(l);
}
END_TEST

START_TEST(test_cidr_edge)
{
    cidr_list *l = cidr_list_new();
    char err[256];

    ck_assert(!cidr_list_match(l, "192.0.2.1")); /* empty list */
    ck_assert(!cidr_list_match(NULL, "192.0.2.1"));
    ck_assert(cidr_list_add(l, "0.0.0.0/0", err, sizeof(err)));
    ck_assert(cidr_list_match(l, "203.0.113.9"));
    ck_assert(cidr_list_match(l, "::ffff:203.0.113.9"));
    ck_assert(!cidr_list_match(l, "2001:db8::1")); /* v4 /0 is not v6 */
    ck_assert(!cidr_list_match(l, NULL));
    cidr_list_free(l);
    cidr_list_free(NULL);
    ck_assert_uint_eq(cidr_list_count(NULL), 0);
}
END_TEST

/* DMARC conditions and the rcpt address list. */
START_TEST(test_dmarc_conditions)
{
    loaded l;
    facts_t *f = facts_new();
    verdict_t v;

    load(&l, "rules = (\n"
             "  { name = \"pm\"; match = { rcpt = [ \"postmaster@\", \"abuse@example.org\" ]; }; action = \"accept\"; },\n"
             "  { name = \"fwd\"; match = { dkim_domain = [ \"lists.example\" ]; }; action = \"accept\"; },\n"
             "  { name = \"multi\"; match = { from_header = [ \"multiple\", \"none\" ]; }; action = \"reject\"; },\n"
             "  { name = \"rej\"; match = { dmarc = [ \"fail\" ]; dmarc_applied = [ \"reject\" ]; }; action = \"reject\"; },\n"
             "  { name = \"pub\"; match = { dmarc_policy = [ \"reject\" ]; dmarc_aligned = [ \"none\" ]; }; action = \"quarantine\"; },\n"
             "  { name = \"tmp\"; match = { dmarc = [ \"temperror\" ]; }; action = \"tempfail\"; },\n"
             "  { name = \"al\"; match = { dmarc_aligned = [ \"dkim\" ]; }; action = \"discard\"; }\n"
             ");\n");
    ck_assert_msg(l.rules != NULL, "%s", l.errors);
    f->stage = STAGE_EOM;
    facts_add_rcpt(f, "user@example.org");
    /* not evaluated: no DMARC rule matches */
    ck_assert_int_eq(rules_eval(l.rules, f, &v, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "default");
    f->dmarc.result = DMARCCHECK_FAIL;
    f->dmarc.from = FROMHDR_OK;
    f->dmarc.published = DMARCCHECK_POLICY_REJECT;
    f->dmarc.applied = DMARCCHECK_POLICY_REJECT;
    rules_eval(l.rules, f, &v, NULL, NULL);
    ck_assert_str_eq(v.rule, "rej");
    f->dmarc.applied = DMARCCHECK_POLICY_QUARANTINE; /* t=y */
    rules_eval(l.rules, f, &v, NULL, NULL);
    ck_assert_str_eq(v.rule, "pub");
    f->dmarc.result = DMARCCHECK_TEMPERROR;
    f->dmarc.published = f->dmarc.applied = DMARCCHECK_POLICY_UNSET;
    rules_eval(l.rules, f, &v, NULL, NULL);
    ck_assert_str_eq(v.rule, "tmp");
    f->dmarc.result = DMARCCHECK_PASS;
    f->dmarc.dkim_aligned = true;
    rules_eval(l.rules, f, &v, NULL, NULL);
    ck_assert_str_eq(v.rule, "al");
    f->dmarc.result = DMARCCHECK_PERMERROR;
    f->dmarc.from = FROMHDR_MULTIPLE;
    rules_eval(l.rules, f, &v, NULL, NULL);
    ck_assert_str_eq(v.rule, "multi");
    /* per-recipient override: postmaster@ of any domain, case-insensitive */
    facts_add_rcpt(f, "PostMaster@example.net");
    rules_eval(l.rules, f, &v, NULL, NULL);
    ck_assert_str_eq(v.rule, "pm");
    /* at RCPT: the recipient being evaluated */
    f->stage = STAGE_RCPT;
    f->rcpt = "postmaster.x@example.net";
    ck_assert_int_eq(rules_eval(l.rules, f, &v, NULL, NULL), RULES_PENDING);
    f->rcpt = "abuse@EXAMPLE.org";
    ck_assert_int_eq(rules_eval(l.rules, f, &v, NULL, NULL), RULES_DECIDED);
    ck_assert_str_eq(v.rule, "pm");
    f->rcpt = NULL;
    unload(&l);
    facts_free(f);

    load(&l, "rules = ( { name = \"x\"; match = { dmarc = [ \"passed\" ]; dmarc_policy = [ \"q\" ];\n"
             "  dmarc_aligned = [ \"helo\" ]; from_header = [ \"two\" ]; rcpt = [ \"nobody\", \"a b@c\" ]; };\n"
             "  action = \"reject\"; } );\n");
    ck_assert_ptr_null(l.rules);
    ck_assert_ptr_nonnull(strstr(l.errors, "1: unknown DMARC result \"passed\""));
    ck_assert_ptr_nonnull(strstr(l.errors, "1: unknown DMARC policy \"q\""));
    ck_assert_ptr_nonnull(strstr(l.errors, "2: dmarc_aligned: unknown identifier \"helo\""));
    ck_assert_ptr_nonnull(strstr(l.errors, "2: unknown from_header verdict \"two\""));
    ck_assert_ptr_nonnull(strstr(l.errors, "2: rcpt: \"nobody\" is not an address"));
    ck_assert_ptr_nonnull(strstr(l.errors, "2: rcpt: \"a b@c\" contains a blank"));
    unload(&l);
}
END_TEST

static Suite *rules_suite(void)
{
    Suite *s = suite_create("rules");
    TCase *tc = tcase_create("eval");

    tcase_add_loop_test(tc, test_case, 0, (int)(sizeof(cases) / sizeof(cases[0])));
    tcase_add_test(tc, test_stage_progression);
    tcase_add_test(tc, test_dmarc_conditions);
    tcase_add_test(tc, test_action_names);
    tcase_add_test(tc, test_errors_lines);
    tcase_add_test(tc, test_verdict_points_into_table);
    suite_add_tcase(s, tc);

    tc = tcase_create("cidr");
    tcase_add_loop_test(tc, test_cidr_add, 0, (int)(sizeof(cidr_adds) / sizeof(cidr_adds[0])));
    tcase_add_loop_test(tc, test_cidr_match, 0, (int)(sizeof(cidr_matches) / sizeof(cidr_matches[0])));
    tcase_add_test(tc, test_cidr_edge);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return tu_run(rules_suite());
}
