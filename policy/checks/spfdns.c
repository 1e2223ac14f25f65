/*
 * spfdns.c - the DNS layer libspf2 evaluates a record through, with the
 * RFC 7208 4.6.4 limits (spfdns.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>

#include <spf2/spf.h>
#include <spf2/spf_dns.h>
#include <spf2/spf_dns_rr.h>

#include "dname.h"
#include "log.h"
#include "spfdns.h"
#include "spfrecord.h"
#include "xalloc.h"

#define SPFDNS_MAX_DNS_TERMS 10 /* RFC 7208 4.6.4 */
#define SPFDNS_MAX_VOID 2       /* RFC 7208 4.6.4 */
#define SPFDNS_MAX_NAMES 10     /* address lookups per mx / ptr term */
#define SPFDNS_LIBSPF2_MECH_OCTETS 511 /* libspf2's SPF_MAX_MECH_LEN (spfdns.h) */

/* Per-check state, the hook of its own SPF_dns_server_t. */
struct spfdns {
    SPF_dns_server_t layer;     /* hook = this struct */
    dns_t *dns;
    SPF_request_t *req;
    bool top_fetched;           /* the first get_spf is the checked domain */
    int dns_terms;              /* DNS-querying terms so far */
    int void_lookups;           /* void answers to those terms */
    spfdns_stop stop;
    char *pending[SPFDNS_MAX_NAMES]; /* MX/PTR names whose A/AAAA come next */
    bool pending_ptr;           /* ... and they came from a PTR answer */
    int npending, nextpending;
    bool pending_cidr0;         /* the pending names belong to an mx/0 term */
    char cidr0_marker[40];      /* this check's marker label, see SPFDNS_CIDR0 */
    struct timespec deadline;   /* overall limit of the check (RFC 7208 4.6.4) */
    char detail[160];           /* reason text for the output */
};


/* Marker label appended to the target of an a/mx term whose relevant CIDR
 * length is 0 (libspf2 refuses /0); spfdns_lookup() strips it and answers
 * "the client's own address" when the name has any address, which is what
 * /0 means.  The label carries a random nonce per check, so that a name
 * built from client-controlled macros (%{h}, %{l}, %{s}, %{o}) cannot
 * forge it. */
#define SPFDNS_CIDR0 "._mxguard-cidr0-"

static void spfdns_check_time(struct spfdns *c)
{
    struct timespec now;

    if (c->stop != SPFDNS_STOP_NONE)
        return;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > c->deadline.tv_sec ||
        (now.tv_sec == c->deadline.tv_sec && now.tv_nsec >= c->deadline.tv_nsec))
        c->stop = SPFDNS_STOP_TIME;
}

/* A fresh marker label: SPFDNS_CIDR0 and 16 random hex digits. */
static void spfdns_marker(char *out, size_t outsz)
{
    uint64_t nonce = 0;

    if (getrandom(&nonce, sizeof(nonce), 0) != (ssize_t)sizeof(nonce)) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        nonce = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec ^ (uint64_t)(uintptr_t)out;
    }
    snprintf(out, outsz, "%s%016llx", SPFDNS_CIDR0, (unsigned long long)nonce);
}

/* Compare two names ignoring case and one trailing dot. */
static bool spfdns_same_name(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la && a[la - 1] == '.')
        la--;
    if (lb && b[lb - 1] == '.')
        lb--;
    return la == lb && strncasecmp(a, b, la) == 0;
}

static void spfdns_pending_clear(struct spfdns *c)
{
    for (int i = 0; i < c->npending; i++)
        free(c->pending[i]);
    c->npending = c->nextpending = 0;
}

/* Count one DNS-querying term; false (and stop) when over the limit. */
static bool spfdns_count_term(struct spfdns *c)
{
    if (++c->dns_terms > SPFDNS_MAX_DNS_TERMS) {
        if (c->stop == SPFDNS_STOP_NONE)
            c->stop = SPFDNS_STOP_DNS_TERMS;
        return false;
    }
    return true;
}

