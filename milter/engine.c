/*
 * engine.c - the milter protocol engine (engine.h).
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
 * are NUL-terminated.  Nothing in a packet is trusted: every field is
 * bounds-checked and a packet that breaks the format ends the connection
 * (the MTA then applies its milter_default_action).
 *
 * Over TCP an MTA that writes a packet we do not answer (macros, or a
 * command negotiated unanswered) and then, in a second write, the next
 * command would wait for our ACK: its Nagle algorithm holds a small
 * segment while one is unacknowledged, and our kernel delays that ACK
 * (~40 ms) hoping to send it with a reply.  Sendmail does so before RCPT
 * and before end of message (issue 16).  So before a worker blocks in
 * read() with nothing written since its last read, it sets TCP_QUICKACK,
 * which sends a pending ACK at once; Linux clears the option again, so it
 * is set each time.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "log.h"
#include "xalloc.h"

#define PROTO_VERSION 6u
#define READ_BUF_DEFAULT (65536u + 16u) /* one full 64 KB body chunk packet */
#define IDLE_WORKER_SECONDS 60
/* Between two commands the MTA may be busy for long (Postfix's cleanup
 * sends the headers only after the client has uploaded the whole message):
 * there a connection may be idle this long, as libmilter's default timeout
 * allows; the configured timeout bounds reads inside a packet and writes. */
#define IDLE_LIMIT_SECONDS 7210
#define MIN_WORKERS 2
/* At most this many connections are served at once (each holds a thread);
 * more wait in the listen backlog until a worker is free.  Postfix holds
 * one milter connection per smtpd and cleanup process (default process
 * limit 100 each). */
#define MAX_WORKERS 1024

/* Macro stages, in libmilter's order: a lookup searches the latest first;
 * connect, HELO, MAIL and RCPT clear the stages after their own (stale
 * values of the previous message), as libmilter does. */
enum { ST_CONNECT, ST_HELO, ST_MAIL, ST_RCPT, ST_DATA, ST_EOM, ST_EOH, ST_COUNT };

struct engine {
    int lfd;            /* listening socket, -1 for engine_new_unbound */
    char *unix_path;    /* the socket file to remove at the end, or NULL */
    dev_t sock_dev;     /* ... if it is still this file */
    ino_t sock_ino;
    unsigned timeout;   /* seconds, per read inside a packet and per write */
    unsigned idle_limit; /* seconds a connection may wait between commands */
    const engine_callbacks *cb;
    int wake[2];        /* engine_stop() writes here */
    atomic_int stopping; /* lock-free: engine_stop() may run in a signal handler */
    atomic_int active;  /* connections being served */
    _Atomic time_t last_accept_warning;

    pthread_mutex_t mu; /* protects everything below */
    pthread_cond_t gone; /* a worker left accept() or the pool */
    int workers;        /* threads in the pool */
    int max_workers;    /* MAX_WORKERS, or less (tests) */
    int idle;           /* of them, in (or on the way to) accept() */
    bool failed;        /* accept() failed for good */
};

struct engine_ctx {
    engine_t *e;
    int fd;
    bool tcp;           /* fd is a TCP connection */
    bool unanswered;    /* bytes read and nothing written since: ACK owed */
    unsigned char *rbuf; /* received bytes rbuf[rstart..rend) */
    size_t rcap, rstart, rend;
    unsigned char *wbuf; /* replies not yet written */
    size_t wcap, wlen;
    bool negotiated;
    bool in_eom;
    uint32_t actions, proto; /* agreed with the MTA */
    char *mac[ST_COUNT];     /* "name\0value\0..." as sent */
    size_t maclen[ST_COUNT];
    char *reply;             /* "CODE XCODE TEXT" for the next reject/tempfail */
    engine_status pending;   /* a verdict given to an unanswered command */
    void *priv;
    const char *why;         /* why the connection ended early, for the log */
    time_t idle_since;       /* monotonic start of a wait between commands, or 0 */
};

static time_t mono_now(void);

/* ---- small helpers ------------------------------------------------------- */

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* The NUL-terminated string at *pos within data[0..len); NULL if there is
 * no NUL before the end.  Advances *pos past the NUL. */
