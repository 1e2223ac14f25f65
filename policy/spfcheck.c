/*
 * spfcheck.c - SPF (RFC 7208) evaluation with libspf2 over mxguard's DNS.
 *
 * libspf2 parses and interprets records.  Every DNS lookup it makes goes
 * through a custom SPF_dns_server_t whose hooks use dns_t:
 *   lookup   A, AAAA, MX, PTR (and TXT if ever asked) -> SPF_dns_rr_t
 *   get_spf  the SPF record of a domain: TXT only (RFC 7208 dropped type
 *            SPF), RFC 4.5 record selection, our bounds, then
 *            SPF_record_compile
 *   get_exp  the exp= explanation: bounded, compiled, expanded
 *
 * Each check builds its own SPF_server_t, request, response and layer
 * (struct spfcheck_ctx), so checks in different threads share nothing but
 * the dns_t (which is thread-safe).  Creating a server costs two small
 * compiles (default explanation, empty local policy): a few microseconds,
 * far below one DNS round trip (measured: about 1 us per
 * server+request on this machine), so no pooling.
 *
 * RFC 7208 4.6.4 limits are counted here, across include/redirect (libspf2
 * counts per record and resets inside include):
 *   - at most 10 terms that query DNS (include, a, mx, ptr, exists,
 *     redirect); the lookup of the 11th is refused;
 *   - at most 2 void lookups (NXDOMAIN / NODATA) for those terms;
 *   - the address lookups for the names of one mx or ptr term (and of the
 *     %{p} macro) are not terms: they are recognised as the in-order
 *     lookups of the names the MX/PTR answer just returned;
 *   - PTR answers are cut to their first 10 names (RFC: ignore the rest).
 * When a limit is exceeded the lookup answers TRY_AGAIN, which makes
 * libspf2 stop at once, and the final result is forced to permerror.
 *
 * SECURITY: SPF records and explanations are published by the sender,
 * i.e. hostile.  Debian 12's libspf2 1.2.10 is not patched for
 * CVE-2023-42118 (an integer underflow in its macro/record compiler), so
 * nothing reaches SPF_record_compile / SPF_record_compile_macro unless it
 * passes spfcheck_record_ok():
 *   - printable US-ASCII only (RFC 7208 3.1: anything else is permerror),
 *   - a record of at most SPFCHECK_MAX_RECORD (2048) octets,
 *   - at most SPFCHECK_MAX_TERMS (128) terms,
 *   - each term at most SPFCHECK_MAX_TERM (255) octets, the size of one
 *     libspf2 data string (SPF_MAX_STR_LEN) and well under its 511-octet
 *     per-mechanism buffer,
 *   - at most SPFCHECK_MAX_TERM_MACROS (16) '%' per term and
 *     SPFCHECK_MAX_MACROS (32) per record.
 * Explanation texts: at most 512 octets and 16 '%', printable ASCII, and
 * at most SPFCHECK_MAX_TERM (255) octets once each space is written "%_"
 * for libspf2 (its macro compiler writes into a 511-octet stack buffer
 * without a correct bound: the fuzzer overflowed it with 541 octets),
 * else the default explanation is used (RFC 6.2: as if there were no exp=).
 * Sender identities are bounded too (local-part 128 octets, domain 253).
 * Explanations handed out are printable ASCII only, at most 200 octets.
 *
 * libspf2 1.2.10 silently drops mechanisms: SPF_c_mech_add refuses a
 * mechanism when the compiled mechanisms before it plus its 4-octet header
 * exceed SPF_MAX_MECH_LEN (511), returning SPF_E_BIG_MECH without adding
 * an error to the response, and SPF_record_compile ignores that return and
 * reports success.  The record is then evaluated without its tail (a
 * trailing "-all" or redirect= is lost: neutral instead of fail).  The
 * limit is in compiled octets, so the count depends on the terms: ip4 8
 * octets, ip6 20, bare a/mx/ptr/all 4, a/mx with a CIDR 8, a term with a
 * domain-spec 4 + its pieces (literal: 4 + length, macro: 4, each rounded
 * up to 8; include:i.example 20); measured on Debian 12: 63 ip4 terms and
 * "-all" compile, 64 do not; 25 ip6 terms and "-all" do, 26 not.  These
 * sizes are libspf2's internals, so instead of recomputing them, every
 * compiled record is checked: its num_mech and num_mod must equal the
 * mechanisms and modifiers of the record we handed it
 * (spfcheck_count_compiled), else the record is permerror ("too large for
 * libspf2"), exact at the limit and whatever the term kinds.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>
#include <spf2/spf_dns_rr.h>

#include "log.h"
#include "spfcheck.h"
#include "strbuf.h"
#include "xalloc.h"

#define SPFCHECK_MAX_RECORD 2048
#define SPFCHECK_MAX_TERMS 128
#define SPFCHECK_MAX_TERM 255
#define SPFCHECK_MAX_TERM_MACROS 16
#define SPFCHECK_MAX_MACROS 32
#define SPFCHECK_MAX_EXP 512
#define SPFCHECK_MAX_EXP_MACROS 16
#define SPFCHECK_MAX_LOCALPART 128
#define SPFCHECK_MAX_EXPLANATION 200

#define SPFCHECK_LIBSPF2_MECH_OCTETS 511 /* libspf2's SPF_MAX_MECH_LEN, see top */

#define SPFCHECK_MAX_DNS_TERMS 10 /* RFC 7208 4.6.4 */
#define SPFCHECK_MAX_VOID 2       /* RFC 7208 4.6.4 */
#define SPFCHECK_MAX_NAMES 10     /* address lookups per mx / ptr term */

/* libspf2 compiles explanations as macro-strings: a space is "%_" */
#define SPFCHECK_DEFAULT_EXP "%{o}%_does%_not%_designate%_%{i}%_as%_a%_permitted%_sender"

/* Why the check was cut short by our layer. */
enum spfcheck_stop {
    STOP_NONE = 0,
    STOP_DNS_TERMS,   /* more than 10 DNS-querying terms */
    STOP_VOID,        /* more than 2 void lookups */
    STOP_MX,          /* an mx term with more than 10 MX records */
    STOP_TIME,        /* the overall time limit passed */
};

