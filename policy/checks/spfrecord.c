/*
 * spfrecord.c - an SPF record as text: selection, bounds, RFC 7208
 * section 12 syntax, the record libspf2 compiles (spfrecord.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "dname.h"
#include "spfrecord.h"
#include "strbuf.h"
#include "xalloc.h"

/* Is this a domain we check (RFC 7208 4.3): labels of 1..63 octets, at
 * least two labels, at most 253 octets, not an address literal.  A trailing
 * dot is allowed. */
bool spfrecord_domain_ok(const char *d)
{
    size_t len, label = 0, labels = 0;

    if (d == NULL || *d == '\0' || *d == '[')
        return false;
    len = strlen(d);
    if (d[len - 1] == '.')
        len--;
    if (len == 0 || len > DNAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '.') {
            if (label == 0)
                return false;
            labels++;
            label = 0;
        } else if (c <= ' ' || c >= 0x7f) {
            return false;
        } else if (++label > DNAME_LABEL_MAX) {
            return false;
        }
    }
    if (label == 0)
        return false;
    return labels + 1 >= 2;
}

bool spfrecord_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* Our bounds on a record before libspf2's compiler sees it (see top). */
bool spfrecord_bounds_ok(const char *rec, size_t len, char *why, size_t whylen)
{
    size_t terms = 0, macros = 0;
    const char *p = rec, *end = rec + len;

    if (len > SPFRECORD_MAX_RECORD) {
        snprintf(why, whylen, "SPF record too long (%zu > %d octets)", len, SPFRECORD_MAX_RECORD);
        return false;
    }
    if (!spfrecord_printable(rec, len)) {
        snprintf(why, whylen, "SPF record has non-printable or non-ASCII characters");
        return false;
    }
    while (p < end) {
        const char *t;
        size_t tm = 0;
        while (p < end && *p == ' ')
            p++;
        if (p == end)
            break;
        t = p;
        while (p < end && *p != ' ') {
            if (*p == '%')
                tm++;
            p++;
        }
        if (++terms > SPFRECORD_MAX_TERMS) {
            snprintf(why, whylen, "SPF record has too many terms (> %d)", SPFRECORD_MAX_TERMS);
            return false;
        }
        if ((size_t)(p - t) > SPFRECORD_MAX_TERM) {
            snprintf(why, whylen, "SPF term too long (> %d octets)", SPFRECORD_MAX_TERM);
            return false;
        }
        if (tm > SPFRECORD_MAX_TERM_MACROS || (macros += tm) > SPFRECORD_MAX_MACROS) {
            snprintf(why, whylen, "SPF record has too many macros");
            return false;
        }
    }
    return true;
}

/* macro-string (RFC 7208 7.1) over s[0..n); exp_text allows c, r, t.
 * *ends_macro tells whether the last token was a macro-expand. */
bool spfrecord_macro_string(const char *s, size_t n, bool exp_text, bool *ends_macro)
{
    size_t i = 0;

    *ends_macro = false;
    while (i < n) {
        unsigned char ch = (unsigned char)s[i];
        if (ch != '%') {
            if (ch < 0x21 || ch > 0x7e)
                return false;
            *ends_macro = false;
            i++;
            continue;
        }
        if (i + 1 >= n)
            return false;
        if (s[i + 1] == '%' || s[i + 1] == '_' || s[i + 1] == '-') {
            *ends_macro = true;
            i += 2;
            continue;
        }
        if (s[i + 1] != '{' || i + 2 >= n)
            return false;
        i += 2;
        switch (tolower((unsigned char)s[i])) {
        case 's': case 'l': case 'o': case 'd': case 'i': case 'p': case 'h': case 'v':
            break;
        case 'c': case 'r': case 't':
            if (!exp_text)
                return false;
            break;
        default:
            return false;
        }
        i++;
        if (i < n && isdigit((unsigned char)s[i])) {
            unsigned long v = 0;
            while (i < n && isdigit((unsigned char)s[i])) {
                v = v * 10 + (unsigned long)(s[i] - '0');
                if (v > 128) /* bound for libspf2; RFC gives none */
                    return false;
                i++;
            }
            if (v == 0) /* RFC 7208 7.1: the DIGIT transformer is nonzero */
                return false;
        }
        if (i < n && (s[i] == 'r' || s[i] == 'R'))
            i++;
        while (i < n && strchr(".-+,/_=", s[i]) != NULL)
            i++;
        if (i >= n || s[i] != '}')
            return false;
        i++;
        *ends_macro = true;
    }
    return true;
}

