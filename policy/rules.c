/*
 * rules.c - the policy table: building it from the libconfig "rules" list
 * and evaluating it over the facts of a message.
 *
 * Conditions are described by one table (rules_kinds[]): name, the stage
 * from which the fact is known, how to parse the setting and how to test
 * it.  A new check (DKIM, DMARC, a DNS list) adds one row.
 *
 * Evaluation is three-valued per condition: TRUE, FALSE, or UNKNOWN (the
 * stage that provides the fact has not been reached).  A rule with any FALSE
 * condition is skipped; otherwise any UNKNOWN makes the walk stop PENDING;
 * otherwise the rule matches.
 *
 * SECURITY: the facts (addresses, domains) come from the SMTP client; they
 * are only compared (inet_pton via cidr.h, case-insensitive string compare),
 * never copied into the verdict.  Verdict texts come from the config and are
 * checked at load to be printable ASCII without CR/LF.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cidr.h"
#include "dmarccheck.h"
#include "dname.h"
#include "dnsbl.h"
#include "fromhdr.h"
#include "rules.h"
#include "spfcheck.h"
#include "xalloc.h"

#define RULES_NAME_MAX 64
#define RULES_TEXT_MAX 200
#define RULES_DOMAIN_MAX 253

/* ---- names ------------------------------------------------------------ */

static const char *const rules_action_names[] = {
    [ACTION_ACCEPT] = "accept",         [ACTION_REJECT] = "reject",
    [ACTION_TEMPFAIL] = "tempfail",     [ACTION_QUARANTINE] = "quarantine",
    [ACTION_DISCARD] = "discard",
};
#define RULES_NACTIONS (sizeof(rules_action_names) / sizeof(rules_action_names[0]))

const char *rules_action_name(rules_action a)
{
    return (unsigned)a < RULES_NACTIONS ? rules_action_names[a] : "?";
}

bool rules_action_parse(const char *name, rules_action *out)
{
    if (name == NULL)
        return false;
    for (size_t i = 0; i < RULES_NACTIONS; i++) {
        if (strcasecmp(name, rules_action_names[i]) == 0) {
            *out = (rules_action)i;
            return true;
        }
    }
    return false;
}

/* ---- the table -------------------------------------------------------- */

typedef enum rules_tri { TRI_FALSE = 0, TRI_TRUE, TRI_UNKNOWN } rules_tri;

typedef struct rules_strlist {
    char **v;
    size_t n;
} rules_strlist;

struct rules_kind;

typedef struct rules_cond {
    const struct rules_kind *kind;
    char *text;               /* "name = value" as configured, for explain */
    union {
        cidr_list *nets;      /* client_ip */
        bool flag;            /* trusted, authenticated */
        unsigned mask;        /* spf, spf_helo: bit (1 << spfcheck_result); dkim: (1 << dkimcheck_result) */
        rules_strlist domains; /* sender_domain, rcpt_domain */
        int score;            /* dnsbl_score: holds when the score is >= this */
        rules_strlist names;  /* dnsbl_listed: list names */
    } u;
} rules_cond;

typedef struct rules_rule {
    char *name;
    int line;               /* line of the rule, for duplicate-name errors */
    rules_cond *conds;      /* all must hold; none: always */
    size_t nconds;
    bool dry_run;
    rules_verdict verdict;  /* points into the fields below */
    char code[4];           /* "550" */
    char xcode[16];         /* "5.7.1" */
    char *text;             /* reply text or quarantine reason */
} rules_rule;

struct rules {
    rules_rule *v;
    size_t n;
    rules_rule dflt;        /* default action; name "default", no conditions */
};

/* Load context: where errors go. */
typedef struct rules_ctx {
    rules_error_fn errfn;
    void *arg;
    int nerrors;
} rules_ctx;

static void rules_err(rules_ctx *cx, const config_setting_t *s, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void rules_err(rules_ctx *cx, const config_setting_t *s, const char *fmt, ...)
{
    char reason[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(reason, sizeof(reason), fmt, ap);
    va_end(ap);
    cx->nerrors++;
    if (cx->errfn)
        cx->errfn(s ? config_setting_source_file(s) : NULL, s ? (int)config_setting_source_line(s) : 0,
                  reason, cx->arg);
}

/* ---- condition kinds: parse, test, free -------------------------------- */

/* Parse a list or array of strings; calls each() per element; false after an error. */
static bool rules_each_string(rules_ctx *cx, const config_setting_t *s, const char *what,
                              bool (*each)(rules_ctx *, const config_setting_t *, const char *, void *),
                              void *arg)
{
    bool ok = true;
    int n;

    if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
        rules_err(cx, s, "%s: expected a list of strings, e.g. [ \"a\", \"b\" ]", what);
        return false;
    }
    n = config_setting_length(s);
    if (n == 0) {
        rules_err(cx, s, "%s: empty list (the condition could never hold)", what);
        return false;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            rules_err(cx, e, "%s: expected a list of strings", what);
            ok = false;
            continue;
        }
        if (!each(cx, e, config_setting_get_string(e), arg))
            ok = false;
    }
    return ok;
}

static bool rules_bool(rules_ctx *cx, const config_setting_t *s, const char *what, bool *out)
{
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        rules_err(cx, s, "%s: expected true or false", what);
        return false;
    }
    *out = config_setting_get_bool(s) != 0;
    return true;
}

static bool rules_cidr_one(rules_ctx *cx, const config_setting_t *e, const char *text, void *arg)
{
    char err[256];

    if (!cidr_list_add(arg, text, err, sizeof(err))) {
        rules_err(cx, e, "client_ip: %s", err);
        return false;
    }
    return true;
}

static bool rules_parse_client_ip(rules_ctx *cx, const config_setting_t *s, rules_cond *c)
{
    c->u.nets = cidr_list_new();
    return rules_each_string(cx, s, "client_ip", rules_cidr_one, c->u.nets);
}

static bool rules_parse_flag(rules_ctx *cx, const config_setting_t *s, rules_cond *c)
{
    return rules_bool(cx, s, config_setting_name(s), &c->u.flag);
}

