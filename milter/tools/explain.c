/*
 * explain.c - "mxguard explain": one stored message through the daemon's
 * own code path (config snapshot, session_connect .. session_eom, the same
 * checks, DNS layer and policy table), without an MTA; then what the
 * session found, printed for an operator:
 *
 *   - the envelope (from flags, else from the message's Received and
 *     Return-Path headers, and which values were assumed);
 *   - each check with its result and evidence (SPF result, the mechanism
 *     that decided and the record, every DKIM signature with d=, s=, a=,
 *     key size and result, every DNS list query and its answer);
 *   - every walk of the policy table (at each RCPT and at end of message),
 *     rule by rule: matched, which condition was false, pending, dry-run;
 *   - the verdict, the SMTP reply, the Authentication-Results header, and
 *     the decision line exactly as the daemon logs it.
 *
 * The message is fed like Postfix feeds a milter: header values verbatim
 * after the colon (leading space kept, folds as LF, SMFIP_HDR_LEADSPC),
 * the body with CRLF line ends in 64 KB chunks.
 *
 * SECURITY: the message is untrusted input, parsed here only to split
 * header fields and to read the envelope from trace headers (bounded
 * copies); everything else goes through the daemon's modules.  Values
 * printed back are quoted like decision-line values (no control bytes).
 * DNS queries go to the resolver the config names (dns.upstream).
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "authres.h"
#include "declog.h"
#include "strbuf.h"
#include "dns.h"
#include "dnsbl.h"
#include "explain.h"
#include "log.h"
#include "rules.h"
#include "session.h"
#include "snapshot.h"
#include "xalloc.h"

#define EXPLAIN_MSG_MAX (64L * 1024 * 1024) /* bytes of a message read */
#define EXPLAIN_CHUNK 65536                  /* body chunk, as the MTA sends them */
#define EXPLAIN_RCPT_MAX 100
#define EXPLAIN_FIELD_MAX 998                /* bytes kept of an envelope value */

/* ---- header fields ------------------------------------------------------ */

/* One header field: name and value as the MTA passes them (leading white
 * space kept, folds as LF, CR removed).  Caller frees both. */
typedef struct ex_field {
    char *name;
    char *value;
} ex_field;

/* Length of the line at p (without its LF) within end. */
static size_t ex_linelen(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? (size_t)(nl - p) : (size_t)(end - p);
}

/* Next header field at *pp; false at the end of the header block (*pp then
 * points at the body: after the empty line, or at a line that is no
 * header). */
static bool ex_next_field(const char **pp, const char *end, ex_field *out)
{
    const char *p = *pp, *colon;
    size_t n = 0, cap, len = ex_linelen(p, end);
    char *v;

    if (p >= end)
        return false;
    if (len == 0 || (len == 1 && p[0] == '\r')) {
        *pp = p + len + (p + len < end ? 1 : 0);
        return false;
    }
    colon = memchr(p, ':', len);
    if (colon == NULL || colon == p || p[0] == ' ' || p[0] == '\t')
        return false;
    for (const char *q = p; q < colon; q++)
        if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7f)
            return false;
    out->name = xstrndup(p, (size_t)(colon - p));
    cap = 256;
    v = xmalloc(cap);
    p = colon + 1;
    for (;;) {
        size_t l = ex_linelen(p, end);
        size_t take = l > 0 && p[l - 1] == '\r' ? l - 1 : l;

        if (n + take + 2 > cap) {
            cap = (n + take + 2) * 2;
            v = xrealloc(v, cap);
        }
        memcpy(v + n, p, take);
        n += take;
        p += l + (p + l < end ? 1 : 0);
        if (p >= end || (*p != ' ' && *p != '\t'))
            break;
        v[n++] = '\n';
    }
    v[n] = '\0';
    out->value = v;
    *pp = p;
    return true;
}

/* The first "<addr>" or bare addr in s; NULL if none.  Caller frees. */
static char *ex_angle_addr(const char *s)
{
    const char *lt = strchr(s, '<'), *gt;
    size_t n;

    if (lt != NULL && (gt = strchr(lt, '>')) != NULL) {
        n = (size_t)(gt - lt - 1);
        return n <= EXPLAIN_FIELD_MAX ? xstrndup(lt + 1, n) : NULL;
    }
    while (*s == ' ' || *s == '\t' || *s == '\n')
        s++;
    n = strcspn(s, " \t\n,;");
    return n > 0 && n <= EXPLAIN_FIELD_MAX && memchr(s, '@', n) ? xstrndup(s, n) : NULL;
}

