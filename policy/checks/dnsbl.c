/*
 * dnsbl.c - weighted DNS block- and allow-lists: configuration, query names,
 * answer filters, and the lookups of one connection.
 *
 * A lookup keeps one entry per started query (list x kind); each entry owns
 * its dns_query_t until it is waited for (dns_wait frees it), after which
 * only the outcome stays.  Entries of a kind are replaced only after their
 * queries were waited for, so no query outlives the lookup or its resolver.
 *
 * Answer filters follow Postfix postscreen_dnsbl_sites: "127.0.0.2" (exact),
 * "127.0.0.[2..11]" (range), "127.0.[0;1].[2;4..7]" (lists of values and
 * ranges, per octet), plus a bitmask form "&0.0.0.4" (an answer in
 * 127.0.0.0/8 whose bits AND the mask are not zero; SURBL-style lists).
 * Without a filter an answer in 127.0.0.0/8 counts, except 127.255.255.0/24
 * (the error codes of Spamhaus and others).  Answers outside 127.0.0.0/8
 * never count (RFC 5782 2.1) and are logged.
 *
 * SECURITY: inputs come from the SMTP client, answers from the network.
 * Query names are built only from parsed addresses and LDH domains of
 * bounded length; only 4-byte A rdata is read; TXT reasons are sanitized
 * (dnsbl_txt_sanitize) before they reach a reply or a log line.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cidr.h"
#include "dname.h"
#include "dnsbl.h"
#include "fromhdr.h"
#include "log.h"
#include "strbuf.h"
#include "xalloc.h"

#define DNSBL_QNAME_MAX DNAME_BUFSZ
#define DNSBL_REPLY_MAX 400
#define DNSBL_WEIGHT_MAX 1000

/* ---- configuration ------------------------------------------------------ */

typedef struct dnsbl_filter {
    bool mask_form;       /* "&MASK" */
    uint32_t mask;        /* mask_form: answer & mask != 0 */
    uint8_t octet[4][32]; /* else: bit v of octet[i] set if value v allowed */
} dnsbl_filter;

typedef struct dnsbl_list {
    char *name;           /* shown in replies, the decision line, rules */
    char *zone;           /* DNS zone queried */
    unsigned kinds;       /* bit (1 << dnsbl_kind) */
    int weight;           /* added to the score when listed */
    dnsbl_filter *filters; /* none: the default filter */
    size_t nfilters;
    facts_stage stage;    /* when its result is known (latest kind) */
    int line;             /* config line, for duplicate-name errors */
} dnsbl_list;

struct dnsbl_conf {
    dnsbl_list *v;
    size_t n;
    unsigned timeout_ms;  /* per query; 0: the resolver's */
    cidr_list *special;   /* client addresses never queried */
};

static const char *const dnsbl_kind_names[DNSBL_NKINDS] = {"ip", "helo", "sender", "from"};
static const facts_stage dnsbl_kind_stage[DNSBL_NKINDS] = {STAGE_CONNECT, STAGE_HELO, STAGE_MAIL,
                                                           STAGE_DATA};

/* RFC 6890 special-purpose ranges (and RFC 1918, RFC 4193, RFC 4291
 * link-local and multicast) that never reach a public list.  The
 * documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24,
 * 2001:db8::/32) are deliberately absent: they never appear as real clients
 * and are what the tests use to exercise the whole path. */
static const char *const dnsbl_special_nets[] = {
    "0.0.0.0/8",      "10.0.0.0/8",     "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12",  "192.0.0.0/24",   "192.168.0.0/16", "198.18.0.0/15", "224.0.0.0/4",
    "240.0.0.0/4",    "::/128",         "::1/128",        "fc00::/7",      "fe80::/10",
    "ff00::/8",       "64:ff9b:1::/48", "100::/64",
};

/* A decimal 0..255 at *pp; advances *pp. */
static bool dnsbl_octet_num(const char **pp, unsigned *out)
{
    const char *p = *pp;
    unsigned v = 0;
    int digits = 0;

    while (*p >= '0' && *p <= '9' && digits < 4) {
        v = v * 10 + (unsigned)(*p - '0');
        p++;
        digits++;
    }
    if (digits == 0 || digits > 3 || v > 255)
        return false;
    *pp = p;
    *out = v;
    return true;
}