static bool rules_spf_one(rules_ctx *cx, const config_setting_t *e, const char *text, void *arg)
{
    spfcheck_result r;

    if (!spfcheck_result_parse(text, &r)) {
        rules_err(cx, e,
                  "unknown SPF result \"%s\" (none, neutral, pass, fail, softfail, temperror, permerror)",
                  text);
        return false;
    }
    *(unsigned *)arg |= 1u << (unsigned)r;
    return true;
}

static bool rules_parse_spf(rules_ctx *cx, const config_setting_t *s, rules_cond *c)
{
    c->u.mask = 0;
    return rules_each_string(cx, s, config_setting_name(s), rules_spf_one, &c->u.mask);
}

/* A domain pattern: "example.com" or ".example.com"; LDH and '_' labels. */
static bool rules_domain_valid(const char *d)
{
    const char *p = d + (*d == '.'); /* ".example.com": its subdomains */
    return strlen(d) <= RULES_DOMAIN_MAX && dname_valid(p, strlen(p));
}

typedef struct rules_domain_arg {
    const char *what;
    rules_strlist *list;
} rules_domain_arg;

static bool rules_domain_one(rules_ctx *cx, const config_setting_t *e, const char *text, void *arg)
{
    rules_domain_arg *a = arg;

    if (!rules_domain_valid(text)) {
        rules_err(cx, e, "%s: invalid domain \"%s\" (use \"example.com\" or \".example.com\")",
                  a->what, text);
        return false;
    }
    a->list->v = xreallocarray(a->list->v, a->list->n + 1, sizeof(char *));
    a->list->v[a->list->n++] = xstrdup(text);
    return true;
}

static bool rules_parse_domains(rules_ctx *cx, const config_setting_t *s, rules_cond *c)
{
    rules_domain_arg a = {config_setting_name(s), &c->u.domains};
    return rules_each_string(cx, s, a.what, rules_domain_one, &a);
}

static void rules_free_client_ip(rules_cond *c)
{
    cidr_list_free(c->u.nets);
}

static void rules_free_domains(rules_cond *c)
{
    for (size_t i = 0; i < c->u.domains.n; i++)
        free(c->u.domains.v[i]);
    free(c->u.domains.v);
}

/* Does domain (len bytes, compared case-insensitively) match pattern?
 * "example.com" matches itself; ".example.com" any proper subdomain. */
static bool rules_domain_match(const char *pattern, const char *domain, size_t len)
{
    size_t plen = strlen(pattern);

    if (len == 0)
        return false;
    if (pattern[0] != '.')
        return plen == len && strncasecmp(pattern, domain, len) == 0;
    return len > plen && strncasecmp(pattern, domain + len - plen, plen) == 0;
}

/* Is the domain of this address (or the domain itself) in the list?  A
 * trailing '>' (address still in brackets) and a trailing root dot are
 * ignored. */
static bool rules_domains_match(const rules_strlist *l, const char *domain)
{
    size_t len;

    if (domain == NULL)
        return false;
    len = strlen(domain);
    if (len > 0 && domain[len - 1] == '>')
        len--;
    if (len > 0 && domain[len - 1] == '.')
        len--;
    for (size_t i = 0; i < l->n; i++)
        if (rules_domain_match(l->v[i], domain, len))
            return true;
    return false;
}

static bool rules_test_client_ip(const rules_cond *c, const facts_t *f)
{
    return cidr_list_match(c->u.nets, f->client_addr);
}

static bool rules_test_trusted(const rules_cond *c, const facts_t *f)
{
    return f->trusted == c->u.flag;
}

static bool rules_test_authenticated(const rules_cond *c, const facts_t *f)
{
    return f->authenticated == c->u.flag;
}

/* Not evaluated (UNSET) never matches: the condition is then false. */
static bool rules_test_spf(const rules_cond *c, const facts_t *f)
{
    return f->spf_mfrom != SPFCHECK_UNSET && (c->u.mask & (1u << (unsigned)f->spf_mfrom)) != 0;
}

static bool rules_test_spf_helo(const rules_cond *c, const facts_t *f)
{
    return f->spf_helo != SPFCHECK_UNSET && (c->u.mask & (1u << (unsigned)f->spf_helo)) != 0;
}

static bool rules_test_sender_domain(const rules_cond *c, const facts_t *f)
{
    return rules_domains_match(&c->u.domains, f->sender_domain);
}

/* At RCPT: the recipient being evaluated; later: any accepted recipient. */
static bool rules_test_rcpt_domain(const rules_cond *c, const facts_t *f)
{
    if (f->stage == STAGE_RCPT && f->rcpt != NULL)
        return rules_domains_match(&c->u.domains, facts_addr_domain(f->rcpt));
    for (size_t i = 0; i < f->nrcpts; i++)
        if (rules_domains_match(&c->u.domains, facts_addr_domain(f->rcpts[i])))
            return true;
    return false;
}

/* dnsbl_score = N: the score of the DNS lists is >= N. */
static bool rules_parse_dnsbl_score(rules_ctx *cx, const config_setting_t *s, rules_cond *c)
{
    long long v;

    if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
        rules_err(cx, s, "dnsbl_score: expected an integer (the rule holds when the score is >= it)");
        return false;
    }
    v = config_setting_get_int64(s);
    if (v < -100000 || v > 100000) {
        rules_err(cx, s, "dnsbl_score %lld out of range (-100000..100000)", v);
        return false;
    }
    c->u.score = (int)v;
    return true;
}

/* dnsbl_listed = [ "name", ... ]: names are checked against the lists by
 * conf.c, which knows both. */
static bool rules_dnsbl_name_one(rules_ctx *cx, const config_setting_t *e, const char *text, void *arg)
{
    rules_strlist *l = arg;

    if (*text == '\0' || strlen(text) > RULES_NAME_MAX) {
        rules_err(cx, e, "dnsbl_listed: invalid list name \"%s\"", text);
        return false;
    }
    l->v = xreallocarray(l->v, l->n + 1, sizeof(char *));
    l->v[l->n++] = xstrdup(text);
    return true;
}

