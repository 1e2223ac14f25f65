/*
 * session.c - one SMTP connection, event by event, without milter protocol types.
 *
 * The data path reads like the SMTP transaction: connect records the client,
 * helo the HELO name, mail takes the message's config snapshot and runs SPF,
 * rcpt asks the policy table about each recipient, header notes the
 * Authentication-Results headers that carry our authserv-id, eom asks the
 * table for the message's verdict, builds our A-R header and logs the one
 * decision line.
 *
 * SECURITY: every argument comes from the SMTP client through the MTA and is
 * untrusted; it only reaches other modules as NUL-terminated strings, and
 * everything written back (A-R header, log line) is quoted by authres.c and
 * declog.c.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "authres.h"
#include "declog.h"
#include "dmarccheck.h"
#include "dname.h"
#include "dmarcflush.h"
#include "dnsbl.h"
#include "fromhdr.h"
#include "log.h"
#include "session.h"
#include "snapshot.h"
#include "spfcheck.h"
#include "xalloc.h"

/* One message, from MAIL FROM to the next MAIL FROM, abort or the end of
 * the connection: made whole by msg_new() and freed whole by msg_free(), so
 * nothing of one message can leak into the next.  After end of message it
 * stays (ended) until then: the edits the glue applies point into it. */
typedef struct session_msg {
    bool active;             /* counted in flight: not ended yet */
    bool reported;           /* handed to the DMARC report rows */
    struct timespec t0;      /* when MAIL FROM arrived */
    time_t received;         /* idem, wall clock (the report period) */
    bool have_rcpt_verdict;  /* a rule refused a recipient */
    verdict_t rcpt_verdict;
    const char **dry;        /* names of dry-run rules that matched (borrowed from snap) */
    size_t ndry;
    int nauthres;            /* A-R headers seen so far */
    int *authres_delete;     /* indexes (1-based) of ours */
    size_t ndelete;
    char *authres_insert;    /* our header value at end of message */
    fromhdr_msg from;        /* the From fields, parsed once (DMARC, from lists) */
    dmarccheck_t *dmarc;     /* DMARC of the message (from end of headers), or NULL */
    dkimcheck_t *dkim;       /* DKIM verifier of the message, NULL if not checked */
    char *rcpt_text;         /* expanded reply text of a refused recipient */
    char *eom_text;          /* expanded reply text at end of message */
} session_msg;

struct session {
    snapshot_t *snap;        /* snapshot of the current message (or connection) */
    char *mta_name;          /* the MTA's {j}, or NULL */
    facts_t *f;              /* evidence so far */
    char *spf_helo_for;      /* HELO value spf_helo was computed for */
    session_msg *msg;        /* the current message, or NULL */
    /* DNS lists: the lookup borrows the snapshot's lists and resolver, so
     * it is freed (its queries waited for) before that snapshot is released */
    dnsbl_lookup_t *dnsbl;   /* NULL when no lists are configured */
    bool leadspc;            /* header values verbatim, leading space included */
    bool body_skipped;       /* the MTA does not send the body (negotiated) */
    rules_explain_fn explain; /* mxguard explain: every rule walk, or NULL */
    void *explain_arg;
};

static const session_reply reply_continue = {SESSION_CONTINUE, NULL, NULL, NULL};