/* "from HELO (NAME [IP])" ... "for <ADDR>" of a Received value. */
static void ex_received(const char *value, explain_envelope *env)
{
    char *v = xstrdup(value), *p, *q;

    for (p = v; *p; p++)
        if (*p == '\n' || *p == '\t' || *p == '\r')
            *p = ' ';
    p = v;
    while (*p == ' ')
        p++;
    if (strncasecmp(p, "from ", 5) == 0) {
        p += 5;
        while (*p == ' ')
            p++;
        q = p + strcspn(p, " (");
        if (q > p && q - p <= 255)
            env->helo = xstrndup(p, (size_t)(q - p));
        p = q;
        while (*p == ' ')
            p++;
        if (*p == '(') {
            char *close = strchr(p, ')'), *lb = strchr(p, '['), *rb;
            if (lb != NULL && (close == NULL || lb < close) && (rb = strchr(lb, ']')) != NULL &&
                rb - lb - 1 <= 64) {
                char *ip = lb + 1;
                size_t nip = (size_t)(rb - ip);
                char *name_end = lb;
                if (strncasecmp(ip, "IPv6:", 5) == 0) {
                    ip += 5;
                    nip -= 5;
                }
                env->client_addr = xstrndup(ip, nip);
                while (name_end > p + 1 && name_end[-1] == ' ')
                    name_end--;
                if (name_end > p + 1 && name_end - p - 1 <= 255 &&
                    strncasecmp(p + 1, "unknown", (size_t)(name_end - p - 1)) != 0 &&
                    memchr(p + 1, ' ', (size_t)(name_end - p - 1)) == NULL)
                    env->client_name = xstrndup(p + 1, (size_t)(name_end - p - 1));
            }
        }
    }
    if ((q = strstr(v, " for <")) != NULL)
        env->rcpt = ex_angle_addr(q + 5);
    free(v);
}

void explain_envelope_from_headers(const char *msg, size_t len, explain_envelope *env)
{
    const char *p = msg, *end = msg + len;
    char *to = NULL, *delivered = NULL;
    bool have_received = false;
    ex_field f;

    memset(env, 0, sizeof(*env));
    if (len >= 5 && strncmp(p, "From ", 5) == 0) /* mbox separator */
        p += ex_linelen(p, end) + 1;
    while (p < end && ex_next_field(&p, end, &f)) {
        if (strcasecmp(f.name, "Return-Path") == 0 && env->mail_from == NULL) {
            env->mail_from = ex_angle_addr(f.value);
            if (env->mail_from == NULL && strstr(f.value, "<>") != NULL)
                env->mail_from = xstrdup("");
        } else if (strcasecmp(f.name, "Received") == 0 && !have_received) {
            have_received = true; /* the topmost: our own MTA's */
            ex_received(f.value, env);
        } else if ((strcasecmp(f.name, "Delivered-To") == 0 || strcasecmp(f.name, "X-Original-To") == 0) &&
                   delivered == NULL) {
            delivered = ex_angle_addr(f.value);
        } else if (strcasecmp(f.name, "To") == 0 && to == NULL) {
            to = ex_angle_addr(f.value);
        }
        free(f.name);
        free(f.value);
    }
    if (env->rcpt == NULL) {
        env->rcpt = delivered ? delivered : to;
        if (env->rcpt == delivered)
            delivered = NULL;
        else
            to = NULL;
    }
    free(to);
    free(delivered);
}

void explain_envelope_clear(explain_envelope *env)
{
    free(env->client_addr);
    free(env->client_name);
    free(env->helo);
    free(env->mail_from);
    free(env->rcpt);
    memset(env, 0, sizeof(*env));
}

/* ---- the run --------------------------------------------------------------- */

typedef struct ex_run {
    FILE *walks;            /* the rule walks, printed after the checks */
    char *walks_text;
    size_t walks_len;
    char *decision;         /* the decision line the session logged */
    FILE *logs;             /* other log messages */
    char *logs_text;
    size_t logs_len;
    const char *walk_title; /* heading of the next walk, or NULL once printed */
    char title[600];
} ex_run;

/* A value for the terminal, quoted like on the decision line. */
static void ex_put(FILE *fp, const char *v)
{
    char *q = strbuf_quote(v);
    fputs(q, fp);
    free(q);
}