static bool rules_parse_dnsbl_listed(rules_ctx *cx, const config_setting_t *s, rules_cond *c)
{
    return rules_each_string(cx, s, "dnsbl_listed", rules_dnsbl_name_one, &c->u.names);
}

static void rules_free_dnsbl_listed(rules_cond *c)
{
    for (size_t i = 0; i < c->u.names.n; i++)
        free(c->u.names.v[i]);
    free(c->u.names.v);
}

/* The score waits for the lists that feed it (dnsbl.h). */
static bool rules_test_dnsbl_score(const rules_cond *c, const facts_t *f)
{
    return dnsbl_lookup_score(f->dnsbl) >= c->u.score;
}

/* Any of the named lists matched. */
static bool rules_test_dnsbl_listed(const rules_cond *c, const facts_t *f)
{
    for (size_t i = 0; i < c->u.names.n; i++)
        if (dnsbl_lookup_listed(f->dnsbl, c->u.names.v[i]))
            return true;
    return false;
}

/* Known once every list that feeds it can have been started: ip lists at
 * connect, helo at HELO, sender at MAIL, from at end of headers. */
static bool rules_known_dnsbl_score(const rules_cond *c, const facts_t *f)
{
    (void)c;
    return f->stage >= dnsbl_lookup_stage(f->dnsbl, NULL);
}

static bool rules_known_dnsbl_listed(const rules_cond *c, const facts_t *f)
{
    for (size_t i = 0; i < c->u.names.n; i++)
        if (f->stage < dnsbl_lookup_stage(f->dnsbl, c->u.names.v[i]))
            return false;
    return true;
}

/* dkim = [ "pass", "fail", "none", ... ]: the message's aggregate result
 * (dkimcheck_aggregate).  Not evaluated (dkim disabled, trusted or
 * authenticated client) never matches. */
static bool rules_dkim_one(rules_ctx *cx, const config_setting_t *e, const char *text, void *arg)
{
    dkimcheck_result r;

    if (!dkimcheck_result_parse(text, &r)) {
        rules_err(cx, e,
                  "unknown DKIM result \"%s\" (none, pass, fail, policy, neutral, temperror, permerror)",
                  text);
        return false;
    }
    *(unsigned *)arg |= 1u << (unsigned)r;
    return true;
}

static bool rules_parse_dkim(rules_ctx *cx, const config_setting_t *s, rules_cond *c)
{
    c->u.mask = 0;
    return rules_each_string(cx, s, "dkim", rules_dkim_one, &c->u.mask);
}

static bool rules_test_dkim(const rules_cond *c, const facts_t *f)
{
    return f->dkim != DKIMCHECK_UNSET && (c->u.mask & (1u << (unsigned)f->dkim)) != 0;
}

/* dkim_domain = [ "example.com", ".example.org" ]: a signature of such a
 * d= passed (one covering only l= octets of the body counts too). */
static bool rules_test_dkim_domain(const rules_cond *c, const facts_t *f)
{
    for (size_t i = 0; i < f->ndkim_sigs; i++)
        if (f->dkim_sigs[i].result == DKIMCHECK_PASS && rules_domains_match(&c->u.domains, f->dkim_sigs[i].domain))
            return true;
    return false;
}

/* dkim_partial = true: a passing signature covers only part of the body
 * (l= shorter than the body: text may have been appended). */
static bool rules_test_dkim_partial(const rules_cond *c, const facts_t *f)
{
    bool partial = false;

    for (size_t i = 0; i < f->ndkim_sigs; i++)
        if (f->dkim_sigs[i].result == DKIMCHECK_PASS && f->dkim_sigs[i].partial)
            partial = true;
    return partial == c->u.flag;
}

/* ---- DMARC ---------------------------------------------------------------- */

/* dmarc = [ "pass", "fail", ... ]: the DMARC result; not evaluated never
 * matches. */
static bool rules_dmarc_one(rules_ctx *cx, const config_setting_t *e, const char *text, void *arg)
{
    dmarccheck_result r;

    if (!dmarccheck_result_parse(text, &r)) {
        rules_err(cx, e, "unknown DMARC result \"%s\" (none, pass, fail, temperror, permerror)", text);
        return false;
    }
    *(unsigned *)arg |= 1u << (unsigned)r;
    return true;
}

static bool rules_parse_dmarc(rules_ctx *cx, const config_setting_t *s, rules_cond *c)
{
    c->u.mask = 0;
    return rules_each_string(cx, s, "dmarc", rules_dmarc_one, &c->u.mask);
}

static bool rules_test_dmarc(const rules_cond *c, const facts_t *f)
{
    return f->dmarc.result != DMARCCHECK_UNSET && (c->u.mask & (1u << (unsigned)f->dmarc.result)) != 0;
}

/* dmarc_policy / dmarc_applied = [ "none", "quarantine", "reject" ]: the
 * published policy (the p, sp or np that applies) / the policy to apply
 * after t=y (or pct); no policy never matches. */
static bool rules_policy_one(rules_ctx *cx, const config_setting_t *e, const char *text, void *arg)
{
    dmarccheck_policy p;

    if (!dmarccheck_policy_parse(text, &p)) {
        rules_err(cx, e, "unknown DMARC policy \"%s\" (none, quarantine, reject)", text);
        return false;
    }
    *(unsigned *)arg |= 1u << (unsigned)p;
    return true;
}

static bool rules_parse_dmarc_policy(rules_ctx *cx, const config_setting_t *s, rules_cond *c)
{
    c->u.mask = 0;
    return rules_each_string(cx, s, config_setting_name(s), rules_policy_one, &c->u.mask);
}

static bool rules_test_dmarc_policy(const rules_cond *c, const facts_t *f)
{
    return f->dmarc.published != DMARCCHECK_POLICY_UNSET && (c->u.mask & (1u << (unsigned)f->dmarc.published)) != 0;
}

static bool rules_test_dmarc_applied(const rules_cond *c, const facts_t *f)
{
    return f->dmarc.applied != DMARCCHECK_POLICY_UNSET && (c->u.mask & (1u << (unsigned)f->dmarc.applied)) != 0;
}

