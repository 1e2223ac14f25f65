/*
 * rulecond.c - the conditions of a rule's match group (rulecond.h).
 *
 * Conditions are described by one table (rulecond_kinds[]): name, the stage
 * from which the fact is known, how to parse the setting and how to test
 * it.  A new check (DKIM, DMARC, a DNS list) adds one row.
 *
 * SECURITY: the facts (addresses, domains) come from the SMTP client; they
 * are only compared (inet_pton via cidr.h, case-insensitive string
 * compare), never copied anywhere.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cidr.h"
#include "dmarccheck.h"
#include "dname.h"
#include "fromhdr.h"
#include "rulecond.h"
#include "spfcheck.h"
#include "xalloc.h"

typedef struct rulecond_strlist {
    char **v;
    size_t n;
} rulecond_strlist;

static void rulecond_strlist_add(rulecond_strlist *l, const char *text)
{
    l->v = xreallocarray(l->v, l->n + 1, sizeof(char *));
    l->v[l->n++] = xstrdup(text);
}

struct rulecond_kind;

struct rulecond {
    const struct rulecond_kind *kind;
    char *text;               /* "name = value" as configured, for explain */
    union {
        cidr_list *nets;      /* client_ip */
        bool flag;            /* trusted, authenticated */
        unsigned mask;        /* spf, spf_helo: bit (1 << spfcheck_result); dkim: (1 << dkimcheck_result) */
        int score;            /* dnsbl_score: holds when the score is >= this */
        rulecond_strlist list;   /* domains (sender_domain, rcpt_domain, dkim_domain),
                               * list names (dnsbl_listed) or addresses (rcpt) */
    } u;
};

/* ---- condition kinds: parse, test, free -------------------------------- */

/* Parse a list or array of strings; calls each() per element; false after an error. */
static bool rulecond_each_string(cfgload_t *cx, const config_setting_t *s, const char *what,
                              bool (*each)(cfgload_t *, const config_setting_t *, const char *, void *),
                              void *arg)
{
    bool ok = true;
    int n;

    if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
        cfgload_err(cx, s, "%s: expected a list of strings, e.g. [ \"a\", \"b\" ]", what);
        return false;
    }
    n = config_setting_length(s);
    if (n == 0) {
        cfgload_err(cx, s, "%s: empty list (the condition could never hold)", what);
        return false;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            cfgload_err(cx, e, "%s: expected a list of strings", what);
            ok = false;
            continue;
        }
        if (!each(cx, e, config_setting_get_string(e), arg))
            ok = false;
    }
    return ok;
}

static bool rulecond_cidr_one(cfgload_t *cx, const config_setting_t *e, const char *text, void *arg)
{
    char err[256];

    if (!cidr_list_add(arg, text, err, sizeof(err))) {
        cfgload_err(cx, e, "client_ip: %s", err);
        return false;
    }
    return true;
}

static bool rulecond_parse_client_ip(cfgload_t *cx, const config_setting_t *s, rulecond_t *c)
{
    c->u.nets = cidr_list_new();
    return rulecond_each_string(cx, s, "client_ip", rulecond_cidr_one, c->u.nets);
}

static bool rulecond_parse_flag(cfgload_t *cx, const config_setting_t *s, rulecond_t *c)
{
    return cfgload_bool(cx, s, config_setting_name(s), &c->u.flag);
}

static bool rulecond_spf_one(cfgload_t *cx, const config_setting_t *e, const char *text, void *arg)
{
    spfcheck_result r;

    if (!spfcheck_result_parse(text, &r)) {
        cfgload_err(cx, e,
                  "unknown SPF result \"%s\" (none, neutral, pass, fail, softfail, temperror, permerror)",
                  text);
        return false;
    }
    *(unsigned *)arg |= 1u << (unsigned)r;
    return true;
}