static void ex_capture(int level, const char *msg, void *arg)
{
    ex_run *r = arg;

    (void)level;
    if (strncmp(msg, "decision ", 9) == 0 && r->decision == NULL) {
        r->decision = xstrdup(msg);
        return;
    }
    fprintf(r->logs, "  %s\n", msg);
}

static const char *ex_step_name(rules_step s)
{
    switch (s) {
    case RULES_STEP_MATCH: return "MATCH";
    case RULES_STEP_DRYRUN: return "dry-run match (would fire; not applied)";
    case RULES_STEP_NOMATCH: return "no match";
    case RULES_STEP_PENDING: return "pending";
    case RULES_STEP_PASSED_OVER: return "dry-run, not known yet";
    case RULES_STEP_NOT_REACHED: return "not reached";
    case RULES_STEP_DEFAULT: return "DEFAULT";
    }
    return "?";
}

static void ex_on_rule(const rules_explain_item *it, void *arg)
{
    ex_run *r = arg;
    FILE *fp = r->walks;

    if (r->walk_title != NULL) {
        fprintf(fp, "%s\n", r->walk_title);
        r->walk_title = NULL;
    }
    if (it->step == RULES_STEP_DEFAULT) {
        fprintf(fp, "  %-24s DEFAULT: no rule decided, default_action %s\n", "default",
                verdict_action_name(it->verdict->action));
        return;
    }
    fprintf(fp, "  %-24s line %-4d %-10s%s %s", it->rule, it->line, verdict_action_name(it->verdict->action),
            it->dry_run ? " dry-run" : "        ", ex_step_name(it->step));
    switch (it->step) {
    case RULES_STEP_NOMATCH:
        fprintf(fp, ": %s is false", it->cond ? it->cond : "?");
        if (it->actual != NULL)
            fprintf(fp, " (%s)", it->actual);
        break;
    case RULES_STEP_PENDING:
        fprintf(fp, ": %s is not known at this stage; no rule below may fire before it", it->cond ? it->cond : "?");
        break;
    case RULES_STEP_PASSED_OVER: fprintf(fp, ": %s not known yet", it->cond ? it->cond : "?"); break;
    case RULES_STEP_MATCH:
        fprintf(fp, ": %s", it->nconds == 0 ? "no conditions" : "every condition holds");
        break;
    default: break;
    }
    fputc('\n', fp);
}

/* libspf2 says that a mechanism matched, not which: the record's
 * mechanisms whose qualifier gives this result are the candidates
 * ("-all" for a fail of "v=spf1 ip4:192.0.2.10 -all"). */
static void ex_spf_candidates(FILE *fp, const char *record, spfcheck_result r)
{
    char q = r == SPFCHECK_PASS ? '+' : r == SPFCHECK_FAIL ? '-' : r == SPFCHECK_SOFTFAIL ? '~'
           : r == SPFCHECK_NEUTRAL ? '?' : 0;
    char *copy, *tok, *save = NULL;
    int n = 0;

    if (q == 0)
        return;
    copy = xstrdup(record);
    for (tok = strtok_r(copy, " ", &save); tok != NULL && n < 20; tok = strtok_r(NULL, " ", &save)) {
        char tq = (*tok == '+' || *tok == '-' || *tok == '~' || *tok == '?') ? *tok : '+';
        if (strncasecmp(tok, "v=spf1", 6) == 0 || strchr(tok, '=') != NULL || tq != q)
            continue;
        fprintf(fp, "%s", n++ == 0 ? "      matched: " : " or ");
        ex_put(fp, tok);
    }
    if (n > 0)
        fprintf(fp, "%s\n", n > 1 ? " (the mechanisms with this result's qualifier)" : "");
    free(copy);
}

/* The v=spf1 TXT records of name, through the session's resolver (the
 * answer the check just used, from its cache). */
static void ex_spf_record(FILE *fp, dns_t *dns, const char *name, spfcheck_result r)
{
    dns_answer *a = NULL;
    dns_status st;
    int shown = 0;

    if (name == NULL || *name == '\0')
        return;
    st = dns_lookup(dns, name, DNS_TYPE_TXT, &a);
    if (st != DNS_ANSWER) {
        fprintf(fp, "      record: none (%s TXT: %s)\n", name, dns_status_name(st));
        dns_answer_free(a);
        return;
    }
    for (size_t i = 0; i < a->count && shown < 4; i++) {
        char *txt = NULL;
        size_t tlen = 0;
        if (dns_rdata_txt(a->rdata[i], a->rdlen[i], &txt, &tlen) && tlen >= 6 &&
            strncasecmp(txt, "v=spf1", 6) == 0 && (tlen == 6 || txt[6] == ' ')) {
            fprintf(fp, "      record: %s TXT ", name);
            ex_put(fp, txt);
            fputc('\n', fp);
            if (shown == 0)
                ex_spf_candidates(fp, txt, r);
            shown++;
        }
        free(txt);
    }
    if (shown == 0)
        fprintf(fp, "      record: none (%s has TXT records, none is v=spf1)\n", name);
    dns_answer_free(a);
}