/* Mark the message ended (the in-flight gauge of the metrics). */
static void msg_inactive(session_t *s)
{
    if (s->msg != NULL && s->msg->active) {
        metrics_in_flight(s->snap->metrics, -1);
        s->msg->active = false;
    }
}

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (long)(now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

/* A new message; an active one is counted in flight. */
static session_msg *msg_new(session_t *s, bool active)
{
    session_msg *m = xcalloc(1, sizeof(*m));

    m->active = active;
    if (active)
        metrics_in_flight(s->snap->metrics, 1);
    clock_gettime(CLOCK_MONOTONIC, &m->t0);
    m->received = time(NULL);
    fromhdr_msg_reset(&m->from);
    return m;
}

/* Forget the current message (keeps the connection and its snapshot). */
static void msg_free(session_t *s)
{
    session_msg *m = s->msg;

    facts_reset_message(s->f);
    dnsbl_lookup_end_message(s->dnsbl);
    if (m == NULL)
        return;
    msg_inactive(s);
    free(m->dry);
    free(m->authres_delete);
    free(m->authres_insert);
    free(m->rcpt_text);
    free(m->eom_text);
    dkimcheck_free(m->dkim);
    fromhdr_msg_reset(&m->from);
    dmarccheck_free(m->dmarc);
    free(m);
    s->msg = NULL;
}

/* The current message; a recipient, headers or a body without MAIL FROM
 * (no MTA sends them, the fuzzer does) get an inactive one of their own:
 * not in flight, no decision line unless it reaches end of message. */
static session_msg *msg_cur(session_t *s)
{
    if (s->msg == NULL)
        s->msg = msg_new(s, false);
    return s->msg;
}

/* Our authserv-id (mxguard.conf(5)): authserv_id from the config, else
 * the MTA's name, else the host name (the config's default).  The same for
 * the header written and the forged ones removed. */
static const char *our_authserv_id(const session_t *s)
{
    const conf_t *conf = s->snap->conf;

    return conf->authserv_id_set || s->mta_name == NULL ? conf->authserv_id : s->mta_name;
}

void session_mta_name(session_t *s, const char *name)
{
    free(s->mta_name);
    s->mta_name = name != NULL && dname_valid(name, strlen(name)) ? xstrdup(name) : NULL;
}

/* Start the DNS lists of the connection under the current snapshot. */
static void dnsbl_open(session_t *s)
{
    const conf_t *conf = s->snap->conf;

    if (dnsbl_conf_count(conf->dnsbl) == 0)
        return;
    s->dnsbl = dnsbl_lookup_new(conf->dnsbl, s->snap->dns);
    dnsbl_lookup_client(s->dnsbl, s->f->client_addr, s->f->trusted);
    dnsbl_lookup_helo(s->dnsbl, s->f->helo);
}

/* Wait for and drop every DNS list query (before the snapshot goes). */
static void dnsbl_close(session_t *s)
{
    dnsbl_lookup_free(s->dnsbl);
    s->dnsbl = NULL;
    facts_dnsbl_clear(&s->f->dnsbl);
}

/* Put the results of the DNS lists known by the current stage into the
 * facts (waiting for their queries): the rules, the decision line, the A-R
 * header and the metrics read them there. */
static void dnsbl_fill(session_t *s)
{
    dnsbl_lookup_result(s->dnsbl, s->f->stage, &s->f->dnsbl);
}

/* Fill ${dnsbl...} in the text of a verdict; the copy lives in *buf until
 * the message is reset. */
static void expand_reply(session_t *s, verdict_t *v, char **buf)
{
    if (v->text == NULL || strstr(v->text, "${dnsbl") == NULL)
        return;
    free(*buf);
    *buf = dnsbl_lookup_expand(s->dnsbl, v->text);
    v->text = *buf;
}

/* The message's row of the DMARC aggregate reports, once per message
 * (dmarcflush.h decides whether it makes one: DMARC evaluated, a rua, not
 * our own report mail, a verdict that took or refused the message). */
static void msg_report(session_t *s, session_msg *m, const verdict_t *v)
{
    if (s->snap->reports == NULL || m->reported)
        return;
    m->reported = true;
    dmarcflush_add(s->snap->reports, s->f, v, m->received, fromhdr_msg_address(&m->from));
}

/* Log the one decision line of the current message (the one place its
 * verdict is final) and hand its facts to the reports. */
static void msg_log(session_t *s, const verdict_t *v, facts_stage stage)
{
    session_msg *m = msg_cur(s);
    declog_entry e = {
        .facts = s->f,
        .verdict = v,
        .stage = stage,
        .dry_run = m->dry,
        .ndry_run = m->ndry,
        .elapsed_ms = elapsed_ms(&m->t0),
    };
    char *line;

    dnsbl_fill(s);
    line = declog_format(&e);
    log_info("%s", line);
    free(line);
    metrics_decision(s->snap->metrics, &e);
    msg_report(s, m, v);
}

/* The MTA ended the message before end-of-message: if we refused recipients,
 * that was our decision and gets its line. */
static void msg_end_early(session_t *s)
{
    if (s->msg != NULL && s->msg->active && s->msg->have_rcpt_verdict)
        msg_log(s, &s->msg->rcpt_verdict, STAGE_RCPT);
    msg_free(s);
}

static void on_dryrun(const verdict_t *would, void *arg)
{
    session_msg *m = msg_cur(arg);

    for (size_t i = 0; i < m->ndry; i++)
        if (strcmp(m->dry[i], would->rule) == 0)
            return;
    m->dry = xreallocarray(m->dry, m->ndry + 1, sizeof(char *));
    m->dry[m->ndry++] = would->rule;
}

static session_reply verdict_reply(const verdict_t *v)
{
    session_reply r = {SESSION_CONTINUE, v->code, v->xcode, v->text};

    switch (v->action) {
    case ACTION_REJECT: r.status = SESSION_REJECT; break;
    case ACTION_TEMPFAIL: r.status = SESSION_TEMPFAIL; break;
    case ACTION_DISCARD: r.status = SESSION_DISCARD; break;
    default: break;
    }
    return r;
}

session_t *session_new(void)
{
    session_t *s;
    snapshot_t *snap = snapshot_acquire();

    if (snap == NULL)
        return NULL;
    s = xcalloc(1, sizeof(*s));
    s->snap = snap;
    s->f = facts_new();
    return s;
}

void session_free(session_t *s)
{
    if (s == NULL)
        return;
    msg_end_early(s);
    dnsbl_close(s);
    facts_free(s->f);
    free(s->spf_helo_for);
    free(s->mta_name);
    snapshot_release(s->snap);
    free(s);
}

bool session_reads_body(const session_t *s)
{
    return s->snap->dkim != NULL;
}

void session_set_body_skipped(session_t *s, bool skipped)
{
    s->body_skipped = skipped;
}

void session_set_leadspc(session_t *s, bool on)
{
    s->leadspc = on;
}

const facts_t *session_facts(const session_t *s)
{
    return s->f;
}

void session_set_explain(session_t *s, rules_explain_fn fn, void *arg)
{
    s->explain = fn;
    s->explain_arg = arg;
}

dnsbl_lookup_t *session_dnsbl(const session_t *s)
{
    return s->dnsbl;
}

session_reply session_connect(session_t *s, const char *hostname, const char *addr)
{
    facts_set(&s->f->client_addr, addr && *addr ? addr : NULL);
    facts_set(&s->f->client_name, hostname && *hostname ? hostname : "unknown");
    s->f->trusted = cidr_list_match(s->snap->conf->trusted, s->f->client_addr);
    s->f->stage = STAGE_CONNECT;
    dnsbl_close(s);
    dnsbl_open(s);
    return reply_continue;
}

session_reply session_helo(session_t *s, const char *helo)
{
    facts_set(&s->f->helo, helo);
    if (s->f->stage < STAGE_HELO)
        s->f->stage = STAGE_HELO;
    dnsbl_lookup_helo(s->dnsbl, s->f->helo);
    return reply_continue;
}

/* The address inside a MAIL FROM / RCPT TO argument: strips <>, blanks and
 * an RFC 5321 source route ("<@a,@b:user@example.com>").  Caller frees. */
static char *envelope_address(const char *arg)
{
    const char *p = arg ? arg : "";
    const char *end, *colon;

    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '<')
        p++;
    end = p + strlen(p);
    while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end > p && end[-1] == '>')
        end--;
    if (*p == '@' && (colon = memchr(p, ':', (size_t)(end - p))) != NULL)
        p = colon + 1;
    return xstrndup(p, (size_t)(end - p));
}