static bool rulecond_parse_spf(cfgload_t *cx, const config_setting_t *s, rulecond_t *c)
{
    c->u.mask = 0;
    return rulecond_each_string(cx, s, config_setting_name(s), rulecond_spf_one, &c->u.mask);
}

/* A domain pattern: "example.com" or ".example.com"; LDH and '_' labels. */
static bool rulecond_domain_valid(const char *d)
{
    const char *p = d + (*d == '.'); /* ".example.com": its subdomains */
    return strlen(d) <= DNAME_MAX && dname_valid(p, strlen(p));
}

typedef struct rulecond_domain_arg {
    const char *what;
    rulecond_strlist *list;
} rulecond_domain_arg;

static bool rulecond_domain_one(cfgload_t *cx, const config_setting_t *e, const char *text, void *arg)
{
    rulecond_domain_arg *a = arg;

    if (!rulecond_domain_valid(text)) {
        cfgload_err(cx, e, "%s: invalid domain \"%s\" (use \"example.com\" or \".example.com\")",
                  a->what, text);
        return false;
    }
    rulecond_strlist_add(a->list, text);
    return true;
}

static bool rulecond_parse_domains(cfgload_t *cx, const config_setting_t *s, rulecond_t *c)
{
    rulecond_domain_arg a = {config_setting_name(s), &c->u.list};
    return rulecond_each_string(cx, s, a.what, rulecond_domain_one, &a);
}

static void rulecond_free_client_ip(rulecond_t *c)
{
    cidr_list_free(c->u.nets);
}

static void rulecond_free_list(rulecond_t *c)
{
    for (size_t i = 0; i < c->u.list.n; i++)
        free(c->u.list.v[i]);
    free(c->u.list.v);
}

/* Does domain (len bytes, compared case-insensitively) match pattern?
 * "example.com" matches itself; ".example.com" any proper subdomain. */
static bool rulecond_domain_match(const char *pattern, const char *domain, size_t len)
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
static bool rulecond_domains_match(const rulecond_strlist *l, const char *domain)
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
        if (rulecond_domain_match(l->v[i], domain, len))
            return true;
    return false;
}

static bool rulecond_test_client_ip(const rulecond_t *c, const facts_t *f)
{
    return cidr_list_match(c->u.nets, f->client_addr);
}

static bool rulecond_test_trusted(const rulecond_t *c, const facts_t *f)
{
    return f->trusted == c->u.flag;
}

static bool rulecond_test_authenticated(const rulecond_t *c, const facts_t *f)
{
    return f->authenticated == c->u.flag;
}

/* Not evaluated (UNSET) never matches: the condition is then false. */
static bool rulecond_test_spf(const rulecond_t *c, const facts_t *f)
{
    return f->spf_mfrom != SPFCHECK_UNSET && (c->u.mask & (1u << (unsigned)f->spf_mfrom)) != 0;
}

static bool rulecond_test_spf_helo(const rulecond_t *c, const facts_t *f)
{
    return f->spf_helo != SPFCHECK_UNSET && (c->u.mask & (1u << (unsigned)f->spf_helo)) != 0;
}

static bool rulecond_test_sender_domain(const rulecond_t *c, const facts_t *f)
{
    return rulecond_domains_match(&c->u.list, f->sender_domain);
}

/* At RCPT: the recipient being evaluated; later: any accepted recipient. */
static bool rulecond_test_rcpt_domain(const rulecond_t *c, const facts_t *f)
{
    if (f->stage == STAGE_RCPT && f->rcpt != NULL)
        return rulecond_domains_match(&c->u.list, facts_addr_domain(f->rcpt));
    for (size_t i = 0; i < f->nrcpts; i++)
        if (rulecond_domains_match(&c->u.list, facts_addr_domain(f->rcpts[i])))
            return true;
    return false;
}