static const char *take_str(const unsigned char *data, size_t len, size_t *pos)
{
    const unsigned char *s = data + *pos, *nul;

    if (*pos >= len || (nul = memchr(s, '\0', len - *pos)) == NULL)
        return NULL;
    *pos += (size_t)(nul - s) + 1;
    return (const char *)s;
}

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

/* ---- output -------------------------------------------------------------- */

static void out_packet(engine_ctx *c, unsigned char cmd, const void *a, size_t alen, const void *b,
                       size_t blen)
{
    size_t need = c->wlen + 5 + alen + blen;

    if (need > c->wcap) {
        c->wcap = need < 256 ? 256 : need * 2;
        c->wbuf = xrealloc(c->wbuf, c->wcap);
    }
    put32(c->wbuf + c->wlen, (uint32_t)(1 + alen + blen));
    c->wbuf[c->wlen + 4] = cmd;
    if (alen)
        memcpy(c->wbuf + c->wlen + 5, a, alen);
    if (blen)
        memcpy(c->wbuf + c->wlen + 5 + alen, b, blen);
    c->wlen = need;
}

/* Write everything queued; false if the MTA is gone or too slow. */
static bool flush(engine_ctx *c)
{
    size_t off = 0;

    while (off < c->wlen) {
        /* MSG_NOSIGNAL: an MTA that went away is an error here, not a
         * SIGPIPE for the whole process. */
        ssize_t n = send(c->fd, c->wbuf + off, c->wlen - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            c->why = (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ? "write timeout"
                                                                          : "write failed";
            c->wlen = 0;
            return false;
        }
        off += (size_t)n;
    }
    c->wlen = 0;
    c->unanswered = false; /* the reply carried the ACK */
    return true;
}

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
        return c->wlen == 0 || flush(c);
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
        out_packet(c, 'y', r, strlen(r) + 1, NULL, 0);
    else
        out_packet(c, code, NULL, 0, NULL, 0);
    free(c->reply);
    c->reply = NULL;
    return flush(c);
}

/* ---- input --------------------------------------------------------------- */

/* The next packet: 1 with cmd, data and len set (data valid until the next
 * call), 0 at the end of the connection, -1 on error (c->why says). */
static int next_packet(engine_ctx *c, unsigned char *cmd, unsigned char **data, size_t *len)
{
    for (;;) {
        size_t avail = c->rend - c->rstart, need = 4;

        if (avail >= 4) {
            uint32_t n = get32(c->rbuf + c->rstart);
            if (n == 0 || n > ENGINE_MAX_PACKET) {
                c->why = n == 0 ? "empty packet" : "packet too long";
                return -1;
            }
            if (avail >= 4 + (size_t)n) {
                *cmd = c->rbuf[c->rstart + 4];
                *data = c->rbuf + c->rstart + 5;
                *len = n - 1;
                c->rstart += 4 + (size_t)n;
                return 1;
            }
            need = 4 + (size_t)n;
        }
        /* Make room: keep what is pending at the front of the buffer; a
         * buffer grown for one big packet goes back to the default size. */
        if (c->rstart > 0) {
            memmove(c->rbuf, c->rbuf + c->rstart, avail);
            c->rstart = 0;
            c->rend = avail;
        }
        if (c->rcap > READ_BUF_DEFAULT && need <= READ_BUF_DEFAULT && avail <= READ_BUF_DEFAULT) {
            c->rbuf = xrealloc(c->rbuf, READ_BUF_DEFAULT);
            c->rcap = READ_BUF_DEFAULT;
        }
        if (c->rcap < need || c->rcap == 0) {
            c->rcap = need > READ_BUF_DEFAULT ? need : READ_BUF_DEFAULT;
            c->rbuf = xrealloc(c->rbuf, c->rcap);
        }
        if (c->unanswered) {
            /* What we read got no reply: ACK it now, not ~40 ms later,
             * or the MTA's next command may wait on Nagle for it. */
            int one = 1;
            (void)setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
            c->unanswered = false;
        }
        ssize_t r = read(c->fd, c->rbuf + c->rend, c->rcap - c->rend);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            if (avail > 0)
                c->why = "connection closed inside a packet";
            return avail > 0 ? -1 : 0;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            /* SO_RCVTIMEO woke us: inside a packet that is the timeout;
             * between commands, wait on up to the idle limit. */
            time_t now = mono_now();
            if (avail == 0 && c->idle_since == 0)
                c->idle_since = now;
            if (avail == 0 && now - c->idle_since < (time_t)c->e->idle_limit)
                continue;
            c->why = avail > 0 ? "read timeout inside a packet" : "connection idle too long";
            return -1;
        }
        if (r < 0) {
            c->why = "read failed";
            return -1;
        }
        c->idle_since = 0;
        c->rend += (size_t)r;
        c->unanswered = c->tcp;
    }
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
    version = get32(d);
    mta_act = get32(d + 4);
    mta_proto = get32(d + 8);
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
    put32(out, version < PROTO_VERSION ? version : PROTO_VERSION);
    put32(out + 4, c->actions);
    put32(out + 8, c->proto);
    out_packet(c, 'O', out, sizeof(out), NULL, 0);
    return flush(c);
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

