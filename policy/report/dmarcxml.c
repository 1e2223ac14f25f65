/*
 * dmarcxml.c - the RFC 9990 aggregate report document: XML from plain
 * data, gzip, file name and Subject (see dmarcxml.h for what is written,
 * skipped and escaped).
 */
#include "config.h"

#include "dmarcxml.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "dname.h"
#include "strbuf.h"
#include "xalloc.h"

static const char *const policy_names[] = {"none", "quarantine", "reject"};
static const char *const disp_names[] = {"none", "pass", "quarantine", "reject"};
static const char *const reason_names[] = {"local_policy", "mailing_list", "other",
                                           "policy_test_mode", "trusted_forwarder"};
static const char *const dkim_names[] = {"none",    "pass",      "fail",     "policy",
                                         "neutral", "temperror", "permerror"};
static const char *const spf_names[] = {"none",    "pass",    "fail",      "softfail",
                                        "policy",  "neutral", "temperror", "permerror"};

#define NAMEOF(tab, v) ((size_t)(v) < sizeof(tab) / sizeof((tab)[0]) ? (tab)[(v)] : NULL)

/* Length of the well-formed UTF-8 sequence at p (n bytes left) that encodes
 * a character XML 1.0 allows and we keep, else 0. */
static size_t utf8_char(const unsigned char *p, size_t n)
{
    uint32_t c;
    size_t len;

    if (p[0] >= 0xc2 && p[0] <= 0xdf) {
        len = 2;
        c = p[0] & 0x1f;
    } else if (p[0] >= 0xe0 && p[0] <= 0xef) {
        len = 3;
        c = p[0] & 0x0f;
    } else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
        len = 4;
        c = p[0] & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) || c > 0x10ffff)
        return 0; /* overlong or beyond Unicode */
    if (c >= 0xd800 && c <= 0xdfff)
        return 0; /* surrogate */
    if (c <= 0x9f || c == 0xfffe || c == 0xffff)
        return 0; /* C1 controls; the two non-characters XML forbids */
    return len;
}

/* Escaped free text (see dmarcxml.h). */
static void add_text(strbuf *b, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t n = strlen(s);

    if (n > DMARCXML_TEXT_MAX)
        n = DMARCXML_TEXT_MAX;
    for (size_t i = 0; i < n;) {
        unsigned char c = p[i];
        size_t l;

        switch (c) {
        case '&': strbuf_adds(b, "&amp;"); break;
        case '<': strbuf_adds(b, "&lt;"); break;
        case '>': strbuf_adds(b, "&gt;"); break;
        case '"': strbuf_adds(b, "&quot;"); break;
        case '\'': strbuf_adds(b, "&apos;"); break;
        default:
            if (c < 0x20 || c == 0x7f) {
                strbuf_add(b, "?", 1);
            } else if (c < 0x80) {
                strbuf_add(b, (const char *)&p[i], 1);
            } else if ((l = utf8_char(&p[i], n - i)) != 0) {
                strbuf_add(b, (const char *)&p[i], l);
                i += l;
                continue;
            } else {
                strbuf_add(b, "?", 1);
            }
        }
        i++;
    }
}

static void el_text(strbuf *b, int depth, const char *name, const char *text)
{
    strbuf_addf(b, "%*s<%s>", depth * 2, "", name);
    add_text(b, text);
    strbuf_addf(b, "</%s>\n", name);
}

/* For values that are already known safe (names from the tables above,
 * numbers, validated domains and addresses). */
static void el_raw(strbuf *b, int depth, const char *name, const char *value)
{
    strbuf_addf(b, "%*s<%s>%s</%s>\n", depth * 2, "", name, value, name);
}

static void open_el(strbuf *b, int depth, const char *name)
{
    strbuf_addf(b, "%*s<%s>\n", depth * 2, "", name);
}

static void close_el(strbuf *b, int depth, const char *name)
{
    strbuf_addf(b, "%*s</%s>\n", depth * 2, "", name);
}

static bool domain_ok(const char *in, char out[DNAME_BUFSZ])
{
    return in != NULL && dname_normalize(in, out, DNAME_BUFSZ);
}