/* dmarc_aligned = [ "spf", "dkim", "none" ]: which identifier aligned
 * (with a pass); "none": neither.  Not evaluated never matches. */
static bool rules_aligned_one(rules_ctx *cx, const config_setting_t *e, const char *text, void *arg)
{
    unsigned bit = strcmp(text, "spf") == 0 ? 1u : strcmp(text, "dkim") == 0 ? 2u : strcmp(text, "none") == 0 ? 4u : 0u;

    if (bit == 0) {
        rules_err(cx, e, "dmarc_aligned: unknown identifier \"%s\" (spf, dkim, none)", text);
        return false;
    }
    *(unsigned *)arg |= bit;
    return true;
}

static bool rules_parse_dmarc_aligned(rules_ctx *cx, const config_setting_t *s, rules_cond *c)
{
    c->u.mask = 0;
    return rules_each_string(cx, s, "dmarc_aligned", rules_aligned_one, &c->u.mask);
}

static bool rules_test_dmarc_aligned(const rules_cond *c, const facts_t *f)
{
    if (f->dmarc.result == DMARCCHECK_UNSET)
        return false;
    return ((c->u.mask & 1u) && f->dmarc.spf_aligned) || ((c->u.mask & 2u) && f->dmarc.dkim_aligned) ||
           ((c->u.mask & 4u) && !f->dmarc.spf_aligned && !f->dmarc.dkim_aligned);
}

/* from_header = [ "ok", "none", "multiple", ... ]: the From header verdict
 * (fromhdr.h), known when DMARC was evaluated. */
static bool rules_from_one(rules_ctx *cx, const config_setting_t *e, const char *text, void *arg)
{
    fromhdr_status st;

    if (!fromhdr_status_parse(text, &st)) {
        rules_err(cx, e,
                  "unknown from_header verdict \"%s\" (ok, none, multiple, multiple_domains, no_domain, "
                  "ip_literal, invalid)",
                  text);
        return false;
    }
    *(unsigned *)arg |= 1u << (unsigned)st;
    return true;
}

static bool rules_parse_from_header(rules_ctx *cx, const config_setting_t *s, rules_cond *c)
{
    c->u.mask = 0;
    return rules_each_string(cx, s, "from_header", rules_from_one, &c->u.mask);
}

static bool rules_test_from_header(const rules_cond *c, const facts_t *f)
{
    return f->dmarc.from != FROMHDR_UNSET && (c->u.mask & (1u << (unsigned)f->dmarc.from)) != 0;
}

/* rcpt = [ "postmaster@example.com", "postmaster@", "@example.org" ]: a
 * whole address, a local part at any domain ("x@"), or a domain ("@d");
 * case-insensitive.  At RCPT the recipient being evaluated; later any
 * accepted recipient. */
static bool rules_rcpt_one(rules_ctx *cx, const config_setting_t *e, const char *text, void *arg)
{
    rules_strlist *l = arg;
    const char *at = strchr(text, '@');

    if (at == NULL || strchr(at + 1, '@') != NULL || strlen(text) > 320 || (at == text && at[1] == '\0')) {
        rules_err(cx, e, "rcpt: \"%s\" is not an address, \"local@\" or \"@domain\"", text);
        return false;
    }
    for (const char *p = text; *p; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '<' || *p == '>') {
            rules_err(cx, e, "rcpt: \"%s\" contains a blank, a bracket or a non-ASCII byte", text);
            return false;
        }
    }
    l->v = xreallocarray(l->v, l->n + 1, sizeof(char *));
    l->v[l->n++] = xstrdup(text);
    return true;
}

static bool rules_parse_rcpt(rules_ctx *cx, const config_setting_t *s, rules_cond *c)
{
    return rules_each_string(cx, s, "rcpt", rules_rcpt_one, &c->u.names);
}

static bool rules_rcpt_match(const rules_strlist *l, const char *addr)
{
    const char *at = addr ? strrchr(addr, '@') : NULL;

    if (at == NULL)
        return false;
    for (size_t i = 0; i < l->n; i++) {
        const char *p = l->v[i];
        size_t plen = strlen(p);
        if (p[plen - 1] == '@') {
            if ((size_t)(at - addr) + 1 == plen && strncasecmp(addr, p, plen) == 0)
                return true;
        } else if (p[0] == '@') {
            if (strcasecmp(at, p) == 0)
                return true;
        } else if (strcasecmp(addr, p) == 0) {
            return true;
        }
    }
    return false;
}

static bool rules_test_rcpt(const rules_cond *c, const facts_t *f)
{
    if (f->stage == STAGE_RCPT && f->rcpt != NULL)
        return rules_rcpt_match(&c->u.names, f->rcpt);
    for (size_t i = 0; i < f->nrcpts; i++)
        if (rules_rcpt_match(&c->u.names, f->rcpts[i]))
            return true;
    return false;
}

/* For explain: the value a condition was tested against. */
static void rules_show_result(char *buf, size_t len, const char *check, bool unset, const char *name)
{
    if (unset)
        snprintf(buf, len, "%s was not evaluated", check);
    else
        snprintf(buf, len, "%s is %s", check, name);
}

static void rules_show_spf(const rules_cond *c, const facts_t *f, char *buf, size_t len)
{
    (void)c;
    rules_show_result(buf, len, "spf", f->spf_mfrom == SPFCHECK_UNSET, spfcheck_result_name(f->spf_mfrom));
}

static void rules_show_spf_helo(const rules_cond *c, const facts_t *f, char *buf, size_t len)
{
    (void)c;
    rules_show_result(buf, len, "spf_helo", f->spf_helo == SPFCHECK_UNSET, spfcheck_result_name(f->spf_helo));
}

static void rules_show_dnsbl_score(const rules_cond *c, const facts_t *f, char *buf, size_t len)
{
    int score = dnsbl_lookup_score(f->dnsbl);

    snprintf(buf, len, "the score is %d, %s %d", score, score >= c->u.score ? "at least" : "below", c->u.score);
}