/* dnsbl_score = N: the score of the DNS lists is >= N. */
static bool rulecond_parse_dnsbl_score(cfgload_t *cx, const config_setting_t *s, rulecond_t *c)
{
    long long v;

    if (config_setting_type(s) != CONFIG_TYPE_INT && config_setting_type(s) != CONFIG_TYPE_INT64) {
        cfgload_err(cx, s, "dnsbl_score: expected an integer (the rule holds when the score is >= it)");
        return false;
    }
    v = config_setting_get_int64(s);
    if (v < -100000 || v > 100000) {
        cfgload_err(cx, s, "dnsbl_score %lld out of range (-100000..100000)", v);
        return false;
    }
    c->u.score = (int)v;
    return true;
}

/* dnsbl_listed = [ "name", ... ]: names are checked against the lists by
 * conf.c, which knows both. */
static bool rulecond_dnsbl_name_one(cfgload_t *cx, const config_setting_t *e, const char *text, void *arg)
{
    rulecond_strlist *l = arg;

    if (*text == '\0' || strlen(text) > CFGLOAD_NAME_MAX) {
        cfgload_err(cx, e, "dnsbl_listed: invalid list name \"%s\"", text);
        return false;
    }
    rulecond_strlist_add(l, text);
    return true;
}

static bool rulecond_parse_dnsbl_listed(cfgload_t *cx, const config_setting_t *s, rulecond_t *c)
{
    return rulecond_each_string(cx, s, "dnsbl_listed", rulecond_dnsbl_name_one, &c->u.list);
}

static bool rulecond_test_dnsbl_score(const rulecond_t *c, const facts_t *f)
{
    return facts_dnsbl_score(&f->dnsbl) >= c->u.score;
}

/* Any of the named lists matched. */
static bool rulecond_test_dnsbl_listed(const rulecond_t *c, const facts_t *f)
{
    for (size_t i = 0; i < c->u.list.n; i++) {
        const facts_dnsbl_list *li = facts_dnsbl_find(&f->dnsbl, c->u.list.v[i]);
        if (li != NULL && li->listed)
            return true;
    }
    return false;
}

/* Known once the session has put the results of every list that feeds it
 * into the facts: ip lists from connect, helo from HELO, sender from MAIL,
 * from lists from end of headers (dnsbl_lookup_result). */
static bool rulecond_known_dnsbl_score(const rulecond_t *c, const facts_t *f)
{
    (void)c;
    return facts_dnsbl_known(&f->dnsbl, NULL);
}

static bool rulecond_known_dnsbl_listed(const rulecond_t *c, const facts_t *f)
{
    for (size_t i = 0; i < c->u.list.n; i++)
        if (!facts_dnsbl_known(&f->dnsbl, c->u.list.v[i]))
            return false;
    return true;
}

/* dkim = [ "pass", "fail", "none", ... ]: the message's aggregate result
 * (dkimcheck_aggregate).  Not evaluated (dkim disabled, trusted or
 * authenticated client) never matches. */
static bool rulecond_dkim_one(cfgload_t *cx, const config_setting_t *e, const char *text, void *arg)
{
    dkimcheck_result r;

    if (!dkimcheck_result_parse(text, &r)) {
        cfgload_err(cx, e,
                  "unknown DKIM result \"%s\" (none, pass, fail, policy, neutral, temperror, permerror)",
                  text);
        return false;
    }
    *(unsigned *)arg |= 1u << (unsigned)r;
    return true;
}

static bool rulecond_parse_dkim(cfgload_t *cx, const config_setting_t *s, rulecond_t *c)
{
    c->u.mask = 0;
    return rulecond_each_string(cx, s, "dkim", rulecond_dkim_one, &c->u.mask);
}

static bool rulecond_test_dkim(const rulecond_t *c, const facts_t *f)
{
    return f->dkim != DKIMCHECK_UNSET && (c->u.mask & (1u << (unsigned)f->dkim)) != 0;
}