/* Per-check state, the hook of our SPF_dns_server_t. */
struct spfcheck_ctx {
    dns_t *dns;
    SPF_request_t *req;
    bool top_fetched;           /* the first get_spf is the checked domain */
    int dns_terms;              /* DNS-querying terms so far */
    int void_lookups;           /* void answers to those terms */
    enum spfcheck_stop stop;
    char *pending[SPFCHECK_MAX_NAMES]; /* MX/PTR names whose A/AAAA come next */
    bool pending_ptr;          /* ... and they came from a PTR answer */
    int npending, nextpending;
    bool pending_cidr0;         /* the pending names belong to an mx/0 term */
    char cidr0_marker[40];      /* this check's marker label, see SPFCHECK_CIDR0 */
    struct timespec deadline;   /* overall limit of the check (RFC 7208 4.6.4) */
    char detail[160];           /* reason text for the output */
};

/* ---- names -------------------------------------------------------------- */

const char *spfcheck_result_name(spfcheck_result r)
{
    switch (r) {
    case SPFCHECK_UNSET: return "unset";
    case SPFCHECK_NONE: return "none";
    case SPFCHECK_NEUTRAL: return "neutral";
    case SPFCHECK_PASS: return "pass";
    case SPFCHECK_FAIL: return "fail";
    case SPFCHECK_SOFTFAIL: return "softfail";
    case SPFCHECK_TEMPERROR: return "temperror";
    case SPFCHECK_PERMERROR: return "permerror";
    }
    return "unset";
}

bool spfcheck_result_parse(const char *name, spfcheck_result *out)
{
    for (int r = SPFCHECK_NONE; r <= SPFCHECK_PERMERROR; r++) {
        if (name && strcasecmp(name, spfcheck_result_name((spfcheck_result)r)) == 0) {
            *out = (spfcheck_result)r;
            return true;
        }
    }
    return false;
}

void spfcheck_output_clear(spfcheck_output *out)
{
    if (out == NULL)
        return;
    free(out->domain);
    free(out->explanation);
    free(out->reason);
    memset(out, 0, sizeof(*out));
}

/* ---- small helpers -------------------------------------------------------- */

/* Is this a domain we check (RFC 7208 4.3): labels of 1..63 octets, at
 * least two labels, at most 253 octets, not an address literal.  A trailing
 * dot is allowed. */
static bool spfcheck_domain_ok(const char *d)
{
    size_t len, label = 0, labels = 0;

    if (d == NULL || *d == '\0' || *d == '[')
        return false;
    len = strlen(d);
    if (d[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
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
        } else if (++label > 63) {
            return false;
        }
    }
    if (label == 0)
        return false;
    return labels + 1 >= 2;
}

/* A copy of s with only printable ASCII (others become '?'), at most max
 * octets; NULL for NULL. */
static char *spfcheck_sanitize(const char *s, size_t max)
{
    size_t n;
    char *o;

    if (s == NULL)
        return NULL;
    n = strnlen(s, max);
    o = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        o[i] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
    }
    o[n] = '\0';
    return o;
}

static bool spfcheck_printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* Our bounds on a record before libspf2's compiler sees it (see top). */
static bool spfcheck_record_ok(const char *rec, size_t len, char *why, size_t whylen)
{
    size_t terms = 0, macros = 0;
    const char *p = rec, *end = rec + len;

    if (len > SPFCHECK_MAX_RECORD) {
        snprintf(why, whylen, "SPF record too long (%zu > %d octets)", len, SPFCHECK_MAX_RECORD);
        return false;
    }
    if (!spfcheck_printable(rec, len)) {
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
        if (++terms > SPFCHECK_MAX_TERMS) {
            snprintf(why, whylen, "SPF record has too many terms (> %d)", SPFCHECK_MAX_TERMS);
            return false;
        }
        if ((size_t)(p - t) > SPFCHECK_MAX_TERM) {
            snprintf(why, whylen, "SPF term too long (> %d octets)", SPFCHECK_MAX_TERM);
            return false;
        }
        if (tm > SPFCHECK_MAX_TERM_MACROS || (macros += tm) > SPFCHECK_MAX_MACROS) {
            snprintf(why, whylen, "SPF record has too many macros");
            return false;
        }
    }
    return true;
}

/* ---- RFC 7208 section 12 syntax, and the record libspf2 gets ----------- */

/* Marker label appended to the target of an a/mx term whose relevant CIDR
 * length is 0 (libspf2 refuses /0); spfcheck_lookup() strips it and answers
 * "the client's own address" when the name has any address, which is what
 * /0 means.  The label carries a random nonce per check, so that a name
 * built from client-controlled macros (%{h}, %{l}, %{s}, %{o}) cannot
 * forge it. */
#define SPFCHECK_CIDR0 "._mxguard-cidr0-"

/* RFC 7208 4.6.4: an overall limit of at least 20 seconds; past it the
 * result is temperror.  A lookup started before it may still take one DNS
 * timeout. */
#define SPFCHECK_MAX_SECONDS 20

static void spfcheck_check_time(struct spfcheck_ctx *c)
{
    struct timespec now;

    if (c->stop != STOP_NONE)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > c->deadline.tv_sec ||
        (now.tv_sec == c->deadline.tv_sec && now.tv_nsec >= c->deadline.tv_nsec))
        c->stop = STOP_TIME;
}

/* A fresh marker label: SPFCHECK_CIDR0 and 16 random hex digits. */
static void spfcheck_marker(char *out, size_t outsz)
{
    uint64_t nonce = 0;

    if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        nonce = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)out;
    }
    snprintf(out, outsz, "%s%016llx", SPFCHECK_CIDR0, (unsigned long long)nonce);
}

/* macro-string (RFC 7208 7.1) over s[0..n); exp_text allows c, r, t.
 * *ends_macro tells whether the last token was a macro-expand. */
