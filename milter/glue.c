/*
 * glue.c - the libmilter callbacks.  Each finds its session, calls one
 * session_* function and translates the reply; nothing else happens here.
 * This is the only file besides main.c that includes libmilter.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <libmilter/mfapi.h>

#include "authres.h"
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

#define SESSION(ctx) ((session_t *)smfi_getpriv(ctx))
/* Every event after a refused connect finds no session: defer it. */
#define NEED_SESSION(s) do { if ((s) == NULL) return SMFIS_TEMPFAIL; } while (0)

/* libmilter formats reply texts: a literal '%' must be doubled. */
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

/* The one place where a session reply becomes an SMFIS_* code. */
static sfsistat translate(SMFICTX *ctx, session_reply r)
{
    char *code, *xcode, *text;

    switch (r.status) {
    case SESSION_CONTINUE:
        return SMFIS_CONTINUE;
    case SESSION_DISCARD:
        return SMFIS_DISCARD;
    case SESSION_REJECT:
    case SESSION_TEMPFAIL:
        if (r.code && r.text) {
            code = xstrdup(r.code);
            xcode = xstrdup_or_null(r.xcode);
            text = reply_text(r.text);
            if (smfi_setreply(ctx, code, xcode, text) != MI_SUCCESS)
                log_warn("cannot set reply \"%s %s %s\"", r.code, r.xcode ? r.xcode : "", r.text);
            free(code);
            free(xcode);
            free(text);
        }
        return r.status == SESSION_REJECT ? SMFIS_REJECT : SMFIS_TEMPFAIL;
    }
    return SMFIS_TEMPFAIL;
}

/* Headers and body chunks: negotiated unanswered (cb_negotiate), so a
 * continue goes back as no reply at all. */
static sfsistat translate_unanswered(SMFICTX *ctx, session_reply r)
{
    return r.status == SESSION_CONTINUE ? SMFIS_NOREPLY : translate(ctx, r);
}

static void note_queue_id(SMFICTX *ctx, session_t *s)
{
    const char *qid = smfi_getsymval(ctx, "i");
    if (qid)
        session_queue_id(s, qid);
}

static sfsistat cb_negotiate(SMFICTX *ctx, unsigned long f0, unsigned long f1, unsigned long f2,
                             unsigned long f3, unsigned long *pf0, unsigned long *pf1,
                             unsigned long *pf2, unsigned long *pf3)
{
    /* The session starts here, so that it knows how header values come;
     * with no config loaded, connect defers the connection. */
    session_t *s = session_new();

    (void)f2;
    (void)f3;
    *pf0 = (SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE) & f0;
    /* Skip unknown commands, and the body unless a check of the session's
     * config reads it (DKIM).  Header values come with their leading white
     * space, as DKIM simple canonicalization needs them.  DATA is NOT
     * skipped although nothing is checked there: Postfix sends the DATA
     * macros either way, and without a DATA command to answer they travel
     * alone, our side delays its ACK, and over TCP Postfix's Nagle holds
     * the first header back until that ACK (~40 ms per message).  With
     * the DATA event the macros go out with a command whose reply carries
     * the ACK (README, Benchmarks). */
    *pf1 = (SMFIP_NOUNKNOWN | SMFIP_HDR_LEADSPC) & f1;
    /* Headers and body chunks are never answered (session_header and
     * session_body never decide): the MTA sends them without waiting, and
     * the worker reads them in a row instead of a round trip and a
     * libmilter pool handoff each.  libmilter offers these two even to an
     * MTA that lacks them and answers for us then. */
    if (s != NULL)
        *pf1 |= (SMFIP_NR_HDR | SMFIP_NR_BODY) & f1;
    if (s == NULL || !session_reads_body(s))
        *pf1 |= SMFIP_NOBODY & f1;
    if (s != NULL) {
        atomic_fetch_add(&active_sessions, 1);
        session_set_leadspc(s, (*pf1 & SMFIP_HDR_LEADSPC) != 0);
        session_set_body_skipped(s, (*pf1 & SMFIP_NOBODY) != 0);
        smfi_setpriv(ctx, s);
    }
    *pf2 = 0;
    *pf3 = 0;
    return SMFIS_CONTINUE;
}

