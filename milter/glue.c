/*
 * glue.c - the milter callbacks (engine.h).  Each finds its session, calls
 * one session_* function and translates the reply; nothing else happens
 * here.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "authres.h"
#include "engine.h"
#include "glue.h"
#include "log.h"
#include "session.h"
#include "xalloc.h"

static atomic_int active_sessions;
/* Set once the missing {i} macro has been reported (a warning per process,
 * not per message: the MTA's macro configuration does not change). */
static atomic_flag warned_no_queue_id = ATOMIC_FLAG_INIT;

int glue_active_sessions(void)
{
    return atomic_load(&active_sessions);
}

#define SESSION(ctx) ((session_t *)engine_getpriv(ctx))
/* Every event after a refused connect finds no session: defer it. */
#define NEED_SESSION(s) do { if ((s) == NULL) return ENGINE_TEMPFAIL; } while (0)

/* The MTA formats reply texts (Sendmail, and Postfix for compatibility):
 * a literal '%' must be doubled. */
static char *reply_text(const char *text)
{
    size_t n = 0;
    char *out, *q;

    for (const char *p = text; *p; p++)
        n += (*p == '%') ? 2 : 1;
    out = q = xmalloc(n + 1);
    for (const char *p = text; *p; p++) {
        *q++ = *p;
        if (*p == '%')
            *q++ = '%';
    }
    *q = '\0';
    return out;
}

/* The one place where a session reply becomes an engine status. */
static engine_status translate(engine_ctx *ctx, session_reply r)
{
    char *text;

    switch (r.status) {
    case SESSION_CONTINUE:
        return ENGINE_CONTINUE;
    case SESSION_DISCARD:
        return ENGINE_DISCARD;
    case SESSION_REJECT:
    case SESSION_TEMPFAIL:
        if (r.code && r.text) {
            text = reply_text(r.text);
            if (!engine_setreply(ctx, r.code, r.xcode, text))
                log_warn("cannot set reply \"%s %s %s\"", r.code, r.xcode ? r.xcode : "", r.text);
            free(text);
        }
        return r.status == SESSION_REJECT ? ENGINE_REJECT : ENGINE_TEMPFAIL;
    }
    return ENGINE_TEMPFAIL;
}

/* Headers and body chunks: negotiated unanswered (cb_negotiate), so a
 * continue goes back as no reply at all. */
static engine_status translate_unanswered(engine_ctx *ctx, session_reply r)
{
    return r.status == SESSION_CONTINUE ? ENGINE_NOREPLY : translate(ctx, r);
}

static void note_queue_id(engine_ctx *ctx, session_t *s)
{
    const char *qid = engine_getsymval(ctx, "i");
    if (qid)
        session_queue_id(s, qid);
}

/* Give the connection its session, told how header values and the body
 * come under the negotiated protocol flags. */
static void attach_session(engine_ctx *ctx, session_t *s, uint32_t proto)
{
    atomic_fetch_add(&active_sessions, 1);
    session_set_leadspc(s, (proto & ENGINE_P_HDR_LEADSPC) != 0);
    session_set_body_skipped(s, (proto & ENGINE_P_NOBODY) != 0);
    engine_setpriv(ctx, s);
}

static engine_status cb_negotiate(engine_ctx *ctx, uint32_t f0, uint32_t f1, uint32_t *pf0,
                                  uint32_t *pf1)
{
    /* The session starts here, so that it knows how header values come;
     * with no config loaded, connect defers the connection. */
    session_t *s = session_new();

    *pf0 = (ENGINE_ACT_ADDHDRS | ENGINE_ACT_CHGHDRS | ENGINE_ACT_QUARANTINE) & f0;
    /* Skip unknown commands, and the body unless a check of the session's
     * config reads it (DKIM).  Header values come with their leading white
     * space, as DKIM simple canonicalization needs them.  DATA is NOT
     * skipped although nothing is checked there: Postfix sends the DATA
     * macros either way, and without a DATA command to answer they travel
     * alone, our side delays its ACK, and over TCP Postfix's Nagle holds
     * the first header back until that ACK (~40 ms per message).  With
     * the DATA event the macros go out with a command whose reply carries
     * the ACK (README, Benchmarks). */
    *pf1 = (ENGINE_P_NOUNKNOWN | ENGINE_P_HDR_LEADSPC) & f1;
    /* Connect, HELO, MAIL, headers, end of headers and body chunks are
     * never answered: the session gives no verdict before RCPT (connect,
     * helo, mail and eoh always continue) and header and body never decide.
     * Postfix then writes them without waiting, together with the next
     * command that needs a reply (C H M with the first RCPT; the headers,
     * end of headers and body with the end of message), and the worker
     * reads each run at once: three round trips per message instead of
     * seven.  An MTA that lacks a bit gets a continue (engine.c).  With no
     * session (no config), connect must be answered: with a tempfail. */
    if (s != NULL)
        *pf1 |= (ENGINE_P_NR_CONN | ENGINE_P_NR_HELO | ENGINE_P_NR_MAIL | ENGINE_P_NR_HDR |
                 ENGINE_P_NR_EOH | ENGINE_P_NR_BODY) & f1;
    if (s == NULL || !session_reads_body(s))
        *pf1 |= ENGINE_P_NOBODY & f1;
    if (s != NULL)
        attach_session(ctx, s, *pf1);
    return ENGINE_CONTINUE;
}