/* toplabel = ( *alphanum ALPHA *alphanum ) /
 *            ( 1*alphanum "-" *( alphanum / "-" ) alphanum ) */
static bool spfrecord_toplabel(const char *s, size_t n)
{
    bool alpha = false;

    if (n == 0 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (isalpha((unsigned char)s[i]))
            alpha = true;
        else if (!isdigit((unsigned char)s[i]) && s[i] != '-')
            return false;
    }
    /* all-digit labels are not toplabels; a dash makes it the 2nd form */
    return alpha || memchr(s, '-', n) != NULL;
}

/* domain-spec = macro-string domain-end;
 * domain-end = ( "." toplabel [ "." ] ) / macro-expand */
static bool spfrecord_domain_spec(const char *s, size_t n)
{
    bool ends_macro;
    size_t end = n, dot;

    if (n == 0 || !spfrecord_macro_string(s, n, false, &ends_macro))
        return false;
    if (ends_macro)
        return true;
    if (s[end - 1] == '.')
        end--;
    for (dot = end; dot > 0 && s[dot - 1] != '.'; dot--)
        ;
    if (dot == 0) /* no "." before the toplabel */
        return false;
    return spfrecord_toplabel(s + dot, end - dot);
}

/* "/" CIDR: "0" or no leading zero, at most max. */
static bool spfrecord_cidr(const char *s, size_t n, int max, int *out)
{
    int v = 0;
    if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}

/* Split a trailing dual-cidr-length off arg[0..*n): sets c4/c6 (-1 absent). */
static bool spfrecord_dual_cidr(const char *arg, size_t *n, int *c4, int *c6)
{
    size_t i = *n;

    *c4 = *c6 = -1;
    while (i > 0 && isdigit((unsigned char)arg[i - 1]))
        i--;
    if (i < *n && i > 0 && arg[i - 1] == '/') {
        if (i > 1 && arg[i - 2] == '/') {
            if (!spfrecord_cidr(arg + i, *n - i, 128, c6))
                return false;
            *n = i - 2;
            i = *n;
            while (i > 0 && isdigit((unsigned char)arg[i - 1]))
                i--;
            if (!(i < *n && i > 0 && arg[i - 1] == '/'))
                return true;
        }
        if (!spfrecord_cidr(arg + i, *n - i, 32, c4))
            return false;
        *n = i - 1;
    }
    return true;
}

/* ip4-network: dotted quad, no leading zeros. */
static bool spfrecord_ip4(const char *s, size_t n)
{
    char buf[16];
    struct in_addr a;
    int parts = 0;

    if (n == 0 || n >= sizeof(buf))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '.')
            continue;
        if (!isdigit((unsigned char)s[i]))
            return false;
        if (i == 0 || s[i - 1] == '.') {
            parts++;
            if (s[i] == '0' && i + 1 < n && isdigit((unsigned char)s[i + 1]))
                return false;
        }
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return parts == 4 && inet_pton(AF_INET, buf, &a) == 1;
}

static bool spfrecord_ip6(const char *s, size_t n)
{
    char buf[INET6_ADDRSTRLEN + 1];
    struct in6_addr a;

    if (n == 0 || n >= sizeof(buf))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1;
}

/* Emit an a/mx term for libspf2: only the CIDR relevant to the client's
 * address family; a relevant length of 0 becomes the marker label. */
static void spfrecord_emit_amx(strbuf *b, char qual, const char *mech,
                              const char *dom, size_t dn, int c4, int c6, bool v6,
                              const char *marker)
{
    int c = v6 ? c6 : c4;
    char tmp[16];

    strbuf_adds(b, " ");
    if (qual)
        strbuf_add(b, &qual, 1);
    strbuf_adds(b, mech);
    if (c == 0) {
        strbuf_adds(b, ":");
        if (dn == 0) {
            strbuf_adds(b, "%{d}");
        } else {
            if (dom[dn - 1] == '.')
                dn--;
            strbuf_add(b, dom, dn);
        }
        strbuf_adds(b, marker);
        return;
    }
    if (dn) {
        strbuf_adds(b, ":");
        strbuf_add(b, dom, dn);
    }
    if (c > 0) {
        snprintf(tmp, sizeof(tmp), v6 ? "//%d" : "/%d", c);
        strbuf_adds(b, tmp);
    }
}

/* The record being written by spfrecord_normalize. */
typedef struct spfrecord_norm {
    strbuf b;
    bool v6;                 /* the client address is IPv6 */
    const char *marker;      /* the CIDR-0 marker label */
    const char *redirect, *exp; /* kept for the end */
    size_t redirect_n, exp_n;
    bool has_all;
} spfrecord_norm;

