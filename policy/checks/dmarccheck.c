/*
 * dmarccheck.c - DMARC evaluation (dmarccheck.h has the rules applied).
 *
 * Every _dmarc TXT lookup of a message goes through one small per-message
 * cache of names (dm_entry): a name is queried at most once, queries start
 * in parallel through dns_start_timeout() with the message's remaining
 * time, and the cache holds at most max_queries names, which bounds the
 * work per message whatever the From domain, MAIL FROM and DKIM d= are.
 *
 * RFC 9989's tree walk needs every label up to the root (or to a psd tag)
 * for the organizational domain, so the From domain's walk starts all its
 * (at most 8) queries at end of headers: by end of message they have
 * usually been answered.  The identifiers' walks are only made for relaxed
 * alignment of a domain under the From domain's organizational domain
 * (any other domain cannot share it).
 *
 * RFC 7489 mode uses libopendmarc for what it does well: the record parser
 * (opendmarc_policy_parse_dmarc and the fetch_* accessors) and the PSL
 * (opendmarc_tld_read_file, opendmarc_get_tld).  Its own DNS code is never
 * used: the records come from this cache.
 *
 * SECURITY: TXT records are hostile: the RFC 9989 parser reads at most
 * DM_RECORD_MAX bytes, keeps only enums and flags; domains from DKIM d= and
 * MAIL FROM are checked (LDH labels, length) before they are queried.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/types.h>
#include <time.h>

#include <opendmarc/dmarc.h>

#include "dmarccheck.h"
#include "dname.h"
#include "log.h"
#include "xalloc.h"

/* Exported by libopendmarc 1.4 but missing from its header. */
int opendmarc_get_tld(u_char *domain, u_char *tld, size_t tld_len);

#define DM_WALK_MAX 8      /* queries of one tree walk */
#define DM_RECORD_MAX 4096 /* bytes of a record that are read */

static const char *const dm_result_names[] = {
    [DMARCCHECK_UNSET] = "unset",         [DMARCCHECK_NONE] = "none",
    [DMARCCHECK_PASS] = "pass",           [DMARCCHECK_FAIL] = "fail",
    [DMARCCHECK_TEMPERROR] = "temperror", [DMARCCHECK_PERMERROR] = "permerror",
};

static const char *const dm_policy_names[] = {
    [DMARCCHECK_POLICY_UNSET] = "unset",
    [DMARCCHECK_POLICY_NONE] = "none",
    [DMARCCHECK_POLICY_QUARANTINE] = "quarantine",
    [DMARCCHECK_POLICY_REJECT] = "reject",
};

const char *dmarccheck_result_name(dmarccheck_result r)
{
    return (unsigned)r < sizeof(dm_result_names) / sizeof(dm_result_names[0]) ? dm_result_names[r] : "?";
}

bool dmarccheck_result_parse(const char *name, dmarccheck_result *out)
{
    for (size_t i = 1; name && i < sizeof(dm_result_names) / sizeof(dm_result_names[0]); i++) {
        if (strcasecmp(name, dm_result_names[i]) == 0) {
            *out = (dmarccheck_result)i;
            return true;
        }
    }
    return false;
}

const char *dmarccheck_policy_name(dmarccheck_policy p)
{
    return (unsigned)p < sizeof(dm_policy_names) / sizeof(dm_policy_names[0]) ? dm_policy_names[p] : "?";
}

bool dmarccheck_policy_parse(const char *name, dmarccheck_policy *out)
{
    for (size_t i = 1; name && i < sizeof(dm_policy_names) / sizeof(dm_policy_names[0]); i++) {
        if (strcasecmp(name, dm_policy_names[i]) == 0) {
            *out = (dmarccheck_policy)i;
            return true;
        }
    }
    return false;
}

bool dmarccheck_mode_parse(const char *name, dmarccheck_mode *out)
{
    if (name && strcasecmp(name, "rfc9989") == 0)
        *out = DMARCCHECK_RFC9989;
    else if (name && strcasecmp(name, "rfc7489") == 0)
        *out = DMARCCHECK_RFC7489;
    else
        return false;
    return true;
}

/* ---- the library handle ------------------------------------------------------ */

struct dmarccheck_lib {
    dns_t *dns;             /* borrowed */
    dmarccheck_mode mode;
    unsigned max_queries;
    unsigned timeout_ms;
};