static bool cmd_connect(engine_ctx *c, const unsigned char *d, size_t len)
{
    const char *host, *addr;
    size_t pos = 0;
    struct sockaddr_in sin;
    struct sockaddr_in6 sin6;
    const struct sockaddr *sa = NULL;
    engine_status st = ENGINE_CONTINUE;

    if ((host = take_str(d, len, &pos)) == NULL || pos >= len) {
        c->why = "malformed connect";
        return false;
    }
    if (d[pos] == '4' || d[pos] == '6') {
        bool six = d[pos] == '6';
        uint16_t port;

        pos++;
        if (pos + 2 > len) {
            c->why = "malformed connect";
            return false;
        }
        port = (uint16_t)(d[pos] << 8 | d[pos + 1]);
        pos += 2;
        if ((addr = take_str(d, len, &pos)) == NULL) {
            c->why = "malformed connect";
            return false;
        }
        if (six && strncasecmp(addr, "IPv6:", 5) == 0)
            addr += 5;
        if (!six) {
            memset(&sin, 0, sizeof(sin));
            sin.sin_family = AF_INET;
            sin.sin_port = htons(port);
            if (inet_pton(AF_INET, addr, &sin.sin_addr) == 1)
                sa = (const struct sockaddr *)&sin;
        } else {
            memset(&sin6, 0, sizeof(sin6));
            sin6.sin6_family = AF_INET6;
            sin6.sin6_port = htons(port);
            if (inet_pton(AF_INET6, addr, &sin6.sin6_addr) == 1)
                sa = (const struct sockaddr *)&sin6;
        }
    }
    clear_macros_from(c, ST_CONNECT + 1);
    if (c->e->cb->connect)
        st = c->e->cb->connect(c, host, sa);
    return reply(c, st, ENGINE_P_NR_CONN);
}

