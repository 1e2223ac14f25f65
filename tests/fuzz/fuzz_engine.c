/*
 * fuzz_engine.c - the milter protocol engine (milter/engine/engine.c) reading
 * whatever an MTA could send: the input is the MTA's byte stream on a
 * socketpair (a writer thread sends it, then shuts its side down, and
 * drains the replies) while engine_serve_fd() serves it on this thread.
 * The callbacks call what a filter would (getsymval with names from the
 * input, setreply with codes and text from the input, the end-of-message
 * edits, priv), with verdicts chosen by the input.  Besides crashes, leaks
 * and hangs, the harness aborts if the reply stream is not well formed:
 * every packet complete, a known reply command, 'O' only first, and a 'y'
 * reply "4xx " or "5xx " text ending in NUL.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine.h"
#include "fuzz.h"

#define FUZZ_ENGINE_MAX_INPUT (2u * 1024u * 1024u)

static engine_t *fuzz_engine;
static volatile size_t fuzz_sink; /* keeps the reads of strings alive */

/* A verdict chosen by one byte of the input. */
static engine_status fuzz_status(unsigned char b)
{
    static const engine_status all[] = {ENGINE_CONTINUE, ENGINE_NOREPLY, ENGINE_ACCEPT,
                                        ENGINE_REJECT,   ENGINE_TEMPFAIL, ENGINE_DISCARD};
    return all[b % (sizeof(all) / sizeof(all[0]))];
}

/* Look a macro up and read all of its value. */
static const char *fuzz_sym(engine_ctx *c, const char *name)
{
    const char *v = engine_getsymval(c, name);

    if (v != NULL)
        fuzz_sink += strlen(v);
    return v;
}

static engine_status fz_negotiate(engine_ctx *c, uint32_t mta_act, uint32_t mta_proto,
                                  uint32_t *act, uint32_t *proto)
{
    (void)c;
    /* Everything the MTA offers: the input decides what is unanswered. */
    *act = mta_act | ENGINE_ACT_ADDHDRS | ENGINE_ACT_CHGHDRS | ENGINE_ACT_QUARANTINE;
    *proto = mta_proto;
    return ENGINE_CONTINUE;
}

static engine_status fz_connect(engine_ctx *c, const char *host, const struct sockaddr *sa)
{
    static char priv[] = "priv";

    /* set at negotiation, or by an earlier connect (as glue.c does) */
    if (engine_getpriv(c) != NULL && engine_getpriv(c) != priv)
        abort();
    engine_setpriv(c, priv);
    fuzz_sym(c, "j");
    fuzz_sym(c, "{daemon_name}");
    if (sa != NULL) {
        size_t n = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
        const unsigned char *p = (const unsigned char *)sa;
        for (size_t i = 0; i < n; i++)
            fuzz_sink += p[i];
    }
    return fuzz_status((unsigned char)host[0]);
}

static engine_status fz_helo(engine_ctx *c, const char *name)
{
    /* the name as reply text: refused when it holds CR or LF */
    (void)engine_setreply(c, "550", "5.7.1", name);
    fuzz_sym(c, "{tls_version}");
    return fuzz_status((unsigned char)name[0]);
}

static engine_status fz_envelope(engine_ctx *c, char **argv)
{
    size_t n = 0;

    for (; argv[n] != NULL; n++)
        fuzz_sink += strlen(argv[n]);
    if (n == 0)
        abort(); /* argv has at least one element */
    /* code, xcode and text from the parameters */
    (void)engine_setreply(c, n > 1 ? argv[1] : "451", n > 2 ? argv[2] : NULL, argv[0]);
    fuzz_sym(c, argv[0]);
    fuzz_sym(c, "i");
    return fuzz_status((unsigned char)(argv[0][0] + n));
}

static engine_status fz_data(engine_ctx *c)
{
    fuzz_sym(c, "{i}");
    return ENGINE_CONTINUE;
}

static engine_status fz_header(engine_ctx *c, const char *name, const char *value)
{
    fuzz_sym(c, name); /* any name, braces or not */
    if (engine_insheader(c, 0, name, value) || engine_quarantine(c, value))
        abort(); /* only inside eom */
    return fuzz_status((unsigned char)value[0]);
}

static engine_status fz_eoh(engine_ctx *c)
{
    fuzz_sym(c, "{auth_authen}");
    return ENGINE_CONTINUE;
}

static engine_status fz_body(engine_ctx *c, const unsigned char *chunk, size_t len)
{
    (void)c;
    for (size_t i = 0; i < len; i++)
        fuzz_sink += chunk[i];
    return len > 0 ? fuzz_status(chunk[len - 1]) : ENGINE_NOREPLY;
}