/* libopendmarc keeps the PSL in one process-wide table: it is read once,
 * and the file it came from is remembered to refuse a different one. */
static pthread_mutex_t dm_psl_lock = PTHREAD_MUTEX_INITIALIZER;
static char *dm_psl_loaded;

static bool dm_psl_load(const char *path, char *err, size_t errlen)
{
    bool ok = true;

    if (path == NULL || *path == '\0') {
        snprintf(err, errlen, "dmarc mode rfc7489 needs psl_file");
        return false;
    }
    pthread_mutex_lock(&dm_psl_lock);
    if (dm_psl_loaded == NULL) {
        char *p = xstrdup(path);
        if (opendmarc_tld_read_file(p, "//", "*.", "!") != 0) {
            snprintf(err, errlen, "cannot read the public suffix list %s", path);
            ok = false;
            free(p);
        } else {
            dm_psl_loaded = p;
        }
    } else if (strcmp(dm_psl_loaded, path) != 0) {
        snprintf(err, errlen, "psl_file %s: %s is already loaded (a new file needs a restart)", path,
                 dm_psl_loaded);
        ok = false;
    }
    pthread_mutex_unlock(&dm_psl_lock);
    return ok;
}

dmarccheck_lib *dmarccheck_lib_new(dns_t *dns, const dmarccheck_options *opt, char *err, size_t errlen)
{
    dmarccheck_lib *lib;

    if (opt->mode == DMARCCHECK_RFC7489 && !dm_psl_load(opt->psl_file, err, errlen))
        return NULL;
    lib = xcalloc(1, sizeof(*lib));
    lib->dns = dns;
    lib->mode = opt->mode;
    lib->max_queries = opt->max_queries ? opt->max_queries : DMARCCHECK_DEFAULT_MAX_QUERIES;
    lib->timeout_ms = opt->timeout_ms ? opt->timeout_ms : DMARCCHECK_DEFAULT_TIMEOUT_MS;
    return lib;
}

void dmarccheck_lib_free(dmarccheck_lib *lib)
{
    free(lib);
}

/* ---- records ---------------------------------------------------------------- */

static bool dm_wsp(char c)
{
    return c == ' ' || c == '\t';
}

/* "v" *WSP "=" *WSP "DMARC1" *WSP (";" / end) at the start of s. */
static bool dm_is_dmarc1(const char *s, size_t len, size_t *after)
{
    size_t i = 0;

    while (i < len && dm_wsp(s[i]))
        i++;
    if (i >= len || s[i] != 'v')
        return false;
    i++;
    while (i < len && dm_wsp(s[i]))
        i++;
    if (i >= len || s[i] != '=')
        return false;
    i++;
    while (i < len && dm_wsp(s[i]))
        i++;
    if (len - i < 6 || memcmp(s + i, "DMARC1", 6) != 0)
        return false;
    i += 6;
    while (i < len && dm_wsp(s[i]))
        i++;
    if (i < len && s[i] != ';')
        return false;
    *after = i;
    return true;
}

static dmarccheck_policy dm_policy_word(const char *v, bool *bad)
{
    dmarccheck_policy p;

    if (dmarccheck_policy_parse(v, &p))
        return p;
    *bad = true;
    return DMARCCHECK_POLICY_UNSET;
}

/* rua: at least one "scheme:rest" URI in the comma-separated list. */
static bool dm_rua_valid(const char *v)
{
    const char *p = v;

    while (*p) {
        const char *s = p;
        while (*p == ' ' || *p == '\t')
            p++;
        s = p;
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
            while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                   *p == '+' || *p == '-' || *p == '.')
                p++;
            if (*p == ':' && p > s && p[1] != '\0' && p[1] != ',')
                return true;
        }
        while (*p && *p != ',')
            p++;
        if (*p == ',')
            p++;
    }
    return false;
}

typedef void (*dm_tag_fn)(const char *name, const char *val, void *arg);

/* Each name=value tag of a record (';'-separated, white space around names
 * and values dropped, NUL bytes read as spaces) after its v=DMARC1; false
 * when txt is not a record.  A record longer than we read is refused whole:
 * cutting it would leave "after" pointing past the copy. */