/* dkim_domain = [ "example.com", ".example.org" ]: a signature of such a
 * d= passed (one covering only l= octets of the body counts too). */
static bool rulecond_test_dkim_domain(const rulecond_t *c, const facts_t *f)
{
    for (size_t i = 0; i < f->ndkim_sigs; i++)
        if (f->dkim_sigs[i].result == DKIMCHECK_PASS && rulecond_domains_match(&c->u.list, f->dkim_sigs[i].domain))
            return true;
    return false;
}

/* dkim_partial = true: a passing signature covers only part of the body
 * (l= shorter than the body: text may have been appended). */
static bool rulecond_test_dkim_partial(const rulecond_t *c, const facts_t *f)
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
static bool rulecond_dmarc_one(cfgload_t *cx, const config_setting_t *e, const char *text, void *arg)
{
    dmarccheck_result r;

    if (!dmarccheck_result_parse(text, &r)) {
        cfgload_err(cx, e, "unknown DMARC result \"%s\" (none, pass, fail, temperror, permerror)", text);
        return false;
    }
    *(unsigned *)arg |= 1u << (unsigned)r;
    return true;
}

static bool rulecond_parse_dmarc(cfgload_t *cx, const config_setting_t *s, rulecond_t *c)
{
    c->u.mask = 0;
    return rulecond_each_string(cx, s, "dmarc", rulecond_dmarc_one, &c->u.mask);
}

static bool rulecond_test_dmarc(const rulecond_t *c, const facts_t *f)
{
    return f->dmarc.result != DMARCCHECK_UNSET && (c->u.mask & (1u << (unsigned)f->dmarc.result)) != 0;
}

/* dmarc_policy / dmarc_applied = [ "none", "quarantine", "reject" ]: the
 * published policy (the p, sp or np that applies) / the policy to apply
 * after t=y (or pct); no policy never matches. */
static bool rulecond_policy_one(cfgload_t *cx, const config_setting_t *e, const char *text, void *arg)
{
    dmarccheck_policy p;

    if (!dmarccheck_policy_parse(text, &p)) {
        cfgload_err(cx, e, "unknown DMARC policy \"%s\" (none, quarantine, reject)", text);
        return false;
    }
    *(unsigned *)arg |= 1u << (unsigned)p;
    return true;
}

static bool rulecond_parse_dmarc_policy(cfgload_t *cx, const config_setting_t *s, rulecond_t *c)
{
    c->u.mask = 0;
    return rulecond_each_string(cx, s, config_setting_name(s), rulecond_policy_one, &c->u.mask);
}

static bool rulecond_test_dmarc_policy(const rulecond_t *c, const facts_t *f)
{
    return f->dmarc.published != DMARCCHECK_POLICY_UNSET && (c->u.mask & (1u << (unsigned)f->dmarc.published)) != 0;
}

static bool rulecond_test_dmarc_applied(const rulecond_t *c, const facts_t *f)
{
    return f->dmarc.applied != DMARCCHECK_POLICY_UNSET && (c->u.mask & (1u << (unsigned)f->dmarc.applied)) != 0;
}

/* dmarc_aligned = [ "spf", "dkim", "none" ]: which identifier aligned
 * (with a pass); "none": neither.  Not evaluated never matches. */
static bool rulecond_aligned_one(cfgload_t *cx, const config_setting_t *e, const char *text, void *arg)
{
    unsigned bit = strcmp(text, "spf") == 0 ? 1u : strcmp(text, "dkim") == 0 ? 2u : strcmp(text, "none") == 0 ? 4u : 0u;

    if (bit == 0) {
        cfgload_err(cx, e, "dmarc_aligned: unknown identifier \"%s\" (spf, dkim, none)", text);
        return false;
    }
    *(unsigned *)arg |= bit;
    return true;
}