/* RFC 5322 atext */
static bool is_atext(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != 0 && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

/* dot-atom-text over s[0..n) */
static bool dot_atom_text(const char *s, size_t n)
{
    if (n == 0 || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.') {
            if (s[i + 1] == '.')
                return false;
        } else if (!is_atext((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

/* RFC 9990 ridfmt = dot-atom-text ["@" dot-atom-text] */
static bool report_id_ok(const char *id)
{
    const char *at;
    size_t n;

    if (id == NULL || (n = strlen(id)) == 0 || n > DMARCXML_REPORT_ID_MAX)
        return false;
    at = strchr(id, '@');
    if (at == NULL)
        return dot_atom_text(id, n);
    return dot_atom_text(id, (size_t)(at - id)) &&
           dot_atom_text(at + 1, n - (size_t)(at - id) - 1);
}

static bool unique_id_ok(const char *u)
{
    size_t n;

    if (u == NULL || (n = strlen(u)) == 0 || n > DMARCXML_UNIQUE_ID_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)u[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* Canonical text of an IPv4 or IPv6 address into out. */
static bool ip_ok(const char *in, char out[INET6_ADDRSTRLEN])
{
    unsigned char a[16];

    if (in == NULL)
        return false;
    if (inet_pton(AF_INET, in, a) == 1)
        return inet_ntop(AF_INET, a, out, INET6_ADDRSTRLEN) != NULL;
    if (inet_pton(AF_INET6, in, a) == 1)
        return inet_ntop(AF_INET6, a, out, INET6_ADDRSTRLEN) != NULL;
    return false;
}

static void errf(char *err, size_t errsz, const char *msg)
{
    if (err != NULL && errsz > 0)
        snprintf(err, errsz, "%s", msg);
}

/* The report's fixed parts; NULL when valid, else why not. */
static const char *check_report(const dmarcxml_report *r, char pdom[DNAME_BUFSZ])
{
    const dmarcxml_meta *m = &r->meta;
    const dmarcxml_published *p = &r->policy;
    char recv[DNAME_BUFSZ];

    if (m->org_name == NULL || m->org_name[0] == '\0')
        return "org_name is empty";
    if (m->email == NULL || m->email[0] == '\0')
        return "email is empty";
    if (!report_id_ok(m->report_id))
        return "report_id is not dot-atom-text [\"@\" dot-atom-text]";
    if (!domain_ok(m->receiver, recv))
        return "receiver is not a domain name";
    if (!unique_id_ok(m->unique_id))
        return "unique_id is not 1 to 64 letters and digits";
    if (m->begin < 0 || m->end < m->begin)
        return "date range is not 0 <= begin <= end";
    if (!domain_ok(p->domain, pdom))
        return "policy domain is not a domain name";
    if (NAMEOF(policy_names, p->p) == NULL || (p->has_sp && NAMEOF(policy_names, p->sp) == NULL) ||
        (p->has_np && NAMEOF(policy_names, p->np) == NULL))
        return "policy p/sp/np out of range";
    if ((p->adkim != 0 && p->adkim != 'r' && p->adkim != 's') ||
        (p->aspf != 0 && p->aspf != 'r' && p->aspf != 's'))
        return "adkim/aspf is not r or s";
    if (p->discovery != DMARCXML_DISCOVERY_TREEWALK && p->discovery != DMARCXML_DISCOVERY_PSL)
        return "discovery method out of range";
    return NULL;
}

/* Is the row written at all (dmarcxml.h)? */
static bool row_ok(const dmarcxml_row *w)
{
    char ip[INET6_ADDRSTRLEN], d[DNAME_BUFSZ];

    if (w->count == 0 || !ip_ok(w->source_ip, ip) || !domain_ok(w->header_from, d))
        return false;
    if (w->envelope_from != NULL && w->envelope_from[0] != '\0' && !domain_ok(w->envelope_from, d))
        return false;
    if (w->envelope_to != NULL && !domain_ok(w->envelope_to, d))
        return false;
    if (NAMEOF(disp_names, w->disposition) == NULL)
        return false;
    for (size_t i = 0; i < w->nreasons; i++)
        if (NAMEOF(reason_names, w->reasons[i].type) == NULL)
            return false;
    return true;
}

static bool dkim_ok(const dmarcxml_dkim *k, char dom[DNAME_BUFSZ], char sel[DNAME_BUFSZ])
{
    return domain_ok(k->domain, dom) && domain_ok(k->selector, sel) &&
           NAMEOF(dkim_names, k->result) != NULL;
}

static void write_dkim(strbuf *b, const dmarcxml_dkim *k, const char *dom, const char *sel)
{
    open_el(b, 3, "dkim");
    el_raw(b, 4, "domain", dom);
    el_raw(b, 4, "selector", sel);
    el_raw(b, 4, "result", dkim_names[k->result]);
    if (k->human_result != NULL)
        el_text(b, 4, "human_result", k->human_result);
    close_el(b, 3, "dkim");
}

/* auth_results' DKIM list: valid entries, aligned passes first, at most
 * DMARCXML_DKIM_MAX; returns how many valid entries were left out. */
static size_t write_dkim_list(strbuf *b, const dmarcxml_row *w, size_t *invalid)
{
    size_t written = 0, valid = 0;
    char dom[DNAME_BUFSZ], sel[DNAME_BUFSZ];

    for (int pass = 0; pass < 2; pass++) {
        for (size_t i = 0; i < w->ndkim; i++) {
            const dmarcxml_dkim *k = &w->dkim[i];
            bool first = k->aligned && k->result == DMARCXML_DKIM_PASS;

            if (first != (pass == 0))
                continue;
            if (!dkim_ok(k, dom, sel)) {
                (*invalid)++;
                continue;
            }
            valid++;
            if (written < DMARCXML_DKIM_MAX) {
                write_dkim(b, k, dom, sel);
                written++;
            }
        }
    }
    return valid - written;
}

static void write_row(strbuf *b, const dmarcxml_row *w, dmarcxml_stats *st)
{
    char ip[INET6_ADDRSTRLEN], d[DNAME_BUFSZ];
    size_t invalid = 0;

    open_el(b, 1, "record");
    open_el(b, 2, "row");
    ip_ok(w->source_ip, ip);
    el_raw(b, 3, "source_ip", ip);
    strbuf_addf(b, "      <count>%" PRIu64 "</count>\n", w->count);
    open_el(b, 3, "policy_evaluated");
    el_raw(b, 4, "disposition", disp_names[w->disposition]);
    el_raw(b, 4, "dkim", w->dkim_aligned_pass ? "pass" : "fail");
    el_raw(b, 4, "spf", w->spf_aligned_pass ? "pass" : "fail");
    for (size_t i = 0; i < w->nreasons; i++) {
        open_el(b, 4, "reason");
        el_raw(b, 5, "type", reason_names[w->reasons[i].type]);
        if (w->reasons[i].comment != NULL)
            el_text(b, 5, "comment", w->reasons[i].comment);
        close_el(b, 4, "reason");
    }
    close_el(b, 3, "policy_evaluated");
    close_el(b, 2, "row");

    open_el(b, 2, "identifiers");
    domain_ok(w->header_from, d);
    el_raw(b, 3, "header_from", d);
    if (w->envelope_from != NULL) {
        if (w->envelope_from[0] == '\0')
            el_raw(b, 3, "envelope_from", "");
        else if (domain_ok(w->envelope_from, d))
            el_raw(b, 3, "envelope_from", d);
    }
    if (w->envelope_to != NULL && domain_ok(w->envelope_to, d))
        el_raw(b, 3, "envelope_to", d);
    close_el(b, 2, "identifiers");

    open_el(b, 2, "auth_results");
    st->dkim_dropped += write_dkim_list(b, w, &invalid);
    st->dkim_dropped += invalid;
    if (w->spf != NULL) {
        if (domain_ok(w->spf->domain, d) && NAMEOF(spf_names, w->spf->result) != NULL) {
            open_el(b, 3, "spf");
            el_raw(b, 4, "domain", d);
            el_raw(b, 4, "scope", "mfrom");
            el_raw(b, 4, "result", spf_names[w->spf->result]);
            if (w->spf->human_result != NULL)
                el_text(b, 4, "human_result", w->spf->human_result);
            close_el(b, 3, "spf");
        } else {
            st->spf_dropped++;
        }
    }
    close_el(b, 2, "auth_results");
    close_el(b, 1, "record");
}

char *dmarcxml_render(const dmarcxml_report *r, dmarcxml_stats *stats, char *err, size_t errsz)
{
    const dmarcxml_meta *m = &r->meta;
    const dmarcxml_published *p = &r->policy;
    dmarcxml_stats st = {0};
    char pdom[DNAME_BUFSZ];
    const char *why = check_report(r, pdom);
    strbuf b = {0};

    if (why == NULL) {
        for (size_t i = 0; i < r->nrows; i++)
            if (!row_ok(&r->rows[i]))
                st.rows_skipped++;
        if (st.rows_skipped == r->nrows)
            why = "no row to report";
    }
    if (why != NULL) {
        if (stats != NULL)
            *stats = st;
        errf(err, errsz, why);
        return NULL;
    }

    strbuf_adds(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    strbuf_adds(&b, "<feedback xmlns=\"" DMARCXML_NS "\">\n");
    el_raw(&b, 1, "version", "1.0");

    open_el(&b, 1, "report_metadata");
    el_text(&b, 2, "org_name", m->org_name);
    el_text(&b, 2, "email", m->email);
    if (m->extra_contact_info != NULL)
        el_text(&b, 2, "extra_contact_info", m->extra_contact_info);
    el_text(&b, 2, "report_id", m->report_id);
    open_el(&b, 2, "date_range");
    strbuf_addf(&b, "      <begin>%" PRId64 "</begin>\n", m->begin);
    strbuf_addf(&b, "      <end>%" PRId64 "</end>\n", m->end);
    close_el(&b, 2, "date_range");
    if (m->generator != NULL)
        el_text(&b, 2, "generator", m->generator);
    close_el(&b, 1, "report_metadata");

    open_el(&b, 1, "policy_published");
    el_raw(&b, 2, "domain", pdom);
    el_raw(&b, 2, "p", policy_names[p->p]);
    if (p->has_sp)
        el_raw(&b, 2, "sp", policy_names[p->sp]);
    if (p->has_np)
        el_raw(&b, 2, "np", policy_names[p->np]);
    if (p->adkim != 0)
        el_raw(&b, 2, "adkim", p->adkim == 's' ? "s" : "r");
    if (p->aspf != 0)
        el_raw(&b, 2, "aspf", p->aspf == 's' ? "s" : "r");
    el_raw(&b, 2, "discovery_method", p->discovery == DMARCXML_DISCOVERY_PSL ? "psl" : "treewalk");
    el_raw(&b, 2, "testing", p->testing ? "y" : "n");
    close_el(&b, 1, "policy_published");

    for (size_t i = 0; i < r->nrows; i++) {
        if (!row_ok(&r->rows[i]))
            continue;
        write_row(&b, &r->rows[i], &st);
        st.rows_written++;
    }
    strbuf_adds(&b, "</feedback>\n");
    if (stats != NULL)
        *stats = st;
    return strbuf_take(&b);
}

bool dmarcxml_gzip(const char *data, size_t len, unsigned char **out, size_t *outlen)
{
    z_stream z;
    unsigned char *buf;
    size_t cap;
    int rc;

    *out = NULL;
    *outlen = 0;
    memset(&z, 0, sizeof z);
    /* 15 + 16: a gzip wrapper; zlib writes mtime 0 and no name */
    if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return false;
    cap = deflateBound(&z, (uLong)len) + 32;
    buf = xmalloc(cap);
    z.next_in = (Bytef *)(uintptr_t)data;
    z.next_out = buf;
    /* deflateBound covers the input in one call; keep the loop honest for
     * inputs beyond uInt by feeding chunks. */
    for (;;) {
        size_t left_in = len - (size_t)((const char *)z.next_in - data);
        uInt chunk = left_in > 0x40000000u ? 0x40000000u : (uInt)left_in;
        size_t left_out = cap - (size_t)(z.next_out - buf);

        z.avail_in = chunk;
        z.avail_out = left_out > 0x40000000u ? 0x40000000u : (uInt)left_out;
        rc = deflate(&z, chunk == left_in ? Z_FINISH : Z_NO_FLUSH);
        if (rc == Z_STREAM_END)
            break;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            goto fail;
        if (z.next_out == buf + cap) {
            size_t used = cap;
            cap *= 2;
            buf = xrealloc(buf, cap);
            z.next_out = buf + used;
        }
    }
    *outlen = (size_t)(z.next_out - buf);
    *out = buf;
    deflateEnd(&z);
    return true;
fail:
    deflateEnd(&z);
    free(buf);
    return false;
}

char *dmarcxml_filename(const dmarcxml_report *r)
{
    char recv[DNAME_BUFSZ], pdom[DNAME_BUFSZ];

    if (!domain_ok(r->meta.receiver, recv) || !domain_ok(r->policy.domain, pdom) ||
        !unique_id_ok(r->meta.unique_id) || r->meta.begin < 0 || r->meta.end < r->meta.begin)
        return NULL;
    return xasprintf("%s!%s!%" PRId64 "!%" PRId64 "!%s.xml.gz", recv, pdom, r->meta.begin,
                     r->meta.end, r->meta.unique_id);
}

char *dmarcxml_subject(const dmarcxml_report *r)
{
    char recv[DNAME_BUFSZ], pdom[DNAME_BUFSZ];

    if (!domain_ok(r->meta.receiver, recv) || !domain_ok(r->policy.domain, pdom) ||
        !report_id_ok(r->meta.report_id))
        return NULL;
    return xasprintf("Report Domain: %s Submitter: %s Report-ID: <%s>", pdom, recv,
                     r->meta.report_id);
}