static bool dm_each_tag(const char *txt, size_t len, dm_tag_fn fn, void *arg)
{
    char buf[DM_RECORD_MAX + 1];
    size_t after;
    char *save = NULL, *tag;

    if (txt == NULL || len > DM_RECORD_MAX || !dm_is_dmarc1(txt, len, &after))
        return false;
    memcpy(buf, txt, len);
    buf[len] = '\0';
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\0')
            buf[i] = ' ';
    for (tag = strtok_r(buf + after, ";", &save); tag; tag = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(tag, '='), *name = tag, *val, *end;

        if (eq == NULL)
            continue;
        *eq = '\0';
        val = eq + 1;
        while (dm_wsp(*name))
            name++;
        for (end = name + strlen(name); end > name && dm_wsp(end[-1]); end--)
            end[-1] = '\0';
        while (dm_wsp(*val))
            val++;
        for (end = val + strlen(val); end > val && dm_wsp(end[-1]); end--)
            end[-1] = '\0';
        fn(name, val, arg);
    }
    return true;
}

static void dm_record_tag(const char *name, const char *val, void *arg)
{
    dmarccheck_record *out = arg;

    if (strcmp(name, "p") == 0) {
        out->p = dm_policy_word(val, &out->p_bad);
    } else if (strcmp(name, "sp") == 0) {
        out->sp = dm_policy_word(val, &out->sp_bad);
    } else if (strcmp(name, "np") == 0) {
        out->np = dm_policy_word(val, &out->np_bad);
    } else if (strcmp(name, "adkim") == 0) {
        out->adkim_strict = strcasecmp(val, "s") == 0; /* anything else: the default r */
    } else if (strcmp(name, "aspf") == 0) {
        out->aspf_strict = strcasecmp(val, "s") == 0;
    } else if (strcmp(name, "psd") == 0) {
        if (strcasecmp(val, "y") == 0 || strcasecmp(val, "n") == 0)
            out->psd = (char)(val[0] | 0x20);
    } else if (strcmp(name, "t") == 0) {
        if (strcasecmp(val, "y") == 0)
            out->t = 1;
        else if (strcasecmp(val, "n") == 0)
            out->t = 0;
    } else if (strcmp(name, "rua") == 0) {
        out->rua = dm_rua_valid(val);
    }
    /* unknown tags are ignored (RFC 9989 4.7), and so are the historic
     * pct, rf and ri (9.3): pct is not read at all, not even pct=0 */
}

bool dmarccheck_record_parse(const char *txt, size_t len, dmarccheck_record *out)
{
    memset(out, 0, sizeof(*out));
    out->psd = 'u';
    out->t = -1;
    out->pct = -1;
    return dm_each_tag(txt, len, dm_record_tag, out);
}

bool dmarccheck_is_record(const char *txt, size_t len)
{
    size_t after;

    return txt != NULL && dm_is_dmarc1(txt, len, &after);
}

typedef struct dm_rua_arg {
    char *out;
    size_t outsz;
    bool found, fits;
} dm_rua_arg;

static void dm_rua_tag(const char *name, const char *val, void *arg)
{
    dm_rua_arg *a = arg;

    if (strcmp(name, "rua") != 0)
        return; /* the last rua tag counts, as in dmarccheck_record_parse */
    a->found = true;
    a->fits = strlen(val) < a->outsz;
    if (a->fits)
        memcpy(a->out, val, strlen(val) + 1);
}

bool dmarccheck_record_rua(const char *txt, size_t len, char *out, size_t outsz)
{
    dm_rua_arg a = {out, outsz, false, false};

    if (outsz == 0 || !dm_each_tag(txt, len, dm_rua_tag, &a) || !a.found || !a.fits) {
        if (outsz > 0)
            out[0] = '\0';
        return false;
    }
    return true;
}