/* Why a check did not run for this client. */
static const char *ex_skipped(const conf_t *conf, const facts_t *f, bool enabled)
{
    if (!enabled)
        return "disabled in the config";
    if (f->trusted)
        return "trusted client (trusted_networks)";
    if (f->authenticated)
        return "authenticated client";
    if (f->client_addr == NULL)
        return "no client address";
    (void)conf;
    return "not reached";
}

static void ex_dnsbl_one(const dnsbl_query_info *q, void *arg)
{
    FILE *fp = arg;

    fprintf(fp, "    %-12s %-6s weight %4d  %s A: ", q->list, q->kind, q->weight, q->qname);
    if (q->listed)
        fprintf(fp, "%s (listed)", q->answer);
    else
        fprintf(fp, "%s (not listed)", dns_status_name(q->status));
    if (!q->counted)
        fprintf(fp, " [not counted: authenticated client]");
    fputc('\n', fp);
}

/* The v=DMARC1 TXT record(s) at _dmarc.DOMAIN (from the resolver's cache). */
static void ex_dmarc_record(FILE *fp, dns_t *dns, const char *domain)
{
    char *name = xasprintf("_dmarc.%s", domain);
    dns_answer *a = NULL;
    dns_status st = dns_lookup(dns, name, DNS_TYPE_TXT, &a);

    for (size_t i = 0; st == DNS_ANSWER && i < a->count && i < 4; i++) {
        char *txt = NULL;
        size_t tlen = 0;
        if (dns_rdata_txt(a->rdata[i], a->rdlen[i], &txt, &tlen) && tlen >= 8 &&
            strncasecmp(txt, "v=DMARC1", 8) == 0) {
            fprintf(fp, "      record: %s TXT ", name);
            ex_put(fp, txt);
            fputc('\n', fp);
        }
        free(txt);
    }
    if (st != DNS_ANSWER)
        fprintf(fp, "      record: %s TXT: %s\n", name, dns_status_name(st));
    dns_answer_free(a);
    free(name);
}

/* DMARC: the From domain, where the tree walk found the policy record and
 * what it says, which tag applies, alignment, the outcome. */
static void ex_dmarc(FILE *fp, snapshot_t *snap, const facts_t *f)
{
    const dmarccheck_output *d = &f->dmarc;

    fprintf(fp, "  dmarc      ");
    if (d->result == DMARCCHECK_UNSET) {
        fprintf(fp, "not evaluated (%s)\n",
                f->stage < STAGE_EOM ? "the message was refused before its body"
                : snap->dmarc == NULL ? "disabled in the config"
                                      : ex_skipped(snap->conf, f, true));
        return;
    }
    fprintf(fp, "%s  From domain ", dmarccheck_result_name(d->result));
    ex_put(fp, d->domain[0] ? d->domain : NULL);
    fprintf(fp, " (From header: %s)\n", fromhdr_status_name(d->from));
    if (d->org_domain[0])
        fprintf(fp, "      organizational domain: %s\n", d->org_domain);
    if (d->policy_domain[0]) {
        fprintf(fp, "      policy found at _dmarc.%s%s\n", d->policy_domain,
                strcasecmp(d->policy_domain, d->domain) == 0 ? " (the From domain itself)"
                                                             : " (by the tree walk, above the From domain)");
        ex_dmarc_record(fp, snap->dns, d->policy_domain);
    } else {
        fprintf(fp, "      no policy record found (tree walk from _dmarc.%s)\n", d->domain[0] ? d->domain : "?");
    }
    if (d->policy_tag != NULL)
        fprintf(fp, "      applies: %s=%s, requested handling %s%s\n", d->policy_tag,
                dmarccheck_policy_name(d->published),
                d->applied == DMARCCHECK_POLICY_UNSET ? "-" : dmarccheck_policy_name(d->applied),
                d->testing ? " (testing: t=y)" : "");
    fprintf(fp, "      aligned: spf %s, dkim %s; %u DNS queries\n", d->spf_aligned ? "yes" : "no",
            d->dkim_aligned ? "yes" : "no", d->queries);
    if (d->reason != NULL)
        fprintf(fp, "      why: %s\n", d->reason);
}