static sfsistat cb_connect(SMFICTX *ctx, char *hostname, _SOCK_ADDR *sa)
{
    char addr[INET6_ADDRSTRLEN] = "";
    session_t *s = SESSION(ctx);

    if (s == NULL && (s = session_new()) != NULL) {
        atomic_fetch_add(&active_sessions, 1);
        smfi_setpriv(ctx, s);
    }
    if (s == NULL) {
        log_error("no configuration loaded: deferring connection");
        return SMFIS_TEMPFAIL;
    }
    if (sa && sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)(void *)sa)->sin_addr, addr, sizeof(addr));
    else if (sa && sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)(void *)sa)->sin6_addr, addr, sizeof(addr));
    return translate(ctx, session_connect(s, hostname, addr));
}

static sfsistat cb_helo(SMFICTX *ctx, char *helo)
{
    session_t *s = SESSION(ctx);
    NEED_SESSION(s);
    return translate(ctx, session_helo(s, helo));
}

static sfsistat cb_envfrom(SMFICTX *ctx, char **argv)
{
    session_t *s = SESSION(ctx);
    NEED_SESSION(s);
    session_reply r = session_mail(s, argv[0], smfi_getsymval(ctx, "{auth_authen}"));
    note_queue_id(ctx, s);
    return translate(ctx, r);
}

static sfsistat cb_envrcpt(SMFICTX *ctx, char **argv)
{
    session_t *s = SESSION(ctx);
    NEED_SESSION(s);
    note_queue_id(ctx, s);
    return translate(ctx, session_rcpt(s, argv[0]));
}

/* Nothing to check at DATA: answering it is the point (cb_negotiate). */
static sfsistat cb_data(SMFICTX *ctx)
{
    (void)ctx;
    return SMFIS_CONTINUE;
}

static sfsistat cb_header(SMFICTX *ctx, char *name, char *value)
{
    session_t *s = SESSION(ctx);
    NEED_SESSION(s);
    return translate_unanswered(ctx, session_header(s, name, value));
}

static sfsistat cb_eoh(SMFICTX *ctx)
{
    session_t *s = SESSION(ctx);
    NEED_SESSION(s);
    note_queue_id(ctx, s);
    return translate(ctx, session_eoh(s));
}

static sfsistat cb_body(SMFICTX *ctx, unsigned char *chunk, size_t len)
{
    session_t *s = SESSION(ctx);
    NEED_SESSION(s);
    return translate_unanswered(ctx, session_body(s, chunk, len));
}

/* Apply the end-of-message edits through libmilter; false if the MTA
 * refused the quarantine (header edits that fail are logged only). */
static bool apply_edits(const session_edits *ed, void *arg)
{
    SMFICTX *ctx = arg;

    for (size_t i = 0; i < ed->nauthres_delete; i++)
        if (smfi_chgheader(ctx, (char *)AUTHRES_HEADER, ed->authres_delete[i], NULL) != MI_SUCCESS)
            log_warn("cannot delete %s header #%d", AUTHRES_HEADER, ed->authres_delete[i]);
    if (ed->authres_insert &&
        smfi_insheader(ctx, 0, (char *)AUTHRES_HEADER, (char *)ed->authres_insert) != MI_SUCCESS)
        log_warn("cannot insert the %s header", AUTHRES_HEADER);
    return ed->quarantine == NULL || smfi_quarantine(ctx, (char *)ed->quarantine) == MI_SUCCESS;
}

static sfsistat cb_eom(SMFICTX *ctx)
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

static sfsistat cb_abort(SMFICTX *ctx)
{
    session_t *s = SESSION(ctx);
    if (s)
        session_abort(s);
    return SMFIS_CONTINUE;
}

static sfsistat cb_close(SMFICTX *ctx)
{
    session_t *s = SESSION(ctx);
    if (s) {
        session_free(s);
        smfi_setpriv(ctx, NULL);
        atomic_fetch_sub(&active_sessions, 1);
    }
    return SMFIS_CONTINUE;
}

static struct smfiDesc glue_desc = {
    .xxfi_name = (char *)"mxguard",
    .xxfi_version = SMFI_VERSION,
    .xxfi_flags = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE,
    .xxfi_connect = cb_connect,
    .xxfi_helo = cb_helo,
    .xxfi_envfrom = cb_envfrom,
    .xxfi_envrcpt = cb_envrcpt,
    .xxfi_data = cb_data,
    .xxfi_header = cb_header,
    .xxfi_eoh = cb_eoh,
    .xxfi_body = cb_body,
    .xxfi_eom = cb_eom,
    .xxfi_abort = cb_abort,
    .xxfi_close = cb_close,
    .xxfi_negotiate = cb_negotiate,
};

int glue_register(void)
{
    if (smfi_register(glue_desc) != MI_SUCCESS) {
        log_error("smfi_register failed");
        return 0;
    }
    return 1;
}