static void dnsbl_bits_set(uint8_t bits[32], unsigned lo, unsigned hi)
{
    for (unsigned v = lo; v <= hi; v++)
        bits[v / 8] |= (uint8_t)(1u << (v % 8));
}

/* One octet pattern: NUM, or "[" item (";" item)* "]" with item NUM or
 * NUM..NUM. */
static bool dnsbl_octet_pattern(const char **pp, uint8_t bits[32])
{
    const char *p = *pp;
    unsigned lo, hi;

    if (*p != '[') {
        if (!dnsbl_octet_num(&p, &lo))
            return false;
        dnsbl_bits_set(bits, lo, lo);
        *pp = p;
        return true;
    }
    p++;
    for (int items = 0; items < 256; items++) {
        if (!dnsbl_octet_num(&p, &lo))
            return false;
        hi = lo;
        if (p[0] == '.' && p[1] == '.') {
            p += 2;
            if (!dnsbl_octet_num(&p, &hi) || hi < lo)
                return false;
        }
        dnsbl_bits_set(bits, lo, hi);
        if (*p == ']') {
            *pp = p + 1;
            return true;
        }
        if (*p != ';')
            return false;
        p++;
    }
    return false;
}

/* Parse a filter; false if malformed. */
static bool dnsbl_filter_parse(const char *text, dnsbl_filter *f)
{
    const char *p = text;

    memset(f, 0, sizeof(*f));
    if (*p == '&') {
        unsigned char a[4];
        if (inet_pton(AF_INET, p + 1, a) != 1)
            return false;
        f->mask_form = true;
        f->mask = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
        return f->mask != 0;
    }
    for (int i = 0; i < 4; i++) {
        if (i > 0 && *p++ != '.')
            return false;
        if (!dnsbl_octet_pattern(&p, f->octet[i]))
            return false;
    }
    return *p == '\0';
}

static bool dnsbl_filter_match(const dnsbl_filter *f, const unsigned char a[4])
{
    if (f->mask_form) {
        uint32_t v = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];
        return a[0] == 127 && (v & f->mask) != 0;
    }
    for (int i = 0; i < 4; i++)
        if (!(f->octet[i][a[i] / 8] & (1u << (a[i] % 8))))
            return false;
    return true;
}

/* Does this answer count for list li? */
static bool dnsbl_answer_counts(const dnsbl_list *li, const unsigned char a[4])
{
    if (a[0] != 127)
        return false;
    if (li->nfilters == 0)
        return !(a[1] == 255 && a[2] == 255);
    for (size_t i = 0; i < li->nfilters; i++)
        if (dnsbl_filter_match(&li->filters[i], a))
            return true;
    return false;
}

static void dnsbl_list_clear(dnsbl_list *li)
{
    free(li->name);
    free(li->zone);
    free(li->filters);
    memset(li, 0, sizeof(*li));
}

void dnsbl_conf_free(dnsbl_conf_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        dnsbl_list_clear(&c->v[i]);
    free(c->v);
    cidr_list_free(c->special);
    free(c);
}

static void dnsbl_parse_kinds(cfgload_t *cx, const config_setting_t *s, dnsbl_list *li)
{
    int n = 1;
    bool single = config_setting_type(s) == CONFIG_TYPE_STRING;

    if (!single && !config_setting_is_array(s) && !config_setting_is_list(s)) {
        cfgload_err(cx, s, "dnsbl type: expected \"ip\", \"helo\", \"sender\", \"from\" or a list of them");
        return;
    }
    if (!single)
        n = config_setting_length(s);
    if (n == 0) {
        cfgload_err(cx, s, "dnsbl type: empty list");
        return;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = single ? s : config_setting_get_elem(s, (unsigned)i);
        const char *v = config_setting_type(e) == CONFIG_TYPE_STRING ? config_setting_get_string(e) : NULL;
        int k;

        for (k = 0; v && k < DNSBL_NKINDS; k++)
            if (strcmp(v, dnsbl_kind_names[k]) == 0)
                break;
        if (v == NULL || k == DNSBL_NKINDS) {
            cfgload_err(cx, e, "dnsbl type: unknown kind %s%s%s (ip, helo, sender, from)", v ? "\"" : "",
                      v ? v : "(not a string)", v ? "\"" : "");
            continue;
        }
        li->kinds |= 1u << (unsigned)k;
    }
    if ((li->kinds & 1u) && (li->kinds & ~1u))
        cfgload_err(cx, s, "dnsbl type: \"ip\" cannot be combined with domain kinds (use two lists)");
}