static void ex_checks(FILE *fp, session_t *s, snapshot_t *snap)
{
    const conf_t *conf = snap->conf;
    const facts_t *f = session_facts(s);
    dnsbl_lookup_t *dl = session_dnsbl(s);

    fprintf(fp, "\nchecks:\n");
    fprintf(fp, "  client     %s%s\n", f->client_addr ? f->client_addr : "(none)",
            f->trusted ? " trusted (trusted_networks: checks skipped)" : " not trusted");
    fprintf(fp, "  auth       %s\n", f->authenticated ? f->auth_user : "not authenticated");

    fprintf(fp, "  spf        ");
    if (f->spf_mfrom == SPFCHECK_UNSET) {
        fprintf(fp, "not evaluated (%s)\n", ex_skipped(conf, f, conf->spf_enabled));
    } else {
        fprintf(fp, "%s  identity MAIL FROM, domain ", spfcheck_result_name(f->spf_mfrom));
        ex_put(fp, f->spf_domain);
        fprintf(fp, "\n      why: ");
        ex_put(fp, f->spf_reason);
        fputc('\n', fp);
        ex_spf_record(fp, snap->dns, f->spf_domain, f->spf_mfrom);
    }
    fprintf(fp, "  spf_helo   ");
    if (f->spf_helo == SPFCHECK_UNSET) {
        fprintf(fp, "not evaluated (%s)\n",
                f->helo == NULL ? "no HELO" : ex_skipped(conf, f, conf->spf_enabled && conf->spf_helo));
    } else {
        fprintf(fp, "%s  identity HELO ", spfcheck_result_name(f->spf_helo));
        ex_put(fp, f->helo);
        fputc('\n', fp);
        ex_spf_record(fp, snap->dns, f->helo, f->spf_helo);
    }

    fprintf(fp, "  dkim       ");
    if (f->dkim == DKIMCHECK_UNSET) {
        fprintf(fp, "not evaluated (%s)\n",
                f->stage < STAGE_EOM ? "the message was refused before its body"
                                     : ex_skipped(conf, f, conf->dkim_enabled));
    } else {
        fprintf(fp, "%s (%zu signature(s))\n", dkimcheck_result_name(f->dkim), f->ndkim_sigs);
        for (size_t i = 0; i < f->ndkim_sigs; i++) {
            const dkimcheck_sig *g = &f->dkim_sigs[i];
            fprintf(fp, "    #%zu %s%s d=", i + 1, dkimcheck_result_name(g->result), g->partial ? " (l= partial body)" : "");
            ex_put(fp, g->domain);
            fprintf(fp, " s=");
            ex_put(fp, g->selector);
            fprintf(fp, " a=");
            ex_put(fp, g->algorithm);
            fprintf(fp, " i=");
            ex_put(fp, g->identity);
            if (g->keybits > 0)
                fprintf(fp, " key=%u bits", g->keybits);
            if (g->reason != NULL)
                fprintf(fp, "\n       why: %s", g->reason);
            fputc('\n', fp);
        }
    }

    fprintf(fp, "  dnsbl      ");
    if (dl == NULL) {
        fprintf(fp, "no lists configured\n");
    } else {
        facts_dnsbl d = {0};

        dnsbl_lookup_result(dl, STAGE_EOM, &d);
        if (!d.evaluated)
            fprintf(fp, "nothing queried (trusted, authenticated or private client)\n");
        else
            fprintf(fp, "score %d\n", facts_dnsbl_score(&d));
        dnsbl_lookup_each(dl, ex_dnsbl_one, fp);
        facts_dnsbl_clear(&d);
    }
    ex_dmarc(fp, snap, f);
}

