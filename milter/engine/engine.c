/*
 * engine.c - the milter protocol engine (engine.h): one MTA connection's
 * conversation, packet by packet, turned into the filter's callbacks and
 * their verdicts into replies; the edits a filter may make inside them.
 * Below it, pktio.c frames packets and writes replies; beside it,
 * listener.c accepts connections and runs each on a worker thread.
 *
 * Why not libmilter: Debian builds it with its worker pool, which after
 * every command polls the socket, hands the connection back to a
 * controller thread through a pipe and wakes a worker for the next one:
 * some 130 poll() calls and a thread handoff per command run for each
 * message through Postfix, half of mxguard's CPU time (README,
 * Benchmarks).  Here one thread serves a connection from start to end,
 * reads as much as the socket holds at once (Postfix streams headers and
 * body chunks without waiting when they are negotiated unanswered), and
 * writes each reply, with the end-of-message edits before it, in one call.
 *
 * Wire format (milter protocol 6): every packet is a 4-byte big-endian
 * length, a command byte and length-1 bytes of data; strings in the data
 * are NUL-terminated.
 *
 * SECURITY: nothing in a packet is trusted: every field is bounds-checked
 * and a packet that breaks the format ends the connection (the MTA then
 * applies its milter_default_action).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"
#include "listener.h"
#include "log.h"
#include "pktio.h"
#include "xalloc.h"

#define PROTO_VERSION 6u
/* Between two commands the MTA may be busy for long (Postfix's cleanup
 * sends the headers only after the client has uploaded the whole message):
 * there a connection may be idle this long, as libmilter's default timeout
 * allows; the configured timeout bounds reads inside a packet and writes. */
#define IDLE_LIMIT_SECONDS 7210

/* Macro stages, in libmilter's order: a lookup searches the latest first;
 * connect, HELO, MAIL and RCPT clear the stages after their own (stale
 * values of the previous message), as libmilter does. */
enum { ST_CONNECT, ST_HELO, ST_MAIL, ST_RCPT, ST_DATA, ST_EOM, ST_EOH, ST_COUNT };

struct engine {
    const engine_callbacks *cb;
    unsigned idle_limit;  /* seconds a connection may wait between commands */
    listener_t *l;        /* the socket and its workers; NULL for engine_new_unbound */
    listener_handler h;   /* how l's workers serve a connection (serve_accepted) */
    atomic_int serving;   /* connections in engine_serve_fd() */
};

struct engine_ctx {
    engine_t *e;
    pktio_t *io;             /* the connection's packets (the worker's, not owned) */
    bool negotiated;
    bool in_eom;
    uint32_t actions, proto; /* agreed with the MTA */
    char *mac[ST_COUNT];     /* "name\0value\0..." as sent */
    size_t maclen[ST_COUNT];
    char *reply;             /* "CODE XCODE TEXT" for the next reject/tempfail */
    engine_status pending;   /* a verdict given to an unanswered command */
    void *priv;
    const char *why;         /* why the conversation ended early, for the log */
};

/* ---- macros -------------------------------------------------------------- */

static int stage_of(unsigned char cmd)
{
    switch (cmd) {
    case 'C': return ST_CONNECT;
    case 'H': return ST_HELO;
    case 'M': return ST_MAIL;
    case 'R': return ST_RCPT;
    case 'T': return ST_DATA;
    case 'E': return ST_EOM;
    case 'N': return ST_EOH;
    default: return -1;
    }
}

static void clear_macros_from(engine_ctx *c, int first)
{
    for (int i = first; i < ST_COUNT; i++) {
        free(c->mac[i]);
        c->mac[i] = NULL;
        c->maclen[i] = 0;
    }
}

/* ---- replies ------------------------------------------------------------- */

/* Queue the reply for a command's status and send it with whatever edits
 * are queued.  nr_bit: the protocol bit that makes this command unanswered
 * (0 if none).  Returns false if the connection must end. */