/* RFC 7489 mode: libopendmarc's parser and accessors. */
static bool dm_record_parse_7489(const char *domain, const char *txt, dmarccheck_record *out)
{
    DMARC_POLICY_T *pctx;
    char *d = xstrdup(domain), *r = xstrdup(txt);
    int v = 0;
    bool ok;

    memset(out, 0, sizeof(*out));
    out->psd = 'u';
    out->t = -1;
    out->pct = -1;
    pctx = opendmarc_policy_connect_init((u_char *)"127.0.0.1", 0);
    if (pctx == NULL) {
        free(d);
        free(r);
        return false;
    }
    ok = opendmarc_policy_parse_dmarc(pctx, (u_char *)d, (u_char *)r) == DMARC_PARSE_OKAY;
    if (ok) {
        opendmarc_policy_fetch_p(pctx, &v);
        out->p = v == DMARC_RECORD_P_REJECT       ? DMARCCHECK_POLICY_REJECT
                 : v == DMARC_RECORD_P_QUARANTINE ? DMARCCHECK_POLICY_QUARANTINE
                                                  : DMARCCHECK_POLICY_NONE;
        v = 0;
        opendmarc_policy_fetch_sp(pctx, &v);
        out->sp = v == DMARC_RECORD_P_REJECT       ? DMARCCHECK_POLICY_REJECT
                  : v == DMARC_RECORD_P_QUARANTINE ? DMARCCHECK_POLICY_QUARANTINE
                  : v == DMARC_RECORD_P_NONE       ? DMARCCHECK_POLICY_NONE
                                                   : DMARCCHECK_POLICY_UNSET;
        v = 0;
        opendmarc_policy_fetch_adkim(pctx, &v);
        out->adkim_strict = v == DMARC_RECORD_A_STRICT;
        v = 0;
        opendmarc_policy_fetch_aspf(pctx, &v);
        out->aspf_strict = v == DMARC_RECORD_A_STRICT;
        v = 100;
        opendmarc_policy_fetch_pct(pctx, &v);
        out->pct = v;
    }
    if (ok) { /* rua (reported in aggregate reports): our parser's reading */
        dmarccheck_record mine;
        out->rua = dmarccheck_record_parse(txt, strlen(txt), &mine) && mine.rua;
    }
    opendmarc_policy_connect_shutdown(pctx);
    free(d);
    free(r);
    return ok;
}

size_t dmarccheck_walk_names(const char *domain, char names[][DMARCCHECK_DOMAIN_MAX], size_t max)
{
    size_t n = 0, labels = 1;
    const char *p = domain;

    if (domain == NULL || *domain == '\0' || strlen(domain) >= DMARCCHECK_DOMAIN_MAX)
        return 0;
    for (const char *q = domain; *q; q++)
        if (*q == '.')
            labels++;
    while (n < max && p != NULL && *p) {
        snprintf(names[n++], DMARCCHECK_DOMAIN_MAX, "%s", p);
        /* next target: one label less, or the last 7 of 8 or more */
        size_t drop = labels >= 8 ? labels - 7 : 1;
        for (size_t i = 0; i < drop && p != NULL; i++) {
            p = strchr(p, '.');
            if (p)
                p++;
        }
        labels -= drop;
    }
    return n;
}

/* ---- the per-message cache ------------------------------------------------------ */

typedef struct dm_entry {
    char name[DMARCCHECK_DOMAIN_MAX]; /* domain (the query is _dmarc.name) */
    int rrtype;              /* TXT, or A for the existence check */
    dns_query_t *q;          /* in flight, or NULL */
    bool done;
    dns_status st;
    size_t nrec;             /* v=DMARC1 records */
    bool valid;              /* exactly one, parsed */
    dmarccheck_record rec;
} dm_entry;

struct dmarccheck {
    dmarccheck_lib *lib;
    fromhdr_status from;
    char domain[DMARCCHECK_DOMAIN_MAX]; /* From domain, "" if none */
    struct timespec t0;
    dm_entry *e;
    size_t n;
    bool over_budget;        /* a lookup was refused by max_queries or time */
};