/* Read a whole file (bounded).  Caller frees. */
static char *ex_read_file(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    if (fp == NULL) {
        fprintf(stderr, "mxguard explain: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        size_t got;
        if (n + 65536 + 1 > cap) {
            cap = (n + 65536 + 1) * 2;
            buf = xrealloc(buf, cap);
        }
        got = fread(buf + n, 1, 65536, fp);
        n += got;
        if (got == 0)
            break;
        if ((long)n > EXPLAIN_MSG_MAX) {
            fprintf(stderr, "mxguard explain: %s: larger than %ld bytes\n", path, EXPLAIN_MSG_MAX);
            free(buf);
            fclose(fp);
            return NULL;
        }
    }
    if (ferror(fp)) {
        fprintf(stderr, "mxguard explain: %s: read error\n", path);
        free(buf);
        fclose(fp);
        return NULL;
    }
    fclose(fp);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* Feed the body from p to end with CRLF line ends, in chunks. */
static void ex_body(session_t *s, const char *p, const char *end)
{
    unsigned char chunk[EXPLAIN_CHUNK + 2];
    size_t n = 0;

    for (; p < end; p++) {
        if (*p == '\n' && (n == 0 ? true : chunk[n - 1] != '\r'))
            chunk[n++] = '\r';
        chunk[n++] = (unsigned char)*p;
        if (n >= EXPLAIN_CHUNK) {
            /* keep a trailing CR with its LF */
            size_t keep = chunk[n - 1] == '\r' ? 1 : 0;
            session_body(s, chunk, n - keep);
            if (keep)
                chunk[0] = '\r';
            n = keep;
        }
    }
    if (n > 0 && chunk[n - 1] != '\n') {
        if (chunk[n - 1] != '\r')
            chunk[n++] = '\r';
        chunk[n++] = '\n';
    }
    if (n > 0)
        session_body(s, chunk, n);
}

static void ex_usage(void)
{
    fprintf(stderr,
            "usage: mxguard explain -c FILE [--client IP] [--client-name NAME] [--helo NAME]\n"
            "                       [--mail-from ADDR] [--rcpt ADDR]... [--auth-user USER] MESSAGE.eml\n"
            "  runs the daemon's checks and policy on one message and explains the verdict;\n"
            "  envelope values not given are read from the message's topmost Received header,\n"
            "  Return-Path, Delivered-To/X-Original-To or To (and reported as assumed)\n");
}

static void ex_print_reply(FILE *fp, const char *what, session_reply r)
{
    static const char *const names[] = {"continue", "reject", "tempfail", "discard"};

    fprintf(fp, "  %-22s %s", what, names[r.status]);
    if (r.code)
        fprintf(fp, " %s %s %s", r.code, r.xcode ? r.xcode : "", r.text ? r.text : "");
    fputc('\n', fp);
}

/* One envelope value: the flag, else the header value (reported). */
static const char *ex_pick(FILE *fp, const char *what, const char *flag, const char *hdr, const char *from)
{
    const char *v = flag ? flag : hdr;

    fprintf(fp, "  %-11s ", what);
    if (v == NULL) {
        fprintf(fp, "(none)\n");
        return NULL;
    }
    ex_put(fp, v);
    fprintf(fp, "  %s%s\n", flag ? "(given)" : "(assumed: from the ", flag ? "" : from);
    return v;
}

/* The command line: the config, the envelope values given, the message file. */
typedef struct ex_args {
    const char *conf_path;
    const char *client, *client_name, *helo, *mail_from, *auth_user;
    const char *rcpts[EXPLAIN_RCPT_MAX];
    size_t nrcpts;
    const char *msg_path; /* the message file (argv) */
} ex_args;

/* Parse the options into a; -1 when the run goes on, else the exit status. */
static int ex_parse_args(int argc, char **argv, ex_args *a)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},      {"client", required_argument, NULL, 'a'},
        {"client-name", required_argument, NULL, 'n'}, {"helo", required_argument, NULL, 'e'},
        {"mail-from", required_argument, NULL, 'f'},   {"rcpt", required_argument, NULL, 'r'},
        {"auth-user", required_argument, NULL, 'u'},   {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;

    memset(a, 0, sizeof(*a));
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c': a->conf_path = optarg; break;
        case 'a': a->client = optarg; break;
        case 'n': a->client_name = optarg; break;
        case 'e': a->helo = optarg; break;
        case 'f': a->mail_from = optarg; break;
        case 'u': a->auth_user = optarg; break;
        case 'r':
            if (a->nrcpts == EXPLAIN_RCPT_MAX) {
                fprintf(stderr, "mxguard explain: at most %d --rcpt\n", EXPLAIN_RCPT_MAX);
                return 2;
            }
            a->rcpts[a->nrcpts++] = optarg;
            break;
        default: ex_usage(); return c == 'h' ? 0 : 2;
        }
    }
    if (a->conf_path == NULL || optind != argc - 1) {
        ex_usage();
        return 2;
    }
    a->msg_path = argv[optind];
    return -1;
}