/* SPF for the message: MAIL FROM always, HELO once per HELO value. */
static void run_spf(session_t *s)
{
    const conf_t *conf = s->snap->conf;
    facts_t *f = s->f;
    spfcheck_input in = {
        .client_ip = f->client_addr,
        .helo = f->helo,
        .mail_from = f->mail_from,
        .receiver = our_authserv_id(s),
    };
    spfcheck_output out = {0};

    if (!conf->spf_enabled || f->trusted || f->authenticated || f->client_addr == NULL) {
        f->spf_mfrom = SPFCHECK_UNSET;
        f->spf_helo = SPFCHECK_UNSET;
        return;
    }
    spfcheck_mailfrom(s->snap->dns, &in, &out);
    f->spf_mfrom = out.result;
    facts_set(&f->spf_domain, out.domain);
    facts_set(&f->spf_reason, out.reason);
    spfcheck_output_clear(&out);

    if (!conf->spf_helo || f->helo == NULL) {
        f->spf_helo = SPFCHECK_UNSET;
        return;
    }
    if (s->spf_helo_for && strcmp(s->spf_helo_for, f->helo) == 0 && f->spf_helo != SPFCHECK_UNSET)
        return;
    spfcheck_helo(s->snap->dns, &in, &out);
    f->spf_helo = out.result;
    facts_set(&s->spf_helo_for, f->helo);
    spfcheck_output_clear(&out);
}