static void rules_show_dkim(const rules_cond *c, const facts_t *f, char *buf, size_t len)
{
    (void)c;
    rules_show_result(buf, len, "dkim", f->dkim == DKIMCHECK_UNSET, dkimcheck_result_name(f->dkim));
}

static void rules_show_dmarc(const rules_cond *c, const facts_t *f, char *buf, size_t len)
{
    (void)c;
    rules_show_result(buf, len, "dmarc", f->dmarc.result == DMARCCHECK_UNSET,
                      dmarccheck_result_name(f->dmarc.result));
}

typedef struct rules_kind {
    const char *name;
    facts_stage stage; /* the fact is known from this stage on */
    bool (*parse)(rules_ctx *cx, const config_setting_t *s, rules_cond *c);
    bool (*test)(const rules_cond *c, const facts_t *f);
    void (*free)(rules_cond *c); /* NULL: nothing to free */
    /* NULL: known from stage on; else also required (stage depends on the config) */
    bool (*known)(const rules_cond *c, const facts_t *f);
    /* NULL, or what the fact was, for explain: "the score is 0, below 5" */
    void (*show)(const rules_cond *c, const facts_t *f, char *buf, size_t len);
} rules_kind;

static const rules_kind rules_kinds[] = {
    {"client_ip", STAGE_CONNECT, rules_parse_client_ip, rules_test_client_ip, rules_free_client_ip, NULL, NULL},
    {"trusted", STAGE_CONNECT, rules_parse_flag, rules_test_trusted, NULL, NULL, NULL},
    {"authenticated", STAGE_MAIL, rules_parse_flag, rules_test_authenticated, NULL, NULL, NULL},
    {"spf", STAGE_MAIL, rules_parse_spf, rules_test_spf, NULL, NULL, rules_show_spf},
    {"spf_helo", STAGE_MAIL, rules_parse_spf, rules_test_spf_helo, NULL, NULL, rules_show_spf_helo},
    {"sender_domain", STAGE_MAIL, rules_parse_domains, rules_test_sender_domain, rules_free_domains, NULL, NULL},
    {"rcpt_domain", STAGE_RCPT, rules_parse_domains, rules_test_rcpt_domain, rules_free_domains, NULL, NULL},
    {"dnsbl_score", STAGE_CONNECT, rules_parse_dnsbl_score, rules_test_dnsbl_score, NULL,
     rules_known_dnsbl_score, rules_show_dnsbl_score},
    {"dnsbl_listed", STAGE_CONNECT, rules_parse_dnsbl_listed, rules_test_dnsbl_listed, rules_free_dnsbl_listed,
     rules_known_dnsbl_listed, NULL},
    {"dkim", STAGE_EOM, rules_parse_dkim, rules_test_dkim, NULL, NULL, rules_show_dkim},
    {"dkim_domain", STAGE_EOM, rules_parse_domains, rules_test_dkim_domain, rules_free_domains, NULL, NULL},
    {"dkim_partial", STAGE_EOM, rules_parse_flag, rules_test_dkim_partial, NULL, NULL, NULL},
    {"dmarc", STAGE_EOM, rules_parse_dmarc, rules_test_dmarc, NULL, NULL, rules_show_dmarc},
    {"dmarc_policy", STAGE_EOM, rules_parse_dmarc_policy, rules_test_dmarc_policy, NULL, NULL, NULL},
    {"dmarc_applied", STAGE_EOM, rules_parse_dmarc_policy, rules_test_dmarc_applied, NULL, NULL, NULL},
    {"dmarc_aligned", STAGE_EOM, rules_parse_dmarc_aligned, rules_test_dmarc_aligned, NULL, NULL, NULL},
    {"from_header", STAGE_EOM, rules_parse_from_header, rules_test_from_header, NULL, NULL, NULL},
    {"rcpt", STAGE_RCPT, rules_parse_rcpt, rules_test_rcpt, rules_free_dnsbl_listed, NULL, NULL},
};

static const rules_kind *rules_kind_find(const char *name)
{
    for (size_t i = 0; i < sizeof(rules_kinds) / sizeof(rules_kinds[0]); i++)
        if (strcmp(rules_kinds[i].name, name) == 0)
            return &rules_kinds[i];
    return NULL;
}

/* ---- building ---------------------------------------------------------- */

static void rules_rule_clear(rules_rule *r)
{
    for (size_t i = 0; i < r->nconds; i++) {
        if (r->conds[i].kind->free)
            r->conds[i].kind->free(&r->conds[i]);
        free(r->conds[i].text);
    }
    free(r->conds);
    free(r->name);
    free(r->text);
    memset(r, 0, sizeof(*r));
}

void rules_free(rules_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++)
        rules_rule_clear(&r->v[i]);
    free(r->v);
    rules_rule_clear(&r->dflt);
    free(r);
}

size_t rules_count(const rules_t *r)
{
    return r ? r->n : 0;
}

static bool rules_name_valid(const char *name)
{
    size_t len = strlen(name);

    if (len == 0 || len > RULES_NAME_MAX)
        return false;
    for (const char *p = name; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '.' || ch == '-'))
            return false;
    }
    return true;
}

/* Reply text or quarantine reason: printable ASCII, 1..200 chars. */
static bool rules_text_check(rules_ctx *cx, const config_setting_t *s, const char *what, const char *text)
{
    size_t len = strlen(text);

    if (len == 0) {
        rules_err(cx, s, "%s is empty", what);
        return false;
    }
    if (len > RULES_TEXT_MAX) {
        rules_err(cx, s, "%s is longer than %d characters", what, RULES_TEXT_MAX);
        return false;
    }
    for (const char *p = text; *p; p++) {
        unsigned char ch = (unsigned char)*p;
        if (ch < 0x20 || ch > 0x7e) {
            rules_err(cx, s, "%s contains a control or non-ASCII character (only printable ASCII)", what);
            return false;
        }
    }
    return true;
}