/* ---- the libspf2 DNS layer ---------------------------------------------- */

static SPF_dns_rr_t *spfdns_rr_status(SPF_dns_server_t *srv, const char *domain,
                                        ns_type type, SPF_dns_stat_t herrno)
{
    SPF_dns_rr_t *rr = SPF_dns_rr_new_init(srv, domain, type, 0, herrno);
    if (rr == NULL)
        log_fatal("spf: out of memory");
    return rr;
}

/* Can this be asked of DNS: not empty, labels 1..63 octets, <= 253 octets
 * (a trailing dot is allowed)? */
static bool spfdns_name_valid(const char *d)
{
    size_t len = strlen(d), label = 0;

    if (len && d[len - 1] == '.')
        len--;
    if (len == 0 || len > DNAME_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (d[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (++label > DNAME_LABEL_MAX) {
            return false;
        }
    }
    return label > 0;
}

static SPF_dns_stat_t spfdns_herrno(dns_status st)
{
    switch (st) {
    case DNS_ANSWER: return NETDB_SUCCESS;
    case DNS_NXDOMAIN: return HOST_NOT_FOUND;
    case DNS_NODATA: return NO_DATA;
    default: return TRY_AGAIN;
    }
}

/* Fill rr from a dns answer; returns the number of records stored. */
static int spfdns_fill(SPF_dns_rr_t *rr, const dns_answer *a, ns_type type, int max)
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

/* Is this lookup a term of its own (a, mx, ptr, exists) rather than an
 * address lookup of an MX/PTR name just returned?  Keeps the pending names
 * in order; *cidr0 becomes true for the names of an mx/0 term, *ptr_name
 * for the names of a PTR answer, *max the number of records to keep. */
static bool spfdns_is_term(struct spfdns *c, const char *domain, ns_type type, int should_cache, bool *cidr0,
                           bool *ptr_name, int *max)
{
    switch (type) {
    case ns_t_a:
    case ns_t_aaaa:
        if (c->nextpending < c->npending && spfdns_same_name(domain, c->pending[c->nextpending])) {
            c->nextpending++; /* address of an MX/PTR name: part of its term */
            *cidr0 = c->pending_cidr0;
            *ptr_name = c->pending_ptr;
            return false;
        }
        spfdns_pending_clear(c);
        return true; /* a, exists */
    case ns_t_mx:
        spfdns_pending_clear(c);
        return true;
    case ns_t_ptr:
        spfdns_pending_clear(c);
        *max = SPFDNS_MAX_NAMES;
        /* libspf2 asks with should_cache for the ptr mechanism, without
         * for the %{p} macro, which is not a term. */
        return should_cache != 0;
    default:
        return false;
    }
}

/* The RFC 7208 4.6.4 limits and the mx/0, a/0 answer on the answer rr of a
 * lookup (term: it counted as a term); when the check stops, rr says
 * TRY_AGAIN. */
static void spfdns_apply_limits(struct spfdns *c, SPF_dns_rr_t *rr, ns_type type, bool term, bool cidr0)
{
    if (type == ns_t_ptr)
        c->pending_cidr0 = false; /* PTR names never inherit an mx/0 */
    if (type == ns_t_mx) {
        c->pending_cidr0 = cidr0;
        /* RFC 7208 4.6.4: more than 10 MX records is a permerror, whether
         * or not one of the first ten would match (libspf2 checks those
         * first). */
        if (rr->herrno == NETDB_SUCCESS && rr->num_rr > SPFDNS_MAX_NAMES) {
            c->stop = SPFDNS_STOP_MX;
            rr->herrno = TRY_AGAIN;
            rr->num_rr = 0;
            return;
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
        if (++c->void_lookups > SPFDNS_MAX_VOID) {
            c->stop = SPFDNS_STOP_VOID;
            rr->herrno = TRY_AGAIN;
            rr->num_rr = 0;
            return;
        }
    }
    if ((type == ns_t_mx || type == ns_t_ptr) && rr->herrno == NETDB_SUCCESS) {
        c->pending_ptr = type == ns_t_ptr;
        for (int i = 0; i < rr->num_rr && c->npending < SPFDNS_MAX_NAMES; i++)
            c->pending[c->npending++] = xstrdup(rr->rr[i]->mx);
    }
}

static SPF_dns_rr_t *spfdns_lookup(SPF_dns_server_t *srv, const char *domain, ns_type type, int should_cache)
{
    struct spfdns *c = srv->hook;
    char *stripped = NULL;
    const char *qname = domain;
    bool cidr0 = false, ptr_name = false, term;
    dns_answer *a = NULL;
    dns_status st;
    SPF_dns_rr_t *rr;
    int max = 1 << 16;
    size_t dl = strlen(domain), ml = strlen(c->cidr0_marker);

    spfdns_check_time(c);
    if (c->stop != SPFDNS_STOP_NONE)
        return spfdns_rr_status(srv, domain, type, TRY_AGAIN);
    if (dl > ml && strcasecmp(domain + dl - ml, c->cidr0_marker) == 0) {
        stripped = xstrndup(domain, dl - ml);
        qname = stripped;
        cidr0 = true;
    }
    term = spfdns_is_term(c, domain, type, should_cache, &cidr0, &ptr_name, &max);
    if (term && !spfdns_count_term(c)) {
        free(stripped);
        return spfdns_rr_status(srv, domain, type, TRY_AGAIN);
    }
    if (spfdns_name_valid(qname)) {
        st = dns_lookup(c->dns, qname, (int)type, &a);
    } else {
        /* RFC 7208 4.8/5: a target that is no valid DNS name (empty or
         * long label, empty name) does not exist; no query is made. */
        st = DNS_NXDOMAIN;
        term = false;
    }
    rr = spfdns_rr_status(srv, domain, type, spfdns_herrno(st));
    if (ptr_name && rr->herrno == TRY_AGAIN) {
        /* RFC 7208 5.5: "If a DNS error occurs while doing an A RR lookup,
         * then that domain name is skipped and the search continues" (the
         * suite's ptr-cname-loop: a CNAME loop is SERVFAIL through a real
         * resolver).  Skipped as a name without addresses. */
        rr->herrno = HOST_NOT_FOUND;
    }
    if (st == DNS_ANSWER && spfdns_fill(rr, a, type, max) == 0)
        rr->herrno = NO_DATA;
    dns_answer_free(a);
    free(stripped);
    spfdns_apply_limits(c, rr, type, term, cidr0);
    return rr;
}

/* End a get_spf with result (none or permerror) and error code err; a
 * permerror also records err in the response. */
static SPF_errcode_t spfdns_refuse(SPF_response_t *resp, SPF_result_t result, SPF_errcode_t err, const char *msg)
{
    resp->result = result;
    resp->reason = SPF_REASON_FAILURE;
    if (result == SPF_RESULT_PERMERROR)
        resp->err = err;
    return SPF_response_add_error(resp, err, "%s", msg);
}

/* RFC 7208 4.5: the one "v=spf1" TXT record of domain into *found (caller
 * frees), or the error that ends the check. */
static SPF_errcode_t spfdns_select(struct spfdns *c, const char *domain, SPF_response_t *resp, char **found,
                                   size_t *found_len)
{
    dns_answer *a = NULL;
    dns_status st = dns_lookup(c->dns, domain, DNS_TYPE_TXT, &a);
    int nfound = 0;

    if (st == DNS_NXDOMAIN || st == DNS_NODATA) {
        dns_answer_free(a);
        return spfdns_refuse(resp, SPF_RESULT_NONE, SPF_E_NOT_SPF, "no SPF record");
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
        if (spfrecord_is_spf1(txt, tl)) {
            nfound++;
            free(*found);
            *found = txt;
            *found_len = tl;
        } else {
            free(txt);
        }
    }
    dns_answer_free(a);
    if (nfound == 0)
        return spfdns_refuse(resp, SPF_RESULT_NONE, SPF_E_NOT_SPF, "no SPF record");
    if (nfound > 1) {
        free(*found);
        *found = NULL;
        snprintf(c->detail, sizeof(c->detail), "multiple SPF records");
        return spfdns_refuse(resp, SPF_RESULT_PERMERROR, SPF_E_MULTIPLE_RECORDS, "multiple SPF records");
    }
    return SPF_E_SUCCESS;
}

/* Bound, normalize and compile the record found (freed here); the
 * compiled record must hold every term (see spfdns.h). */
static SPF_errcode_t spfdns_compile(SPF_server_t *server, struct spfdns *c, SPF_response_t *resp, char *found,
                                    size_t found_len, SPF_record_t **recp)
{
    char *norm = NULL;
    int want_mech = 0, want_mod = 0;
    SPF_errcode_t err;

    if (!spfrecord_bounds_ok(found, found_len, c->detail, sizeof(c->detail))) {
        free(found);
        return spfdns_refuse(resp, SPF_RESULT_PERMERROR, SPF_E_BIG_STRING, "record refused");
    }
    if (!spfrecord_normalize(found, found_len, c->req->client_ver == AF_INET6, c->cidr0_marker, &norm, c->detail,
                             sizeof(c->detail))) {
        free(found);
        return spfdns_refuse(resp, SPF_RESULT_PERMERROR, SPF_E_SYNTAX, "record syntax");
    }
    free(found);
    spfrecord_count(norm, &want_mech, &want_mod);
    err = SPF_record_compile(server, resp, recp, norm);
    free(norm);
    if (err == SPF_E_SUCCESS && ((*recp)->num_mech != want_mech || (*recp)->num_mod != want_mod)) {
        /* libspf2 dropped terms without an error (see spfdns.h): we cannot
         * evaluate this record correctly, so it is refused. */
        snprintf(c->detail, sizeof(c->detail),
                 "SPF record too large for libspf2: it compiles %d of %d mechanisms "
                 "(at most %d octets of compiled mechanisms)",
                 (*recp)->num_mech, want_mech, SPFDNS_LIBSPF2_MECH_OCTETS);
        SPF_record_free(*recp);
        *recp = NULL;
        return spfdns_refuse(resp, SPF_RESULT_PERMERROR, SPF_E_BIG_MECH, "record too large for libspf2");
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

static SPF_errcode_t spfdns_get_spf(SPF_server_t *server, SPF_request_t *req, SPF_response_t *resp,
                                    SPF_record_t **recp)
{
    struct spfdns *c = server->resolver->hook;
    const char *domain = req->cur_dom;
    char *found = NULL;
    size_t found_len = 0;
    SPF_errcode_t err;

    *recp = NULL;
    spfdns_check_time(c);
    if (c->stop != SPFDNS_STOP_NONE)
        return SPF_response_add_error(resp, SPF_E_DNS_ERROR, "evaluation stopped");
    if (c->top_fetched) {
        spfdns_pending_clear(c);
        if (!spfdns_count_term(c)) /* include, redirect */
            return SPF_response_add_error(resp, SPF_E_DNS_ERROR, "DNS term limit");
    }
    c->top_fetched = true;
    if (!spfrecord_domain_ok(domain))
        return spfdns_refuse(resp, SPF_RESULT_NONE, SPF_E_NOT_SPF, "not a valid domain");
    if ((err = spfdns_select(c, domain, resp, &found, &found_len)) != SPF_E_SUCCESS)
        return err;
    return spfdns_compile(server, c, resp, found, found_len, recp);
}

/* The data of a compiled macro follows its header (spf_record.h: "data:
 * (SPF_data_t[] = char[macro_len]) follows"); libspf2's accessor for it is
 * internal. */
static SPF_data_t *spfdns_macro_data(SPF_macro_t *m)
{
    return (SPF_data_t *)(void *)((char *)m + sizeof(SPF_macro_t));
}

/* Expand a compiled macro for the current request into *bufp. */
static SPF_errcode_t spfdns_expand(SPF_server_t *server, struct spfdns *c,
                                     SPF_macro_t *m, char **bufp, size_t *buflenp)
{
    SPF_response_t *tmp = SPF_response_new(c->req);
    SPF_errcode_t err;

    if (tmp == NULL)
        log_fatal("spf: out of memory");
    err = SPF_record_expand_data(server, c->req, tmp, spfdns_macro_data(m), m->macro_len,
                                 bufp, buflenp);
    SPF_response_free(tmp);
    return err;
}

static SPF_errcode_t spfdns_get_exp(SPF_server_t *server, const char *domain,
                                      char **bufp, size_t *buflenp)
{
    struct spfdns *c = server->resolver->hook;
    char *name = xstrdup(domain); /* domain points into *bufp */
    SPF_macro_t *m = NULL;
    SPF_errcode_t err = SPF_E_NOT_SPF;
    dns_answer *a = NULL;
    char *txt = NULL, *sp;
    size_t tl = 0;

    /* RFC 6.2: no lookup counting; any problem means the default text. */
    if (c->stop == SPFDNS_STOP_NONE && spfrecord_domain_ok(name) &&
        dns_lookup(c->dns, name, DNS_TYPE_TXT, &a) == DNS_ANSWER && a->count == 1 &&
        dns_rdata_txt(a->rdata[0], a->rdlen[0], &txt, &tl) && (sp = spfrecord_exp_macro(txt, tl)) != NULL) {
        SPF_response_t *tmp = SPF_response_new(c->req);
        if (tmp == NULL)
            log_fatal("spf: out of memory");
        err = SPF_record_compile_macro(server, tmp, &m, sp);
        free(sp);
        SPF_response_free(tmp);
        if (err == SPF_E_SUCCESS)
            err = spfdns_expand(server, c, m, bufp, buflenp);
        if (m)
            SPF_macro_free(m);
    }
    free(txt);
    dns_answer_free(a);
    free(name);
    if (err != SPF_E_SUCCESS && server->explanation)
        err = spfdns_expand(server, c, server->explanation, bufp, buflenp);
    return err;
}

/* ---- the layer's life ------------------------------------------------------ */

spfdns_t *spfdns_new(dns_t *dns)
{
    spfdns_t *c = xcalloc(1, sizeof(*c));

    c->dns = dns;
    spfdns_marker(c->cidr0_marker, sizeof(c->cidr0_marker));
    clock_gettime(CLOCK_MONOTONIC, &c->deadline);
    c->deadline.tv_sec += SPFDNS_MAX_SECONDS;
    c->layer.destroy = NULL; /* ours: SPF_server_free leaves it alone */
    c->layer.lookup = spfdns_lookup;
    c->layer.get_spf = spfdns_get_spf;
    c->layer.get_exp = spfdns_get_exp;
    c->layer.name = "mxguard";
    c->layer.hook = c;
    return c;
}

void spfdns_free(spfdns_t *c)
{
    if (c == NULL)
        return;
    spfdns_pending_clear(c);
    free(c);
}

SPF_dns_server_t *spfdns_server(spfdns_t *c)
{
    return &c->layer;
}

void spfdns_set_request(spfdns_t *c, SPF_request_t *req)
{
    c->req = req;
}

spfdns_stop spfdns_stopped(const spfdns_t *c)
{
    return c->stop;
}

const char *spfdns_detail(const spfdns_t *c)
{
    return c->detail;
}