static void dnsbl_parse_answers(cfgload_t *cx, const config_setting_t *s, dnsbl_list *li)
{
    int n;

    if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
        cfgload_err(cx, s, "dnsbl answers: expected a list of strings, e.g. [ \"127.0.0.[2..11]\" ]");
        return;
    }
    n = config_setting_length(s);
    if (n == 0) {
        cfgload_err(cx, s, "dnsbl answers: empty list (the list could never match)");
        return;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        dnsbl_filter f;

        if (config_setting_type(e) != CONFIG_TYPE_STRING) {
            cfgload_err(cx, e, "dnsbl answers: expected a list of strings");
            continue;
        }
        if (!dnsbl_filter_parse(config_setting_get_string(e), &f)) {
            cfgload_err(cx, e,
                      "dnsbl answers: bad filter \"%s\" (e.g. \"127.0.0.2\", \"127.0.0.[2..11]\", "
                      "\"127.0.0.[2;4;8..9]\", \"&0.0.0.4\")",
                      config_setting_get_string(e));
            continue;
        }
        li->filters = xreallocarray(li->filters, li->nfilters + 1, sizeof(dnsbl_filter));
        li->filters[li->nfilters++] = f;
    }
}

/* One list group into li. */
static void dnsbl_parse_list(cfgload_t *cx, const config_setting_t *g, dnsbl_list *li)
{
    const config_setting_t *name_s = NULL, *zone_s = NULL, *type_s = NULL;
    char zone[DNSBL_QNAME_MAX];

    li->line = (int)config_setting_source_line(g);
    li->weight = 1;
    for (int i = 0; i < config_setting_length(g); i++) {
        const config_setting_t *m = config_setting_get_elem(g, (unsigned)i);
        const char *key = config_setting_name(m);

        if (strcmp(key, "name") == 0) {
            name_s = m;
        } else if (strcmp(key, "zone") == 0) {
            zone_s = m;
        } else if (strcmp(key, "type") == 0) {
            type_s = m;
        } else if (strcmp(key, "weight") == 0) {
            long long w;
            if (config_setting_type(m) != CONFIG_TYPE_INT && config_setting_type(m) != CONFIG_TYPE_INT64) {
                cfgload_err(cx, m, "dnsbl weight: expected an integer");
                continue;
            }
            w = config_setting_get_int64(m);
            if (w < -DNSBL_WEIGHT_MAX || w > DNSBL_WEIGHT_MAX || w == 0) {
                cfgload_err(cx, m, "dnsbl weight %lld out of range (-%d..-1 or 1..%d)", w, DNSBL_WEIGHT_MAX,
                          DNSBL_WEIGHT_MAX);
                continue;
            }
            li->weight = (int)w;
        } else if (strcmp(key, "answers") == 0) {
            dnsbl_parse_answers(cx, m, li);
        } else {
            cfgload_err(cx, m, "unknown key \"%s\" in dnsbl list (name, zone, type, weight, answers)", key);
        }
    }
    if (name_s == NULL)
        cfgload_err(cx, g, "dnsbl list has no name (name = \"...\"; is required)");
    else if (config_setting_type(name_s) != CONFIG_TYPE_STRING ||
             !cfgload_name_valid(config_setting_get_string(name_s)))
        cfgload_err(cx, name_s, "dnsbl name: expected 1 to %d characters of A-Z a-z 0-9 _ . -", CFGLOAD_NAME_MAX);
    else
        li->name = xstrdup(config_setting_get_string(name_s));
    if (li->name == NULL)
        li->name = xasprintf("#%d", li->line);
    if (zone_s == NULL)
        cfgload_err(cx, g, "dnsbl list \"%s\" has no zone", li->name);
    else if (config_setting_type(zone_s) != CONFIG_TYPE_STRING ||
             !dname_normalize(config_setting_get_string(zone_s), zone, sizeof(zone)) ||
             strchr(zone, '.') == NULL)
        cfgload_err(cx, zone_s, "dnsbl zone: expected a domain name such as \"zen.spamhaus.org\"");
    else
        li->zone = xstrdup(zone);
    if (type_s == NULL)
        cfgload_err(cx, g, "dnsbl list \"%s\" has no type (ip, helo, sender, from)", li->name);
    else
        dnsbl_parse_kinds(cx, type_s, li);
    li->stage = STAGE_CONNECT;
    for (int k = 0; k < DNSBL_NKINDS; k++)
        if ((li->kinds & (1u << (unsigned)k)) && dnsbl_kind_stage[k] > li->stage)
            li->stage = dnsbl_kind_stage[k];
}