/* "D.D.D" per RFC 3463: class digit, subject and detail of 1-3 digits. */
static bool rules_xcode_valid(const char *x)
{
    const char *p = x;

    if (!(p[0] == '2' || p[0] == '4' || p[0] == '5') || p[1] != '.')
        return false;
    p += 2;
    for (int part = 0; part < 2; part++) {
        int digits = 0;
        while (*p >= '0' && *p <= '9' && digits < 4) {
            p++;
            digits++;
        }
        if (digits < 1 || digits > 3)
            return false;
        if (part == 0 && *p++ != '.')
            return false;
    }
    return *p == '\0';
}

/* Set the default reply of an action that has one; else clear it. */
static void rules_set_defaults(rules_rule *r, rules_action a)
{
    r->verdict.action = a;
    r->verdict.code = r->verdict.xcode = r->verdict.text = NULL;
    if (a == ACTION_REJECT) {
        snprintf(r->code, sizeof(r->code), "550");
        snprintf(r->xcode, sizeof(r->xcode), "5.7.1");
        r->text = xstrdup("Message rejected by policy");
    } else if (a == ACTION_TEMPFAIL) {
        snprintf(r->code, sizeof(r->code), "451");
        snprintf(r->xcode, sizeof(r->xcode), "4.7.1");
        r->text = xstrdup("Message deferred by policy, try again later");
    } else if (a == ACTION_QUARANTINE) {
        r->text = xasprintf("mxguard rule %s", r->name);
    }
}

/* Point the verdict at the rule's own strings. */
static void rules_link_verdict(rules_rule *r)
{
    rules_action a = r->verdict.action;

    r->verdict.rule = r->name;
    r->verdict.dry_run = false;
    r->verdict.code = (a == ACTION_REJECT || a == ACTION_TEMPFAIL) ? r->code : NULL;
    r->verdict.xcode = (a == ACTION_REJECT || a == ACTION_TEMPFAIL) ? r->xcode : NULL;
    r->verdict.text = (a == ACTION_REJECT || a == ACTION_TEMPFAIL || a == ACTION_QUARANTINE) ? r->text
                                                                                             : NULL;
}

/* reply = { code; xcode; text; }: check it, and fill r when have_action. */
static void rules_parse_reply(rules_ctx *cx, const config_setting_t *s, rules_rule *r, bool have_action)
{
    rules_action a = r->verdict.action;
    const config_setting_t *xcode_s = NULL, *text_s = NULL;
    int code = 0;
    bool ok = true;

    if (!config_setting_is_group(s)) {
        rules_err(cx, s, "reply: expected a group { code = ...; xcode = \"...\"; text = \"...\"; }");
        return;
    }
    if (have_action && a != ACTION_REJECT && a != ACTION_TEMPFAIL) {
        rules_err(cx, s, "reply is not allowed with action %s%s", rules_action_name(a),
                  a == ACTION_QUARANTINE ? " (use reason = \"...\")" : "");
        have_action = false; /* still check its contents */
    }
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
        const char *key = config_setting_name(m);

        if (strcmp(key, "code") == 0) {
            if (config_setting_type(m) != CONFIG_TYPE_INT && config_setting_type(m) != CONFIG_TYPE_INT64) {
                rules_err(cx, m, "reply code: expected an integer");
                ok = false;
                continue;
            }
            long long v = config_setting_get_int64(m);
            if (v < 400 || v > 599) {
                rules_err(cx, m, "reply code %lld out of range (400..599)", v);
                ok = false;
                continue;
            }
            code = (int)v;
            if (have_action && a == ACTION_REJECT && code / 100 != 5) {
                rules_err(cx, m, "reply code %d does not fit action reject (needs 5xx)", code);
                ok = false;
            } else if (have_action && a == ACTION_TEMPFAIL && code / 100 != 4) {
                rules_err(cx, m, "reply code %d does not fit action tempfail (needs 4xx)", code);
                ok = false;
            }
        } else if (strcmp(key, "xcode") == 0) {
            xcode_s = m;
            if (config_setting_type(m) != CONFIG_TYPE_STRING) {
                rules_err(cx, m, "reply xcode: expected a string \"D.D.D\"");
                ok = false;
            } else if (!rules_xcode_valid(config_setting_get_string(m))) {
                rules_err(cx, m, "reply xcode \"%s\" is invalid (expected D.D.D, e.g. \"5.7.1\")",
                          config_setting_get_string(m));
                ok = false;
                xcode_s = NULL;
            }
        } else if (strcmp(key, "text") == 0) {
            text_s = m;
            if (config_setting_type(m) != CONFIG_TYPE_STRING) {
                rules_err(cx, m, "reply text: expected a string");
                ok = false;
            } else if (!rules_text_check(cx, m, "reply text", config_setting_get_string(m))) {
                ok = false;
            }
        } else {
            rules_err(cx, m, "unknown key \"%s\" in reply (code, xcode, text)", key);
            ok = false;
        }
    }
    /* The class of the enhanced code must be the first digit of the code
     * (given, or the action's default). */
    int klass = code ? code / 100 : (have_action ? (a == ACTION_REJECT ? 5 : 4) : 0);
    if (xcode_s && config_setting_type(xcode_s) == CONFIG_TYPE_STRING && klass != 0) {
        const char *x = config_setting_get_string(xcode_s);
        if (x[0] - '0' != klass) {
            if (code)
                rules_err(cx, xcode_s, "reply xcode \"%s\" does not match code %d (class %d)", x, code, klass);
            else
                rules_err(cx, xcode_s, "reply xcode \"%s\" does not fit action %s (class %d)", x,
                          rules_action_name(a), klass);
            ok = false;
        }
    }
    if (!ok || !have_action)
        return;
    /* Defaults of the action are already in r; override what was given,
     * deriving the xcode class from the code when only the code is given. */
    if (code) {
        snprintf(r->code, sizeof(r->code), "%d", code);
        if (xcode_s == NULL)
            r->xcode[0] = (char)('0' + code / 100);
    }
    if (xcode_s)
        snprintf(r->xcode, sizeof(r->xcode), "%s", config_setting_get_string(xcode_s));
    if (text_s) {
        free(r->text);
        r->text = xstrdup(config_setting_get_string(text_s));
    }
}

/* Append the value of a setting in config syntax (strings quoted as
 * configured, without escapes: rule values are plain ASCII names). */