static long dm_elapsed(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

static dm_entry *dm_find(dmarccheck_t *d, const char *name, int rrtype)
{
    for (size_t i = 0; i < d->n; i++)
        if (d->e[i].rrtype == rrtype && strcmp(d->e[i].name, name) == 0)
            return &d->e[i];
    return NULL;
}

/* Start a lookup unless cached; NULL when the budget is spent. */
static dm_entry *dm_start(dmarccheck_t *d, const char *name, int rrtype)
{
    dm_entry *e = dm_find(d, name, rrtype);
    long left = (long)d->lib->timeout_ms - dm_elapsed(&d->t0);
    char q[DMARCCHECK_DOMAIN_MAX + 8];

    if (e != NULL)
        return e;
    if (d->n >= d->lib->max_queries || left <= 0) {
        d->over_budget = true;
        return NULL;
    }
    e = &d->e[d->n++];
    memset(e, 0, sizeof(*e));
    snprintf(e->name, sizeof(e->name), "%s", name);
    e->rrtype = rrtype;
    if (rrtype == DNS_TYPE_TXT)
        snprintf(q, sizeof(q), "_dmarc.%s", name);
    else
        snprintf(q, sizeof(q), "%s", name);
    if (!dname_valid(q, strlen(q))) {
        /* Too long (or otherwise unqueryable): no such record, and the walk
         * goes on to shorter names; never a temporary error. */
        e->done = true;
        e->st = DNS_NXDOMAIN;
        return e;
    }
    e->q = dns_start_timeout(d->lib->dns, q, rrtype, (unsigned)left);
    return e;
}

/* Wait for an entry and read its records. */
static dm_entry *dm_wait(dmarccheck_t *d, dm_entry *e)
{
    dns_answer *a = NULL;
    char *txt = NULL;
    size_t len = 0;

    if (e == NULL || e->done)
        return e;
    e->st = dns_wait(e->q, &a);
    e->q = NULL;
    e->done = true;
    if (e->st == DNS_ANSWER && e->rrtype == DNS_TYPE_TXT) {
        for (size_t i = 0; i < a->count; i++) {
            char *t;
            size_t tl, after;
            if (!dns_rdata_txt(a->rdata[i], a->rdlen[i], &t, &tl))
                continue;
            if (tl > DM_RECORD_MAX) { /* never handed to a parser */
                free(t);
                continue;
            }
            if (dm_is_dmarc1(t, tl, &after) && e->nrec++ == 0) {
                txt = t;
                len = tl;
            } else {
                free(t);
            }
        }
        if (e->nrec == 1) {
            if (d->lib->mode == DMARCCHECK_RFC7489)
                e->valid = strlen(txt) == len && dm_record_parse_7489(e->name, txt, &e->rec);
            else
                e->valid = dmarccheck_record_parse(txt, len, &e->rec);
        }
        free(txt);
    }
    dns_answer_free(a);
    return e;
}

static void dm_org_7489(const char *domain, char *org);

static bool dm_temp(const dm_entry *e)
{
    return e == NULL || e->st == DNS_SERVFAIL || e->st == DNS_TIMEOUT || e->st == DNS_ERROR;
}

dmarccheck_t *dmarccheck_start(dmarccheck_lib *lib, const fromhdr_msg *from)
{
    dmarccheck_t *d = xcalloc(1, sizeof(*d));
    const char *dom = fromhdr_msg_domain(from);

    d->lib = lib;
    d->from = fromhdr_msg_status(from);
    d->e = xcalloc(lib->max_queries, sizeof(dm_entry));
    clock_gettime(CLOCK_MONOTONIC, &d->t0);
    if (dom != NULL && strlen(dom) < sizeof(d->domain)) {
        char names[DM_WALK_MAX][DMARCCHECK_DOMAIN_MAX];
        size_t n;

        snprintf(d->domain, sizeof(d->domain), "%s", dom);
        if (lib->mode == DMARCCHECK_RFC7489) {
            char org[DMARCCHECK_DOMAIN_MAX];
            dm_start(d, d->domain, DNS_TYPE_TXT);
            dm_org_7489(d->domain, org);
            if (strcmp(org, d->domain) != 0)
                dm_start(d, org, DNS_TYPE_TXT);
        } else {
            n = dmarccheck_walk_names(d->domain, names, DM_WALK_MAX);
            for (size_t i = 0; i < n; i++)
                dm_start(d, names[i], DNS_TYPE_TXT);
        }
    }
    return d;
}

void dmarccheck_free(dmarccheck_t *d)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->n; i++)
        dm_wait(d, &d->e[i]);
    free(d->e);
    free(d);
}

/* ---- organizational domains --------------------------------------------------- */

static size_t dm_labels(const char *s)
{
    size_t n = *s ? 1 : 0;
    for (; *s; s++)
        if (*s == '.')
            n++;
    return n;
}

/* The last n labels of domain. */
static const char *dm_suffix(const char *domain, size_t n)
{
    size_t have = dm_labels(domain);
    const char *p = domain;

    while (have > n && p) {
        p = strchr(p, '.');
        if (p)
            p++;
        have--;
    }
    return p ? p : domain;
}