static engine_status fz_eom(engine_ctx *c)
{
    const char *q = fuzz_sym(c, "{q}"), *h = fuzz_sym(c, "{h}"), *v = fuzz_sym(c, "i");

    (void)engine_insheader(c, 0, h ? h : "X-Fuzz", v ? v : "value");
    (void)engine_chgheader(c, h ? h : "X-Fuzz", 1, v);
    (void)engine_quarantine(c, q ? q : "fuzz");
    if (q != NULL)
        (void)engine_setreply(c, "451", NULL, q);
    return v ? fuzz_status((unsigned char)v[0]) : ENGINE_CONTINUE;
}

static void fz_abort(engine_ctx *c)
{
    fuzz_sym(c, "i");
}

static void fz_close(engine_ctx *c)
{
    fuzz_sym(c, "j");
    engine_setpriv(c, NULL);
}

static const engine_callbacks fuzz_cbs = {
    .negotiate = fz_negotiate,
    .connect = fz_connect,
    .helo = fz_helo,
    .mail = fz_envelope,
    .rcpt = fz_envelope,
    .data = fz_data,
    .header = fz_header,
    .eoh = fz_eoh,
    .body = fz_body,
    .eom = fz_eom,
    .abort = fz_abort,
    .close = fz_close,
};

typedef struct {
    int fd;              /* the MTA's end */
    const uint8_t *data; /* what the MTA sends */
    size_t size;
} fuzz_mta;

/* Check one reply packet (cmd, data[0..len)); abort if malformed. */
static void fuzz_check_reply(unsigned char cmd, const unsigned char *d, size_t len, bool first)
{
    if (first != (cmd == 'O'))
        abort(); /* negotiation first, and once */
    switch (cmd) {
    case 'O':
        if (len != 12)
            abort();
        break;
    case 'c': case 'a': case 'r': case 't': case 'd':
        if (len != 0)
            abort();
        break;
    case 'y':
        if (len < 5 || d[len - 1] != '\0' || (d[0] != '4' && d[0] != '5') || d[3] != ' ' ||
            memchr(d, '\r', len) || memchr(d, '\n', len))
            abort();
        break;
    case 'i': case 'm':
        if (len < 7 || d[len - 1] != '\0' || memchr(d + 4, '\0', len - 4) == d + len - 1)
            abort(); /* index, name\0, value\0 */
        break;
    case 'q':
        if (len < 2 || d[len - 1] != '\0')
            abort();
        break;
    default:
        abort();
    }
}

/* The MTA: send the input, half-close, read and check every reply. */
static void *fuzz_mta_run(void *arg)
{
    fuzz_mta *m = arg;
    size_t off = 0, have = 0, cap = 65536;
    unsigned char *buf = xmalloc(cap);
    bool first = true;

    while (off < m->size) {
        ssize_t n = write(m->fd, m->data + off, m->size - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the engine ended the connection */
        off += (size_t)n;
    }
    shutdown(m->fd, SHUT_WR);
    for (;;) {
        ssize_t n;

        /* whole packets at the front of buf are checked and dropped */
        while (have >= 5) {
            size_t len = (size_t)buf[0] << 24 | (size_t)buf[1] << 16 | (size_t)buf[2] << 8 | buf[3];
            if (len == 0 || len > ENGINE_MAX_PACKET)
                abort();
            if (have < 4 + len)
                break;
            fuzz_check_reply(buf[4], buf + 5, len - 1, first);
            first = false;
            memmove(buf, buf + 4 + len, have - 4 - len);
            have -= 4 + len;
        }
        if (have == cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        n = read(m->fd, buf + have, cap - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        have += (size_t)n;
    }
    if (have != 0)
        abort(); /* a reply cut short */
    free(buf);
    return NULL;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    fuzz_quiet();
    signal(SIGPIPE, SIG_IGN); /* as the daemon does */
    fuzz_engine = engine_new_unbound(0, &fuzz_cbs);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int sv[2];
    pthread_t th;
    fuzz_mta m;

    if (size > FUZZ_ENGINE_MAX_INPUT)
        size = FUZZ_ENGINE_MAX_INPUT;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        abort();
    m.fd = sv[0];
    m.data = data;
    m.size = size;
    if (pthread_create(&th, NULL, fuzz_mta_run, &m) != 0)
        abort();
    engine_serve_fd(fuzz_engine, sv[1]); /* closes sv[1] */
    pthread_join(th, NULL);
    close(sv[0]);
    if (engine_active(fuzz_engine) != 0)
        abort();
    return 0;
}