static bool cmd_helo(engine_ctx *c, const unsigned char *d, size_t len)
{
    size_t pos = 0;
    const char *name = take_str(d, len, &pos);
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
        if ((s = take_str(d, len, &pos)) == NULL)
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
    const char *name = take_str(d, len, &pos), *value = take_str(d, len, &pos);
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

/* QUIT_NC: this SMTP connection ended, another follows on the socket. */
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

/* One connection to its end (the caller counts it in e->active). */
/* A worker's buffers, kept from one connection to the next: a 64 KB read
 * buffer allocated and freed per connection costs a malloc_consolidate()
 * each time (glibc consolidates on every free of 64 KB or more). */
typedef struct {
    unsigned char *rbuf, *wbuf;
    size_t rcap, wcap;
} conn_bufs;

static void serve(engine_t *e, int fd, conn_bufs *b)
{
    engine_ctx c;
    unsigned char cmd = 0, *data;
    size_t len;
    int r;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);

    memset(&c, 0, sizeof(c));
    c.e = e;
    c.fd = fd;
    c.tcp = getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0 &&
            (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
    c.rbuf = b->rbuf;
    c.rcap = b->rcap;
    c.wbuf = b->wbuf;
    c.wcap = b->wcap;
    while ((r = next_packet(&c, &cmd, &data, &len)) == 1)
        if (!dispatch(&c, cmd, data, len))
            break;
    if (c.why != NULL)
        log_warn("milter connection ended: %s (last command '%c')", c.why,
                 (cmd >= 0x20 && cmd < 0x7f) ? cmd : '-');
    end_connection(&c);
    /* A buffer grown for one big packet goes back to the default size. */
    if (c.rcap > READ_BUF_DEFAULT) {
        free(c.rbuf);
        c.rbuf = NULL;
        c.rcap = 0;
    }
    b->rbuf = c.rbuf;
    b->rcap = c.rcap;
    b->wbuf = c.wbuf;
    b->wcap = c.wcap;
    close(fd);
}

static void conn_bufs_free(conn_bufs *b)
{
    free(b->rbuf);
    free(b->wbuf);
}

void engine_serve_fd(engine_t *e, int fd)
{
    conn_bufs b = {NULL, NULL, 0, 0};

    atomic_fetch_add(&e->active, 1);
    serve(e, fd, &b);
    atomic_fetch_sub(&e->active, 1);
    conn_bufs_free(&b);
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
    put32(idx, index);
    body = xmalloc(nl + vl);
    memcpy(body, name, nl);
    memcpy(body + nl, value, vl);
    out_packet(c, cmd, idx, sizeof(idx), body, nl + vl);
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
    out_packet(c, 'q', reason, strlen(reason) + 1, NULL, 0);
    return true;
}

/* ---- listener and workers ------------------------------------------------ */

static engine_t *engine_alloc(unsigned timeout, const engine_callbacks *cb)
{
    engine_t *e = xcalloc(1, sizeof(*e));

    e->lfd = -1;
    e->wake[0] = e->wake[1] = -1;
    e->timeout = timeout;
    e->idle_limit = IDLE_LIMIT_SECONDS;
    e->max_workers = MAX_WORKERS;
    e->cb = cb;
    pthread_mutex_init(&e->mu, NULL);
    pthread_cond_init(&e->gone, NULL);
    return e;
}

engine_t *engine_new_unbound(unsigned timeout, const engine_callbacks *cb)
{
    return engine_alloc(timeout, cb);
}

static int listen_unix(engine_t *e, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    struct stat st;
    int fd;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "socket path %s is too long", path);
        return -1;
    }
    memcpy(sun.sun_path, path, strlen(path) + 1);
    /* A socket left by an earlier run is replaced; one that a running
     * process still answers on, and anything else, stays. */
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket", path);
            return -1;
        }
        if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
            int rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
            close(fd);
            if (rc == 0) {
                snprintf(err, errlen, "%s is in use: another mxguard (or milter) listens on it", path);
                return -1;
            }
        }
        if (unlink(path) != 0) {
            snprintf(err, errlen, "cannot remove the old socket %s: %s", path, strerror(errno));
            return -1;
        }
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return -1;
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
        snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    /* Removed at the end only if it is still this one (a later instance
     * may have replaced it). */
    if (stat(path, &st) == 0) {
        e->sock_dev = st.st_dev;
        e->sock_ino = st.st_ino;
    }
    e->unix_path = xstrdup(path);
    return fd;
}