/* RFC 9989 tree walk from domain: the organizational domain into org.
 * Returns false when a lookup it needed failed or was over budget.
 * *psd_rec gets the psd=y record's entry when one ended the walk. */
static bool dm_org_9989(dmarccheck_t *d, const char *domain, char *org, dm_entry **psd_rec)
{
    char names[DM_WALK_MAX][DMARCCHECK_DOMAIN_MAX];
    dm_entry *ents[DM_WALK_MAX];
    size_t n = dmarccheck_walk_names(domain, names, DM_WALK_MAX), last = n;
    const char *fewest = NULL;
    bool failed = false;

    *psd_rec = NULL;
    for (size_t i = 0; i < n; i++)
        ents[i] = dm_start(d, names[i], DNS_TYPE_TXT); /* all at once */
    for (size_t i = 0; i < n; i++) {
        dm_entry *e = dm_wait(d, ents[i]);
        if (dm_temp(e)) {
            last = i;
            failed = true;
            break;
        }
        /* RFC 9989 4.10 steps 2 and 6: psd=n or psd=y ends the walk, at
         * its starting point too (a PSD's own mail: its own org domain) */
        if (e->valid && (e->rec.psd == 'n' || e->rec.psd == 'y')) {
            last = i + 1;
            break;
        }
    }
    /* longest to shortest over what the walk retrieved */
    for (size_t i = 0; i < last && i < n; i++) {
        dm_entry *e = ents[i];
        if (!e->valid)
            continue;
        if (e->rec.psd == 'n') {
            snprintf(org, DMARCCHECK_DOMAIN_MAX, "%s", e->name);
            return true;
        }
        if (i > 0 && e->rec.psd == 'y') {
            snprintf(org, DMARCCHECK_DOMAIN_MAX, "%s", dm_suffix(domain, dm_labels(e->name) + 1));
            *psd_rec = e;
            return true;
        }
        fewest = e->name;
    }
    if (failed)
        return false; /* a failed lookup: the answer may lie above */
    snprintf(org, DMARCCHECK_DOMAIN_MAX, "%s", fewest ? fewest : domain);
    return true;
}

/* RFC 7489 organizational domain by the PSL.  libopendmarc leaves the
 * buffer untouched for a name under a TLD the list does not know; the
 * PSL's default rule ("*": the TLD is a public suffix) then gives the
 * last two labels. */
static void dm_org_7489(const char *domain, char *org)
{
    u_char buf[DMARCCHECK_DOMAIN_MAX];
    char *dup = xstrdup(domain);
    const char *p;

    buf[0] = '\0';
    if (opendmarc_get_tld((u_char *)dup, buf, sizeof(buf)) != 0)
        buf[0] = '\0';
    buf[sizeof(buf) - 1] = '\0';
    free(dup);
    if (buf[0] != '\0') {
        snprintf(org, DMARCCHECK_DOMAIN_MAX, "%s", (char *)buf);
        return;
    }
    p = strrchr(domain, '.');
    while (p != NULL && p > domain && p[-1] != '.')
        p--;
    snprintf(org, DMARCCHECK_DOMAIN_MAX, "%s", p ? p : domain);
}

/* Does id end with org on a label boundary (or equal it)? */
static bool dm_under(const char *id, const char *org)
{
    size_t il = strlen(id), ol = strlen(org);

    if (ol == 0 || il < ol)
        return false;
    return strcmp(id + il - ol, org) == 0 && (il == ol || id[il - ol - 1] == '.');
}

/* Alignment of one authenticated domain; *temp when undecided. */
static bool dm_aligned(dmarccheck_t *d, const char *raw, bool strict, const char *from_org, bool *temp)
{
    char id[DMARCCHECK_DOMAIN_MAX], org[DMARCCHECK_DOMAIN_MAX];
    dm_entry *psd;

    if (!dname_normalize(raw, id, sizeof(id)))
        return false;
    if (strcmp(id, d->domain) == 0)
        return true;
    if (strict || from_org[0] == '\0' || !dm_under(id, from_org))
        return false;
    if (d->lib->mode == DMARCCHECK_RFC7489) {
        dm_org_7489(id, org);
        return strcmp(org, from_org) == 0;
    }
    if (!dm_org_9989(d, id, org, &psd)) {
        *temp = true;
        return false;
    }
    return strcmp(org, from_org) == 0;
}