static bool reply(engine_ctx *c, engine_status st, uint32_t nr_bit)
{
    const char *r = c->reply;
    unsigned char code;

    if (nr_bit != 0 && (c->proto & nr_bit) != 0) {
        /* The MTA reads no reply now: keep a verdict for the next one. */
        if (st != ENGINE_CONTINUE && st != ENGINE_NOREPLY && c->pending == ENGINE_CONTINUE) {
            log_warn("milter: a verdict for an unanswered command waits for the next reply");
            c->pending = st;
        }
        return pktio_flush(c->io); /* edits queued, if any */
    }
    if (c->pending != ENGINE_CONTINUE) {
        if (st == ENGINE_CONTINUE || st == ENGINE_NOREPLY)
            st = c->pending;
        c->pending = ENGINE_CONTINUE;
    }
    switch (st) {
    case ENGINE_NOREPLY:
    case ENGINE_CONTINUE: code = 'c'; break;
    case ENGINE_ACCEPT: code = 'a'; break;
    case ENGINE_DISCARD: code = 'd'; break;
    case ENGINE_REJECT: code = (r && r[0] == '5') ? 'y' : 'r'; break;
    case ENGINE_TEMPFAIL: code = (r && r[0] == '4') ? 'y' : 't'; break;
    default: code = 't'; break;
    }
    if (code == 'y')
        pktio_queue(c->io, 'y', r, strlen(r) + 1, NULL, 0);
    else
        pktio_queue(c->io, code, NULL, 0, NULL, 0);
    free(c->reply);
    c->reply = NULL;
    return pktio_flush(c->io);
}

/* ---- commands ------------------------------------------------------------ */

static bool cmd_optneg(engine_ctx *c, const unsigned char *d, size_t len)
{
    const engine_callbacks *cb = c->e->cb;
    uint32_t version, mta_act, mta_proto, act = 0, proto = 0;
    unsigned char out[12];

    if (c->negotiated || len < 12) {
        c->why = c->negotiated ? "second option negotiation" : "short option negotiation";
        return false;
    }
    version = pktio_get32(d);
    mta_act = pktio_get32(d + 4);
    mta_proto = pktio_get32(d + 8);
    if (version < 2) {
        c->why = "MTA speaks milter protocol < 2";
        return false;
    }
    if (cb->negotiate && cb->negotiate(c, mta_act, mta_proto, &act, &proto) != ENGINE_CONTINUE) {
        c->why = "filter refused the negotiation";
        return false;
    }
    c->negotiated = true;
    c->actions = act & mta_act;
    c->proto = proto & mta_proto;
    pktio_put32(out, version < PROTO_VERSION ? version : PROTO_VERSION);
    pktio_put32(out + 4, c->actions);
    pktio_put32(out + 8, c->proto);
    pktio_queue(c->io, 'O', out, sizeof(out), NULL, 0);
    return pktio_flush(c->io);
}

static bool cmd_macro(engine_ctx *c, const unsigned char *d, size_t len)
{
    int st;

    if (len < 1) {
        c->why = "empty macro packet";
        return false;
    }
    if ((st = stage_of(d[0])) < 0)
        return true; /* macros for a command we do not track */
    free(c->mac[st]);
    /* One NUL more, so that a last value without its NUL still ends. */
    c->mac[st] = xmalloc(len);
    memcpy(c->mac[st], d + 1, len - 1);
    c->mac[st][len - 1] = '\0';
    c->maclen[st] = len;
    return true;
}

/* The client address after the hostname of a connect packet: family '4'
 * or '6', port, address string.  false if malformed; *sa stays NULL for
 * another family or an address that does not parse. */
static bool client_addr(const unsigned char *d, size_t len, size_t pos,
                        struct sockaddr_storage *ss, const struct sockaddr **sa)
{
    bool six = d[pos] == '6';
    const char *addr;
    uint16_t port;

    *sa = NULL;
    if (d[pos] != '4' && d[pos] != '6')
        return true;
    pos++;
    if (pos + 2 > len)
        return false;
    port = (uint16_t)(d[pos] << 8 | d[pos + 1]);
    pos += 2;
    if ((addr = pktio_str(d, len, &pos)) == NULL)
        return false;
    memset(ss, 0, sizeof(*ss));
    if (!six) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        if (inet_pton(AF_INET, addr, &sin->sin_addr) == 1)
            *sa = (const struct sockaddr *)sin;
    } else {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        if (strncasecmp(addr, "IPv6:", 5) == 0)
            addr += 5;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        if (inet_pton(AF_INET6, addr, &sin6->sin6_addr) == 1)
            *sa = (const struct sockaddr *)sin6;
    }
    return true;
}