static int listen_inet(const char *rest, bool six, char *err, size_t errlen)
{
    struct addrinfo hints, *ai = NULL;
    const char *at = strchr(rest, '@');
    char port[8];
    int fd, one = 1, rc;

    if (at == NULL || (size_t)(at - rest) >= sizeof(port) || at == rest) {
        snprintf(err, errlen, "expected PORT@HOST, not %s", rest);
        return -1;
    }
    memcpy(port, rest, (size_t)(at - rest));
    port[at - rest] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = six ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    if ((rc = getaddrinfo(at + 1, port, &hints, &ai)) != 0) {
        snprintf(err, errlen, "%s: %s", at + 1, gai_strerror(rc));
        return -1;
    }
    if ((fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        freeaddrinfo(ai);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    /* Linux copies it to every accepted connection: our replies (header
     * edits, then the verdict) never wait on Nagle. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(err, errlen, "bind %s: %s", rest, strerror(errno));
        close(fd);
        freeaddrinfo(ai);
        return -1;
    }
    freeaddrinfo(ai);
    return fd;
}

engine_t *engine_new(const char *spec, unsigned timeout, const engine_callbacks *cb, char *err,
                     size_t errlen)
{
    engine_t *e;
    int fd;

    e = engine_alloc(timeout, cb);
    if (strncmp(spec, "unix:", 5) == 0)
        fd = listen_unix(e, spec + 5, err, errlen);
    else if (strncmp(spec, "local:", 6) == 0)
        fd = listen_unix(e, spec + 6, err, errlen);
    else if (strncmp(spec, "inet:", 5) == 0)
        fd = listen_inet(spec + 5, false, err, errlen);
    else if (strncmp(spec, "inet6:", 6) == 0)
        fd = listen_inet(spec + 6, true, err, errlen);
    else {
        snprintf(err, errlen, "unknown socket type in %s", spec);
        fd = -1;
    }
    if (fd >= 0 && listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "listen on %s: %s", spec, strerror(errno));
        close(fd);
        fd = -1;
    }
    if (fd >= 0 && pipe2(e->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        engine_free(e);
        return NULL;
    }
    e->lfd = fd;
    return e;
}

/*
 * Workers accept for themselves: each idle worker blocks in accept() on
 * the listening socket (the kernel wakes one per connection), serves that
 * connection to its end and accepts again; no thread hands connections
 * over.  A worker that takes the last idle place starts another one first,
 * so one always waits in accept().  accept() wakes every second
 * (SO_RCVTIMEO on the listener): idle workers beyond MIN_WORKERS leave
 * after IDLE_WORKER_SECONDS.
 */
static void *worker(void *arg);

static time_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* Start a worker, counted idle from now (e->mu held). */
static bool spawn_worker(engine_t *e)
{
    pthread_attr_t attr;
    pthread_t tid;
    int rc;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, worker, e);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        log_error("cannot start a milter worker thread: %s", strerror(rc));
        return false;
    }
    e->workers++;
    e->idle++;
    return true;
}

/* Leave the pool (e->mu held, released), freeing the worker's buffers. */
static void *worker_exit(engine_t *e, bool was_idle, conn_bufs *bufs)
{
    conn_bufs_free(bufs);
    if (was_idle)
        e->idle--;
    e->workers--;
    pthread_cond_broadcast(&e->gone);
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

static void *worker(void *arg)
{
    engine_t *e = arg;
    time_t idle_since = mono_now();
    conn_bufs bufs = {NULL, NULL, 0, 0};

    for (;;) {
        struct timeval tv = {(time_t)e->timeout, 0};
        int fd = accept4(e->lfd, NULL, NULL, SOCK_CLOEXEC), err = errno;

        if (fd < 0) {
            if (atomic_load(&e->stopping)) {
                pthread_mutex_lock(&e->mu);
                return worker_exit(e, true, &bufs);
            }
            if (err == EAGAIN || err == EWOULDBLOCK) {
                pthread_mutex_lock(&e->mu);
                if (e->workers > MIN_WORKERS && e->idle > 1 &&
                    mono_now() - idle_since >= IDLE_WORKER_SECONDS)
                    return worker_exit(e, true, &bufs);
                pthread_mutex_unlock(&e->mu);
                continue;
            }
            if (err == EINTR || err == ECONNABORTED)
                continue;
            /* Only a listener that is not one any more is fatal; the rest
             * (no descriptors or memory for now, network errors that Linux
             * reports on the new connection) is retried after a pause,
             * with a warning at most every 10 seconds. */
            if (err == EBADF || err == ENOTSOCK || err == EFAULT || err == EINVAL) {
                log_error("accept on the milter socket: %s", strerror(err));
                pthread_mutex_lock(&e->mu);
                e->failed = true;
                engine_stop(e);
                return worker_exit(e, true, &bufs);
            }
            if (mono_now() - atomic_load(&e->last_accept_warning) >= 10) {
                atomic_store(&e->last_accept_warning, mono_now());
                log_warn("accept on the milter socket: %s (retrying)", strerror(err));
            }
            nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
            continue;
        }
        /* Always set: with no timeout, a TCP connection would otherwise
         * keep the listener's one-second tick. */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        pthread_mutex_lock(&e->mu);
        e->idle--;
        /* Counted before the lock goes, so that a stop that sees no idle
         * worker also sees this connection. */
        atomic_fetch_add(&e->active, 1);
        if (e->idle == 0 && e->workers < e->max_workers && !atomic_load(&e->stopping))
            (void)spawn_worker(e); /* if it fails, this one accepts after its connection */
        pthread_mutex_unlock(&e->mu);

        serve(e, fd, &bufs);
        atomic_fetch_sub(&e->active, 1);

        pthread_mutex_lock(&e->mu);
        if (atomic_load(&e->stopping))
            return worker_exit(e, false, &bufs);
        e->idle++;
        pthread_mutex_unlock(&e->mu);
        idle_since = mono_now();
    }
}

/* Wait (e->mu held) at most seconds for *count, a count of workers, to
 * reach 0: workers signal e->gone as they leave accept() or the pool. */
static void wait_gone(engine_t *e, const int *count, int seconds)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += seconds;
    while (*count > 0)
        if (pthread_cond_timedwait(&e->gone, &e->mu, &ts) == ETIMEDOUT)
            break;
}

/* Best effort: after a privilege drop the directory may not allow it. */
static void remove_socket_file(engine_t *e)
{
    struct stat st;

    if (e->unix_path && stat(e->unix_path, &st) == 0 && st.st_dev == e->sock_dev &&
        st.st_ino == e->sock_ino)
        (void)unlink(e->unix_path);
    free(e->unix_path);
    e->unix_path = NULL;
}

int engine_run(engine_t *e)
{
    struct timeval tick = {1, 0};
    struct pollfd p;
    bool ok;

    setsockopt(e->lfd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick));
    pthread_mutex_lock(&e->mu);
    ok = spawn_worker(e);
    pthread_mutex_unlock(&e->mu);
    p.fd = e->wake[0];
    p.events = POLLIN;
    while (ok && !atomic_load(&e->stopping))
        if (poll(&p, 1, -1) < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            break;
        }
    atomic_store(&e->stopping, 1);
    /* Wake the workers blocked in accept() now (else within a second);
     * then close: new connections are refused, not left in the backlog. */
    shutdown(e->lfd, SHUT_RDWR);
    pthread_mutex_lock(&e->mu);
    wait_gone(e, &e->idle, 3);
    ok = ok && !e->failed;
    if (e->idle == 0) {
        close(e->lfd);
        e->lfd = -1;
        remove_socket_file(e);
    }
    pthread_mutex_unlock(&e->mu);
    return ok ? 0 : -1;
}