/* Print the envelope, filling what was not given from env; false (and why on stderr) if incomplete. */
static bool ex_envelope(FILE *out, ex_args *a, const explain_envelope *env)
{
    a->client = ex_pick(out, "client", a->client, env->client_addr, "topmost Received header)");
    a->client_name = ex_pick(out, "client name", a->client_name, env->client_name, "topmost Received header)");
    a->helo = ex_pick(out, "helo", a->helo, env->helo, "topmost Received header)");
    a->mail_from = ex_pick(out, "mail from", a->mail_from, env->mail_from, "Return-Path header)");
    if (a->nrcpts == 0 && env->rcpt != NULL) {
        a->rcpts[a->nrcpts++] = env->rcpt;
        ex_pick(out, "rcpt", NULL, env->rcpt, "headers: Received for, Delivered-To, X-Original-To or To)");
    } else {
        for (size_t i = 0; i < a->nrcpts; i++)
            ex_pick(out, "rcpt", a->rcpts[i], NULL, NULL);
    }
    if (a->auth_user)
        ex_pick(out, "auth user", a->auth_user, NULL, NULL);
    if (a->client == NULL || a->mail_from == NULL || a->nrcpts == 0) {
        fprintf(stderr, "mxguard explain: %s unknown: give %s\n",
                a->client == NULL      ? "the client address"
                : a->mail_from == NULL ? "the envelope sender"
                                       : "a recipient",
                a->client == NULL      ? "--client IP"
                : a->mail_from == NULL ? "--mail-from ADDR"
                                       : "--rcpt ADDR");
        return false;
    }
    return true;
}

/* Stop capturing the log and free what run collected. */
static void ex_run_clear(ex_run *run)
{
    log_capture(NULL, NULL);
    fclose(run->walks);
    fclose(run->logs);
    free(run->walks_text);
    free(run->logs_text);
    free(run->decision);
}

/* Send the headers and body of msg and end the message; the end-of-message reply goes to *r. */
static void ex_message(FILE *out, session_t *s, ex_run *run, const char *msg, size_t len, session_edits *edits,
                       session_reply *r)
{
    const char *p = msg, *end = msg + len;

    if (len >= 5 && strncmp(p, "From ", 5) == 0)
        p += ex_linelen(p, end) + 1;
    for (ex_field f; p < end && ex_next_field(&p, end, &f);) {
        session_header(s, f.name, f.value);
        free(f.name);
        free(f.value);
    }
    ex_print_reply(out, "end of headers", session_eoh(s));
    ex_body(s, p, end);
    snprintf(run->title, sizeof(run->title), "at end of message:");
    run->walk_title = run->title;
    *r = session_eom(s, edits, NULL, NULL);
    ex_print_reply(out, "end of message", *r);
}

/* The daemon's data path, call by call; true if every recipient was refused (no DATA). */
static bool ex_transaction(FILE *out, session_t *s, snapshot_t *snap, ex_run *run, const ex_args *a,
                           const char *msg, size_t len, session_edits *edits, session_reply *r)
{
    size_t naccepted = 0;
    char *from_arg;

    fprintf(out, "\nSMTP:\n");
    ex_print_reply(out, "connect", session_connect(s, a->client_name ? a->client_name : "unknown", a->client));
    if (a->helo != NULL)
        ex_print_reply(out, "HELO", session_helo(s, a->helo));
    from_arg = xasprintf("<%s>", a->mail_from);
    ex_print_reply(out, "MAIL FROM", session_mail(s, from_arg, a->auth_user));
    free(from_arg);
    for (size_t i = 0; i < a->nrcpts; i++) {
        char *what = xasprintf("RCPT TO <%s>", a->rcpts[i]), *arg = xasprintf("<%s>", a->rcpts[i]);
        snprintf(run->title, sizeof(run->title), "at RCPT TO <%s>:", a->rcpts[i]);
        run->walk_title = run->title;
        *r = session_rcpt(s, arg);
        ex_print_reply(out, what, *r);
        if (r->status == SESSION_CONTINUE)
            naccepted++;
        free(what);
        free(arg);
    }
    if (naccepted == 0) {
        /* Like Postfix: no DATA without a recipient; the transaction ends. */
        fprintf(out, "  (no recipient accepted: the client's DATA is refused, the transaction ends)\n");
        ex_checks(out, s, snap);
        session_abort(s);
        return true;
    }
    ex_message(out, s, run, msg, len, edits, r);
    ex_checks(out, s, snap);
    return false;
}