static bool cmd_connect(engine_ctx *c, const unsigned char *d, size_t len)
{
    const char *host;
    size_t pos = 0;
    struct sockaddr_storage ss;
    const struct sockaddr *sa = NULL;
    engine_status st = ENGINE_CONTINUE;

    if ((host = pktio_str(d, len, &pos)) == NULL || pos >= len ||
        !client_addr(d, len, pos, &ss, &sa)) {
        c->why = "malformed connect";
        return false;
    }
    clear_macros_from(c, ST_CONNECT + 1);
    if (c->e->cb->connect)
        st = c->e->cb->connect(c, host, sa);
    return reply(c, st, ENGINE_P_NR_CONN);
}

static bool cmd_helo(engine_ctx *c, const unsigned char *d, size_t len)
{
    size_t pos = 0;
    const char *name = pktio_str(d, len, &pos);
    engine_status st = ENGINE_CONTINUE;

    if (name == NULL) {
        c->why = "malformed HELO";
        return false;
    }
    clear_macros_from(c, ST_HELO + 1);
    if (c->e->cb->helo)
        st = c->e->cb->helo(c, name);
    return reply(c, st, ENGINE_P_NR_HELO);
}

/* MAIL and RCPT: the address and its ESMTP parameters. */
static bool cmd_envelope(engine_ctx *c, const unsigned char *d, size_t len, bool mail)
{
    char *argv[64];
    size_t argc = 0, pos = 0;
    const char *s;
    engine_status st = ENGINE_CONTINUE;
    engine_status (*fn)(engine_ctx *, char **) = mail ? c->e->cb->mail : c->e->cb->rcpt;

    /* Beyond 63 ESMTP parameters the rest is checked but not passed on. */
    while (pos < len) {
        if ((s = pktio_str(d, len, &pos)) == NULL)
            break;
        if (argc < sizeof(argv) / sizeof(argv[0]) - 1)
            argv[argc++] = (char *)s;
    }
    if (argc == 0 || pos < len) {
        c->why = mail ? "malformed MAIL" : "malformed RCPT";
        return false;
    }
    argv[argc] = NULL;
    clear_macros_from(c, (mail ? ST_MAIL : ST_RCPT) + 1);
    if (fn)
        st = fn(c, argv);
    return reply(c, st, mail ? ENGINE_P_NR_MAIL : 0);
}

static bool cmd_header(engine_ctx *c, const unsigned char *d, size_t len)
{
    size_t pos = 0;
    const char *name = pktio_str(d, len, &pos), *value = pktio_str(d, len, &pos);
    engine_status st = ENGINE_NOREPLY;

    if (name == NULL || value == NULL) {
        c->why = "malformed header";
        return false;
    }
    if (c->e->cb->header)
        st = c->e->cb->header(c, name, value);
    return reply(c, st, ENGINE_P_NR_HDR);
}

static bool cmd_eom(engine_ctx *c, const unsigned char *d, size_t len)
{
    const engine_callbacks *cb = c->e->cb;
    engine_status st = ENGINE_CONTINUE;

    /* Data here is a last body chunk (Sendmail may send one). */
    if (len > 0 && cb->body) {
        st = cb->body(c, d, len);
        if (st != ENGINE_CONTINUE && st != ENGINE_NOREPLY)
            return reply(c, st, 0);
    }
    c->in_eom = true;
    if (cb->eom)
        st = cb->eom(c);
    c->in_eom = false;
    return reply(c, st == ENGINE_NOREPLY ? ENGINE_CONTINUE : st, 0);
}

/* The SMTP connection ended: at QUIT_NC (another follows on the socket)
 * and at the end of the socket.  Clears its state for the next one. */
static void end_connection(engine_ctx *c)
{
    if (c->e->cb->close)
        c->e->cb->close(c);
    c->priv = NULL;
    clear_macros_from(c, 0);
    free(c->reply);
    c->reply = NULL;
    c->pending = ENGINE_CONTINUE;
}