static bool spfcheck_macro_string(const char *s, size_t n, bool exp_text, bool *ends_macro)
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
static bool spfcheck_toplabel(const char *s, size_t n)
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
static bool spfcheck_domain_spec(const char *s, size_t n)
{
    bool ends_macro;
    size_t end = n, dot;

    if (n == 0 || !spfcheck_macro_string(s, n, false, &ends_macro))
        return false;
    if (ends_macro)
        return true;
    if (s[end - 1] == '.')
        end--;
    for (dot = end; dot > 0 && s[dot - 1] != '.'; dot--)
        ;
    if (dot == 0) /* no "." before the toplabel */
        return false;
    return spfcheck_toplabel(s + dot, end - dot);
}

/* "/" CIDR: "0" or no leading zero, at most max. */
static bool spfcheck_cidr(const char *s, size_t n, int max, int *out)
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
static bool spfcheck_dual_cidr(const char *arg, size_t *n, int *c4, int *c6)
{
    size_t i = *n;

    *c4 = *c6 = -1;
    while (i > 0 && isdigit((unsigned char)arg[i - 1]))
        i--;
    if (i < *n && i > 0 && arg[i - 1] == '/') {
        if (i > 1 && arg[i - 2] == '/') {
            if (!spfcheck_cidr(arg + i, *n - i, 128, c6))
                return false;
            *n = i - 2;
            i = *n;
            while (i > 0 && isdigit((unsigned char)arg[i - 1]))
                i--;
            if (!(i < *n && i > 0 && arg[i - 1] == '/'))
                return true;
        }
        if (!spfcheck_cidr(arg + i, *n - i, 32, c4))
            return false;
        *n = i - 1;
    }
    return true;
}

/* ip4-network: dotted quad, no leading zeros. */
static bool spfcheck_ip4(const char *s, size_t n)
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