/* The verdict from the logged decision line, and what the message would carry. */
static void ex_verdict(FILE *out, const ex_run *run, bool refused_all, session_reply r, const session_edits *edits)
{
    fprintf(out, "\nverdict:\n");
    if (run->decision != NULL) {
        declog_fields d;
        const char *action = NULL, *rule = NULL, *reply = NULL, *stage = NULL, *dry = NULL;
        if (declog_parse(run->decision, &d, NULL, 0)) {
            declog_get(&d, "action", &action);
            declog_get(&d, "rule", &rule);
            declog_get(&d, "reply", &reply);
            declog_get(&d, "stage", &stage);
            declog_get(&d, "dry_run", &dry);
            fprintf(out, "  %s at %s by rule %s\n", action ? action : "-", stage ? stage : "-", rule ? rule : "-");
            if (reply)
                fprintf(out, "  reply: %s\n", reply);
            fprintf(out, "  dry-run rules that would have fired: %s\n", dry ? dry : "none");
            declog_fields_clear(&d);
        }
    } else {
        fprintf(out, "  none logged\n");
    }
    if (!refused_all && r.status == SESSION_CONTINUE) {
        if (edits->nauthres_delete > 0)
            fprintf(out, "  removes %zu Authentication-Results header(s) that carry our authserv-id\n",
                    edits->nauthres_delete);
        if (edits->quarantine)
            fprintf(out, "  quarantine (hold queue): %s\n", edits->quarantine);
        if (edits->authres_insert)
            fprintf(out, "\n%s:%s\n", AUTHRES_HEADER, edits->authres_insert);
        else
            fprintf(out, "\n(no Authentication-Results header: authentication_results.add is false)\n");
    } else {
        fprintf(out, "\n(the message is refused: no Authentication-Results header is added)\n");
    }
}

int explain_main(int argc, char **argv)
{
    ex_args a;
    size_t len = 0;
    explain_envelope env;
    ex_run run;
    snapshot_t *snap;
    session_t *s;
    session_reply r = {SESSION_CONTINUE, NULL, NULL, NULL};
    session_edits edits = {0};
    char *msg;
    FILE *out = stdout;
    bool refused_all;
    int rc = ex_parse_args(argc, argv, &a);

    if (rc >= 0)
        return rc;
    msg = ex_read_file(a.msg_path, &len);
    if (msg == NULL)
        return 1;
    explain_envelope_from_headers(msg, len, &env);

    snap = snapshot_load(a.conf_path, NULL, NULL);
    if (snap == NULL) {
        fprintf(stderr, "mxguard explain: %s: cannot load the configuration\n", a.conf_path);
        free(msg);
        explain_envelope_clear(&env);
        return 1;
    }
    snapshot_install(snap);

    memset(&run, 0, sizeof(run));
    run.walks = open_memstream(&run.walks_text, &run.walks_len);
    run.logs = open_memstream(&run.logs_text, &run.logs_len);
    log_capture(ex_capture, &run);

    fprintf(out, "mxguard explain: message %s, config %s\n\nenvelope:\n", a.msg_path, a.conf_path);
    if (!ex_envelope(out, &a, &env)) {
        ex_run_clear(&run);
        snapshot_shutdown();
        free(msg);
        explain_envelope_clear(&env);
        return 1;
    }

    s = session_new();
    session_set_leadspc(s, true);
    session_set_explain(s, ex_on_rule, &run);
    refused_all = ex_transaction(out, s, snap, &run, &a, msg, len, &edits, &r);

    fflush(run.walks);
    fprintf(out, "\npolicy (rules in order, first match wins):\n%s", run.walks_text ? run.walks_text : "");
    ex_verdict(out, &run, refused_all, r, &edits);
    fprintf(out, "\nthe decision line the daemon logs (queue_id and elapsed_ms differ):\n%s\n",
            run.decision ? run.decision : "(none)");
    fflush(run.logs);
    if (run.logs_len > 0)
        fprintf(out, "\nlog messages:\n%s", run.logs_text);

    session_free(s);
    ex_run_clear(&run);
    snapshot_shutdown();
    free(msg);
    explain_envelope_clear(&env);
    return 0;
}
