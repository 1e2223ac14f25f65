/*
 * session.h - one SMTP connection as mxguard sees it, event by event:
 * connect -> helo -> mail -> rcpt... -> header... -> eoh -> body... -> eom,
 * with abort and close.  The glue (glue.c) translates each milter engine
 * callback into one of these calls and the returned session_reply back into
 * an engine status; nothing here knows the milter protocol, so sessions are unit-tested
 * without an MTA.
 *
 * A message takes a reference to the current config snapshot at MAIL FROM
 * and keeps it until the message ends, so a reload never changes the rules
 * under it.  Exactly one decision line is logged per message that reached a
 * verdict (at end of message, or when a rule refused its recipients).
 */
#ifndef MXG_SESSION_H
#define MXG_SESSION_H

#include <stdbool.h>
#include <stddef.h>

#include "facts.h"
#include "rules.h"

typedef struct session session_t;

typedef enum session_status {
    SESSION_CONTINUE = 0, /* go on with the next event */
    SESSION_REJECT,       /* 5xx: reply holds code, xcode and text */
    SESSION_TEMPFAIL,     /* 4xx: reply holds code, xcode and text */
    SESSION_DISCARD,      /* accept and drop silently */
} session_status;

typedef struct session_reply {
    session_status status;
    const char *code;   /* borrowed: valid until the next call on the session */
    const char *xcode;
    const char *text;
} session_reply;

/* Changes to the message at end of message, applied by the glue in order:
 * delete headers (indexes among AUTHRES_HEADER headers, 1-based, in
 * descending order), insert our header at the top, quarantine. */
typedef struct session_edits {
    const int *authres_delete; /* descending */
    size_t nauthres_delete;
    const char *authres_insert; /* header value, or NULL */
    const char *quarantine;     /* reason, or NULL */
} session_edits;

/* A new session; it takes a snapshot reference from snapshot_acquire().
 * Returns NULL when no config is installed. */
session_t *session_new(void);
/* Log what must be logged and free everything. */
void session_free(session_t *s);

/* hostname: the name the MTA reports; addr: text address, or NULL when the
 * client is not on an IP socket. */
session_reply session_connect(session_t *s, const char *hostname, const char *addr);
/* The MTA's own host name (macro {j}: Postfix's myhostname), or NULL when
 * not sent; an invalid name is ignored.  Without authserv_id in the config
 * it is the authserv-id of the A-R header written and of the ones removed
 * (then the host name); call before session_connect. */
void session_mta_name(session_t *s, const char *name);
session_reply session_helo(session_t *s, const char *helo);
/* from: the MAIL FROM argument as given, with or without <>; auth_user: SASL
 * login or NULL; queue_id may be NULL (set later with session_queue_id). */
session_reply session_mail(session_t *s, const char *from, const char *auth_user);
void session_queue_id(session_t *s, const char *queue_id);
session_reply session_rcpt(session_t *s, const char *rcpt);
/* value: as in the message after the colon, leading white space included
 * when the MTA gives it (SMFIP_HDR_LEADSPC); folds as LF or CRLF. */
session_reply session_header(session_t *s, const char *name, const char *value);
session_reply session_eoh(session_t *s);
/* session_header and session_body always continue (they gather; the
 * decisions come at RCPT and end of message): the glue tells the MTA not to
 * wait for an answer to either. */
session_reply session_body(session_t *s, const unsigned char *chunk, size_t len);
/* Applies the edits of an accepted or quarantined message through the MTA;
 * false when the MTA refused one that matters (the quarantine). */
typedef bool (*session_apply_fn)(const session_edits *edits, void *arg);
/* The final verdict.  For a verdict that keeps the message, *edits is
 * applied through apply (NULL: taken as applied) before the decision line is
 * logged; if that fails the message is deferred (451 4.3.0) and the line
 * says so.  *edits is valid until the next call on the session. */
session_reply session_eom(session_t *s, session_edits *edits, session_apply_fn apply, void *arg);
/* The MTA ended the message without end-of-message (RSET, QUIT, ...). */
void session_abort(session_t *s);

/* Does a check of the session's config read the message body (DKIM)?  The
 * glue asks the MTA to skip the body otherwise. */
bool session_reads_body(const session_t *s);
/* The MTA will not send the body of this connection's messages (negotiated
 * when no check needed it): checks that need the body are then not run,
 * even if a reload turns them on meanwhile. */
void session_set_body_skipped(session_t *s, bool skipped);
/* The MTA passes header values verbatim, leading white space included
 * (SMFIP_HDR_LEADSPC), and expects the same of inserted headers: the A-R
 * value in session_edits then starts with a space. */
void session_set_leadspc(session_t *s, bool on);

/* For tests: the facts gathered so far. */
const facts_t *session_facts(const session_t *s);

/* mxguard explain: report every walk of the policy table (at each RCPT and
 * at end of message) rule by rule to fn (NULL: off), and the DNS list
 * lookups of the connection (NULL when no lists are configured). */
void session_set_explain(session_t *s, rules_explain_fn fn, void *arg);
struct dnsbl_lookup *session_dnsbl(const session_t *s);

#endif