/* One packet; false when the connection must end. */
static bool dispatch(engine_ctx *c, unsigned char cmd, unsigned char *d, size_t len)
{
    const engine_callbacks *cb = c->e->cb;
    engine_status st = ENGINE_CONTINUE;

    if (!c->negotiated && cmd != 'O' && cmd != 'Q') {
        c->why = "command before option negotiation";
        return false;
    }
    switch (cmd) {
    case 'O': return cmd_optneg(c, d, len);
    case 'D': return cmd_macro(c, d, len);
    case 'C': return cmd_connect(c, d, len);
    case 'H': return cmd_helo(c, d, len);
    case 'M': return cmd_envelope(c, d, len, true);
    case 'R': return cmd_envelope(c, d, len, false);
    case 'T':
        if (cb->data)
            st = cb->data(c);
        return reply(c, st, 0);
    case 'L': return cmd_header(c, d, len);
    case 'N':
        if (cb->eoh)
            st = cb->eoh(c);
        return reply(c, st, ENGINE_P_NR_EOH);
    case 'B':
        st = ENGINE_NOREPLY;
        if (cb->body)
            st = cb->body(c, d, len);
        return reply(c, st, ENGINE_P_NR_BODY);
    case 'E': return cmd_eom(c, d, len);
    case 'A':
        if (cb->abort)
            cb->abort(c);
        clear_macros_from(c, ST_MAIL);
        free(c->reply);
        c->reply = NULL;
        c->pending = ENGINE_CONTINUE;
        return true; /* no reply */
    case 'U': return reply(c, ENGINE_CONTINUE, 0);
    case 'K':
        end_connection(c);
        return true;
    case 'Q':
        return false;
    default:
        c->why = "unknown command";
        return false;
    }
}

/* One connection on fd to its end, through io (the caller counts it as
 * active and closes fd). */
static void serve(engine_t *e, int fd, pktio_t *io)
{
    engine_ctx c;
    unsigned char cmd = 0, *data;
    size_t len;
    const char *why;

    memset(&c, 0, sizeof(c));
    c.e = e;
    c.io = io;
    pktio_attach(io, fd, e->idle_limit);
    while (pktio_next(io, &cmd, &data, &len) == 1)
        if (!dispatch(&c, cmd, data, len))
            break;
    if ((why = c.why ? c.why : pktio_why(io)) != NULL)
        log_warn("milter connection ended: %s (last command '%c')", why,
                 (cmd >= 0x20 && cmd < 0x7f) ? cmd : '-');
    end_connection(&c);
    pktio_detach(io);
}

/* listener_handler.serve: a worker's connection, through the worker's own
 * pktio_t (kept in its slot: a 64 KB read buffer allocated and freed per
 * connection would cost a malloc_consolidate() each time, as glibc
 * consolidates on every free of 64 KB or more). */
static void serve_accepted(void *arg, int fd, void **slot)
{
    if (*slot == NULL)
        *slot = pktio_new(ENGINE_MAX_PACKET);
    serve(arg, fd, *slot);
    close(fd);
}

static void slot_free(void *slot)
{
    pktio_free(slot);
}

void engine_serve_fd(engine_t *e, int fd)
{
    pktio_t *io = pktio_new(ENGINE_MAX_PACKET);

    atomic_fetch_add(&e->serving, 1);
    serve(e, fd, io);
    close(fd);
    atomic_fetch_sub(&e->serving, 1);
    pktio_free(io);
}

/* ---- inside callbacks ---------------------------------------------------- */

uint32_t engine_getproto(const engine_ctx *c)
{
    return c->proto;
}

void *engine_getpriv(engine_ctx *c)
{
    return c->priv;
}

void engine_setpriv(engine_ctx *c, void *priv)
{
    c->priv = priv;
}

static bool name_matches(const char *have, const char *want)
{
    size_t hl = strlen(have), wl = strlen(want);

    if (hl == wl)
        return memcmp(have, want, hl) == 0;
    /* "i" is "{i}" and the other way round. */
    if (hl == 3 && wl == 1)
        return have[0] == '{' && have[2] == '}' && have[1] == want[0];
    if (hl == 1 && wl == 3)
        return want[0] == '{' && want[2] == '}' && want[1] == have[0];
    return false;
}

const char *engine_getsymval(engine_ctx *c, const char *name)
{
    if (name == NULL || *name == '\0')
        return NULL;
    for (int st = ST_COUNT - 1; st >= 0; st--) {
        const char *p = c->mac[st], *end = p ? p + c->maclen[st] : NULL;
        while (p != NULL && p < end) {
            const char *n = p, *v = n + strlen(n) + 1;
            if (v >= end)
                break;
            if (name_matches(n, name))
                return v;
            p = v + strlen(v) + 1;
        }
    }
    return NULL;
}