session_reply session_mail(session_t *s, const char *from, const char *auth_user)
{
    snapshot_t *now;
    char *addr;

    msg_end_early(s);
    /* A message runs on the config current at its start. */
    now = snapshot_acquire();
    if (now != NULL && now != s->snap) {
        dnsbl_close(s);
        snapshot_release(s->snap);
        s->snap = now;
        s->f->trusted = cidr_list_match(s->snap->conf->trusted, s->f->client_addr);
        dnsbl_open(s);
    } else if (now != NULL) {
        snapshot_release(now);
    }
    s->msg = msg_new(s, true);

    addr = envelope_address(from);
    facts_set(&s->f->mail_from, addr);
    facts_set(&s->f->sender_domain, facts_addr_domain(addr));
    free(addr);
    s->f->authenticated = auth_user != NULL && *auth_user != '\0';
    facts_set(&s->f->auth_user, s->f->authenticated ? auth_user : NULL);
    s->f->stage = STAGE_MAIL;
    dnsbl_lookup_sender(s->dnsbl, s->f->sender_domain, s->f->authenticated || s->f->trusted);
    run_spf(s);
    /* DKIM, like SPF, is not checked for trusted or authenticated clients,
     * nor when the body was negotiated away before a reload turned it on. */
    if (s->snap->dkim != NULL && !s->body_skipped && !s->f->trusted && !s->f->authenticated)
        s->msg->dkim = dkimcheck_new(s->snap->dkim, s->f->queue_id);
    return reply_continue;
}

void session_queue_id(session_t *s, const char *queue_id)
{
    if (queue_id && *queue_id && (s->f->queue_id == NULL || strcmp(s->f->queue_id, queue_id) != 0)) {
        facts_set(&s->f->queue_id, queue_id);
        /* The verifier starts at MAIL, before the glue hands over {i}. */
        dkimcheck_set_id(s->msg ? s->msg->dkim : NULL, queue_id);
    }
}

session_reply session_rcpt(session_t *s, const char *rcpt)
{
    session_msg *m = msg_cur(s);
    verdict_t v;
    rules_outcome o;
    char *addr = envelope_address(rcpt);

    s->f->stage = STAGE_RCPT;
    dnsbl_fill(s);
    s->f->rcpt = addr;
    o = rules_eval_explain(s->snap->conf->rules, s->f, &v, on_dryrun, s, s->explain, s->explain_arg);
    s->f->rcpt = NULL;
    if (o == RULES_DECIDED && (v.action == ACTION_REJECT || v.action == ACTION_TEMPFAIL)) {
        s->f->nrcpts_rejected++;
        expand_reply(s, &v, &m->rcpt_text);
        m->rcpt_verdict = v;
        m->have_rcpt_verdict = true;
        free(addr);
        return verdict_reply(&v);
    }
    facts_add_rcpt(s->f, addr);
    free(addr);
    return reply_continue;
}

session_reply session_header(session_t *s, const char *name, const char *value)
{
    const conf_t *conf = s->snap->conf;
    session_msg *m = msg_cur(s);

    /* The verifier gets the value exactly as in the message (leading
     * white space included: SMFIP_HDR_LEADSPC; without it, the usual one
     * space is put back); the other checks skip it. */
    if (m->dkim != NULL && s->leadspc) {
        dkimcheck_header(m->dkim, name, value ? value : "");
    } else if (m->dkim != NULL) {
        char *v = xasprintf(" %s", value ? value : "");
        dkimcheck_header(m->dkim, name, v);
        free(v);
    }
    while (value && (*value == ' ' || *value == '\t'))
        value++;
    if (strcasecmp(name, "From") == 0)
        fromhdr_msg_add(&m->from, value);
    if (strcasecmp(name, AUTHRES_HEADER) != 0)
        return reply_continue;
    m->nauthres++;
    if (conf->authres_strip && authres_is_ours(our_authserv_id(s), value ? value : "")) {
        m->authres_delete = xreallocarray(m->authres_delete, m->ndelete + 1, sizeof(int));
        m->authres_delete[m->ndelete++] = m->nauthres;
    }
    return reply_continue;
}