void engine_stop(engine_t *e)
{
    char b = 1;

    atomic_store(&e->stopping, 1);
    if (e->wake[1] >= 0 && write(e->wake[1], &b, 1) < 0) {
        /* full pipe: a stop is already pending */
    }
}

void engine_set_idle_limit(engine_t *e, unsigned seconds)
{
    e->idle_limit = seconds;
}

void engine_set_max_workers(engine_t *e, unsigned n)
{
    e->max_workers = n == 0 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

int engine_active(const engine_t *e)
{
    return atomic_load(&((engine_t *)e)->active);
}

void engine_free(engine_t *e)
{
    if (e == NULL)
        return;
    if (e->lfd >= 0)
        close(e->lfd);
    e->lfd = -1;
    remove_socket_file(e);
    /* Workers leave when their connection ends; one still busy (only when
     * the caller did not wait for engine_active() to reach 0) keeps the
     * engine: leak it. */
    pthread_mutex_lock(&e->mu);
    wait_gone(e, &e->workers, 2);
    if (e->workers > 0) {
        pthread_mutex_unlock(&e->mu);
        return;
    }
    pthread_mutex_unlock(&e->mu);
    if (e->wake[0] >= 0)
        close(e->wake[0]);
    if (e->wake[1] >= 0)
        close(e->wake[1]);
    pthread_mutex_destroy(&e->mu);
    pthread_cond_destroy(&e->gone);
    free(e->unix_path);
    free(e);
}