static bool rulecond_parse_dmarc_aligned(cfgload_t *cx, const config_setting_t *s, rulecond_t *c)
{
    c->u.mask = 0;
    return rulecond_each_string(cx, s, "dmarc_aligned", rulecond_aligned_one, &c->u.mask);
}

static bool rulecond_test_dmarc_aligned(const rulecond_t *c, const facts_t *f)
{
    if (f->dmarc.result == DMARCCHECK_UNSET)
        return false;
    return ((c->u.mask & 1u) && f->dmarc.spf_aligned) || ((c->u.mask & 2u) && f->dmarc.dkim_aligned) ||
           ((c->u.mask & 4u) && !f->dmarc.spf_aligned && !f->dmarc.dkim_aligned);
}

/* from_header = [ "ok", "none", "multiple", ... ]: the From header verdict
 * (fromhdr.h), known when DMARC was evaluated. */
static bool rulecond_from_one(cfgload_t *cx, const config_setting_t *e, const char *text, void *arg)
{
    fromhdr_status st;

    if (!fromhdr_status_parse(text, &st)) {
        cfgload_err(cx, e,
                  "unknown from_header verdict \"%s\" (ok, none, multiple, multiple_domains, no_domain, "
                  "ip_literal, invalid)",
                  text);
        return false;
    }
    *(unsigned *)arg |= 1u << (unsigned)st;
    return true;
}

static bool rulecond_parse_from_header(cfgload_t *cx, const config_setting_t *s, rulecond_t *c)
{
    c->u.mask = 0;
    return rulecond_each_string(cx, s, "from_header", rulecond_from_one, &c->u.mask);
}

static bool rulecond_test_from_header(const rulecond_t *c, const facts_t *f)
{
    return f->dmarc.from != FROMHDR_UNSET && (c->u.mask & (1u << (unsigned)f->dmarc.from)) != 0;
}

/* rcpt = [ "postmaster@example.com", "postmaster@", "@example.org" ]: a
 * whole address, a local part at any domain ("x@"), or a domain ("@d");
 * case-insensitive.  At RCPT the recipient being evaluated; later any
 * accepted recipient. */
static bool rulecond_rcpt_one(cfgload_t *cx, const config_setting_t *e, const char *text, void *arg)
{
    rulecond_strlist *l = arg;
    const char *at = strchr(text, '@');

    if (at == NULL || strchr(at + 1, '@') != NULL || strlen(text) > 320 || (at == text && at[1] == '\0')) {
        cfgload_err(cx, e, "rcpt: \"%s\" is not an address, \"local@\" or \"@domain\"", text);
        return false;
    }
    for (const char *p = text; *p; p++) {
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f || *p == '<' || *p == '>') {
            cfgload_err(cx, e, "rcpt: \"%s\" contains a blank, a bracket or a non-ASCII byte", text);
            return false;
        }
    }
    rulecond_strlist_add(l, text);
    return true;
}

static bool rulecond_parse_rcpt(cfgload_t *cx, const config_setting_t *s, rulecond_t *c)
{
    return rulecond_each_string(cx, s, "rcpt", rulecond_rcpt_one, &c->u.list);
}

static bool rulecond_rcpt_match(const rulecond_strlist *l, const char *addr)
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

static bool rulecond_test_rcpt(const rulecond_t *c, const facts_t *f)
{
    if (f->stage == STAGE_RCPT && f->rcpt != NULL)
        return rulecond_rcpt_match(&c->u.list, f->rcpt);
    for (size_t i = 0; i < f->nrcpts; i++)
        if (rulecond_rcpt_match(&c->u.list, f->rcpts[i]))
            return true;
    return false;
}

/* For explain: the value a condition was tested against. */
static void rulecond_show_result(char *buf, size_t len, const char *check, bool unset, const char *name)
{
    if (unset)
        snprintf(buf, len, "%s was not evaluated", check);
    else
        snprintf(buf, len, "%s is %s", check, name);
}