/* cfgload_groups() callback: one list group appended to the conf. */
static const char *dnsbl_parse_group(cfgload_t *cx, const config_setting_t *g, int *line, void *arg)
{
    dnsbl_conf_t *c = arg;
    dnsbl_list li;

    memset(&li, 0, sizeof(li));
    dnsbl_parse_list(cx, g, &li);
    c->v = xreallocarray(c->v, c->n + 1, sizeof(dnsbl_list));
    c->v[c->n++] = li;
    *line = li.line;
    return li.name;
}

static void dnsbl_parse_options(cfgload_t *cx, const config_setting_t *s, dnsbl_conf_t *c)
{
    if (!config_setting_is_group(s)) {
        cfgload_err(cx, s, "dnsbl_options: expected a group { timeout_ms = ...; }");
        return;
    }
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *m = config_setting_get_elem(s, (unsigned)i);
        const char *key = config_setting_name(m);
        long long v;

        if (strcmp(key, "timeout_ms") != 0) {
            cfgload_err(cx, m, "unknown key \"%s\" in dnsbl_options (timeout_ms)", key);
            continue;
        }
        if (config_setting_type(m) != CONFIG_TYPE_INT && config_setting_type(m) != CONFIG_TYPE_INT64) {
            cfgload_err(cx, m, "dnsbl_options.timeout_ms: expected an integer");
            continue;
        }
        v = config_setting_get_int64(m);
        if (v < 100 || v > 60000) {
            cfgload_err(cx, m, "dnsbl_options.timeout_ms %lld out of range (100..60000)", v);
            continue;
        }
        c->timeout_ms = (unsigned)v;
    }
}

dnsbl_conf_t *dnsbl_conf_from_config(const config_setting_t *lists, const config_setting_t *options,
                                     cfgload_error_fn errfn, void *arg)
{
    cfgload_t cx = {errfn, arg, 0};
    dnsbl_conf_t *c = xcalloc(1, sizeof(*c));

    c->special = cidr_list_new();
    for (size_t i = 0; i < sizeof(dnsbl_special_nets) / sizeof(dnsbl_special_nets[0]); i++) {
        char err[128];
        if (!cidr_list_add(c->special, dnsbl_special_nets[i], err, sizeof(err)))
            log_fatal("dnsbl: built-in network %s: %s", dnsbl_special_nets[i], err);
    }
    if (options)
        dnsbl_parse_options(&cx, options, c);
    if (lists && config_setting_is_list(lists) && config_setting_length(lists) > DNSBL_MAX_LISTS) {
        cfgload_err(&cx, lists, "dnsbl: more than %d lists", DNSBL_MAX_LISTS);
        lists = NULL;
    }
    cfgload_groups(&cx, lists, "dnsbl", "list", "{ name = ...; zone = ...; type = ...; }", "dnsbl",
                   dnsbl_parse_group, c);
    if (cx.nerrors > 0) {
        dnsbl_conf_free(c);
        return NULL;
    }
    return c;
}