/* " [qual]name[:arg]" */
static void spfrecord_emit(strbuf *b, char qual, const char *name, const char *arg, size_t an)
{
    strbuf_adds(b, " ");
    if (qual)
        strbuf_add(b, &qual, 1);
    strbuf_adds(b, name);
    if (arg != NULL) {
        strbuf_adds(b, ":");
        strbuf_add(b, arg, an);
    }
}

/* modifier = name "=" ...; redirect= and exp= are kept for the end (each
 * at most once), unknown ones are checked and dropped. */
static bool spfrecord_modifier(spfrecord_norm *st, const char *t, size_t tn, size_t nn)
{
    const char *v = t + nn + 1;
    size_t vn = tn - nn - 1;
    bool em;

    if (nn == 8 && strncasecmp(t, "redirect", 8) == 0) {
        if (st->redirect || !spfrecord_domain_spec(v, vn))
            return false;
        st->redirect = v;
        st->redirect_n = vn;
    } else if (nn == 3 && strncasecmp(t, "exp", 3) == 0) {
        if (st->exp || !spfrecord_domain_spec(v, vn))
            return false;
        st->exp = v;
        st->exp_n = vn;
    } else if (!spfrecord_macro_string(v, vn, false, &em)) {
        return false;
    }
    return true;
}

/* ip4:NET[/CIDR] or ip6:NET[/CIDR]; libspf2 refuses /0, written as the two
 * halves (the same set). */
static bool spfrecord_ip(spfrecord_norm *st, char qual, const char *name, const char *arg, size_t an)
{
    bool is6 = name[2] == '6';
    const char *slash = memchr(arg, '/', an);
    size_t netn = slash ? (size_t)(slash - arg) : an;
    int c = is6 ? 128 : 32;

    if (is6 ? !spfrecord_ip6(arg, netn) : !spfrecord_ip4(arg, netn))
        return false;
    if (slash && !spfrecord_cidr(slash + 1, an - netn - 1, is6 ? 128 : 32, &c))
        return false;
    if (c == 0) {
        spfrecord_emit(&st->b, qual, is6 ? "ip6" : "ip4", is6 ? "::/1" : "0.0.0.0/1", is6 ? 4 : 9);
        spfrecord_emit(&st->b, qual ? qual : '+', is6 ? "ip6" : "ip4", is6 ? "8000::/1" : "128.0.0.0/1",
                       is6 ? 8 : 11);
    } else {
        spfrecord_emit(&st->b, qual, name, arg, an);
    }
    return true;
}

/* directive = [ qualifier ] mechanism, written in libspf2's form. */
static bool spfrecord_directive(spfrecord_norm *st, const char *t, size_t tn)
{
    const char *colon, *arg;
    size_t nn, an;
    char qual = 0;
    char name[16];

    if (strchr("+-?~", t[0])) {
        qual = t[0];
        t++;
        tn--;
    }
    for (nn = 0; nn < tn && isalnum((unsigned char)t[nn]); nn++)
        ;
    if (nn == 0 || nn >= sizeof(name))
        return false;
    for (size_t i = 0; i < nn; i++)
        name[i] = (char)tolower((unsigned char)t[i]);
    name[nn] = '\0';
    colon = (nn < tn && t[nn] == ':') ? t + nn : NULL;
    arg = colon ? colon + 1 : t + nn;
    an = (size_t)(t + tn - arg);
    if (!colon && an > 0 && arg[0] != '/')
        return false; /* e.g. "allx" */

    if (strcmp(name, "all") == 0) {
        if (colon || an)
            return false;
        st->has_all = true;
        spfrecord_emit(&st->b, qual, "all", NULL, 0);
    } else if (strcmp(name, "include") == 0 || strcmp(name, "exists") == 0) {
        if (!colon || !spfrecord_domain_spec(arg, an))
            return false;
        spfrecord_emit(&st->b, qual, name, arg, an);
    } else if (strcmp(name, "a") == 0 || strcmp(name, "mx") == 0) {
        int c4, c6;
        size_t dn = an;
        if (!spfrecord_dual_cidr(arg, &dn, &c4, &c6))
            return false;
        if (colon ? !spfrecord_domain_spec(arg, dn) : dn != 0)
            return false;
        spfrecord_emit_amx(&st->b, qual, name, colon ? arg : "", colon ? dn : 0, c4, c6, st->v6, st->marker);
    } else if (strcmp(name, "ptr") == 0) {
        if (colon ? !spfrecord_domain_spec(arg, an) : an != 0)
            return false;
        spfrecord_emit(&st->b, qual, "ptr", colon ? arg : NULL, an);
    } else if (strcmp(name, "ip4") == 0 || strcmp(name, "ip6") == 0) {
        if (!colon || !spfrecord_ip(st, qual, name, arg, an))
            return false;
    } else {
        return false;
    }
    return true;
}