static engine_status cb_connect(engine_ctx *ctx, const char *hostname, const struct sockaddr *sa)
{
    char addr[INET6_ADDRSTRLEN] = "";
    session_t *s = SESSION(ctx);

    /* A new SMTP connection on the same milter connection (Sendmail's
     * QUIT_NC), or a negotiation without config: a session now, with what
     * was negotiated. */
    if (s == NULL && (s = session_new()) != NULL)
        attach_session(ctx, s, engine_getproto(ctx));
    if (s == NULL) {
        log_error("no configuration loaded: deferring connection");
        return ENGINE_TEMPFAIL;
    }
    /* Postfix (milter_connect_macros) and Sendmail send {j} at connect
     * by default. */
    session_mta_name(s, engine_getsymval(ctx, "j"));
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, addr, sizeof(addr));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr, addr, sizeof(addr));
    return translate(ctx, session_connect(s, hostname, addr));
}

static engine_status cb_helo(engine_ctx *ctx, const char *helo)
{
    session_t *s = SESSION(ctx);
    NEED_SESSION(s);
    return translate(ctx, session_helo(s, helo));
}

static engine_status cb_envfrom(engine_ctx *ctx, char **argv)
{
    session_t *s = SESSION(ctx);
    NEED_SESSION(s);
    session_reply r = session_mail(s, argv[0], engine_getsymval(ctx, "{auth_authen}"));
    note_queue_id(ctx, s);
    return translate(ctx, r);
}

static engine_status cb_envrcpt(engine_ctx *ctx, char **argv)
{
    session_t *s = SESSION(ctx);
    NEED_SESSION(s);
    note_queue_id(ctx, s);
    return translate(ctx, session_rcpt(s, argv[0]));
}

/* Nothing to check at DATA: answering it is the point (cb_negotiate). */
static engine_status cb_data(engine_ctx *ctx)
{
    (void)ctx;
    return ENGINE_CONTINUE;
}

static engine_status cb_header(engine_ctx *ctx, const char *name, const char *value)
{
    session_t *s = SESSION(ctx);
    NEED_SESSION(s);
    return translate_unanswered(ctx, session_header(s, name, value));
}

static engine_status cb_eoh(engine_ctx *ctx)
{
    session_t *s = SESSION(ctx);
    NEED_SESSION(s);
    note_queue_id(ctx, s);
    return translate(ctx, session_eoh(s));
}

static engine_status cb_body(engine_ctx *ctx, const unsigned char *chunk, size_t len)
{
    session_t *s = SESSION(ctx);
    NEED_SESSION(s);
    return translate_unanswered(ctx, session_body(s, chunk, len));
}

/* Queue the end-of-message edits; false if the MTA did not agree to
 * quarantine (header edits it did not agree to are logged only). */
static bool apply_edits(const session_edits *ed, void *arg)
{
    engine_ctx *ctx = arg;

    for (size_t i = 0; i < ed->nauthres_delete; i++)
        if (!engine_chgheader(ctx, AUTHRES_HEADER, (uint32_t)ed->authres_delete[i], NULL))
            log_warn("cannot delete %s header #%d", AUTHRES_HEADER, ed->authres_delete[i]);
    if (ed->authres_insert && !engine_insheader(ctx, 0, AUTHRES_HEADER, ed->authres_insert))
        log_warn("cannot insert the %s header", AUTHRES_HEADER);
    return ed->quarantine == NULL || engine_quarantine(ctx, ed->quarantine);
}

static engine_status cb_eom(engine_ctx *ctx)
{
    session_t *s = SESSION(ctx);
    session_edits ed;

    NEED_SESSION(s);
    note_queue_id(ctx, s);
    /* Without {i} everything works; only the decision line says
     * queue_id=- and cannot be matched with the MTA's log. */
    if (session_facts(s)->queue_id == NULL && !atomic_flag_test_and_set(&warned_no_queue_id))
        log_warn("the MTA sent no queue id macro {i} (at MAIL, RCPT, end of headers or end of message): "
                 "decision lines show queue_id=-; Postfix: milter_end_of_data_macros = i, "
                 "Sendmail: confMILTER_MACROS_ENVFROM with i");
    return translate(ctx, session_eom(s, &ed, apply_edits, ctx));
}

static void cb_abort(engine_ctx *ctx)
{
    session_t *s = SESSION(ctx);
    if (s)
        session_abort(s);
}

static void cb_close(engine_ctx *ctx)
{
    session_t *s = SESSION(ctx);
    if (s) {
        session_free(s);
        engine_setpriv(ctx, NULL);
        atomic_fetch_sub(&active_sessions, 1);
    }
}

static const engine_callbacks glue_callbacks = {
    .negotiate = cb_negotiate,
    .connect = cb_connect,
    .helo = cb_helo,
    .mail = cb_envfrom,
    .rcpt = cb_envrcpt,
    .data = cb_data,
    .header = cb_header,
    .eoh = cb_eoh,
    .body = cb_body,
    .eom = cb_eom,
    .abort = cb_abort,
    .close = cb_close,
};

const engine_callbacks *glue_callbacks_get(void)
{
    return &glue_callbacks;
}