size_t dnsbl_conf_count(const dnsbl_conf_t *c)
{
    return c ? c->n : 0;
}

static const dnsbl_list *dnsbl_conf_find(const dnsbl_conf_t *c, const char *name)
{
    for (size_t i = 0; c && name && i < c->n; i++)
        if (strcmp(c->v[i].name, name) == 0)
            return &c->v[i];
    return NULL;
}

bool dnsbl_conf_has(const dnsbl_conf_t *c, const char *name)
{
    return dnsbl_conf_find(c, name) != NULL;
}

facts_stage dnsbl_conf_stage(const dnsbl_conf_t *c, const char *name)
{
    facts_stage st = STAGE_CONNECT;
    const dnsbl_list *li;

    if (name != NULL)
        return (li = dnsbl_conf_find(c, name)) ? li->stage : STAGE_CONNECT;
    for (size_t i = 0; c && i < c->n; i++)
        if (c->v[i].stage > st)
            st = c->v[i].stage;
    return st;
}

/* ---- pure helpers --------------------------------------------------------- */

bool dnsbl_ip_qname(const char *addr, const char *zone, char *out, size_t outsz)
{
    unsigned char a[16];
    size_t o = 0;
    int n;

    if (addr == NULL || zone == NULL)
        return false;
    if (inet_pton(AF_INET, addr, a) == 1) {
        n = snprintf(out, outsz, "%u.%u.%u.%u.%s", a[3], a[2], a[1], a[0], zone);
        return n > 0 && (size_t)n < outsz && (size_t)n <= DNAME_MAX;
    }
    if (inet_pton(AF_INET6, addr, a) != 1)
        return false;
    if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)(const void *)a)) {
        /* ::ffff:a.b.c.d (dual-stack listeners) is the IPv4 client */
        n = snprintf(out, outsz, "%u.%u.%u.%u.%s", a[15], a[14], a[13], a[12], zone);
        return n > 0 && (size_t)n < outsz && (size_t)n <= DNAME_MAX;
    }
    if (outsz < 64 + strlen(zone) + 1 || 64 + strlen(zone) > DNAME_MAX)
        return false;
    for (int i = 15; i >= 0; i--) {
        static const char hex[] = "0123456789abcdef";
        out[o++] = hex[a[i] & 0xf];
        out[o++] = '.';
        out[o++] = hex[a[i] >> 4];
        out[o++] = '.';
    }
    memcpy(out + o, zone, strlen(zone) + 1);
    return true;
}

bool dnsbl_domain_qname(const char *domain, const char *zone, char *out, size_t outsz)
{
    char d[DNSBL_QNAME_MAX];
    int n;

    if (zone == NULL || !dname_normalize(domain, d, sizeof(d)))
        return false;
    n = snprintf(out, outsz, "%s.%s", d, zone);
    return n > 0 && (size_t)n < outsz && (size_t)n <= DNAME_MAX;
}

bool dnsbl_addr_special(const dnsbl_conf_t *c, const char *addr)
{
    unsigned char a[16];

    if (addr == NULL || (inet_pton(AF_INET, addr, a) != 1 && inet_pton(AF_INET6, addr, a) != 1))
        return true;
    return cidr_list_match(c->special, addr);
}