static dmarccheck_policy dm_lower(dmarccheck_policy p)
{
    if (p == DMARCCHECK_POLICY_REJECT)
        return DMARCCHECK_POLICY_QUARANTINE;
    if (p == DMARCCHECK_POLICY_QUARANTINE)
        return DMARCCHECK_POLICY_NONE;
    return p;
}

/* ---- evaluation -------------------------------------------------------------- */

/* Find the policy record and the From domain's organizational domain.
 * Returns the policy entry or NULL; *temp when a needed lookup failed;
 * *several when only several-record names were found. */
static dm_entry *dm_discover(dmarccheck_t *d, dmarccheck_output *out, bool *temp, bool *several)
{
    dm_entry *pol = NULL, *psd = NULL, *first;
    char org[DMARCCHECK_DOMAIN_MAX];

    *temp = *several = false;
    first = dm_wait(d, dm_start(d, d->domain, DNS_TYPE_TXT));
    if (first != NULL && first->nrec > 1)
        *several = true;
    if (d->lib->mode == DMARCCHECK_RFC7489) {
        dm_org_7489(d->domain, org);
        snprintf(out->org_domain, sizeof(out->org_domain), "%s", org);
        if (dm_temp(first)) {
            *temp = true;
            return NULL;
        }
        if (first->valid)
            return first;
        if (strcmp(org, d->domain) != 0) {
            dm_entry *e = dm_wait(d, dm_start(d, org, DNS_TYPE_TXT));
            if (dm_temp(e)) {
                *temp = true;
                return NULL;
            }
            if (e->nrec > 1)
                *several = true;
            if (e->valid)
                return e;
        }
        return NULL;
    }
    if (!dm_org_9989(d, d->domain, org, &psd))
        *temp = true;
    else
        snprintf(out->org_domain, sizeof(out->org_domain), "%s", org);
    if (dm_temp(first)) {
        *temp = true;
        return NULL;
    }
    if (first->valid)
        return first;
    if (*temp)
        return NULL; /* the org domain is unknown: so is the policy */
    pol = dm_wait(d, dm_start(d, org, DNS_TYPE_TXT));
    if (pol != NULL && pol->nrec > 1)
        *several = true;
    if (pol != NULL && pol->valid)
        return pol;
    if (dm_temp(pol)) {
        *temp = true;
        return NULL;
    }
    return psd; /* the PSD's record, or none */
}

/* Does the From domain exist?  (RFC 8020: NXDOMAIN means no.)  A lookup
 * that fails counts as existing: np is then not applied. */
static bool dm_exists(dmarccheck_t *d, const dm_entry *first)
{
    dm_entry *e;

    if (first == NULL || first->st != DNS_NXDOMAIN)
        return true; /* _dmarc.<domain> exists or answered: so does the domain */
    e = dm_wait(d, dm_start(d, d->domain, DNS_TYPE_A));
    return e == NULL || e->st != DNS_NXDOMAIN;
}

/* Why a From header field gives no domain to evaluate. */
static const char *dm_from_reason(fromhdr_status st)
{
    switch (st) {
    case FROMHDR_NONE: return "no From header field";
    case FROMHDR_MULTIPLE: return "several From header fields";
    case FROMHDR_MULTIPLE_DOMAINS: return "From mailboxes of different domains";
    case FROMHDR_IP_LITERAL: return "From domain is an address literal";
    case FROMHDR_NO_DOMAIN: return "From has no domain";
    default: return "From header field unparsable";
    }
}

/* The policy of the record r found at policy domain pol for the From
 * domain: p, sp or np (RFC 9989 4.10.1: an invalid p/sp/np means p=none
 * with a rua, else no DMARC; 4.7: no p tag reads as p=none), and testing
 * (t=y, or RFC 7489's pct sampling).  False when the record gives none. */