static void rulecond_show_spf(const rulecond_t *c, const facts_t *f, char *buf, size_t len)
{
    (void)c;
    rulecond_show_result(buf, len, "spf", f->spf_mfrom == SPFCHECK_UNSET, spfcheck_result_name(f->spf_mfrom));
}

static void rulecond_show_spf_helo(const rulecond_t *c, const facts_t *f, char *buf, size_t len)
{
    (void)c;
    rulecond_show_result(buf, len, "spf_helo", f->spf_helo == SPFCHECK_UNSET, spfcheck_result_name(f->spf_helo));
}

static void rulecond_show_dnsbl_score(const rulecond_t *c, const facts_t *f, char *buf, size_t len)
{
    int score = facts_dnsbl_score(&f->dnsbl);

    snprintf(buf, len, "the score is %d, %s %d", score, score >= c->u.score ? "at least" : "below", c->u.score);
}

static void rulecond_show_dkim(const rulecond_t *c, const facts_t *f, char *buf, size_t len)
{
    (void)c;
    rulecond_show_result(buf, len, "dkim", f->dkim == DKIMCHECK_UNSET, dkimcheck_result_name(f->dkim));
}

static void rulecond_show_dmarc(const rulecond_t *c, const facts_t *f, char *buf, size_t len)
{
    (void)c;
    rulecond_show_result(buf, len, "dmarc", f->dmarc.result == DMARCCHECK_UNSET,
                         dmarccheck_result_name(f->dmarc.result));
}

typedef struct rulecond_kind {
    const char *name;
    facts_stage stage; /* the fact is known from this stage on */
    bool (*parse)(cfgload_t *cx, const config_setting_t *s, rulecond_t *c);
    bool (*test)(const rulecond_t *c, const facts_t *f);
    void (*free)(rulecond_t *c); /* NULL: nothing to free */
    /* NULL: known from stage on; else also required (stage depends on the config) */
    bool (*known)(const rulecond_t *c, const facts_t *f);
    /* NULL, or what the fact was, for explain: "the score is 0, below 5" */
    void (*show)(const rulecond_t *c, const facts_t *f, char *buf, size_t len);
} rulecond_kind;

static const rulecond_kind rulecond_kinds[] = {
    {"client_ip", STAGE_CONNECT, rulecond_parse_client_ip, rulecond_test_client_ip, rulecond_free_client_ip, NULL, NULL},
    {"trusted", STAGE_CONNECT, rulecond_parse_flag, rulecond_test_trusted, NULL, NULL, NULL},
    {"authenticated", STAGE_MAIL, rulecond_parse_flag, rulecond_test_authenticated, NULL, NULL, NULL},
    {"spf", STAGE_MAIL, rulecond_parse_spf, rulecond_test_spf, NULL, NULL, rulecond_show_spf},
    {"spf_helo", STAGE_MAIL, rulecond_parse_spf, rulecond_test_spf_helo, NULL, NULL, rulecond_show_spf_helo},
    {"sender_domain", STAGE_MAIL, rulecond_parse_domains, rulecond_test_sender_domain, rulecond_free_list, NULL, NULL},
    {"rcpt_domain", STAGE_RCPT, rulecond_parse_domains, rulecond_test_rcpt_domain, rulecond_free_list, NULL, NULL},
    {"dnsbl_score", STAGE_CONNECT, rulecond_parse_dnsbl_score, rulecond_test_dnsbl_score, NULL,
     rulecond_known_dnsbl_score, rulecond_show_dnsbl_score},
    {"dnsbl_listed", STAGE_CONNECT, rulecond_parse_dnsbl_listed, rulecond_test_dnsbl_listed, rulecond_free_list,
     rulecond_known_dnsbl_listed, NULL},
    {"dkim", STAGE_EOM, rulecond_parse_dkim, rulecond_test_dkim, NULL, NULL, rulecond_show_dkim},
    {"dkim_domain", STAGE_EOM, rulecond_parse_domains, rulecond_test_dkim_domain, rulecond_free_list, NULL, NULL},
    {"dkim_partial", STAGE_EOM, rulecond_parse_flag, rulecond_test_dkim_partial, NULL, NULL, NULL},
    {"dmarc", STAGE_EOM, rulecond_parse_dmarc, rulecond_test_dmarc, NULL, NULL, rulecond_show_dmarc},
    {"dmarc_policy", STAGE_EOM, rulecond_parse_dmarc_policy, rulecond_test_dmarc_policy, NULL, NULL, NULL},
    {"dmarc_applied", STAGE_EOM, rulecond_parse_dmarc_policy, rulecond_test_dmarc_applied, NULL, NULL, NULL},
    {"dmarc_aligned", STAGE_EOM, rulecond_parse_dmarc_aligned, rulecond_test_dmarc_aligned, NULL, NULL, NULL},
    {"from_header", STAGE_EOM, rulecond_parse_from_header, rulecond_test_from_header, NULL, NULL, NULL},
    {"rcpt", STAGE_RCPT, rulecond_parse_rcpt, rulecond_test_rcpt, rulecond_free_list, NULL, NULL},
};