void dnsbl_txt_sanitize(const char *in, size_t len, char *out)
{
    size_t o = 0;
    bool blank = true; /* drop leading blanks */

    for (size_t i = 0; i < len && in; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch <= 0x20 || ch >= 0x7f) {
            if (!blank && o < DNSBL_TXT_MAX)
                out[o++] = ' ';
            blank = true;
            continue;
        }
        if (o >= DNSBL_TXT_MAX) {
            memcpy(out + DNSBL_TXT_MAX - 3, "...", 3);
            o = DNSBL_TXT_MAX;
            break;
        }
        out[o++] = (char)ch;
        blank = false;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

bool dnsbl_from_domain(const fromhdr_value *v, char *out, size_t outsz)
{
    char dom[DNSBL_QNAME_MAX];

    /* a list query needs exactly one plain mailbox */
    if (v->status != FROMHDR_OK || v->group || v->nmailboxes != 1)
        return false;
    if (!dname_normalize(v->domain, dom, sizeof(dom)) || strlen(dom) >= outsz)
        return false;
    memcpy(out, dom, strlen(dom) + 1);
    return true;
}

/* ---- lookups ---------------------------------------------------------------- */

typedef struct dnsbl_entry {
    const dnsbl_list *list;
    dnsbl_kind kind;
    char qname[DNSBL_QNAME_MAX];
    dns_query_t *q;      /* in flight; NULL once waited for */
    dns_status st;       /* outcome once waited for */
    bool listed;         /* an answer passed the filter */
    char answer[16];     /* that answer, dotted quad */
} dnsbl_entry;

struct dnsbl_lookup {
    const dnsbl_conf_t *c;
    dns_t *dns;
    dnsbl_entry *e;      /* started queries, in start order */
    size_t n;
    bool msg_skip;       /* authenticated client: nothing counts */
    bool client_skip;    /* trusted or special-purpose client: no list at all */
    bool queried;        /* anything started for this connection/message */
};

dnsbl_lookup_t *dnsbl_lookup_new(const dnsbl_conf_t *c, dns_t *dns)
{
    dnsbl_lookup_t *l = xcalloc(1, sizeof(*l));

    l->c = c;
    l->dns = dns;
    return l;
}

/* Wait for one entry (if still in flight) and read its answer. */
static void dnsbl_settle(dnsbl_lookup_t *l, dnsbl_entry *en)
{
    dns_answer *a = NULL;

    (void)l;
    if (en->q == NULL)
        return;
    en->st = dns_wait(en->q, &a);
    en->q = NULL;
    if (en->st == DNS_ANSWER) {
        for (size_t i = 0; i < a->count; i++) {
            const unsigned char *rd = a->rdata[i];
            if (a->rdlen[i] != 4)
                continue;
            if (rd[0] != 127) {
                char *qn = strbuf_quote(en->qname); /* from client input */
                log_warn("dnsbl %s: %s: unexpected answer %u.%u.%u.%u (not 127.0.0.0/8): not a listing",
                         en->list->name, qn, rd[0], rd[1], rd[2], rd[3]);
                free(qn);
                continue;
            }
            if (dnsbl_answer_counts(en->list, rd)) {
                en->listed = true;
                snprintf(en->answer, sizeof(en->answer), "%u.%u.%u.%u", rd[0], rd[1], rd[2], rd[3]);
                break;
            }
        }
    } else if (en->st != DNS_NXDOMAIN && en->st != DNS_NODATA) {
        char *qn = strbuf_quote(en->qname); /* from client input */
        log_warn("dnsbl %s: %s: %s, counted as not listed", en->list->name, qn, dns_status_name(en->st));
        free(qn);
    }
    dns_answer_free(a);
}

/* Wait for and remove every entry of the kinds in mask. */
static void dnsbl_drop(dnsbl_lookup_t *l, unsigned mask)
{
    size_t o = 0;

    for (size_t i = 0; i < l->n; i++) {
        if (mask & (1u << (unsigned)l->e[i].kind)) {
            dnsbl_settle(l, &l->e[i]);
            continue;
        }
        l->e[o++] = l->e[i];
    }
    l->n = o;
}

/* Start every list of this kind for the name (an address for DNSBL_IP). */
static void dnsbl_start(dnsbl_lookup_t *l, dnsbl_kind kind, const char *input)
{
    for (size_t i = 0; i < l->c->n; i++) {
        const dnsbl_list *li = &l->c->v[i];
        dnsbl_entry en;
        bool ok;

        if (!(li->kinds & (1u << (unsigned)kind)))
            continue;
        memset(&en, 0, sizeof(en));
        en.list = li;
        en.kind = kind;
        ok = kind == DNSBL_IP ? dnsbl_ip_qname(input, li->zone, en.qname, sizeof(en.qname))
                              : dnsbl_domain_qname(input, li->zone, en.qname, sizeof(en.qname));
        if (!ok) {
            char *q = strbuf_quote(input); /* client input: quoted for the log */
            log_info("dnsbl %s: %s %s cannot be queried (not a plain %s): skipped", li->name,
                     dnsbl_kind_names[kind], q, kind == DNSBL_IP ? "address" : "domain");
            free(q);
            continue;
        }
        en.q = dns_start_timeout(l->dns, en.qname, DNS_TYPE_A, l->c->timeout_ms);
        l->e = xreallocarray(l->e, l->n + 1, sizeof(dnsbl_entry));
        l->e[l->n++] = en;
        l->queried = true;
    }
}

void dnsbl_lookup_free(dnsbl_lookup_t *l)
{
    if (l == NULL)
        return;
    for (size_t i = 0; i < l->n; i++)
        dnsbl_settle(l, &l->e[i]);
    free(l->e);
    free(l);
}

void dnsbl_lookup_client(dnsbl_lookup_t *l, const char *addr, bool trusted)
{
    if (l == NULL)
        return;
    dnsbl_drop(l, 1u << DNSBL_IP);
    l->client_skip = trusted;
    if (l->c->n == 0 || trusted || addr == NULL)
        return;
    /* Not logged: documented (mxguard.conf(5)), and it would be a line per
     * connection for every local or internal client. */
    if (dnsbl_addr_special(l->c, addr)) {
        l->client_skip = true;
        return;
    }
    dnsbl_start(l, DNSBL_IP, addr);
}

void dnsbl_lookup_helo(dnsbl_lookup_t *l, const char *helo)
{
    if (l == NULL)
        return;
    dnsbl_drop(l, 1u << DNSBL_HELO);
    /* A trusted or internal client's HELO name goes to no outside list. */
    if (!l->client_skip && helo != NULL && *helo != '\0' && *helo != '[')
        dnsbl_start(l, DNSBL_HELO, helo);
}

void dnsbl_lookup_end_message(dnsbl_lookup_t *l)
{
    if (l == NULL)
        return;
    dnsbl_drop(l, 1u << DNSBL_SENDER | 1u << DNSBL_FROM);
    l->msg_skip = false;
}

void dnsbl_lookup_sender(dnsbl_lookup_t *l, const char *domain, bool authenticated)
{
    if (l == NULL)
        return;
    dnsbl_lookup_end_message(l);
    if (authenticated) {
        l->msg_skip = true;
        return;
    }
    if (domain != NULL && *domain != '\0')
        dnsbl_start(l, DNSBL_SENDER, domain);
}

void dnsbl_lookup_from(dnsbl_lookup_t *l, const char *domain)
{
    if (l == NULL)
        return;
    dnsbl_drop(l, 1u << DNSBL_FROM);
    if (!l->msg_skip && domain != NULL && *domain != '\0')
        dnsbl_start(l, DNSBL_FROM, domain);
}

/* The first listed entry of list li (waiting for its queries), or NULL. */
static dnsbl_entry *dnsbl_list_hit(dnsbl_lookup_t *l, const dnsbl_list *li)
{
    dnsbl_entry *hit = NULL;

    if (l->msg_skip)
        return NULL;
    for (size_t i = 0; i < l->n; i++) {
        if (l->e[i].list != li)
            continue;
        dnsbl_settle(l, &l->e[i]);
        if (l->e[i].listed && hit == NULL)
            hit = &l->e[i];
    }
    return hit;
}

void dnsbl_lookup_result(dnsbl_lookup_t *l, facts_stage upto, facts_dnsbl *out)
{
    if (l == NULL || l->c->n == 0)
        return;
    if (out->n != l->c->n) {
        facts_dnsbl_clear(out);
        out->v = xcalloc(l->c->n, sizeof(facts_dnsbl_list));
        out->n = l->c->n;
        for (size_t i = 0; i < l->c->n; i++) {
            out->v[i].name = xstrdup(l->c->v[i].name);
            out->v[i].weight = l->c->v[i].weight;
        }
    }
    for (size_t i = 0; i < l->c->n; i++) {
        facts_dnsbl_list *r = &out->v[i];
        const dnsbl_entry *hit;

        if (r->known || l->c->v[i].stage > upto)
            continue;
        hit = dnsbl_list_hit(l, &l->c->v[i]);
        r->known = true;
        r->listed = hit != NULL;
        snprintf(r->answer, sizeof(r->answer), "%s", hit ? hit->answer : "");
    }
    out->evaluated = l->queried && !l->msg_skip;
}

/* The TXT reason of a listing, sanitized into out ("" when none). */
static void dnsbl_txt(dnsbl_lookup_t *l, const dnsbl_entry *en, char *out)
{
    dns_answer *a = NULL;
    dns_status st;

    out[0] = '\0';
    st = dns_wait(dns_start_timeout(l->dns, en->qname, DNS_TYPE_TXT, l->c->timeout_ms), &a);
    if (st == DNS_ANSWER && a->count > 0) {
        char *txt;
        size_t tlen;
        if (dns_rdata_txt(a->rdata[0], a->rdlen[0], &txt, &tlen)) {
            dnsbl_txt_sanitize(txt, tlen, out);
            free(txt);
        }
    } else if (st != DNS_NXDOMAIN && st != DNS_NODATA) {
        char *qn = strbuf_quote(en->qname); /* from client input */
        log_warn("dnsbl %s: TXT %s: %s", en->list->name, qn, dns_status_name(st));
        free(qn);
    }
    dns_answer_free(a);
}

char *dnsbl_lookup_expand(dnsbl_lookup_t *l, const char *text)
{
    static const char *const vars[] = {"${dnsbl}", "${dnsbl_zone}", "${dnsbl_answer}", "${dnsbl_txt}"};
    const dnsbl_entry *best = NULL;
    char *out = xmalloc(DNSBL_REPLY_MAX + 1);
    char txt[DNSBL_TXT_MAX + 1];
    bool have_txt = false;
    size_t o = 0;
    const char *p = text ? text : "";

    for (size_t i = 0; l && i < l->c->n; i++) {
        const dnsbl_entry *hit = dnsbl_list_hit(l, &l->c->v[i]);
        if (hit && hit->list->weight > 0 && (best == NULL || hit->list->weight > best->list->weight))
            best = hit;
    }
    while (*p && o < DNSBL_REPLY_MAX) {
        const char *val = NULL;
        size_t vi, vlen = 0;

        for (vi = 0; vi < sizeof(vars) / sizeof(vars[0]); vi++) {
            vlen = strlen(vars[vi]);
            if (strncmp(p, vars[vi], vlen) == 0)
                break;
        }
        if (vi == sizeof(vars) / sizeof(vars[0])) {
            unsigned char ch = (unsigned char)*p++;
            out[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : ' ';
            continue;
        }
        p += vlen;
        if (best == NULL) {
            val = "";
        } else if (vi == 0) {
            val = best->list->name;
        } else if (vi == 1) {
            val = best->list->zone;
        } else if (vi == 2) {
            val = best->answer;
        } else {
            if (!have_txt)
                dnsbl_txt(l, best, txt);
            have_txt = true;
            val = txt;
        }
        for (; *val && o < DNSBL_REPLY_MAX; val++)
            out[o++] = *val;
    }
    while (o > 0 && out[o - 1] == ' ')
        o--;
    if (o == 0)
        o = (size_t)snprintf(out, DNSBL_REPLY_MAX + 1, "Rejected by DNS list policy");
    out[o] = '\0';
    return out;
}

void dnsbl_lookup_each(dnsbl_lookup_t *l, void (*fn)(const dnsbl_query_info *q, void *arg), void *arg)
{
    for (size_t i = 0; l != NULL && i < l->n; i++) {
        dnsbl_entry *en = &l->e[i];
        dnsbl_query_info q;

        dnsbl_settle(l, en);
        q.list = en->list->name;
        q.zone = en->list->zone;
        q.kind = dnsbl_kind_names[en->kind];
        q.weight = en->list->weight;
        q.qname = en->qname;
        q.status = en->st;
        q.listed = en->listed;
        q.answer = en->answer;
        q.counted = !l->msg_skip;
        fn(&q, arg);
    }
}