session_reply session_eoh(session_t *s)
{
    session_msg *m = msg_cur(s);
    char from_domain[DNAME_BUFSZ];

    s->f->stage = STAGE_DATA;
    /* One From field with one mailbox, or no domain to query. */
    dnsbl_lookup_from(s->dnsbl, m->from.nfields == 1 && dnsbl_from_domain(&m->from.first, from_domain,
                                                                             sizeof(from_domain))
                                    ? from_domain
                                    : NULL);
    if (m->dkim != NULL)
        dkimcheck_eoh(m->dkim);
    /* DMARC, like SPF and DKIM, is not checked for trusted or authenticated
     * clients; the From domain's lookups start now, during the body. */
    if (s->snap->dmarc != NULL && !s->f->trusted && !s->f->authenticated && m->dmarc == NULL)
        m->dmarc = dmarccheck_start(s->snap->dmarc, &m->from);
    return reply_continue;
}

session_reply session_body(session_t *s, const unsigned char *chunk, size_t len)
{
    /* Streamed: each chunk is hashed and forgotten. */
    session_msg *m = msg_cur(s);

    if (m->dkim != NULL)
        dkimcheck_body(m->dkim, chunk, len);
    return reply_continue;
}

static int cmp_int_desc(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x < y) - (x > y);
}

session_reply session_eom(session_t *s, session_edits *edits, session_apply_fn apply, void *arg)
{
    static const verdict_t internal = {
        .action = ACTION_TEMPFAIL, .rule = "internal", .code = "451", .xcode = "4.3.0",
        .text = "Internal policy error, try again later",
    };
    static const verdict_t refused = {
        .action = ACTION_TEMPFAIL, .rule = "internal", .code = "451", .xcode = "4.3.0",
        .text = "Message could not be quarantined, try again later",
    };
    const conf_t *conf = s->snap->conf;
    session_msg *m = msg_cur(s);
    verdict_t v;
    session_reply r;

    memset(edits, 0, sizeof(*edits));
    s->f->stage = STAGE_EOM;
    dnsbl_fill(s);
    if (m->dkim != NULL) {
        s->f->dkim = dkimcheck_eom(m->dkim, &s->f->dkim_sigs, &s->f->ndkim_sigs);
        dkimcheck_free(m->dkim);
        m->dkim = NULL;
    }
    if (m->dmarc != NULL) {
        dmarccheck_input din = {
            .spf = s->f->spf_mfrom,
            .spf_domain = s->f->spf_domain,
            .sigs = s->f->dkim_sigs,
            .nsigs = s->f->ndkim_sigs,
        };
        dmarccheck_eval(m->dmarc, &din, &s->f->dmarc);
        dmarccheck_free(m->dmarc);
        m->dmarc = NULL;
    }
    if (rules_eval_explain(conf->rules, s->f, &v, on_dryrun, s, s->explain, s->explain_arg) != RULES_DECIDED) {
        log_error("policy table undecided at end of message: deferring it");
        v = internal;
    }
    expand_reply(s, &v, &m->eom_text);
    r = verdict_reply(&v);
    if (r.status == SESSION_CONTINUE) {
        /* Deletion indexes are applied from the last one up, so that no
         * deletion shifts the index of another (the CVE-2022-48521 bug).
         * Sorted, not just reversed: whatever came since an earlier end
         * of message (fuzz_session found headers after one), the order
         * holds. */
        if (m->ndelete > 1)
            qsort(m->authres_delete, m->ndelete, sizeof(*m->authres_delete), cmp_int_desc);
        edits->authres_delete = m->authres_delete;
        edits->nauthres_delete = m->ndelete;
        if (conf->authres_add) {
            free(m->authres_insert); /* a repeated end of message */
            m->authres_insert = authres_format(our_authserv_id(s), s->f);
            if (s->leadspc) {
                char *spaced = xasprintf(" %s", m->authres_insert);
                free(m->authres_insert);
                m->authres_insert = spaced;
            }
            edits->authres_insert = m->authres_insert;
        }
        if (v.action == ACTION_QUARANTINE)
            edits->quarantine = v.text ? v.text : v.rule;
        if (apply != NULL && !apply(edits, arg)) {
            log_error("the MTA refused the %s of the message: deferring it", verdict_action_name(v.action));
            v = refused;
            r = verdict_reply(&v);
        }
    }
    msg_log(s, &v, STAGE_EOM);
    /* The message is done; its state stays readable through edits until the
     * next call, which frees it. */
    msg_inactive(s);
    m->have_rcpt_verdict = false;
    return r;
}

void session_abort(session_t *s)
{
    msg_end_early(s);
}