static void rules_value_text(char **out, const config_setting_t *s)
{
    char *old = *out;

    switch (config_setting_type(s)) {
    case CONFIG_TYPE_STRING: *out = xasprintf("%s\"%s\"", old, config_setting_get_string(s)); break;
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64: *out = xasprintf("%s%lld", old, config_setting_get_int64(s)); break;
    case CONFIG_TYPE_BOOL: *out = xasprintf("%s%s", old, config_setting_get_bool(s) ? "true" : "false"); break;
    case CONFIG_TYPE_FLOAT: *out = xasprintf("%s%g", old, config_setting_get_float(s)); break;
    case CONFIG_TYPE_ARRAY:
    case CONFIG_TYPE_LIST:
        *out = xasprintf("%s[ ", old);
        for (int i = 0; i < config_setting_length(s) && i < 32; i++) {
            char *sep = *out;
            if (i > 0) {
                *out = xasprintf("%s, ", sep);
                free(sep);
            }
            rules_value_text(out, config_setting_get_elem(s, (unsigned)i));
        }
        free(old);
        old = *out;
        *out = xasprintf("%s ]", old);
        break;
    default: *out = xasprintf("%s...", old); break;
    }
    free(old);
}

/* "name = value" of a match condition.  Caller frees. */
static char *rules_setting_text(const config_setting_t *s)
{
    char *t = xasprintf("%s = ", config_setting_name(s));

    rules_value_text(&t, s);
    return t;
}

static void rules_parse_match(rules_ctx *cx, const config_setting_t *s, rules_rule *r)
{
    if (!config_setting_is_group(s)) {
        rules_err(cx, s, "match: expected a group { condition = ...; ... }");
        return;
    }
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
        const char *key = config_setting_name(m);
        const rules_kind *k = rules_kind_find(key);
        rules_cond c;

        if (k == NULL) {
            rules_err(cx, m,
                      "unknown key \"%s\" in match (client_ip, trusted, authenticated, spf, spf_helo, "
                      "sender_domain, rcpt_domain, dnsbl_score, dnsbl_listed, dkim, dkim_domain, "
                      "dkim_partial, dmarc, dmarc_policy, dmarc_applied, dmarc_aligned, from_header, rcpt)",
                      key);
            continue;
        }
        memset(&c, 0, sizeof(c));
        c.kind = k;
        c.text = rules_setting_text(m);
        k->parse(cx, m, &c); /* errors are counted in cx */
        r->conds = xreallocarray(r->conds, r->nconds + 1, sizeof(rules_cond));
        r->conds[r->nconds++] = c; /* kept even if bad, so it is freed */
    }
}

/* Parse one rule group into r; duplicates are checked by the caller. */
static void rules_parse_rule(rules_ctx *cx, const config_setting_t *g, rules_rule *r)
{
    const config_setting_t *name_s = NULL, *action_s = NULL, *match_s = NULL, *reply_s = NULL,
                           *reason_s = NULL, *dry_s = NULL;
    bool have_action = false;

    r->line = (int)config_setting_source_line(g);
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *key = config_setting_name(m);

        if (strcmp(key, "name") == 0)
            name_s = m;
        else if (strcmp(key, "action") == 0)
            action_s = m;
        else if (strcmp(key, "match") == 0)
            match_s = m;
        else if (strcmp(key, "reply") == 0)
            reply_s = m;
        else if (strcmp(key, "reason") == 0)
            reason_s = m;
        else if (strcmp(key, "dry_run") == 0)
            dry_s = m;
        else
            rules_err(cx, m, "unknown key \"%s\" in rule (name, match, action, reply, reason, dry_run)", key);
    }

    /* name */
    if (name_s == NULL) {
        rules_err(cx, g, "rule has no name (name = \"...\"; is required)");
    } else if (config_setting_type(name_s) != CONFIG_TYPE_STRING) {
        rules_err(cx, name_s, "rule name: expected a string");
    } else {
        const char *n = config_setting_get_string(name_s);
        if (!rules_name_valid(n))
            rules_err(cx, name_s, "rule name \"%s\" is invalid (1 to %d characters of A-Z a-z 0-9 _ . -)", n,
                      RULES_NAME_MAX);
        else if (strcmp(n, "default") == 0)
            rules_err(cx, name_s, "rule name \"default\" is reserved (it names the default action)");
        else
            r->name = xstrdup(n);
    }
    if (r->name == NULL)
        r->name = xasprintf("#%d", r->line);

    /* action */
    if (action_s == NULL) {
        rules_err(cx, g, "rule \"%s\" has no action", r->name);
    } else if (config_setting_type(action_s) != CONFIG_TYPE_STRING) {
        rules_err(cx, action_s, "action: expected a string");
    } else if (!rules_action_parse(config_setting_get_string(action_s), &r->verdict.action)) {
        rules_err(cx, action_s, "unknown action \"%s\" (accept, reject, tempfail, quarantine, discard)",
                  config_setting_get_string(action_s));
    } else {
        have_action = true;
        rules_set_defaults(r, r->verdict.action);
    }

    if (match_s)
        rules_parse_match(cx, match_s, r);
    if (reply_s)
        rules_parse_reply(cx, reply_s, r, have_action);
    if (reason_s) {
        if (have_action && r->verdict.action != ACTION_QUARANTINE) {
            rules_err(cx, reason_s, "reason is only allowed with action quarantine%s",
                      (r->verdict.action == ACTION_REJECT || r->verdict.action == ACTION_TEMPFAIL)
                          ? " (use reply = { ... })"
                          : "");
        } else if (config_setting_type(reason_s) != CONFIG_TYPE_STRING) {
            rules_err(cx, reason_s, "reason: expected a string");
        } else if (rules_text_check(cx, reason_s, "reason", config_setting_get_string(reason_s)) &&
                   have_action) {
            free(r->text);
            r->text = xstrdup(config_setting_get_string(reason_s));
        }
    }
    if (dry_s)
        rules_bool(cx, dry_s, "dry_run", &r->dry_run);
}