bool engine_setreply(engine_ctx *c, const char *code, const char *xcode, const char *text)
{
    size_t n;

    if (code == NULL || strlen(code) != 3 || (code[0] != '4' && code[0] != '5') || code[1] < '0' ||
        code[1] > '9' || code[2] < '0' || code[2] > '9')
        return false;
    if (xcode && (xcode[0] != code[0] || xcode[1] != '.' || strpbrk(xcode, " \r\n")))
        return false;
    if (text == NULL || strpbrk(text, "\r\n"))
        return false;
    n = strlen(code) + (xcode ? strlen(xcode) + 1 : 0) + strlen(text) + 2;
    free(c->reply);
    c->reply = xmalloc(n);
    if (xcode)
        snprintf(c->reply, n, "%s %s %s", code, xcode, text);
    else
        snprintf(c->reply, n, "%s %s", code, text);
    return true;
}

static bool header_edit(engine_ctx *c, unsigned char cmd, uint32_t index, const char *name,
                        const char *value)
{
    unsigned char idx[4];
    size_t nl, vl;
    char *body;

    if (!c->in_eom || name == NULL || *name == '\0')
        return false;
    if ((c->actions & (cmd == 'i' ? ENGINE_ACT_ADDHDRS : ENGINE_ACT_CHGHDRS)) == 0)
        return false;
    if (value == NULL)
        value = "";
    nl = strlen(name) + 1;
    vl = strlen(value) + 1;
    pktio_put32(idx, index);
    body = xmalloc(nl + vl);
    memcpy(body, name, nl);
    memcpy(body + nl, value, vl);
    pktio_queue(c->io, cmd, idx, sizeof(idx), body, nl + vl);
    free(body);
    return true;
}

bool engine_insheader(engine_ctx *c, uint32_t index, const char *name, const char *value)
{
    return value != NULL && header_edit(c, 'i', index, name, value);
}

bool engine_chgheader(engine_ctx *c, const char *name, uint32_t index, const char *value)
{
    return header_edit(c, 'm', index, name, value);
}

bool engine_quarantine(engine_ctx *c, const char *reason)
{
    if (!c->in_eom || (c->actions & ENGINE_ACT_QUARANTINE) == 0 || reason == NULL || *reason == '\0')
        return false;
    pktio_queue(c->io, 'q', reason, strlen(reason) + 1, NULL, 0);
    return true;
}

/* ---- the engine's life --------------------------------------------------- */

engine_t *engine_new_unbound(unsigned timeout, const engine_callbacks *cb)
{
    engine_t *e = xcalloc(1, sizeof(*e));

    (void)timeout; /* only the listener's accepted sockets have one */
    e->cb = cb;
    e->idle_limit = IDLE_LIMIT_SECONDS;
    e->h.serve = serve_accepted;
    e->h.slot_free = slot_free;
    e->h.arg = e;
    return e;
}

engine_t *engine_new(const char *spec, unsigned timeout, const engine_callbacks *cb, char *err,
                     size_t errlen)
{
    engine_t *e = engine_new_unbound(timeout, cb);

    if ((e->l = listener_new(spec, timeout, &e->h, err, errlen)) == NULL) {
        free(e);
        return NULL;
    }
    return e;
}

int engine_run(engine_t *e)
{
    return e->l ? listener_run(e->l) : -1;
}

void engine_stop(engine_t *e)
{
    if (e->l)
        listener_stop(e->l);
}

void engine_set_idle_limit(engine_t *e, unsigned seconds)
{
    e->idle_limit = seconds;
}

void engine_set_max_workers(engine_t *e, unsigned n)
{
    if (e->l)
        listener_set_max_workers(e->l, n);
}

int engine_active(const engine_t *e)
{
    return atomic_load(&((engine_t *)e)->serving) + (e->l ? listener_active(e->l) : 0);
}

void engine_free(engine_t *e)
{
    if (e == NULL)
        return;
    /* A worker still busy (only when the caller did not wait for
     * engine_active() to reach 0) keeps the listener and this engine, its
     * handler's argument: leak both. */
    if (!listener_free(e->l))
        return;
    free(e);
}
