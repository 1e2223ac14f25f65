/*
 * spfcheck.c - SPF (RFC 7208) evaluation: the check_host() of a MAIL FROM
 * or HELO identity, with libspf2 interpreting the record over the layer
 * of spfdns.c (which fetches and bounds records through spfrecord.c).
 *
 * Each check builds its own SPF_server_t, request, response and layer, so
 * checks in different threads share nothing but the dns_t (which is
 * thread-safe).  Creating a server costs two small compiles (default
 * explanation, empty local policy): a few microseconds, far below one DNS
 * round trip (measured: about 1 us per server+request on this machine), so
 * no pooling.
 *
 * SECURITY: sender identities are bounded (local-part 128 octets, domain
 * 253) before they reach libspf2; explanations handed out are printable
 * ASCII only, at most 200 octets.  Records: spfrecord.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include <spf2/spf.h>

#include "dname.h"
#include "log.h"
#include "spfcheck.h"
#include "spfdns.h"
#include "spfrecord.h"
#include "xalloc.h"

#define SPFCHECK_MAX_LOCALPART 128
#define SPFCHECK_MAX_EXPLANATION 200

/* libspf2 compiles explanations as macro-strings: a space is "%_" */
#define SPFCHECK_DEFAULT_EXP "%{o}%_does%_not%_designate%_%{i}%_as%_a%_permitted%_sender"

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
    out->domain = domain ? spfcheck_sanitize(domain, DNAME_MAX) : NULL;
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

/* The result when no record could be evaluated (rec, if any, is freed). */
static spfcheck_result spfcheck_no_record(const spfdns_t *c, const SPF_response_t *resp, SPF_record_t *rec,
                                          SPF_errcode_t err, char *reason, size_t rsize)
{
    if (rec)
        SPF_record_free(rec);
    if (spfdns_stopped(c) == SPFDNS_STOP_NONE && resp->result == SPF_RESULT_NONE) {
        snprintf(reason, rsize, "no SPF record");
        return SPFCHECK_NONE;
    }
    if (spfdns_stopped(c) == SPFDNS_STOP_NONE && err == SPF_E_DNS_ERROR) {
        snprintf(reason, rsize, "DNS error looking up the SPF record");
        return SPFCHECK_TEMPERROR;
    }
    snprintf(reason, rsize, "%s", spfdns_detail(c)[0] ? spfdns_detail(c) : SPF_strerror(err));
    return SPFCHECK_PERMERROR;
}

/* Interpret the record (freed here) for the request; a fail's explanation
 * goes into out. */
static spfcheck_result spfcheck_interpret(const spfdns_t *c, SPF_request_t *req, SPF_response_t *resp,
                                          SPF_record_t *rec, char *reason, size_t rsize, spfcheck_output *out)
{
    SPF_errcode_t err;
    spfcheck_result r;

    resp->spf_record_exp = rec;
    err = SPF_record_interpret(rec, req, resp, 0);
    resp->spf_record_exp = NULL;
    SPF_record_free(rec);
    r = spfcheck_map(resp->result);
    if (resp->reason == SPF_REASON_MECH)
        snprintf(reason, rsize, "mechanism matched");
    else if (resp->reason == SPF_REASON_DEFAULT)
        snprintf(reason, rsize, "no mechanism matched");
    else if (r == SPFCHECK_TEMPERROR)
        snprintf(reason, rsize, "DNS error during evaluation");
    else if (spfdns_detail(c)[0])
        snprintf(reason, rsize, "%s", spfdns_detail(c));
    else
        snprintf(reason, rsize, "%s", SPF_strerror(err != SPF_E_SUCCESS ? err : resp->err));
    if (r == SPFCHECK_FAIL && resp->explanation && spfdns_stopped(c) == SPFDNS_STOP_NONE)
        out->explanation = spfcheck_sanitize(resp->explanation, SPFCHECK_MAX_EXPLANATION);
    return r;
}

/* A check the DNS layer stopped has the result of its limit, whatever
 * libspf2 made of the TRY_AGAIN that stopped it. */
static spfcheck_result spfcheck_stopped(const spfdns_t *c, spfcheck_result r, char *reason, size_t rsize)
{
    switch (spfdns_stopped(c)) {
    case SPFDNS_STOP_NONE: return r;
    case SPFDNS_STOP_DNS_TERMS: snprintf(reason, rsize, "DNS lookup limit exceeded"); return SPFCHECK_PERMERROR;
    case SPFDNS_STOP_VOID: snprintf(reason, rsize, "void lookup limit exceeded"); return SPFCHECK_PERMERROR;
    case SPFDNS_STOP_MX: snprintf(reason, rsize, "more than 10 MX records"); return SPFCHECK_PERMERROR;
    case SPFDNS_STOP_TIME:
        snprintf(reason, rsize, "overall time limit of %d s exceeded", SPFDNS_MAX_SECONDS);
        return SPFCHECK_TEMPERROR;
    }
    return r;
}

/* Evaluate check_host() for domain, with sender (an address with a local
 * part) and the HELO name for the macros. */
static spfcheck_result spfcheck_run(dns_t *dns, const spfcheck_input *in, const char *sender,
                                    const char *domain, spfcheck_output *out)
{
    spfdns_t *c;
    SPF_server_t *server;
    SPF_request_t *req;
    SPF_response_t *resp, *tmp = NULL;
    SPF_record_t *rec = NULL;
    SPF_errcode_t err;
    spfcheck_result r;
    char reason[256];

    pthread_once(&spfcheck_once, spfcheck_init);
    c = spfdns_new(dns);
    server = SPF_server_new_dns(spfdns_server(c), 0);
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
    spfdns_set_request(c, req);

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
    if (err != SPF_E_SUCCESS)
        r = spfcheck_no_record(c, resp, rec, err, reason, sizeof(reason));
    else
        r = spfcheck_interpret(c, req, resp, rec, reason, sizeof(reason), out);
    r = spfcheck_stopped(c, r, reason, sizeof(reason));
    if (r != SPFCHECK_FAIL) {
        free(out->explanation);
        out->explanation = NULL;
    }
    spfcheck_done(out, r, domain, reason);
    SPF_response_free(resp);

done_noresp:
    SPF_request_free(req);
    SPF_server_free(server);
    spfdns_free(c);
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
        if (!spfrecord_domain_ok(in->helo))
            return spfcheck_done(out, SPFCHECK_NONE, NULL, "null sender and no usable HELO name");
        sender = xasprintf("postmaster@%s", in->helo);
        r = spfcheck_run(dns, in, sender, in->helo, out);
        free(sender);
        return r;
    }
    at = strrchr(mf, '@');
    domain = at ? at + 1 : mf;
    if (!spfrecord_domain_ok(domain))
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
    if (!spfrecord_domain_ok(in->helo))
        return spfcheck_done(out, SPFCHECK_NONE, NULL, "HELO name is not a domain name");
    /* RFC 7208 2.3: the sender is postmaster@HELO. */
    sender = xasprintf("postmaster@%s", in->helo);
    r = spfcheck_run(dns, in, sender, in->helo, out);
    free(sender);
    return r;
}