/* Check a record (already selected: "v=spf1" then SP or end; already
 * within spfrecord_bounds_ok bounds) against RFC 7208 section 12, and write
 * the equivalent record libspf2 compiles into *out: known terms in order,
 * unknown modifiers dropped, redirect= last and dropped when an "all" is
 * present (RFC 7208 6.1), CIDR lengths of 0 rewritten (see above).
 * Returns false with a reason for a syntax error (permerror). */
bool spfrecord_normalize(const char *rec, size_t len, bool v6, const char *marker, char **out, char *why,
                         size_t whylen)
{
    spfrecord_norm st = {.v6 = v6, .marker = marker};
    const char *p = rec + 6, *end = rec + len;

    strbuf_adds(&st.b, "v=spf1");
    while (p < end) {
        const char *t;
        size_t tn, nn = 0;
        bool ok;

        while (p < end && *p == ' ')
            p++;
        if (p == end)
            break;
        t = p;
        while (p < end && *p != ' ')
            p++;
        tn = (size_t)(p - t);
        /* a modifier's name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
        if (isalpha((unsigned char)t[0])) {
            nn = 1;
            while (nn < tn && (isalnum((unsigned char)t[nn]) || strchr("-_.", t[nn])))
                nn++;
        }
        if (nn > 0 && nn < tn && t[nn] == '=')
            ok = spfrecord_modifier(&st, t, tn, nn);
        else
            ok = spfrecord_directive(&st, t, tn);
        if (!ok) {
            snprintf(why, whylen, "SPF record syntax error near \"%.*s\"", (int)(tn > 40 ? 40 : tn), t);
            free(st.b.s);
            *out = NULL;
            return false;
        }
    }
    if (st.exp) {
        strbuf_adds(&st.b, " exp=");
        strbuf_add(&st.b, st.exp, st.exp_n);
    }
    if (st.redirect && !st.has_all) {
        strbuf_adds(&st.b, " redirect=");
        strbuf_add(&st.b, st.redirect, st.redirect_n);
    }
    *out = st.b.s;
    return true;
}

/* The mechanisms and modifiers libspf2 must compile from a record written
 * by spfrecord_normalize ("v=spf1", then terms separated by one space):
 * exp= is its only modifier, redirect= a mechanism to libspf2. */
void spfrecord_count(const char *norm, int *mechs, int *mods)
{
    const char *p = strchr(norm, ' ');

    *mechs = 0;
    *mods = 0;
    while (p != NULL) {
        p++;
        if (strncmp(p, "exp=", 4) == 0)
            (*mods)++;
        else
            (*mechs)++;
        p = strchr(p, ' ');
    }
}

/* RFC 7208 4.5: is this TXT string an SPF version 1 record? */
bool spfrecord_is_spf1(const char *s, size_t len)
{
    return len >= 6 && strncasecmp(s, "v=spf1", 6) == 0 && (len == 6 || s[6] == ' ');
}

/* An exp= explanation text as libspf2's macro compiler takes it, or NULL
 * when it is refused (see spfrecord.h). */
char *spfrecord_exp_macro(const char *txt, size_t tl)
{
    size_t pct = 0, spaces = 0;
    bool syntax = true, em;
    char *sp, *q;

    if (tl > SPFRECORD_MAX_EXP || !spfrecord_printable(txt, tl))
        return NULL;
    for (size_t i = 0; i < tl; i++) {
        pct += txt[i] == '%';
        spaces += txt[i] == ' ';
    }
    /* explain-string = *( macro-string / SP ) */
    for (size_t i = 0; i < tl && syntax;) {
        size_t j = i;
        while (j < tl && txt[j] != ' ')
            j++;
        syntax = spfrecord_macro_string(txt + i, j - i, true, &em);
        i = j + 1;
    }
    if (pct > SPFRECORD_MAX_EXP_MACROS || tl + spaces > SPFRECORD_MAX_TERM || !syntax)
        return NULL;
    /* RFC 7208 explain-string allows SP; libspf2's macro compiler does
     * not, so spaces go in as "%_" (a space). */
    sp = xmalloc(tl * 2 + 1);
    q = sp;
    for (size_t i = 0; i < tl; i++) {
        if (txt[i] == ' ') {
            *q++ = '%';
            *q++ = '_';
        } else {
            *q++ = txt[i];
        }
    }
    *q = '\0';
    return sp;
}