static bool dm_policy(dmarccheck_t *d, const dm_entry *pol, const dmarccheck_record *r, dmarccheck_output *out)
{
    bool usable = !(r->p_bad || r->sp_bad || r->np_bad);

    out->p = r->p;
    out->sp = r->sp;
    out->np = r->np;
    if (usable && out->p == DMARCCHECK_POLICY_UNSET && d->lib->mode == DMARCCHECK_RFC9989)
        out->p = DMARCCHECK_POLICY_NONE;
    if (!usable && d->lib->mode == DMARCCHECK_RFC9989) {
        if (!r->rua)
            return false;
        out->p = DMARCCHECK_POLICY_NONE;
        out->sp = out->np = DMARCCHECK_POLICY_UNSET;
    }
    /* which tag applies */
    out->policy_tag = "p";
    out->published = out->p;
    if (strcmp(pol->name, d->domain) != 0) {
        if (d->lib->mode == DMARCCHECK_RFC9989 && out->np != DMARCCHECK_POLICY_UNSET &&
            !dm_exists(d, dm_find(d, d->domain, DNS_TYPE_TXT))) {
            out->policy_tag = "np";
            out->published = out->np;
        } else if (out->sp != DMARCCHECK_POLICY_UNSET) {
            out->policy_tag = "sp";
            out->published = out->sp;
        }
    }
    out->applied = out->published;
    out->adkim_strict = r->adkim_strict;
    out->aspf_strict = r->aspf_strict;
    out->rua = r->rua;
    out->psl = d->lib->mode == DMARCCHECK_RFC7489;
    if (d->lib->mode == DMARCCHECK_RFC9989) {
        out->testing = r->t == 1;
    } else if (r->pct >= 0 && r->pct < 100) {
        out->testing = r->pct == 0 || (int)arc4random_uniform(100) >= r->pct;
    }
    if (out->testing)
        out->applied = dm_lower(out->applied);
    return true;
}

dmarccheck_result dmarccheck_eval(dmarccheck_t *d, const dmarccheck_input *in, dmarccheck_output *out)
{
    dm_entry *pol;
    const dmarccheck_record *r;
    bool temp = false, several = false, align_temp = false;

    memset(out, 0, sizeof(*out));
    out->from = d->from;
    /* The lookups started here (alignment walks) get their own budget: the
     * time the body took to arrive must not use it up. */
    clock_gettime(CLOCK_MONOTONIC, &d->t0);
    if (d->from != FROMHDR_OK || d->domain[0] == '\0') {
        out->result = DMARCCHECK_PERMERROR;
        out->reason = dm_from_reason(d->from);
        return out->result;
    }
    snprintf(out->domain, sizeof(out->domain), "%s", d->domain);
    pol = dm_discover(d, out, &temp, &several);
    r = pol ? &pol->rec : NULL;

    /* alignment: computed even without a policy (reported) */
    if (in->spf == SPFCHECK_PASS && in->spf_domain)
        out->spf_aligned = dm_aligned(d, in->spf_domain, r && r->aspf_strict, out->org_domain, &align_temp);
    for (size_t i = 0; i < in->nsigs && !out->dkim_aligned; i++)
        if (in->sigs[i].result == DKIMCHECK_PASS && in->sigs[i].domain)
            out->dkim_aligned =
                dm_aligned(d, in->sigs[i].domain, r && r->adkim_strict, out->org_domain, &align_temp);
    out->queries = (unsigned)d->n;

    if (pol == NULL) {
        out->result = temp ? DMARCCHECK_TEMPERROR : several ? DMARCCHECK_PERMERROR : DMARCCHECK_NONE;
        out->reason = temp ? (d->over_budget ? "DMARC lookup budget exhausted" : "DMARC record lookup failed")
                      : several ? "several DMARC records" : "no DMARC record";
        return out->result;
    }
    snprintf(out->policy_domain, sizeof(out->policy_domain), "%s", pol->name);
    if (!dm_policy(d, pol, r, out)) {
        out->result = DMARCCHECK_PERMERROR;
        out->reason = "DMARC record without a valid policy";
        return out->result;
    }
    out->queries = (unsigned)d->n;

    if (out->spf_aligned || out->dkim_aligned) {
        out->result = DMARCCHECK_PASS;
        out->applied = DMARCCHECK_POLICY_NONE;
        out->reason = NULL;
    } else if (temp || align_temp) {
        out->result = DMARCCHECK_TEMPERROR;
        out->reason = d->over_budget ? "DMARC lookup budget exhausted" : "organizational domain lookup failed";
        out->applied = DMARCCHECK_POLICY_UNSET;
    } else {
        out->result = DMARCCHECK_FAIL;
        out->reason = "no aligned SPF or DKIM pass";
    }
    return out->result;
}
