/*
 * engine.h - mxguard's milter protocol engine (protocol version 6, as
 * Postfix and Sendmail 8.14+ speak it).  It listens on the configured
 * socket, runs every MTA connection on a pooled thread that reads whole
 * runs of packets at a time, and turns each packet into one callback.
 * It knows nothing of sessions or checks: glue.c translates.
 *
 * Threads: engine_run() starts the workers and waits for engine_stop();
 * each worker accepts a connection itself and serves it start to end
 * (workers are kept for reuse, idle ones beyond two leave after a minute).
 * Callbacks for one connection run on one thread, never concurrently.
 *
 * Three files implement it: engine.c (the conversation with one MTA
 * connection, and everything declared here), pktio.c (packet framing and
 * reply writing under it) and listener.c (the socket and worker threads
 * beside it); only this header is the engine's interface.
 */
#ifndef MXG_ENGINE_H
#define MXG_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Actions a filter may ask for at negotiation (milter protocol facts). */
#define ENGINE_ACT_ADDHDRS 0x01u
#define ENGINE_ACT_CHGHDRS 0x10u
#define ENGINE_ACT_QUARANTINE 0x20u

/* Protocol steps a filter may skip or leave unanswered. */
#define ENGINE_P_NOBODY 0x10u
#define ENGINE_P_NR_HDR 0x80u
#define ENGINE_P_NOUNKNOWN 0x100u
#define ENGINE_P_NR_CONN 0x1000u
#define ENGINE_P_NR_HELO 0x2000u
#define ENGINE_P_NR_MAIL 0x4000u
#define ENGINE_P_NR_EOH 0x40000u
#define ENGINE_P_NR_BODY 0x80000u
#define ENGINE_P_HDR_LEADSPC 0x100000u

/* Largest packet accepted from the MTA (a 1 MB negotiated body chunk, or
 * one huge header); a longer one closes the connection. */
#define ENGINE_MAX_PACKET (1024u * 1024u + 64u)

typedef struct engine engine_t;
typedef struct engine_ctx engine_ctx; /* one MTA connection */

typedef enum {
    ENGINE_CONTINUE,
    /* continue, and nothing is sent when the command's NR_ bit was
     * negotiated (else a continue goes out).  Any other status for an
     * unanswered command is kept and becomes the reply to the next command
     * that is answered (the MTA reads nothing in between). */
    ENGINE_NOREPLY,
    ENGINE_ACCEPT,
    ENGINE_REJECT,
    ENGINE_TEMPFAIL,
    ENGINE_DISCARD,
} engine_status;

/*
 * The filter's callbacks; any may be NULL (continue).  Strings and chunks
 * belong to the engine and live until the callback returns.  argv of mail
 * and rcpt has at least one element and ends with NULL.  sa is NULL unless
 * the MTA sent an IPv4 or IPv6 client address.
 */
typedef struct engine_callbacks {
    /* mta_*: what the MTA offers; set *actions and *proto (masked to the
     * offer by the engine). */
    engine_status (*negotiate)(engine_ctx *, uint32_t mta_actions, uint32_t mta_proto,
                               uint32_t *actions, uint32_t *proto);
    engine_status (*connect)(engine_ctx *, const char *hostname, const struct sockaddr *sa);
    engine_status (*helo)(engine_ctx *, const char *name);
    engine_status (*mail)(engine_ctx *, char **argv);
    engine_status (*rcpt)(engine_ctx *, char **argv);
    engine_status (*data)(engine_ctx *);
    engine_status (*header)(engine_ctx *, const char *name, const char *value);
    engine_status (*eoh)(engine_ctx *);
    engine_status (*body)(engine_ctx *, const unsigned char *chunk, size_t len);
    engine_status (*eom)(engine_ctx *);
    void (*abort)(engine_ctx *);
    /* The connection ended (or QUIT_NC: a new one follows on the same
     * socket, starting with connect). */
    void (*close)(engine_ctx *);
} engine_callbacks;

/* Open the listening socket: unix:/path, local:/path, inet:PORT@HOST,
 * inet6:PORT@HOST (a stale unix socket file is replaced; one a process
 * still listens on, or anything else at that path, is an error).  timeout:
 * seconds to wait for the MTA inside a packet and for each write (0: no
 * limit); between commands a connection may be idle for two hours.  NULL
 * with err set on failure.  cb must outlive the engine. */
engine_t *engine_new(const char *spec, unsigned timeout, const engine_callbacks *cb, char *err,
                     size_t errlen);
/* Accept and serve until engine_stop(); 0, or -1 if accept failed for good. */
int engine_run(engine_t *e);
/* Stop accepting (async-signal-safe; connections in flight go on). */
void engine_stop(engine_t *e);
/* How long a connection may wait between two commands (default 7210 s,
 * libmilter's; the wait is checked each timeout seconds, so a timeout of
 * 0 means no limit).  For tests; call before engine_run(). */
void engine_set_idle_limit(engine_t *e, unsigned seconds);
/* At most n connections served at once (default and ceiling 1024; more
 * wait in the listen backlog).  For tests; call before engine_run(). */
void engine_set_max_workers(engine_t *e, unsigned n);
/* Connections being served now. */
int engine_active(const engine_t *e);
/* Close the listener (removing a unix socket file) and free; call after
 * engine_run() returned and engine_active() is 0 (or at exit). */
void engine_free(engine_t *e);

/* Serve one connection on fd until it ends (used by engine_run's workers
 * and by tests); closes fd. */
void engine_serve_fd(engine_t *e, int fd);
/* An engine without a socket, for engine_serve_fd() in tests. */
engine_t *engine_new_unbound(unsigned timeout, const engine_callbacks *cb);

/* ---- inside callbacks --------------------------------------------------- */

/* The protocol flags agreed with the MTA (0 before the negotiation). */
uint32_t engine_getproto(const engine_ctx *c);
void *engine_getpriv(engine_ctx *c);
void engine_setpriv(engine_ctx *c, void *priv);
/* A macro of the current command, else of an earlier one ("i" and "{i}"
 * are the same name); NULL if the MTA did not send it. */
const char *engine_getsymval(engine_ctx *c, const char *name);
/* The SMTP reply for the next reject or tempfail: code 4xx or 5xx, xcode
 * optional, text one line; a code that does not match the verdict is
 * ignored (a plain reject or tempfail goes out).  false on bad input. */
bool engine_setreply(engine_ctx *c, const char *code, const char *xcode, const char *text);
/* End-of-message edits (only inside eom, only if negotiated): false if not
 * allowed.  chgheader with value NULL deletes the index-th such header. */
bool engine_insheader(engine_ctx *c, uint32_t index, const char *name, const char *value);
bool engine_chgheader(engine_ctx *c, const char *name, uint32_t index, const char *value);
bool engine_quarantine(engine_ctx *c, const char *reason);

#endif