static const rulecond_kind *rulecond_kind_find(const char *name)
{
    for (size_t i = 0; i < sizeof(rulecond_kinds) / sizeof(rulecond_kinds[0]); i++)
        if (strcmp(rulecond_kinds[i].name, name) == 0)
            return &rulecond_kinds[i];
    return NULL;
}

/* "client_ip, trusted, ...": the names of the kinds, for messages. */
static const char *rulecond_kind_names(char *buf, size_t size)
{
    size_t len = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(rulecond_kinds) / sizeof(rulecond_kinds[0]) && len < size; i++)
        len += (size_t)snprintf(buf + len, size - len, "%s%s", i ? ", " : "", rulecond_kinds[i].name);
    return buf;
}

/* Append the value of a setting in config syntax (strings quoted as
 * configured, without escapes: rule values are plain ASCII names). */
static void rulecond_value_text(char **out, const config_setting_t *s)
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
            rulecond_value_text(out, config_setting_get_elem(s, (unsigned)i));
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
static char *rulecond_setting_text(const config_setting_t *s)
{
    char *t = xasprintf("%s = ", config_setting_name(s));

    rulecond_value_text(&t, s);
    return t;
}

/* ---- a condition ------------------------------------------------------- */

rulecond_t *rulecond_parse(cfgload_t *cx, const config_setting_t *s)
{
    const char *key = config_setting_name(s);
    const rulecond_kind *k = rulecond_kind_find(key);
    rulecond_t *c;

    if (k == NULL) {
        char keys[400];
        cfgload_err(cx, s, "unknown key \"%s\" in match (%s)", key, rulecond_kind_names(keys, sizeof(keys)));
        return NULL;
    }
    c = xcalloc(1, sizeof(*c));
    c->kind = k;
    c->text = rulecond_setting_text(s);
    k->parse(cx, s, c); /* errors are counted in cx */
    return c;
}

void rulecond_free(rulecond_t *c)
{
    if (c == NULL)
        return;
    if (c->kind->free)
        c->kind->free(c);
    free(c->text);
    free(c);
}

rulecond_value rulecond_eval(const rulecond_t *c, const facts_t *f)
{
    if (f->stage < c->kind->stage || (c->kind->known && !c->kind->known(c, f)))
        return RULECOND_UNKNOWN;
    return c->kind->test(c, f) ? RULECOND_TRUE : RULECOND_FALSE;
}

void rulecond_show(const rulecond_t *c, const facts_t *f, char *buf, size_t len)
{
    buf[0] = '\0';
    if (c->kind->show != NULL)
        c->kind->show(c, f, buf, len);
}

const char *rulecond_text(const rulecond_t *c)
{
    return c->text;
}