rules_t *rules_from_config(const config_setting_t *list, const config_setting_t *dflt,
                           rules_error_fn errfn, void *arg)
{
    rules_ctx cx = {errfn, arg, 0};
    rules_t *r = xcalloc(1, sizeof(rules_t));
    rules_action da = ACTION_ACCEPT;

    r->dflt.name = xstrdup("default");
    if (dflt) {
        if (config_setting_type(dflt) != CONFIG_TYPE_STRING)
            rules_err(&cx, dflt, "default_action: expected a string");
        else if (!rules_action_parse(config_setting_get_string(dflt), &da))
            rules_err(&cx, dflt,
                      "unknown default_action \"%s\" (accept, reject, tempfail, quarantine, discard)",
                      config_setting_get_string(dflt));
    }
    rules_set_defaults(&r->dflt, da);
    rules_link_verdict(&r->dflt);

    if (list && !config_setting_is_list(list)) {
        rules_err(&cx, list, "rules: expected a list ( { name = ...; ... }, ... )");
        list = NULL;
    }
    for (int i = 0; list && i < config_setting_length(list); i++) {
        const config_setting_t *g = config_setting_get_elem(list, (unsigned)i);
        rules_rule rule;

        if (!config_setting_is_group(g)) {
            rules_err(&cx, g, "rules: each rule must be a group { name = ...; ... }");
            continue;
        }
        memset(&rule, 0, sizeof(rule));
        rules_parse_rule(&cx, g, &rule);
        for (size_t j = 0; j < r->n; j++) {
            if (strcmp(r->v[j].name, rule.name) == 0) {
                const config_setting_t *ns = config_setting_get_member(g, "name");
                rules_err(&cx, ns ? ns : g, "duplicate rule name \"%s\" (first defined at line %d)", rule.name,
                          r->v[j].line);
                break;
            }
        }
        r->v = xreallocarray(r->v, r->n + 1, sizeof(rules_rule));
        r->v[r->n++] = rule;
    }
    /* The verdicts point at the rules' own fields: link them once the
     * array has stopped moving. */
    for (size_t i = 0; i < r->n; i++)
        rules_link_verdict(&r->v[i]);
    if (cx.nerrors > 0) {
        rules_free(r);
        return NULL;
    }
    return r;
}

/* ---- evaluation -------------------------------------------------------- */

/* *why: the condition that made it FALSE, or the first UNKNOWN one. */
static rules_tri rules_rule_eval(const rules_rule *r, const facts_t *f, const rules_cond **why)
{
    bool unknown = false;

    *why = NULL;
    for (size_t i = 0; i < r->nconds; i++) {
        const rules_cond *c = &r->conds[i];
        if (f->stage < c->kind->stage || (c->kind->known && !c->kind->known(c, f))) {
            if (!unknown)
                *why = c;
            unknown = true;
        } else if (!c->kind->test(c, f)) {
            *why = c;
            return TRI_FALSE;
        }
    }
    return unknown ? TRI_UNKNOWN : TRI_TRUE;
}

/* Report one rule to the explain callback. */
static void rules_report(rules_explain_fn explain, void *xarg, const rules_rule *rule, rules_step step,
                         const rules_cond *why, const facts_t *f)
{
    char actual[160] = "";
    rules_explain_item it = {
        .step = step,
        .rule = rule->name,
        .line = step == RULES_STEP_DEFAULT ? 0 : rule->line,
        .dry_run = rule->dry_run,
        .verdict = &rule->verdict,
        .cond = why ? why->text : NULL,
        .nconds = rule->nconds,
    };
    if (explain == NULL)
        return;
    if (step == RULES_STEP_NOMATCH && why != NULL && why->kind->show != NULL) {
        why->kind->show(why, f, actual, sizeof(actual));
        it.actual = actual;
    }
    explain(&it, xarg);
}

/* The rules below index i were not looked at. */
static void rules_report_rest(const rules_t *r, size_t i, rules_explain_fn explain, void *xarg)
{
    for (; explain && i < r->n; i++)
        rules_report(explain, xarg, &r->v[i], RULES_STEP_NOT_REACHED, NULL, NULL);
}

rules_outcome rules_eval_explain(const rules_t *r, const facts_t *f, rules_verdict *verdict,
                                 rules_dryrun_fn dryrun, void *arg, rules_explain_fn explain, void *xarg)
{
    memset(verdict, 0, sizeof(*verdict));
    for (size_t i = 0; i < r->n; i++) {
        const rules_rule *rule = &r->v[i];
        const rules_cond *why;

        switch (rules_rule_eval(rule, f, &why)) {
        case TRI_FALSE:
            rules_report(explain, xarg, rule, RULES_STEP_NOMATCH, why, f);
            continue;
        case TRI_UNKNOWN:
            /* A dry-run rule never decides, so it cannot hold back the
             * rules below it; it is reported once it is known. */
            if (rule->dry_run) {
                rules_report(explain, xarg, rule, RULES_STEP_PASSED_OVER, why, f);
                continue;
            }
            rules_report(explain, xarg, rule, RULES_STEP_PENDING, why, f);
            rules_report_rest(r, i + 1, explain, xarg);
            return RULES_PENDING;
        case TRI_TRUE:
            break;
        }
        if (rule->dry_run) {
            rules_report(explain, xarg, rule, RULES_STEP_DRYRUN, NULL, f);
            if (dryrun) {
                rules_verdict would = rule->verdict;
                would.dry_run = true;
                dryrun(&would, arg);
            }
            continue;
        }
        rules_report(explain, xarg, rule, RULES_STEP_MATCH, NULL, f);
        rules_report_rest(r, i + 1, explain, xarg);
        *verdict = rule->verdict;
        return RULES_DECIDED;
    }
    rules_report(explain, xarg, &r->dflt, RULES_STEP_DEFAULT, NULL, f);
    *verdict = r->dflt.verdict;
    return RULES_DECIDED;
}

rules_outcome rules_eval(const rules_t *r, const facts_t *f, rules_verdict *verdict, rules_dryrun_fn dryrun,
                         void *arg)
{
    return rules_eval_explain(r, f, verdict, dryrun, arg, NULL, NULL);
}