static bool spfcheck_ip6(const char *s, size_t n)
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
static void spfcheck_emit_amx(strbuf *b, char qual, const char *mech,
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

/* Check a record (already selected: "v=spf1" then SP or end; already
 * within spfcheck_record_ok bounds) against RFC 7208 section 12, and write
 * the equivalent record libspf2 compiles into *out: known terms in order,
 * unknown modifiers dropped, redirect= last and dropped when an "all" is
 * present (RFC 7208 6.1), CIDR lengths of 0 rewritten (see above).
 * Returns false with a reason for a syntax error (permerror). */
static bool spfcheck_normalize(const char *rec, size_t len, bool v6, const char *marker,
                               char **out, char *why, size_t whylen)
{
    strbuf b = { NULL, 0, 0 };
    const char *p = rec + 6, *end = rec + len;
    const char *redirect = NULL, *exp = NULL;
    size_t redirect_n = 0, exp_n = 0;
    bool has_all = false;

    strbuf_adds(&b, "v=spf1");
    while (p < end) {
        const char *t, *colon, *arg;
        size_t tn, nn, an;
        char qual = 0;
        char name[16];

        while (p < end && *p == ' ')
            p++;
        if (p == end)
            break;
        t = p;
        while (p < end && *p != ' ')
            p++;
        tn = (size_t)(p - t);

        /* modifier: name "=" ...; name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ) */
        nn = 0;
        if (isalpha((unsigned char)t[0])) {
            nn = 1;
            while (nn < tn && (isalnum((unsigned char)t[nn]) || strchr("-_.", t[nn])))
                nn++;
        }
        if (nn > 0 && nn < tn && t[nn] == '=') {
            const char *v = t + nn + 1;
            size_t vn = tn - nn - 1;
            bool em;
            if (nn == 8 && strncasecmp(t, "redirect", 8) == 0) {
                if (redirect || !spfcheck_domain_spec(v, vn))
                    goto bad;
                redirect = v;
                redirect_n = vn;
            } else if (nn == 3 && strncasecmp(t, "exp", 3) == 0) {
                if (exp || !spfcheck_domain_spec(v, vn))
                    goto bad;
                exp = v;
                exp_n = vn;
            } else if (!spfcheck_macro_string(v, vn, false, &em)) {
                goto bad;
            }
            continue;
        }

        /* directive = [ qualifier ] mechanism */
        if (strchr("+-?~", t[0])) {
            qual = t[0];
            t++;
            tn--;
        }
        for (nn = 0; nn < tn && isalnum((unsigned char)t[nn]); nn++)
            ;
        if (nn == 0 || nn >= sizeof(name))
            goto bad;
        for (size_t i = 0; i < nn; i++)
            name[i] = (char)tolower((unsigned char)t[i]);
        name[nn] = '\0';
        colon = (nn < tn && t[nn] == ':') ? t + nn : NULL;
        arg = colon ? colon + 1 : t + nn;
        an = (size_t)(t + tn - arg);
        if (!colon && an > 0 && arg[0] != '/')
            goto bad; /* e.g. "allx" */

        if (strcmp(name, "all") == 0) {
            if (colon || an)
                goto bad;
            has_all = true;
            strbuf_adds(&b, " ");
            if (qual)
                strbuf_add(&b, &qual, 1);
            strbuf_adds(&b, "all");
        } else if (strcmp(name, "include") == 0 || strcmp(name, "exists") == 0) {
            if (!colon || !spfcheck_domain_spec(arg, an))
                goto bad;
            strbuf_adds(&b, " ");
            if (qual)
                strbuf_add(&b, &qual, 1);
            strbuf_adds(&b, name);
            strbuf_adds(&b, ":");
            strbuf_add(&b, arg, an);
        } else if (strcmp(name, "a") == 0 || strcmp(name, "mx") == 0) {
            int c4, c6;
            size_t dn = an;
            if (!spfcheck_dual_cidr(arg, &dn, &c4, &c6))
                goto bad;
            if (colon ? !spfcheck_domain_spec(arg, dn) : dn != 0)
                goto bad;
            spfcheck_emit_amx(&b, qual, name, colon ? arg : "", colon ? dn : 0, c4, c6, v6,
                              marker);
        } else if (strcmp(name, "ptr") == 0) {
            if (colon && !spfcheck_domain_spec(arg, an))
                goto bad;
            if (!colon && an)
                goto bad;
            strbuf_adds(&b, " ");
            if (qual)
                strbuf_add(&b, &qual, 1);
            strbuf_adds(&b, "ptr");
            if (colon) {
                strbuf_adds(&b, ":");
                strbuf_add(&b, arg, an);
            }
        } else if (strcmp(name, "ip4") == 0 || strcmp(name, "ip6") == 0) {
            bool is6 = name[2] == '6';
            const char *slash;
            size_t netn;
            int c = is6 ? 128 : 32;
            if (!colon)
                goto bad;
            slash = memchr(arg, '/', an);
            netn = slash ? (size_t)(slash - arg) : an;
            if (is6 ? !spfcheck_ip6(arg, netn) : !spfcheck_ip4(arg, netn))
                goto bad;
            if (slash && !spfcheck_cidr(slash + 1, an - netn - 1, is6 ? 128 : 32, &c))
                goto bad;
            strbuf_adds(&b, " ");
            if (c == 0) {
                /* libspf2 refuses /0: the two halves are the same set. */
                char q2 = qual ? qual : '+';
                if (qual)
                    strbuf_add(&b, &qual, 1);
                strbuf_adds(&b, is6 ? "ip6:::/1 " : "ip4:0.0.0.0/1 ");
                strbuf_add(&b, &q2, 1);
                strbuf_adds(&b, is6 ? "ip6:8000::/1" : "ip4:128.0.0.0/1");
            } else {
                if (qual)
                    strbuf_add(&b, &qual, 1);
                strbuf_adds(&b, name);
                strbuf_adds(&b, ":");
                strbuf_add(&b, arg, an);
            }
        } else {
            goto bad;
        }
    }
    if (exp) {
        strbuf_adds(&b, " exp=");
        strbuf_add(&b, exp, exp_n);
    }
    if (redirect && !has_all) {
        strbuf_adds(&b, " redirect=");
        strbuf_add(&b, redirect, redirect_n);
    }
    *out = b.s;
    return true;

bad:
    {
        size_t tl = 0;
        const char *t = p;
        while (t > rec + 6 && t[-1] != ' ')
            t--;
        tl = (size_t)(p - t);
        snprintf(why, whylen, "SPF record syntax error near \"%.*s\"", (int)(tl > 40 ? 40 : tl), t);
    }
    free(b.s);
    *out = NULL;
    return false;
}

/* Compare two names ignoring case and one trailing dot. */
static bool spfcheck_same_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la && a[la - 1] == '.')
        la--;
    if (lb && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

static void spfcheck_pending_clear(struct spfcheck_ctx *c)
{
    for (int i = 0; i < c->npending; i++)
        free(c->pending[i]);
    c->npending = c->nextpending = 0;
}

/* Count one DNS-querying term; false (and stop) when over the limit. */
static bool spfcheck_count_term(struct spfcheck_ctx *c)
{
    if (++c->dns_terms > SPFCHECK_MAX_DNS_TERMS) {
        if (c->stop == STOP_NONE)
            c->stop = STOP_DNS_TERMS;
        return false;
    }
    return true;
}

/* ---- the libspf2 DNS layer ---------------------------------------------- */

static SPF_dns_rr_t *spfcheck_rr_status(SPF_dns_server_t *srv, const char *domain,
                                        ns_type type, SPF_dns_stat_t herrno)
{
    SPF_dns_rr_t *rr = SPF_dns_rr_new_init(srv, domain, type, 0, herrno);
    if (rr == NULL)
        log_fatal("spf: out of memory");
    return rr;
}

/* Can this be asked of DNS: not empty, labels 1..63 octets, <= 253 octets
 * (a trailing dot is allowed)? */
static bool spfcheck_name_valid(const char *d)
{
    size_t len = strlen(d), label = 0;

    if (len && d[len - 1] == '.')
        len--;
    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (d[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (++label > 63) {
            return false;
        }
    }
    return label > 0;
}

static SPF_dns_stat_t spfcheck_herrno(dns_status st)
{
    switch (st) {
    case DNS_ANSWER: return NETDB_SUCCESS;
    case DNS_NXDOMAIN: return HOST_NOT_FOUND;
    case DNS_NODATA: return NO_DATA;
    default: return TRY_AGAIN;
    }
}

/* Fill rr from a dns answer; returns the number of records stored. */
static int spfcheck_fill(SPF_dns_rr_t *rr, const dns_answer *a, ns_type type, int max)
{
    int n = 0;
    char name[1025];

    for (size_t i = 0; i < a->count && n < max; i++) {
        const unsigned char *rd = a->rdata[i];
        size_t len = a->rdlen[i];
        switch (type) {
        case ns_t_a:
            if (len != 4)
                continue;
            if (SPF_dns_rr_buf_realloc(rr, n, sizeof(struct in_addr)) != SPF_E_SUCCESS)
                log_fatal("spf: out of memory");
            memcpy(&rr->rr[n]->a, rd, 4);
            n++;
            break;
        case ns_t_aaaa:
            if (len != 16)
                continue;
            if (SPF_dns_rr_buf_realloc(rr, n, sizeof(struct in6_addr)) != SPF_E_SUCCESS)
                log_fatal("spf: out of memory");
            memcpy(&rr->rr[n]->aaaa, rd, 16);
            n++;
            break;
        case ns_t_mx:
        case ns_t_ptr:
            if (!dns_rdata_name(rd, len, type == ns_t_mx ? 2 : 0, name, sizeof(name)))
                continue;
            if (type == ns_t_mx && len < 2)
                continue;
            if (SPF_dns_rr_buf_realloc(rr, n, strlen(name) + 1) != SPF_E_SUCCESS)
                log_fatal("spf: out of memory");
            memcpy(rr->rr[n]->ptr, name, strlen(name) + 1);
            n++;
            break;
        case ns_t_txt: {
            char *txt = NULL;
            size_t tl = 0;
            if (!dns_rdata_txt(rd, len, &txt, &tl))
                continue;
            if (strlen(txt) != tl) { /* embedded NUL: not usable as text */
                free(txt);
                continue;
            }
            if (SPF_dns_rr_buf_realloc(rr, n, tl + 1) != SPF_E_SUCCESS)
                log_fatal("spf: out of memory");
            memcpy(rr->rr[n]->txt, txt, tl + 1);
            free(txt);
            n++;
            break;
        }
        default:
            return n;
        }
    }
    rr->num_rr = n;
    return n;
}

static SPF_dns_rr_t *spfcheck_lookup(SPF_dns_server_t *srv, const char *domain,
                                     ns_type type, int should_cache)
{
    struct spfcheck_ctx *c = srv->hook;
    char *stripped = NULL;
    const char *qname = domain;
    bool cidr0 = false;
    bool term = false;
    bool ptr_name = false; /* address lookup of a name a PTR answer gave */
    dns_answer *a = NULL;
    dns_status st;
    SPF_dns_rr_t *rr;
    int max = 1 << 16;

    spfcheck_check_time(c);
    if (c->stop != STOP_NONE)
        return spfcheck_rr_status(srv, domain, type, TRY_AGAIN);
    {
        size_t dl = strlen(domain), ml = strlen(c->cidr0_marker);
        if (dl > ml && strcasecmp(domain + dl - ml, c->cidr0_marker) == 0) {
            stripped = xstrndup(domain, dl - ml);
            qname = stripped;
            cidr0 = true;
        }
    }

    switch (type) {
    case ns_t_a:
    case ns_t_aaaa:
        if (c->nextpending < c->npending &&
            spfcheck_same_name(domain, c->pending[c->nextpending])) {
            c->nextpending++; /* address of an MX/PTR name: part of its term */
            cidr0 = c->pending_cidr0;
            ptr_name = c->pending_ptr;

        } else {
            spfcheck_pending_clear(c);
            term = true; /* a, exists */
        }
        break;
    case ns_t_mx:
        spfcheck_pending_clear(c);
        term = true;
        break;
    case ns_t_ptr:
        spfcheck_pending_clear(c);
        /* libspf2 asks with should_cache for the ptr mechanism, without
         * for the %{p} macro, which is not a term. */
        term = should_cache != 0;
        max = SPFCHECK_MAX_NAMES;
        break;
    default:
        break;
    }
    if (term && !spfcheck_count_term(c)) {
        free(stripped);
        return spfcheck_rr_status(srv, domain, type, TRY_AGAIN);
    }

    if (spfcheck_name_valid(qname)) {
        st = dns_lookup(c->dns, qname, (int)type, &a);
    } else {
        /* RFC 7208 4.8/5: a target that is no valid DNS name (empty or
         * long label, empty name) does not exist; no query is made. */
        st = DNS_NXDOMAIN;
        term = false;
    }
    rr = spfcheck_rr_status(srv, domain, type, spfcheck_herrno(st));
    if (ptr_name && rr->herrno == TRY_AGAIN) {
        /* RFC 7208 5.5: "If a DNS error occurs while doing an A RR lookup,
         * then that domain name is skipped and the search continues" (the
         * suite's ptr-cname-loop: a CNAME loop is SERVFAIL through a real
         * resolver).  Skipped as a name without addresses. */
        rr->herrno = HOST_NOT_FOUND;
    }
    if (st == DNS_ANSWER) {
        if (spfcheck_fill(rr, a, type, max) == 0)
            rr->herrno = NO_DATA;
    }
    dns_answer_free(a);
    free(stripped);
    if (type == ns_t_ptr)
        c->pending_cidr0 = false; /* PTR names never inherit an mx/0 */
    if (type == ns_t_mx) {
        c->pending_cidr0 = cidr0;
        /* RFC 7208 4.6.4: more than 10 MX records is a permerror, whether
         * or not one of the first ten would match (libspf2 checks those
         * first). */
        if (rr->herrno == NETDB_SUCCESS && rr->num_rr > SPFCHECK_MAX_NAMES) {
            c->stop = STOP_MX;
            rr->herrno = TRY_AGAIN;
            rr->num_rr = 0;
            return rr;
        }
    }
    if (cidr0 && (type == ns_t_a || type == ns_t_aaaa) && rr->herrno == NETDB_SUCCESS) {
        /* CIDR length 0: any address of the name matches the client. */
        if (type == ns_t_a)
            rr->rr[0]->a = c->req->ipv4;
        else
            rr->rr[0]->aaaa = c->req->ipv6;
        rr->num_rr = 1;
    }

    if (term && (rr->herrno == HOST_NOT_FOUND || rr->herrno == NO_DATA)) {
        if (++c->void_lookups > SPFCHECK_MAX_VOID) {
            c->stop = STOP_VOID;
            rr->herrno = TRY_AGAIN;
            rr->num_rr = 0;
            return rr;
        }
    }
    if ((type == ns_t_mx || type == ns_t_ptr) && rr->herrno == NETDB_SUCCESS) {
        c->pending_ptr = type == ns_t_ptr;
        for (int i = 0; i < rr->num_rr && c->npending < SPFCHECK_MAX_NAMES; i++)
            c->pending[c->npending++] = xstrdup(rr->rr[i]->mx);
    }
    return rr;
}

/* The mechanisms and modifiers libspf2 must compile from a record written
 * by spfcheck_normalize ("v=spf1", then terms separated by one space):
 * exp= is its only modifier, redirect= a mechanism to libspf2. */
static void spfcheck_count_compiled(const char *norm, int *mechs, int *mods)
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
static bool spfcheck_is_spf1(const char *s, size_t len)
{
    return len >= 6 && strncasecmp(s, "v=spf1", 6) == 0 && (len == 6 || s[6] == ' ');
}

static SPF_errcode_t spfcheck_get_spf(SPF_server_t *server, SPF_request_t *req,
                                      SPF_response_t *resp, SPF_record_t **recp)
{
    struct spfcheck_ctx *c = server->resolver->hook;
    const char *domain = req->cur_dom;
    dns_answer *a = NULL;
    dns_status st;
    char *found = NULL;
    size_t found_len = 0;
    int nfound = 0, want_mech = 0, want_mod = 0;
    SPF_errcode_t err;

    *recp = NULL;
    spfcheck_check_time(c);
    if (c->stop != STOP_NONE)
        return SPF_response_add_error(resp, SPF_E_DNS_ERROR, "evaluation stopped");
    if (c->top_fetched) {
        spfcheck_pending_clear(c);
        if (!spfcheck_count_term(c)) /* include, redirect */
            return SPF_response_add_error(resp, SPF_E_DNS_ERROR, "DNS term limit");
    }
    c->top_fetched = true;

    if (!spfcheck_domain_ok(domain)) {
        resp->result = SPF_RESULT_NONE;
        resp->reason = SPF_REASON_FAILURE;
        return SPF_response_add_error(resp, SPF_E_NOT_SPF, "not a valid domain");
    }
    st = dns_lookup(c->dns, domain, ns_t_txt, &a);
    if (st == DNS_NXDOMAIN || st == DNS_NODATA) {
        dns_answer_free(a);
        resp->result = SPF_RESULT_NONE;
        resp->reason = SPF_REASON_FAILURE;
        return SPF_response_add_error(resp, SPF_E_NOT_SPF, "no SPF record");
    }
    if (st != DNS_ANSWER) {
        dns_answer_free(a);
        return SPF_response_add_error(resp, SPF_E_DNS_ERROR, "DNS %s", dns_status_name(st));
    }
    for (size_t i = 0; i < a->count; i++) {
        char *txt = NULL;
        size_t tl = 0;
        if (!dns_rdata_txt(a->rdata[i], a->rdlen[i], &txt, &tl))
            continue;
        if (spfcheck_is_spf1(txt, tl)) {
            nfound++;
            free(found);
            found = txt;
            found_len = tl;
        } else {
            free(txt);
        }
    }
    dns_answer_free(a);
    if (nfound == 0) {
        resp->result = SPF_RESULT_NONE;
        resp->reason = SPF_REASON_FAILURE;
        return SPF_response_add_error(resp, SPF_E_NOT_SPF, "no SPF record");
    }
    if (nfound > 1) {
        free(found);
        resp->result = SPF_RESULT_PERMERROR;
        resp->reason = SPF_REASON_FAILURE;
        resp->err = SPF_E_MULTIPLE_RECORDS;
        snprintf(c->detail, sizeof(c->detail), "multiple SPF records");
        return SPF_response_add_error(resp, SPF_E_MULTIPLE_RECORDS, "multiple SPF records");
    }
    if (!spfcheck_record_ok(found, found_len, c->detail, sizeof(c->detail))) {
        free(found);
        resp->result = SPF_RESULT_PERMERROR;
        resp->reason = SPF_REASON_FAILURE;
        resp->err = SPF_E_BIG_STRING;
        return SPF_response_add_error(resp, SPF_E_BIG_STRING, "record refused");
    }
    {
        char *norm = NULL;
        bool ok = spfcheck_normalize(found, found_len, c->req->client_ver == AF_INET6,
                                     c->cidr0_marker, &norm, c->detail, sizeof(c->detail));
        free(found);
        if (!ok) {
            resp->result = SPF_RESULT_PERMERROR;
            resp->reason = SPF_REASON_FAILURE;
            resp->err = SPF_E_SYNTAX;
            return SPF_response_add_error(resp, SPF_E_SYNTAX, "record syntax");
        }
        found = norm;
    }
    spfcheck_count_compiled(found, &want_mech, &want_mod);
    err = SPF_record_compile(server, resp, recp, found);
    free(found);
    if (err == SPF_E_SUCCESS && ((*recp)->num_mech != want_mech || (*recp)->num_mod != want_mod)) {
        /* libspf2 dropped terms without an error (see top): we cannot
         * evaluate this record correctly, so it is refused. */
        snprintf(c->detail, sizeof(c->detail),
                 "SPF record too large for libspf2: it compiles %d of %d mechanisms "
                 "(at most %d octets of compiled mechanisms)",
                 (*recp)->num_mech, want_mech, SPFCHECK_LIBSPF2_MECH_OCTETS);
        SPF_record_free(*recp);
        *recp = NULL;
        resp->result = SPF_RESULT_PERMERROR;
        resp->reason = SPF_REASON_FAILURE;
        resp->err = SPF_E_BIG_MECH;
        return SPF_response_add_error(resp, SPF_E_BIG_MECH, "record too large for libspf2");
    }
    if (err != SPF_E_SUCCESS) {
        if (*recp) {
            SPF_record_free(*recp);
            *recp = NULL;
        }
        resp->result = SPF_RESULT_PERMERROR;
        resp->reason = SPF_REASON_FAILURE;
        resp->err = err;
        snprintf(c->detail, sizeof(c->detail), "SPF record syntax: %s", SPF_strerror(err));
        return err == SPF_E_DNS_ERROR ? SPF_E_SYNTAX : err;
    }
    return SPF_E_SUCCESS;
}

/* The data of a compiled macro follows its header (spf_record.h: "data:
 * (SPF_data_t[] = char[macro_len]) follows"); libspf2's accessor for it is
 * internal. */
static SPF_data_t *spfcheck_macro_data(SPF_macro_t *m)
{
    return (SPF_data_t *)(void *)((char *)m + sizeof(SPF_macro_t));
}

/* Expand a compiled macro for the current request into *bufp. */
static SPF_errcode_t spfcheck_expand(SPF_server_t *server, struct spfcheck_ctx *c,
                                     SPF_macro_t *m, char **bufp, size_t *buflenp)
{
    SPF_response_t *tmp = SPF_response_new(c->req);
    SPF_errcode_t err;

    if (tmp == NULL)
        log_fatal("spf: out of memory");
    err = SPF_record_expand_data(server, c->req, tmp, spfcheck_macro_data(m), m->macro_len,
                                 bufp, buflenp);
    SPF_response_free(tmp);
    return err;
}

static SPF_errcode_t spfcheck_get_exp(SPF_server_t *server, const char *domain,
                                      char **bufp, size_t *buflenp)
{
    struct spfcheck_ctx *c = server->resolver->hook;
    char *name = xstrdup(domain); /* domain points into *bufp */
    SPF_macro_t *m = NULL;
    SPF_errcode_t err = SPF_E_NOT_SPF;
    dns_answer *a = NULL;
    char *txt = NULL;
    size_t tl = 0;

    /* RFC 6.2: no lookup counting; any problem means the default text. */
    if (c->stop == STOP_NONE && spfcheck_domain_ok(name) &&
        dns_lookup(c->dns, name, ns_t_txt, &a) == DNS_ANSWER && a->count == 1 &&
        dns_rdata_txt(a->rdata[0], a->rdlen[0], &txt, &tl) && tl <= SPFCHECK_MAX_EXP &&
        spfcheck_printable(txt, tl)) {
        size_t pct = 0, spaces = 0;
        bool syntax = true, em;
        for (size_t i = 0; i < tl; i++) {
            pct += txt[i] == '%';
            spaces += txt[i] == ' ';
        }
        /* explain-string = *( macro-string / SP ) */
        for (size_t i = 0; i < tl && syntax;) {
            size_t j = i;
            while (j < tl && txt[j] != ' ')
                j++;
            syntax = spfcheck_macro_string(txt + i, j - i, true, &em);
            i = j + 1;
        }
        if (pct <= SPFCHECK_MAX_EXP_MACROS && tl + spaces <= SPFCHECK_MAX_TERM && syntax) {
            SPF_response_t *tmp = SPF_response_new(c->req);
            if (tmp == NULL)
                log_fatal("spf: out of memory");
            /* RFC 7208 explain-string allows SP; libspf2's macro compiler
             * does not, so spaces go in as "%_" (a space). */
            char *sp = xmalloc(tl * 2 + 1), *q = sp;
            for (size_t i = 0; i < tl; i++) {
                if (txt[i] == ' ') {
                    *q++ = '%';
                    *q++ = '_';
                } else {
                    *q++ = txt[i];
                }
            }
            *q = '\0';
            err = SPF_record_compile_macro(server, tmp, &m, sp);
            free(sp);
            SPF_response_free(tmp);
            if (err == SPF_E_SUCCESS)
                err = spfcheck_expand(server, c, m, bufp, buflenp);
            if (m)
                SPF_macro_free(m);
        }
    }
    free(txt);
    dns_answer_free(a);
    free(name);
    if (err != SPF_E_SUCCESS && server->explanation)
        err = spfcheck_expand(server, c, server->explanation, bufp, buflenp);
    return err;
}

/* libspf2 logging: warnings to our log, the rest dropped.  Errors (its
 * assertions) keep libspf2's default handler, which aborts. */
static void spfcheck_log_warning(const char *file, int line, const char *msg)
{
    (void)file;
    (void)line;
    log_warn("spf: libspf2: %s", msg);
}

static void spfcheck_log_drop(const char *file, int line, const char *msg)
{
    (void)file;
    (void)line;
    (void)msg;
}

static pthread_once_t spfcheck_once = PTHREAD_ONCE_INIT;

static void spfcheck_init(void)
{
    SPF_warning_handler = spfcheck_log_warning;
    SPF_info_handler = spfcheck_log_drop;
    SPF_debug_handler = spfcheck_log_drop;
}

/* ---- the check ---------------------------------------------------------- */

static spfcheck_result spfcheck_map(SPF_result_t r)
{
    switch (r) {
    case SPF_RESULT_NEUTRAL: return SPFCHECK_NEUTRAL;
    case SPF_RESULT_PASS: return SPFCHECK_PASS;
    case SPF_RESULT_FAIL: return SPFCHECK_FAIL;
    case SPF_RESULT_SOFTFAIL: return SPFCHECK_SOFTFAIL;
    case SPF_RESULT_NONE: return SPFCHECK_NONE;
    case SPF_RESULT_TEMPERROR: return SPFCHECK_TEMPERROR;
    case SPF_RESULT_PERMERROR:
    case SPF_RESULT_INVALID:
    default: return SPFCHECK_PERMERROR;
    }
}

static spfcheck_result spfcheck_done(spfcheck_output *out, spfcheck_result r,
                                     const char *domain, const char *reason)
{
    out->result = r;
    free(out->domain);
    out->domain = domain ? spfcheck_sanitize(domain, 253) : NULL;
    free(out->reason);
    out->reason = spfcheck_sanitize(reason, 200);
    return r;
}

static bool spfcheck_set_ip(SPF_request_t *req, const char *ip)
{
    struct in_addr v4;
    struct in6_addr v6;

    if (ip == NULL)
        return false;
    if (inet_pton(AF_INET, ip, &v4) == 1)
        return SPF_request_set_ipv4(req, v4) == SPF_E_SUCCESS;
    if (inet_pton(AF_INET6, ip, &v6) == 1) {
        if (IN6_IS_ADDR_V4MAPPED(&v6)) {
            memcpy(&v4, &v6.s6_addr[12], 4);
            return SPF_request_set_ipv4(req, v4) == SPF_E_SUCCESS;
        }
        return SPF_request_set_ipv6(req, v6) == SPF_E_SUCCESS;
    }
    return false;
}

/* Evaluate check_host() for domain, with sender (an address with a local
 * part) and the HELO name for the macros. */
static spfcheck_result spfcheck_run(dns_t *dns, const spfcheck_input *in, const char *sender,
                                    const char *domain, spfcheck_output *out)
{
    struct spfcheck_ctx c;
    SPF_dns_server_t layer;
    SPF_server_t *server;
    SPF_request_t *req;
    SPF_response_t *resp, *tmp = NULL;
    SPF_record_t *rec = NULL;
    SPF_errcode_t err;
    spfcheck_result r;
    char reason[256];

    pthread_once(&spfcheck_once, spfcheck_init);
    memset(&c, 0, sizeof(c));
    c.dns = dns;
    spfcheck_marker(c.cidr0_marker, sizeof(c.cidr0_marker));
    clock_gettime(CLOCK_MONOTONIC, &c.deadline);
    c.deadline.tv_sec += SPFCHECK_MAX_SECONDS;
    memset(&layer, 0, sizeof(layer));
    layer.destroy = NULL; /* ours: SPF_server_free leaves it alone */
    layer.lookup = spfcheck_lookup;
    layer.get_spf = spfcheck_get_spf;
    layer.get_exp = spfcheck_get_exp;
    layer.name = "mxguard";
    layer.hook = &c;

    server = SPF_server_new_dns(&layer, 0);
    if (server == NULL)
        log_fatal("spf: out of memory");
    if (in->receiver && *in->receiver)
        SPF_server_set_rec_dom(server, in->receiver);
    SPF_server_set_explanation(server, SPFCHECK_DEFAULT_EXP, &tmp);
    if (tmp)
        SPF_response_free(tmp);
    req = SPF_request_new(server);
    if (req == NULL)
        log_fatal("spf: out of memory");
    c.req = req;

    if (!spfcheck_set_ip(req, in->client_ip)) {
        log_error("spf: bad client address \"%s\"", in->client_ip ? in->client_ip : "");
        r = spfcheck_done(out, SPFCHECK_TEMPERROR, domain, "bad client address");
        goto done_noresp;
    }
    if (in->helo && *in->helo)
        SPF_request_set_helo_dom(req, in->helo);
    if (SPF_request_set_env_from(req, sender) != 0) {
        r = spfcheck_done(out, SPFCHECK_PERMERROR, domain, "bad sender");
        goto done_noresp;
    }
    req->cur_dom = domain;

    resp = SPF_response_new(req);
    if (resp == NULL)
        log_fatal("spf: out of memory");
    err = SPF_server_get_record(server, req, resp, &rec);
    if (err != SPF_E_SUCCESS) {
        if (rec)
            SPF_record_free(rec);
        if (c.stop == STOP_NONE && resp->result == SPF_RESULT_NONE) {
            r = SPFCHECK_NONE;
            snprintf(reason, sizeof(reason), "no SPF record");
        } else if (c.stop == STOP_NONE && err == SPF_E_DNS_ERROR) {
            r = SPFCHECK_TEMPERROR;
            snprintf(reason, sizeof(reason), "DNS error looking up the SPF record");
        } else {
            r = SPFCHECK_PERMERROR;
            snprintf(reason, sizeof(reason), "%s", c.detail[0] ? c.detail : SPF_strerror(err));
        }
    } else {
        resp->spf_record_exp = rec;
        err = SPF_record_interpret(rec, req, resp, 0);
        resp->spf_record_exp = NULL;
        SPF_record_free(rec);
        r = spfcheck_map(resp->result);
        switch (resp->reason) {
        case SPF_REASON_MECH:
            snprintf(reason, sizeof(reason), "mechanism matched");
            break;
        case SPF_REASON_DEFAULT:
            snprintf(reason, sizeof(reason), "no mechanism matched");
            break;
        default:
            if (r == SPFCHECK_TEMPERROR)
                snprintf(reason, sizeof(reason), "DNS error during evaluation");
            else if (c.detail[0])
                snprintf(reason, sizeof(reason), "%s", c.detail);
            else
                snprintf(reason, sizeof(reason), "%s", SPF_strerror(err != SPF_E_SUCCESS ? err : resp->err));
            break;
        }
        if (r == SPFCHECK_FAIL && resp->explanation && c.stop == STOP_NONE)
            out->explanation = spfcheck_sanitize(resp->explanation, SPFCHECK_MAX_EXPLANATION);
    }
    if (c.stop == STOP_DNS_TERMS) {
        r = SPFCHECK_PERMERROR;
        snprintf(reason, sizeof(reason), "DNS lookup limit exceeded");
    } else if (c.stop == STOP_VOID) {
        r = SPFCHECK_PERMERROR;
        snprintf(reason, sizeof(reason), "void lookup limit exceeded");
    } else if (c.stop == STOP_MX) {
        r = SPFCHECK_PERMERROR;
        snprintf(reason, sizeof(reason), "more than 10 MX records");
    } else if (c.stop == STOP_TIME) {
        r = SPFCHECK_TEMPERROR;
        snprintf(reason, sizeof(reason), "overall time limit of %d s exceeded", SPFCHECK_MAX_SECONDS);
    }
    if (r != SPFCHECK_FAIL) {
        free(out->explanation);
        out->explanation = NULL;
    }
    spfcheck_done(out, r, domain, reason);
    SPF_response_free(resp);

done_noresp:
    spfcheck_pending_clear(&c);
    SPF_request_free(req);
    SPF_server_free(server);
    return r;
}

static void spfcheck_reset(spfcheck_output *out)
{
    spfcheck_output_clear(out);
}

spfcheck_result spfcheck_mailfrom(dns_t *dns, const spfcheck_input *in, spfcheck_output *out)
{
    const char *mf = in->mail_from ? in->mail_from : "";
    const char *at, *domain;
    char *sender;
    spfcheck_result r;

    spfcheck_reset(out);
    if (*mf == '\0') {
        /* RFC 7208 2.4: the null sender is checked as postmaster@HELO. */
        if (!spfcheck_domain_ok(in->helo))
            return spfcheck_done(out, SPFCHECK_NONE, NULL, "null sender and no usable HELO name");
        sender = xasprintf("postmaster@%s", in->helo);
        r = spfcheck_run(dns, in, sender, in->helo, out);
        free(sender);
        return r;
    }
    at = strrchr(mf, '@');
    domain = at ? at + 1 : mf;
    if (!spfcheck_domain_ok(domain))
        return spfcheck_done(out, SPFCHECK_NONE, domain, "sender domain is not a valid domain name");
    if (at && (size_t)(at - mf) > SPFCHECK_MAX_LOCALPART)
        return spfcheck_done(out, SPFCHECK_PERMERROR, domain, "sender local-part too long");
    /* RFC 7208 4.3: no local-part means "postmaster". */
    if (at == NULL || at == mf)
        sender = xasprintf("postmaster@%s", domain);
    else
        sender = xstrdup(mf);
    r = spfcheck_run(dns, in, sender, domain, out);
    free(sender);
    return r;
}

spfcheck_result spfcheck_helo(dns_t *dns, const spfcheck_input *in, spfcheck_output *out)
{
    char *sender;
    spfcheck_result r;

    spfcheck_reset(out);
    if (!spfcheck_domain_ok(in->helo))
        return spfcheck_done(out, SPFCHECK_NONE, NULL, "HELO name is not a domain name");
    /* RFC 7208 2.3: the sender is postmaster@HELO. */
    sender = xasprintf("postmaster@%s", in->helo);
    r = spfcheck_run(dns, in, sender, in->helo, out);
    free(sender);
    return r;
}
