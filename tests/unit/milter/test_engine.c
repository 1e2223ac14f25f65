/*
 * test_engine.c - the milter protocol engine (milter/engine/engine.c) on the
 * wire: each test plays the MTA on one end of a socketpair while
 * engine_serve_fd() serves the other end on a thread, writes packets
 * (4-byte big-endian length, command, data) and checks the replies byte by
 * byte and what the filter's callbacks saw (a trace of one entry per
 * callback).  Covers negotiation, macros, connect addresses, envelope argv,
 * unanswered headers and body, SMTP replies, end-of-message edits, QUIT_NC,
 * the close callback, packet limits, the read timeout and pipelining; and
 * the listener on a unix socket in a temporary directory.  One test plays
 * Sendmail's pattern over a TCP connection on 127.0.0.1 (the engine's
 * TCP_QUICKACK path; its effect on timing is in tests/e2e/latency.sh).
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"
#include "testutil.h"

#define ALL_ACTS (ENGINE_ACT_ADDHDRS | ENGINE_ACT_CHGHDRS | ENGINE_ACT_QUARANTINE)
#define NR_BITS (ENGINE_P_NR_HDR | ENGINE_P_NR_BODY)

/* ---- the filter side: callbacks that record what they saw ---------------- */

static pthread_mutex_t rec_mu = PTHREAD_MUTEX_INITIALIZER;
static char trace[65536];   /* "entry;entry;..." in callback order */
static int closes;          /* close callbacks run */
static uint32_t want_act, want_proto;             /* what negotiate asks for */
static engine_status ret[128];                    /* status per command letter */
static void (*hook)(engine_ctx *c, char cmd);     /* per-test extra work */

static void rec(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void rec(const char *fmt, ...)
{
    va_list ap;
    size_t n;

    pthread_mutex_lock(&rec_mu);
    n = strlen(trace);
    if (n > 0 && n < sizeof(trace) - 1)
        trace[n++] = ';';
    va_start(ap, fmt);
    vsnprintf(trace + n, sizeof(trace) - n, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&rec_mu);
}

/* A copy of the trace (the engine thread may still append). */
static const char *trace_now(void)
{
    static char copy[sizeof(trace)];

    pthread_mutex_lock(&rec_mu);
    memcpy(copy, trace, sizeof(copy));
    pthread_mutex_unlock(&rec_mu);
    return copy;
}

/* Checks in callbacks run on the engine's thread: a failure is recorded in
 * the trace (never ck_assert there), and mta_finish() fails on it. */
#define HOOK_CHECK(cond, ...)                                  \
    do {                                                       \
        if (!(cond))                                           \
            rec("FAIL(%s:%d): " #cond, __func__, __LINE__);    \
    } while (0)

static engine_status done(engine_ctx *c, char cmd)
{
    if (hook)
        hook(c, cmd);
    return ret[(unsigned char)cmd];
}

/* A status named in the data ("#reject" in a header value or a MAIL
 * address), else dflt: for commands the MTA sends without waiting, where
 * changing ret[] between them would race with the engine's thread. */
static engine_status by_word(const char *s, engine_status dflt)
{
    static const struct {
        const char *word;
        engine_status st;
    } words[] = {{"#reject", ENGINE_REJECT}, {"#tempfail", ENGINE_TEMPFAIL},
                 {"#noreply", ENGINE_NOREPLY}, {"#discard", ENGINE_DISCARD}};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strstr(s, words[i].word) != NULL)
            return words[i].st;
    return dflt;
}

static engine_status cb_negotiate(engine_ctx *c, uint32_t mta_act, uint32_t mta_proto,
                                  uint32_t *act, uint32_t *proto)
{
    rec("O:%x:%x", mta_act, mta_proto);
    *act = want_act;
    *proto = want_proto;
    return done(c, 'O');
}

static engine_status cb_connect(engine_ctx *c, const char *host, const struct sockaddr *sa)
{
    char a[INET6_ADDRSTRLEN] = "";

    if (sa == NULL)
        rec("C:%s:-", host);
    else if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &sin->sin_addr, a, sizeof(a));
        rec("C:%s:4:%s:%u", host, a, ntohs(sin->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &sin6->sin6_addr, a, sizeof(a));
        rec("C:%s:6:%s:%u", host, a, ntohs(sin6->sin6_port));
    } else
        rec("C:%s:family%d", host, sa->sa_family);
    return done(c, 'C');
}

static engine_status cb_helo(engine_ctx *c, const char *name)
{
    rec("H:%s", name);
    return done(c, 'H');
}

static void rec_argv(char letter, char **argv)
{
    char buf[1024];
    size_t n = 0;
    int i;

    buf[0] = '\0';
    for (i = 0; argv[i] != NULL && i < 100 && n < sizeof(buf); i++)
        n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? "|" : "", argv[i]);
    HOOK_CHECK(argv[0] != NULL && i < 100);
    rec("%c:%s", letter, buf);
}

static engine_status cb_mail(engine_ctx *c, char **argv)
{
    rec_argv('M', argv);
    return by_word(argv[0], done(c, 'M'));
}

static engine_status cb_rcpt(engine_ctx *c, char **argv)
{
    rec_argv('R', argv);
    return done(c, 'R');
}

static engine_status cb_data(engine_ctx *c)
{
    rec("T");
    return done(c, 'T');
}

static engine_status cb_header(engine_ctx *c, const char *name, const char *value)
{
    if (strlen(value) > 64)
        rec("L:%s=<%zu bytes>", name, strlen(value));
    else
        rec("L:%s=%s", name, value);
    return by_word(value, done(c, 'L'));
}

static engine_status cb_eoh(engine_ctx *c)
{
    rec("N");
    return done(c, 'N');
}

static engine_status cb_body(engine_ctx *c, const unsigned char *chunk, size_t len)
{
    if (len > 64)
        rec("B:<%zu bytes>", len);
    else
        rec("B:%.*s", (int)len, (const char *)chunk);
    return done(c, 'B');
}

static engine_status cb_eom(engine_ctx *c)
{
    rec("E");
    return done(c, 'E');
}

static void cb_abort(engine_ctx *c)
{
    rec("A");
    (void)done(c, 'A');
}

static void cb_close(engine_ctx *c)
{
    pthread_mutex_lock(&rec_mu);
    closes++;
    pthread_mutex_unlock(&rec_mu);
    rec("X:%s", engine_getpriv(c) ? (const char *)engine_getpriv(c) : "-");
    (void)done(c, 'X');
}

static const engine_callbacks cbs = {
    .negotiate = cb_negotiate,
    .connect = cb_connect,
    .helo = cb_helo,
    .mail = cb_mail,
    .rcpt = cb_rcpt,
    .data = cb_data,
    .header = cb_header,
    .eoh = cb_eoh,
    .body = cb_body,
    .eom = cb_eom,
    .abort = cb_abort,
    .close = cb_close,
};

static int close_count(void)
{
    int n;

    pthread_mutex_lock(&rec_mu);
    n = closes;
    pthread_mutex_unlock(&rec_mu);
    return n;
}

/* ---- the MTA side --------------------------------------------------------- */

typedef struct {
    engine_t *e;
    int fd;        /* the MTA's end */
    int efd;       /* the engine's end (closed by the engine) */
    pthread_t th;
    bool joined;
} mta;

static void *serve(void *arg)
{
    mta *m = arg;

    engine_serve_fd(m->e, m->efd);
    return NULL;
}

static void set_rcvtimeo(int fd, unsigned seconds)
{
    struct timeval tv = {(time_t)seconds, 0};

    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
    ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
}

/* Start serving a new connection; engine_timeout > 0 also sets the read
 * and write timeouts on the engine's end as engine_run() does for every
 * accepted connection (engine_serve_fd() does not set them itself). */
static void mta_start_t(mta *m, unsigned engine_timeout)
{
    int sv[2];

    memset(m, 0, sizeof(*m));
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    m->fd = sv[0];
    m->efd = sv[1];
    set_rcvtimeo(m->fd, 5); /* a test never hangs on a silent engine */
    if (engine_timeout > 0)
        set_rcvtimeo(m->efd, engine_timeout);
    m->e = engine_new_unbound(engine_timeout, &cbs);
    ck_assert_ptr_nonnull(m->e);
    engine_set_idle_limit(m->e, 2);
    ck_assert_int_eq(pthread_create(&m->th, NULL, serve, m), 0);
}

static void mta_start(mta *m)
{
    mta_start_t(m, 0);
}

/* mta_start over a TCP connection on 127.0.0.1 (an ephemeral port). */
static void mta_start_tcp(mta *m)
{
    struct sockaddr_in sin;
    socklen_t sl = sizeof(sin);
    int lfd;

    memset(m, 0, sizeof(*m));
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_ge(lfd = socket(AF_INET, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(listen(lfd, 1), 0);
    ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
    ck_assert_int_ge(m->fd = socket(AF_INET, SOCK_STREAM, 0), 0);
    ck_assert_int_eq(connect(m->fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_ge(m->efd = accept(lfd, NULL, NULL), 0);
    close(lfd);
    set_rcvtimeo(m->fd, 5);
    m->e = engine_new_unbound(0, &cbs);
    ck_assert_ptr_nonnull(m->e);
    engine_set_idle_limit(m->e, 2);
    ck_assert_int_eq(pthread_create(&m->th, NULL, serve, m), 0);
}

/* Wait (at most 10 s) for engine_serve_fd() to return. */
static void mta_join(mta *m)
{
    struct timespec ts;

    if (m->joined)
        return;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    ck_assert_msg(pthread_timedjoin_np(m->th, NULL, &ts) == 0, "engine_serve_fd did not return");
    m->joined = true;
    ck_assert_int_eq(engine_active(m->e), 0);
}

static void mta_finish(mta *m)
{
    if (!m->joined) {
        shutdown(m->fd, SHUT_WR);
        mta_join(m);
    }
    close(m->fd);
    engine_free(m->e);
    ck_assert_msg(strstr(trace_now(), "FAIL") == NULL, "in a callback: %s", trace_now());
}

static void write_all(int fd, const void *buf, size_t len)
{
    const unsigned char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        ck_assert_msg(n > 0, "write to the engine: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

/* Append one packet to buf at *off (buf must be big enough). */
static void pkt_add(unsigned char *buf, size_t *off, char cmd, const void *data, size_t len)
{
    uint32_t n = htonl((uint32_t)(len + 1));

    memcpy(buf + *off, &n, 4);
    buf[*off + 4] = (unsigned char)cmd;
    if (len)
        memcpy(buf + *off + 5, data, len);
    *off += 5 + len;
}

static void send_pkt(mta *m, char cmd, const void *data, size_t len)
{
    unsigned char *buf = malloc(len + 5);
    size_t off = 0;

    ck_assert_ptr_nonnull(buf);
    pkt_add(buf, &off, cmd, data, len);
    write_all(m->fd, buf, off);
    free(buf);
}

/* Strings, each with its NUL, into out; returns the length. */
static size_t strs(char *out, size_t cap, ...)
{
    va_list ap;
    const char *s;
    size_t n = 0;

    va_start(ap, cap);
    while ((s = va_arg(ap, const char *)) != NULL) {
        size_t l = strlen(s) + 1;
        ck_assert_uint_le(n + l, cap);
        memcpy(out + n, s, l);
        n += l;
    }
    va_end(ap);
    return n;
}

#define SEND_STRS(m, cmd, ...)                                          \
    do {                                                                \
        char b_[4096];                                                  \
        size_t n_ = strs(b_, sizeof(b_), __VA_ARGS__, (const char *)NULL); \
        send_pkt((m), (cmd), b_, n_);                                   \
    } while (0)

static bool read_full(int fd, unsigned char *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n = read(fd, buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        got += (size_t)n;
    }
    return true;
}

/* The next reply: its command, data in buf (NUL added), length; false at
 * EOF (or after 5 s of silence). */
static bool read_pkt(mta *m, char *cmd, unsigned char *buf, size_t cap, size_t *len)
{
    unsigned char h[5];
    uint32_t n;

    if (!read_full(m->fd, h, 4))
        return false;
    n = (uint32_t)h[0] << 24 | (uint32_t)h[1] << 16 | (uint32_t)h[2] << 8 | h[3];
    ck_assert_uint_ge(n, 1);
    ck_assert_uint_lt(n - 1, cap);
    ck_assert(read_full(m->fd, h + 4, 1));
    *cmd = (char)h[4];
    *len = n - 1;
    if (*len > 0)
        ck_assert(read_full(m->fd, buf, *len));
    buf[*len] = '\0';
    return true;
}

/* The next reply must be cmd (with no data unless data != NULL, then
 * exactly data[0..len)). */
static void expect(mta *m, char cmd, const void *data, size_t len)
{
    unsigned char buf[512];
    size_t got;
    char c;

    ck_assert_msg(read_pkt(m, &c, buf, sizeof(buf), &got), "no reply, wanted '%c'", cmd);
    ck_assert_msg(c == cmd, "reply '%c', wanted '%c' (trace %s)", c, cmd, trace_now());
    ck_assert_uint_eq(got, data ? len : 0);
    if (data)
        ck_assert_mem_eq(buf, data, len);
}

/* The engine must have ended the connection: EOF, the thread returned and
 * the close callback ran once. */
static void expect_end(mta *m)
{
    unsigned char buf[512];
    size_t len;
    char c;

    ck_assert_msg(!read_pkt(m, &c, buf, sizeof(buf), &len), "got '%c', wanted the end", c);
    mta_join(m);
    ck_assert_int_eq(close_count(), 1);
}

/* Option negotiation; returns the engine's version, actions, protocol. */
static void negotiate_v(mta *m, uint32_t version, uint32_t act, uint32_t proto, uint32_t out[3])
{
    uint32_t d[3] = {htonl(version), htonl(act), htonl(proto)};
    unsigned char buf[64];
    size_t len;
    char c;

    send_pkt(m, 'O', d, sizeof(d));
    ck_assert(read_pkt(m, &c, buf, sizeof(buf), &len));
    ck_assert_int_eq(c, 'O');
    ck_assert_uint_eq(len, 12);
    for (int i = 0; i < 3; i++)
        out[i] = (uint32_t)buf[4 * i] << 24 | (uint32_t)buf[4 * i + 1] << 16 |
                 (uint32_t)buf[4 * i + 2] << 8 | buf[4 * i + 3];
}

/* Negotiate what the filter wants (MTA offers everything) and connect. */
static void open_session(mta *m, uint32_t act, uint32_t proto)
{
    uint32_t out[3];
    unsigned char c[32];
    size_t n = 0;

    negotiate_v(m, 6, act, proto, out);
    memcpy(c, "client.example\0" "4", 16);
    n = 16;
    c[n++] = 0;
    c[n++] = 25;
    memcpy(c + n, "192.0.2.1", 10);
    n += 10;
    send_pkt(m, 'C', c, n);
    expect(m, 'c', NULL, 0);
}

static void setup(void)
{
    memset(trace, 0, sizeof(trace));
    closes = 0;
    memset(ret, 0, sizeof(ret)); /* ENGINE_CONTINUE */
    want_act = ALL_ACTS;
    want_proto = 0;
    hook = NULL;
    tu_log_start();
}

static void teardown(void)
{
    tu_log_stop();
    hook = NULL;
}

/* ---- negotiation ---------------------------------------------------------- */

START_TEST(test_negotiate_masks_offer)
{
    mta m;
    uint32_t out[3];

    want_act = ENGINE_ACT_ADDHDRS | ENGINE_ACT_CHGHDRS | ENGINE_ACT_QUARANTINE;
    want_proto = ENGINE_P_NR_HDR | ENGINE_P_NR_BODY | ENGINE_P_NOUNKNOWN;
    mta_start(&m);
    negotiate_v(&m, 6, ENGINE_ACT_ADDHDRS | ENGINE_ACT_QUARANTINE | 0x4,
                ENGINE_P_NR_HDR | 0x2 | ENGINE_P_HDR_LEADSPC, out);
    ck_assert_uint_eq(out[0], 6);
    ck_assert_uint_eq(out[1], ENGINE_ACT_ADDHDRS | ENGINE_ACT_QUARANTINE);
    ck_assert_uint_eq(out[2], ENGINE_P_NR_HDR);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:25:100082;X:-");
}
END_TEST

START_TEST(test_negotiate_version_min)
{
    static const uint32_t mta_v[] = {2, 6, 7, 0xffffffffu}, want_v[] = {2, 6, 6, 6};

    for (size_t i = 0; i < sizeof(mta_v) / sizeof(mta_v[0]); i++) {
        mta m;
        uint32_t out[3];

        mta_start(&m);
        negotiate_v(&m, mta_v[i], 0x3f, 0, out);
        ck_assert_uint_eq(out[0], want_v[i]);
        mta_finish(&m);
    }
}
END_TEST

START_TEST(test_negotiate_twice_ends)
{
    mta m;
    uint32_t out[3], d[3] = {htonl(6), 0, 0};

    mta_start(&m);
    negotiate_v(&m, 6, 0x3f, 0, out);
    send_pkt(&m, 'O', d, sizeof(d));
    expect_end(&m);
    ck_assert_str_eq(trace_now(), "O:3f:0;X:-");
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "second option negotiation"));
    mta_finish(&m);
}
END_TEST

START_TEST(test_command_before_negotiate_ends)
{
    mta m;

    mta_start(&m);
    SEND_STRS(&m, 'H', "helo.example");
    expect_end(&m);
    ck_assert_str_eq(trace_now(), "X:-");
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "before option negotiation"));
    mta_finish(&m);
}
END_TEST

START_TEST(test_negotiate_old_version_ends)
{
    mta m;
    uint32_t d[3] = {htonl(1), htonl(0x3f), 0};

    mta_start(&m);
    send_pkt(&m, 'O', d, sizeof(d));
    expect_end(&m);
    ck_assert_str_eq(trace_now(), "X:-"); /* negotiate was not called */
    mta_finish(&m);
}
END_TEST

START_TEST(test_negotiate_short_ends)
{
    mta m;
    uint32_t d[2] = {htonl(6), htonl(0x3f)};

    mta_start(&m);
    send_pkt(&m, 'O', d, sizeof(d));
    expect_end(&m);
    mta_finish(&m);
}
END_TEST

START_TEST(test_negotiate_refused_ends)
{
    mta m;
    uint32_t d[3] = {htonl(6), htonl(0x3f), 0};

    ret['O'] = ENGINE_TEMPFAIL;
    mta_start(&m);
    send_pkt(&m, 'O', d, sizeof(d));
    expect_end(&m);
    mta_finish(&m);
}
END_TEST

/* ---- macros --------------------------------------------------------------- */

static const char *probe_names[4];
static const char *probe_at; /* the commands to probe at */

/* At the command probe_at, record name=value for each probe name. */
static void probe_hook(engine_ctx *c, char cmd)
{
    if (strchr(probe_at, cmd) == NULL)
        return;
    for (int i = 0; i < 4 && probe_names[i]; i++) {
        const char *v = engine_getsymval(c, probe_names[i]);
        rec("%s=%s", probe_names[i], v ? v : "NULL");
    }
}

START_TEST(test_macro_braces_both_ways)
{
    mta m;
    uint32_t out[3];
    unsigned char c[] = "h\0" "L\0\0/tmp/s";

    probe_names[0] = "i";
    probe_names[1] = "{j}";
    probe_names[2] = "{i}";
    probe_names[3] = "k";
    probe_at = "C";
    hook = probe_hook;
    mta_start(&m);
    negotiate_v(&m, 6, 0x3f, 0, out);
    SEND_STRS(&m, 'D', "C{i}", "abc", "j", "mx.example", "{daemon_name}", "d");
    send_pkt(&m, 'C', c, sizeof(c));
    expect(&m, 'c', NULL, 0);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:3f:0;C:h:-;i=abc;{j}=mx.example;{i}=abc;k=NULL;X:-");
}
END_TEST

START_TEST(test_macro_later_stage_wins)
{
    mta m;

    probe_names[0] = "x";
    probe_names[1] = "{y}";
    probe_names[2] = NULL;
    probe_at = "M";
    hook = probe_hook;
    mta_start(&m);
    open_session(&m, 0, 0);
    SEND_STRS(&m, 'D', "H{x}", "helo", "y", "from-helo");
    SEND_STRS(&m, 'H', "h.example");
    expect(&m, 'c', NULL, 0);
    SEND_STRS(&m, 'D', "M{x}", "mail");
    SEND_STRS(&m, 'M', "<a@example.org>");
    expect(&m, 'c', NULL, 0);
    mta_finish(&m);
    ck_assert_ptr_nonnull(strstr(trace_now(), "M:<a@example.org>;x=mail;{y}=from-helo;"));
}
END_TEST

/* End-of-header macros stay visible at end of message (libmilter clears
 * stages only at connect, HELO, MAIL and RCPT). */
START_TEST(test_macro_eoh_seen_at_eom)
{
    mta m;

    probe_names[0] = "i";
    probe_names[1] = "{eohmac}";
    probe_names[2] = NULL;
    probe_at = "E";
    hook = probe_hook;
    mta_start(&m);
    open_session(&m, 0, 0);
    SEND_STRS(&m, 'D', "N{i}", "QEOH", "{eohmac}", "yes");
    send_pkt(&m, 'N', NULL, 0);
    expect(&m, 'c', NULL, 0);
    send_pkt(&m, 'E', NULL, 0);
    expect(&m, 'c', NULL, 0);
    mta_finish(&m);
    ck_assert_ptr_nonnull(strstr(trace_now(), "E;i=QEOH;{eohmac}=yes;"));
}
END_TEST

START_TEST(test_macro_rcpt_gone_after_new_mail)
{
    mta m;

    probe_names[0] = "{rcpt_mailer}";
    probe_names[1] = "{mail_addr}";
    probe_names[2] = "{c}";
    probe_names[3] = NULL;
    probe_at = "MR";
    hook = probe_hook;
    mta_start(&m);
    open_session(&m, 0, 0);
    /* message 1 */
    SEND_STRS(&m, 'D', "M{mail_addr}", "a@example.org");
    SEND_STRS(&m, 'M', "<a@example.org>");
    expect(&m, 'c', NULL, 0);
    SEND_STRS(&m, 'D', "R{rcpt_mailer}", "smtp");
    SEND_STRS(&m, 'R', "<b@example.net>");
    expect(&m, 'c', NULL, 0);
    send_pkt(&m, 'E', NULL, 0);
    expect(&m, 'c', NULL, 0);
    /* message 2: no RCPT macros yet */
    SEND_STRS(&m, 'D', "M{mail_addr}", "z@example.org");
    SEND_STRS(&m, 'M', "<z@example.org>");
    expect(&m, 'c', NULL, 0);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:0:0;C:client.example:4:192.0.2.1:25;"
                                  "M:<a@example.org>;{rcpt_mailer}=NULL;{mail_addr}=a@example.org;{c}=NULL;"
                                  "R:<b@example.net>;{rcpt_mailer}=smtp;{mail_addr}=a@example.org;{c}=NULL;"
                                  "E;"
                                  "M:<z@example.org>;{rcpt_mailer}=NULL;{mail_addr}=z@example.org;{c}=NULL;"
                                  "X:-");
}
END_TEST

START_TEST(test_macro_abort_clears_mail_and_later)
{
    mta m;
    uint32_t out[3];

    probe_names[0] = "{mail_addr}";
    probe_names[1] = "{rcpt_addr}";
    probe_names[2] = "{client_name}";
    probe_names[3] = "{helo}";
    probe_at = "M";
    hook = probe_hook;
    mta_start(&m);
    negotiate_v(&m, 6, 0x3f, 0, out);
    SEND_STRS(&m, 'D', "C{client_name}", "client.example");
    SEND_STRS(&m, 'C', "client.example", "U");
    expect(&m, 'c', NULL, 0);
    SEND_STRS(&m, 'D', "H{helo}", "h");
    SEND_STRS(&m, 'H', "h");
    expect(&m, 'c', NULL, 0);
    SEND_STRS(&m, 'D', "M{mail_addr}", "a@example.org");
    SEND_STRS(&m, 'M', "<a@example.org>");
    expect(&m, 'c', NULL, 0);
    SEND_STRS(&m, 'D', "R{rcpt_addr}", "b@example.net");
    SEND_STRS(&m, 'R', "<b@example.net>");
    expect(&m, 'c', NULL, 0);
    send_pkt(&m, 'A', NULL, 0); /* no reply */
    ret['M'] = ENGINE_ACCEPT;   /* so the next reply read is MAIL's */
    SEND_STRS(&m, 'M', "<next@example.org>");
    expect(&m, 'a', NULL, 0);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(),
                     "O:3f:0;C:client.example:-;H:h;"
                     "M:<a@example.org>;{mail_addr}=a@example.org;{rcpt_addr}=NULL;"
                     "{client_name}=client.example;{helo}=h;"
                     "R:<b@example.net>;A;"
                     "M:<next@example.org>;{mail_addr}=NULL;{rcpt_addr}=NULL;"
                     "{client_name}=client.example;{helo}=h;X:-");
}
END_TEST

/* ---- connect -------------------------------------------------------------- */

START_TEST(test_connect_families)
{
    static const struct {
        const char *host;
        char family;
        uint16_t port;
        const char *addr; /* NULL: nothing after the family */
        const char *want;
    } cases[] = {
        {"v4.example", '4', 25, "192.0.2.7", "C:v4.example:4:192.0.2.7:25"},
        {"v6.example", '6', 587, "2001:db8::1", "C:v6.example:6:2001:db8::1:587"},
        {"v6p.example", '6', 2525, "IPv6:2001:db8::2", "C:v6p.example:6:2001:db8::2:2525"},
        {"v6l.example", '6', 1, "ipv6:::1", "C:v6l.example:6:::1:1"},
        {"local", 'L', 0, "/var/run/socket", "C:local:-"},
        {"unknown", 'U', 0, NULL, "C:unknown:-"},
        {"bad4.example", '4', 25, "not-an-address", "C:bad4.example:-"},
        {"v6in4.example", '4', 25, "2001:db8::3", "C:v6in4.example:-"},
        {"[192.0.2.9]", '4', 65535, "192.0.2.9", "C:[192.0.2.9]:4:192.0.2.9:65535"},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mta m;
        uint32_t out[3];
        unsigned char c[256];
        size_t n = strlen(cases[i].host) + 1;
        char want[128];

        memset(trace, 0, sizeof(trace));
        closes = 0;
        memcpy(c, cases[i].host, n);
        c[n++] = (unsigned char)cases[i].family;
        if (cases[i].addr) {
            c[n++] = (unsigned char)(cases[i].port >> 8);
            c[n++] = (unsigned char)cases[i].port;
            memcpy(c + n, cases[i].addr, strlen(cases[i].addr) + 1);
            n += strlen(cases[i].addr) + 1;
        }
        mta_start(&m);
        negotiate_v(&m, 6, 0x3f, 0, out);
        send_pkt(&m, 'C', c, n);
        expect(&m, 'c', NULL, 0);
        mta_finish(&m);
        snprintf(want, sizeof(want), "O:3f:0;%s;X:-", cases[i].want);
        ck_assert_str_eq(trace_now(), want);
    }
}
END_TEST

START_TEST(test_connect_malformed_ends)
{
    static const struct {
        const char *data;
        size_t len;
    } cases[] = {
        {"nohostnul", 9},           /* hostname without NUL */
        {"h\0", 2},                 /* no family */
        {"h\0" "4\0", 4},           /* port cut short */
        {"h\0" "4\0\x19" "1.2.3.4", 12}, /* address without NUL */
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mta m;
        uint32_t out[3];

        closes = 0;
        memset(trace, 0, sizeof(trace));
        mta_start(&m);
        negotiate_v(&m, 6, 0x3f, 0, out);
        send_pkt(&m, 'C', cases[i].data, cases[i].len);
        expect_end(&m);
        ck_assert_str_eq(trace_now(), "O:3f:0;X:-");
        mta_finish(&m);
    }
}
END_TEST

/* ---- MAIL and RCPT -------------------------------------------------------- */

START_TEST(test_envelope_argv)
{
    mta m;

    mta_start(&m);
    open_session(&m, 0, 0);
    SEND_STRS(&m, 'M', "<a@example.org>", "SIZE=100", "BODY=8BITMIME");
    expect(&m, 'c', NULL, 0);
    SEND_STRS(&m, 'R', "<b@example.net>");
    expect(&m, 'c', NULL, 0);
    SEND_STRS(&m, 'R', "<>", "NOTIFY=NEVER");
    expect(&m, 'c', NULL, 0);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:0:0;C:client.example:4:192.0.2.1:25;"
                                  "M:<a@example.org>|SIZE=100|BODY=8BITMIME;"
                                  "R:<b@example.net>;R:<>|NOTIFY=NEVER;X:-");
}
END_TEST

/* Sendmail over TCP: each macro packet (unanswered) in a write of its own,
 * then its command; MAIL, headers, end of headers and body unanswered.  The
 * engine sets TCP_QUICKACK after reading what it does not answer: the
 * conversation is the same as over a unix socket. */
START_TEST(test_tcp_sendmail_pattern)
{
    mta m;
    uint32_t out[3];
    const struct timespec pause = {0, 2 * 1000 * 1000};
    unsigned char c[32];
    size_t n;

    want_proto = NR_BITS | ENGINE_P_NR_MAIL;
    mta_start_tcp(&m);
    negotiate_v(&m, 6, ALL_ACTS, NR_BITS | ENGINE_P_NR_MAIL, out);
    ck_assert_uint_eq(out[2], NR_BITS | ENGINE_P_NR_MAIL);
    memcpy(c, "client.example\0" "4", 16);
    n = 16;
    c[n++] = 0;
    c[n++] = 25;
    memcpy(c + n, "192.0.2.1", 10);
    n += 10;
    send_pkt(&m, 'C', c, n);
    expect(&m, 'c', NULL, 0);
    for (int msg = 0; msg < 2; msg++) {
        SEND_STRS(&m, 'D', "M{i}", msg ? "QID2" : "QID1");
        nanosleep(&pause, NULL);
        SEND_STRS(&m, 'M', "<a@example.org>");
        nanosleep(&pause, NULL);
        SEND_STRS(&m, 'D', "R{rcpt_addr}", "b@example.net");
        nanosleep(&pause, NULL);
        SEND_STRS(&m, 'R', "<b@example.net>");
        expect(&m, 'c', NULL, 0);
        SEND_STRS(&m, 'L', "From", "a@example.org");
        nanosleep(&pause, NULL);
        send_pkt(&m, 'N', NULL, 0);
        nanosleep(&pause, NULL);
        send_pkt(&m, 'B', "body", 4);
        nanosleep(&pause, NULL);
        SEND_STRS(&m, 'D', "E{msg_id}", "<x@example.org>");
        nanosleep(&pause, NULL);
        send_pkt(&m, 'E', NULL, 0);
        expect(&m, 'c', NULL, 0);
    }
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:31:84080;C:client.example:4:192.0.2.1:25;"
                                  "M:<a@example.org>;R:<b@example.net>;L:From=a@example.org;N;B:body;E;"
                                  "M:<a@example.org>;R:<b@example.net>;L:From=a@example.org;N;B:body;E;X:-");
}
END_TEST

START_TEST(test_mail_malformed_ends)
{
    static const struct {
        char cmd;
        const char *data;
        size_t len;
    } cases[] = {
        {'M', "<a@example.org>", 15},       /* no NUL */
        {'M', "<a@example.org>\0SIZE", 20}, /* last argument without NUL */
        {'M', "", 0},                       /* nothing */
        {'R', "<b@example.net>", 15},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        mta m;

        closes = 0;
        memset(trace, 0, sizeof(trace));
        mta_start(&m);
        open_session(&m, 0, 0);
        send_pkt(&m, cases[i].cmd, cases[i].data, cases[i].len);
        expect_end(&m);
        ck_assert_str_eq(trace_now(), "O:0:0;C:client.example:4:192.0.2.1:25;X:-");
        ck_assert_ptr_nonnull(strstr(tu_log_text(), "malformed"));
        mta_finish(&m);
    }
}
END_TEST

/* ---- unanswered header and body ------------------------------------------- */

START_TEST(test_header_body_unanswered)
{
    mta m;
    uint32_t out[3];

    want_proto = NR_BITS;
    ret['L'] = ENGINE_NOREPLY;
    ret['B'] = ENGINE_NOREPLY;
    ret['N'] = ENGINE_ACCEPT; /* 'a': not a header's 'c' */
    mta_start(&m);
    negotiate_v(&m, 6, 0x3f, NR_BITS, out);
    ck_assert_uint_eq(out[2], NR_BITS);
    SEND_STRS(&m, 'L', "From", "a@example.org");
    SEND_STRS(&m, 'L', "Subject", "hi");
    send_pkt(&m, 'N', NULL, 0);
    expect(&m, 'a', NULL, 0);
    ret['E'] = ENGINE_DISCARD;
    send_pkt(&m, 'B', "body", 4);
    send_pkt(&m, 'B', "more", 4);
    send_pkt(&m, 'E', NULL, 0);
    expect(&m, 'd', NULL, 0);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:3f:80080;L:From=a@example.org;L:Subject=hi;N;B:body;B:more;E;X:-");
}
END_TEST

START_TEST(test_header_body_noreply_not_offered)
{
    mta m;
    uint32_t out[3];

    want_proto = NR_BITS;
    ret['L'] = ENGINE_NOREPLY;
    ret['B'] = ENGINE_NOREPLY;
    mta_start(&m);
    negotiate_v(&m, 6, 0x3f, 0, out);
    ck_assert_uint_eq(out[2], 0);
    SEND_STRS(&m, 'L', "From", "a@example.org");
    expect(&m, 'c', NULL, 0);
    send_pkt(&m, 'B', "body", 4);
    expect(&m, 'c', NULL, 0);
    mta_finish(&m);
}
END_TEST

START_TEST(test_header_no_callback_unanswered)
{
    static const engine_callbacks none = {0};
    mta m;
    uint32_t out[3];
    int sv[2];

    /* With no callbacks at all, headers and body follow the negotiation. */
    memset(&m, 0, sizeof(m));
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    m.fd = sv[0];
    m.efd = sv[1];
    set_rcvtimeo(m.fd, 5);
    m.e = engine_new_unbound(0, &none);
    ck_assert_int_eq(pthread_create(&m.th, NULL, serve, &m), 0);
    negotiate_v(&m, 6, 0x3f, NR_BITS, out);
    ck_assert_uint_eq(out[1], 0);
    ck_assert_uint_eq(out[2], 0); /* the filter asked for nothing */
    SEND_STRS(&m, 'L', "From", "a@example.org");
    expect(&m, 'c', NULL, 0);
    mta_finish(&m);
}
END_TEST

#define NR_ALL (ENGINE_P_NR_CONN | ENGINE_P_NR_HELO | ENGINE_P_NR_MAIL | ENGINE_P_NR_EOH | NR_BITS)

static void mail_reply_hook(engine_ctx *c, char cmd)
{
    if (cmd == 'M')
        HOOK_CHECK(engine_setreply(c, "550", "5.7.1", "no senders like you"));
}

/* A verdict for an unanswered command (connect, HELO, MAIL, EOH, header,
 * body) is kept, with its setreply text, for the next answered one. */
START_TEST(test_unanswered_verdict_kept)
{
    mta m;
    uint32_t out[3];
    unsigned char c[] = "h\0" "4\0\x19" "192.0.2.1";
    static const char want[] = "550 5.7.1 no senders like you";

    want_proto = NR_ALL;
    ret['C'] = ENGINE_NOREPLY;
    ret['M'] = ENGINE_REJECT;
    hook = mail_reply_hook;
    mta_start(&m);
    negotiate_v(&m, 6, 0x3f, NR_ALL, out);
    ck_assert_uint_eq(out[2], NR_ALL);
    send_pkt(&m, 'C', c, sizeof(c));
    SEND_STRS(&m, 'H', "h");
    SEND_STRS(&m, 'M', "<a@example.org>");
    SEND_STRS(&m, 'R', "<b@example.net>"); /* RCPT is answered */
    expect(&m, 'y', want, sizeof(want));
    SEND_STRS(&m, 'R', "<c@example.net>"); /* the kept verdict was used up */
    expect(&m, 'c', NULL, 0);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:3f:c7080;C:h:4:192.0.2.1:25;H:h;M:<a@example.org>;"
                                  "R:<b@example.net>;R:<c@example.net>;X:-");
}
END_TEST

START_TEST(test_unanswered_verdict_first_wins)
{
    mta m;
    uint32_t out[3];

    want_proto = NR_BITS;
    mta_start(&m);
    negotiate_v(&m, 6, 0x3f, NR_BITS, out);
    /* header verdicts: the first one is kept, later ones do not replace it */
    SEND_STRS(&m, 'L', "A", "#reject");
    SEND_STRS(&m, 'L', "B", "#tempfail");
    SEND_STRS(&m, 'L', "C", "#noreply");
    send_pkt(&m, 'N', NULL, 0);
    expect(&m, 'r', NULL, 0);
    /* an answered command's own verdict wins over a kept one */
    ret['B'] = ENGINE_DISCARD;
    send_pkt(&m, 'B', "x", 1);
    ret['E'] = ENGINE_TEMPFAIL;
    send_pkt(&m, 'E', NULL, 0);
    expect(&m, 't', NULL, 0);
    mta_finish(&m);
}
END_TEST

START_TEST(test_unanswered_verdict_cleared)
{
    unsigned char c[] = "h\0" "4\0\x19" "192.0.2.1";

    /* by abort, and by QUIT_NC */
    for (int k = 0; k < 2; k++) {
        mta m;
        uint32_t out[3];

        want_proto = NR_ALL;
        mta_start(&m);
        negotiate_v(&m, 6, 0x3f, NR_ALL, out);
        ret['C'] = ENGINE_NOREPLY;
        ret['M'] = ENGINE_NOREPLY;
        send_pkt(&m, 'C', c, sizeof(c));
        SEND_STRS(&m, 'M', "<#tempfail@example.org>");
        send_pkt(&m, k == 0 ? 'A' : 'K', NULL, 0);
        if (k == 1)
            send_pkt(&m, 'C', c, sizeof(c));
        SEND_STRS(&m, 'M', "<a@example.org>");
        SEND_STRS(&m, 'R', "<b@example.net>");
        expect(&m, 'c', NULL, 0);
        mta_finish(&m);
    }
}
END_TEST

/* ---- SMTP replies ----------------------------------------------------------- */

START_TEST(test_verdict_codes)
{
    static const struct {
        engine_status st;
        char want;
    } cases[] = {
        {ENGINE_CONTINUE, 'c'}, {ENGINE_ACCEPT, 'a'},  {ENGINE_REJECT, 'r'},
        {ENGINE_TEMPFAIL, 't'}, {ENGINE_DISCARD, 'd'}, {ENGINE_NOREPLY, 'c'},
    };
    mta m;

    mta_start(&m);
    open_session(&m, 0, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ret['H'] = cases[i].st;
        SEND_STRS(&m, 'H', "h.example");
        expect(&m, cases[i].want, NULL, 0);
    }
    mta_finish(&m);
}
END_TEST

static const char *reply_code, *reply_xcode, *reply_text;

static void setreply_hook(engine_ctx *c, char cmd)
{
    if (cmd == 'R' && reply_code)
        HOOK_CHECK(engine_setreply(c, reply_code, reply_xcode, reply_text));
}

START_TEST(test_setreply_matching_class)
{
    static const struct {
        engine_status st;
        const char *code, *xcode, *text;
        char want;
        const char *want_text; /* with its NUL */
    } cases[] = {
        {ENGINE_REJECT, "550", "5.7.1", "go away", 'y', "550 5.7.1 go away"},
        {ENGINE_REJECT, "554", NULL, "no", 'y', "554 no"},
        {ENGINE_TEMPFAIL, "451", "4.7.1", "try later", 'y', "451 4.7.1 try later"},
        {ENGINE_REJECT, "451", "4.7.1", "class mismatch", 'r', NULL},
        {ENGINE_TEMPFAIL, "550", "5.7.1", "class mismatch", 't', NULL},
        {ENGINE_REJECT, NULL, NULL, NULL, 'r', NULL}, /* the last reply is not kept */
        {ENGINE_CONTINUE, "550", NULL, "unused", 'c', NULL},
        {ENGINE_REJECT, NULL, NULL, NULL, 'r', NULL}, /* nor is an unused one */
    };
    mta m;

    hook = setreply_hook;
    mta_start(&m);
    open_session(&m, 0, 0);
    SEND_STRS(&m, 'M', "<a@example.org>");
    expect(&m, 'c', NULL, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ret['R'] = cases[i].st;
        reply_code = cases[i].code;
        reply_xcode = cases[i].xcode;
        reply_text = cases[i].text;
        SEND_STRS(&m, 'R', "<b@example.net>");
        expect(&m, cases[i].want, cases[i].want_text,
               cases[i].want_text ? strlen(cases[i].want_text) + 1 : 0);
    }
    reply_code = NULL;
    mta_finish(&m);
}
END_TEST

static void bad_reply_hook(engine_ctx *c, char cmd)
{
    static const struct {
        const char *code, *xcode, *text;
    } bad[] = {
        {NULL, NULL, "x"},          {"55", NULL, "x"},         {"5500", NULL, "x"},
        {"250", NULL, "x"},         {"650", NULL, "x"},        {"5a0", NULL, "x"},
        {"55x", NULL, "x"},         {"550", "4.7.1", "x"},     {"550", "5", "x"},
        {"550", "", "x"},           {"550", "5.7.1 x", "x"},   {"550", "5.7.1\r\n", "x"},
        {"550", "5.7.1", "a\r\nb"}, {"550", "5.7.1", "a\nb"},  {"550", "5.7.1", "a\rb"},
        {"550", "5.7.1", NULL},     {"451", "5.7.1", "x"},
    };

    if (cmd != 'R')
        return;
    HOOK_CHECK(engine_setreply(c, "550", "5.7.0", "the good one"));
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (engine_setreply(c, bad[i].code, bad[i].xcode, bad[i].text))
            rec("FAIL: setreply case %zu accepted", i);
}

START_TEST(test_setreply_refuses_bad_input)
{
    mta m;
    static const char want[] = "550 5.7.0 the good one";

    hook = bad_reply_hook;
    ret['R'] = ENGINE_REJECT;
    mta_start(&m);
    open_session(&m, 0, 0);
    SEND_STRS(&m, 'R', "<b@example.net>");
    /* the refused ones left the good reply in place */
    expect(&m, 'y', want, sizeof(want));
    mta_finish(&m);
}
END_TEST

/* ---- end of message ----------------------------------------------------------- */

static bool edit_ok[8];

static void edits_hook(engine_ctx *c, char cmd)
{
    if (cmd != 'E')
        return;
    edit_ok[0] = engine_insheader(c, 0, "X-A", "1");
    edit_ok[1] = engine_chgheader(c, "X-B", 1, "2");
    edit_ok[2] = engine_quarantine(c, "held");
    edit_ok[3] = engine_chgheader(c, "X-C", 2, NULL);
    edit_ok[4] = engine_insheader(c, 3, "X-D", NULL); /* no value: refused */
    edit_ok[5] = engine_quarantine(c, "");            /* no reason: refused */
    edit_ok[6] = engine_insheader(c, 0, "", "v");      /* no name: refused */
}

START_TEST(test_eom_edits_in_order)
{
    mta m;
    static const unsigned char ins[] = "\0\0\0\0X-A\0" "1";
    static const unsigned char chg[] = "\0\0\0\1X-B\0" "2";
    static const unsigned char del[] = "\0\0\0\2X-C\0";

    hook = edits_hook;
    ret['E'] = ENGINE_ACCEPT;
    mta_start(&m);
    open_session(&m, ALL_ACTS, 0);
    send_pkt(&m, 'E', NULL, 0);
    expect(&m, 'i', ins, sizeof(ins));
    expect(&m, 'm', chg, sizeof(chg));
    expect(&m, 'q', "held", 5);
    expect(&m, 'm', del, sizeof(del));
    expect(&m, 'a', NULL, 0);
    mta_finish(&m);
    ck_assert(edit_ok[0] && edit_ok[1] && edit_ok[2] && edit_ok[3]);
    ck_assert(!edit_ok[4] && !edit_ok[5] && !edit_ok[6]);
}
END_TEST

START_TEST(test_eom_edits_only_if_negotiated)
{
    static const uint32_t offers[] = {0, ENGINE_ACT_ADDHDRS, ENGINE_ACT_CHGHDRS, ENGINE_ACT_QUARANTINE};

    hook = edits_hook;
    for (size_t i = 0; i < sizeof(offers) / sizeof(offers[0]); i++) {
        mta m;

        memset(edit_ok, 0, sizeof(edit_ok));
        mta_start(&m);
        open_session(&m, offers[i], 0);
        send_pkt(&m, 'E', NULL, 0);
        if (offers[i] == ENGINE_ACT_ADDHDRS)
            expect(&m, 'i', "\0\0\0\0X-A\0" "1", 10);
        if (offers[i] == ENGINE_ACT_CHGHDRS) {
            expect(&m, 'm', "\0\0\0\1X-B\0" "2", 10);
            expect(&m, 'm', "\0\0\0\2X-C\0", 9);
        }
        if (offers[i] == ENGINE_ACT_QUARANTINE)
            expect(&m, 'q', "held", 5);
        expect(&m, 'c', NULL, 0);
        mta_finish(&m);
        ck_assert_int_eq(edit_ok[0], offers[i] == ENGINE_ACT_ADDHDRS);
        ck_assert_int_eq(edit_ok[1], offers[i] == ENGINE_ACT_CHGHDRS);
        ck_assert_int_eq(edit_ok[3], offers[i] == ENGINE_ACT_CHGHDRS);
        ck_assert_int_eq(edit_ok[2], offers[i] == ENGINE_ACT_QUARANTINE);
    }
}
END_TEST

static void outside_eom_hook(engine_ctx *c, char cmd)
{
    if (cmd == 'E' || cmd == 'X' || cmd == 'A')
        return;
    HOOK_CHECK(!engine_insheader(c, 0, "X-A", "1"));
    HOOK_CHECK(!engine_chgheader(c, "X-B", 1, "2"));
    HOOK_CHECK(!engine_quarantine(c, "held"));
    rec("refused@%c", cmd);
}

START_TEST(test_edits_refused_outside_eom)
{
    mta m;

    hook = outside_eom_hook;
    mta_start(&m);
    open_session(&m, ALL_ACTS, 0);
    SEND_STRS(&m, 'H', "h");
    expect(&m, 'c', NULL, 0);
    SEND_STRS(&m, 'M', "<a@example.org>");
    expect(&m, 'c', NULL, 0);
    SEND_STRS(&m, 'L', "Subject", "x");
    expect(&m, 'c', NULL, 0);
    send_pkt(&m, 'N', NULL, 0);
    expect(&m, 'c', NULL, 0);
    send_pkt(&m, 'B', "x", 1);
    expect(&m, 'c', NULL, 0);
    send_pkt(&m, 'E', NULL, 0);
    expect(&m, 'c', NULL, 0); /* nothing queued before it */
    /* and after eom returned, edits are refused again */
    SEND_STRS(&m, 'M', "<b@example.org>");
    expect(&m, 'c', NULL, 0);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:31:0;refused@O;C:client.example:4:192.0.2.1:25;refused@C;H:h;refused@H;"
                                  "M:<a@example.org>;refused@M;L:Subject=x;refused@L;N;refused@N;"
                                  "B:x;refused@B;E;M:<b@example.org>;refused@M;X:-");
}
END_TEST

START_TEST(test_eom_data_is_body)
{
    mta m;

    mta_start(&m);
    open_session(&m, 0, 0);
    send_pkt(&m, 'B', "abc", 3);
    expect(&m, 'c', NULL, 0);
    send_pkt(&m, 'E', "tail", 4);
    expect(&m, 'c', NULL, 0);
    /* a body verdict on the last chunk is the answer; eom does not run */
    ret['B'] = ENGINE_REJECT;
    send_pkt(&m, 'E', "bad", 3);
    expect(&m, 'r', NULL, 0);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:0:0;C:client.example:4:192.0.2.1:25;B:abc;B:tail;E;B:bad;X:-");
}
END_TEST

/* ---- connection life ------------------------------------------------------------ */

static void priv_hook(engine_ctx *c, char cmd)
{
    if (cmd == 'C') {
        rec("priv=%s", engine_getpriv(c) ? "set" : "NULL");
        engine_setpriv(c, (void *)"p");
    }
    if (cmd == 'H') {
        const char *v = engine_getsymval(c, "{c}");
        rec("c=%s", v ? v : "NULL");
    }
}

START_TEST(test_quit_nc_new_connection)
{
    mta m;
    unsigned char c2[] = "second.example\0" "6\0\x19" "2001:db8::5";

    hook = priv_hook;
    mta_start(&m);
    negotiate_v(&m, 6, 0x3f, 0, (uint32_t[3]){0});
    SEND_STRS(&m, 'D', "C{c}", "one");
    SEND_STRS(&m, 'C', "first.example", "U");
    expect(&m, 'c', NULL, 0);
    SEND_STRS(&m, 'H', "h1");
    expect(&m, 'c', NULL, 0);
    send_pkt(&m, 'K', NULL, 0); /* no reply; close runs */
    send_pkt(&m, 'C', c2, sizeof(c2));
    expect(&m, 'c', NULL, 0);
    ck_assert_int_eq(close_count(), 1);
    SEND_STRS(&m, 'H', "h2");
    expect(&m, 'c', NULL, 0);
    send_pkt(&m, 'Q', NULL, 0);
    ck_assert(!read_pkt(&m, &(char){0}, (unsigned char[8]){0}, 8, &(size_t){0}));
    mta_join(&m);
    ck_assert_int_eq(close_count(), 2);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:3f:0;C:first.example:-;priv=NULL;H:h1;c=one;X:p;"
                                  "C:second.example:6:2001:db8::5:25;priv=NULL;H:h2;c=NULL;X:p");
}
END_TEST

START_TEST(test_close_once_on_quit)
{
    mta m;

    mta_start(&m);
    open_session(&m, 0, 0);
    send_pkt(&m, 'Q', NULL, 0);
    expect_end(&m);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:0:0;C:client.example:4:192.0.2.1:25;X:-");
    ck_assert_str_eq(tu_log_text(), ""); /* a normal end is not logged */
}
END_TEST

START_TEST(test_close_once_on_eof)
{
    mta m;

    mta_start(&m);
    open_session(&m, 0, 0);
    shutdown(m.fd, SHUT_WR);
    expect_end(&m);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:0:0;C:client.example:4:192.0.2.1:25;X:-");
}
END_TEST

START_TEST(test_close_once_on_error)
{
    mta m;

    mta_start(&m);
    open_session(&m, 0, 0);
    send_pkt(&m, 'Z', "junk", 4);
    expect_end(&m);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:0:0;C:client.example:4:192.0.2.1:25;X:-");
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "unknown command"));
}
END_TEST

START_TEST(test_close_once_without_negotiation)
{
    mta m;

    mta_start(&m);
    send_pkt(&m, 'Q', NULL, 0);
    expect_end(&m);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "X:-");
}
END_TEST

/* ---- limits ----------------------------------------------------------------------- */

START_TEST(test_packet_length_zero_ends)
{
    mta m;

    mta_start(&m);
    open_session(&m, 0, 0);
    write_all(m.fd, "\0\0\0\0", 4);
    expect_end(&m);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "empty packet"));
    mta_finish(&m);
}
END_TEST

START_TEST(test_packet_too_long_ends)
{
    mta m;
    uint32_t n = htonl(ENGINE_MAX_PACKET + 1);
    unsigned char p[5];

    mta_start(&m);
    open_session(&m, 0, 0);
    memcpy(p, &n, 4);
    p[4] = 'B';
    write_all(m.fd, p, sizeof(p)); /* refused on the length alone */
    expect_end(&m);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "packet too long"));
    mta_finish(&m);
}
END_TEST

START_TEST(test_big_packets_accepted)
{
    mta m;
    size_t vlen = 1024 * 1024, blen = ENGINE_MAX_PACKET - 1;
    unsigned char *h = malloc(6 + vlen + 1), *b = malloc(blen);
    char want[256];

    ck_assert_ptr_nonnull(h);
    ck_assert_ptr_nonnull(b);
    memcpy(h, "X-Big", 6);
    memset(h + 6, 'v', vlen);
    h[6 + vlen] = '\0';
    memset(b, 'b', blen);
    mta_start(&m);
    open_session(&m, 0, 0);
    send_pkt(&m, 'L', h, 6 + vlen + 1);
    expect(&m, 'c', NULL, 0);
    SEND_STRS(&m, 'L', "Small", "s"); /* the buffer shrinks back and goes on */
    expect(&m, 'c', NULL, 0);
    send_pkt(&m, 'B', b, blen); /* exactly ENGINE_MAX_PACKET */
    expect(&m, 'c', NULL, 0);
    send_pkt(&m, 'B', "tiny", 4);
    expect(&m, 'c', NULL, 0);
    mta_finish(&m);
    snprintf(want, sizeof(want),
             "O:0:0;C:client.example:4:192.0.2.1:25;L:X-Big=<%zu bytes>;L:Small=s;"
             "B:<%zu bytes>;B:tiny;X:-", vlen, blen);
    ck_assert_str_eq(trace_now(), want);
    free(h);
    free(b);
}
END_TEST

START_TEST(test_eof_inside_packet_ends)
{
    static const size_t cut[] = {2, 5, 9}; /* in the length, after it, in the data */
    unsigned char pkt[32];
    size_t n = 0;

    pkt_add(pkt, &n, 'H', "helo.example", 13);
    for (size_t i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
        mta m;

        closes = 0;
        memset(trace, 0, sizeof(trace));
        tu_log_start();
        mta_start(&m);
        open_session(&m, 0, 0);
        write_all(m.fd, pkt, cut[i]);
        shutdown(m.fd, SHUT_WR);
        expect_end(&m);
        ck_assert_str_eq(trace_now(), "O:0:0;C:client.example:4:192.0.2.1:25;X:-");
        ck_assert_ptr_nonnull(strstr(tu_log_text(), "closed inside a packet"));
        mta_finish(&m);
    }
}
END_TEST

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* engine_serve_fd() does not set SO_RCVTIMEO: engine_run() does on every
 * accepted descriptor, and mta_start_t() does the same here. */
START_TEST(test_stalled_mta_times_out)
{
    for (int partial = 0; partial < 2; partial++) {
        mta m;
        double t0, dt;

        closes = 0;
        tu_log_start();
        mta_start_t(&m, 1);
        open_session(&m, 0, 0);
        if (partial)
            write_all(m.fd, "\0\0\0\x0dH", 5); /* and the rest never comes */
        t0 = now_s();
        mta_join(&m);
        dt = now_s() - t0;
        /* inside a packet the 1 s timeout ends it; between commands the
         * idle limit (2 s here, two hours by default: the MTA may be busy
         * receiving the message), checked each timeout */
        if (partial)
            ck_assert_msg(dt >= 0.5 && dt < 3.0, "served %.2f s after the MTA stalled", dt);
        else
            ck_assert_msg(dt >= 1.5 && dt < 4.5, "served %.2f s after the MTA went idle", dt);
        ck_assert_int_eq(close_count(), 1);
        ck_assert_ptr_nonnull(
            strstr(tu_log_text(), partial ? "read timeout inside a packet" : "connection idle too long"));
        mta_finish(&m);
    }
}
END_TEST

START_TEST(test_pipelined_transaction)
{
    mta m;
    unsigned char buf[4096];
    size_t n = 0;
    char b[256];
    size_t bl;
    unsigned char r[64];
    size_t rl;
    char rc;

    want_proto = NR_BITS;
    ret['L'] = ENGINE_NOREPLY;
    ret['B'] = ENGINE_NOREPLY;
    ret['E'] = ENGINE_TEMPFAIL;
    mta_start(&m);
    open_session(&m, 0x3f, NR_BITS);
    bl = strs(b, sizeof(b), "M{mail_addr}", "a@example.org", (const char *)NULL);
    pkt_add(buf, &n, 'D', b, bl);
    bl = strs(b, sizeof(b), "<a@example.org>", "SIZE=9", (const char *)NULL);
    pkt_add(buf, &n, 'M', b, bl);
    bl = strs(b, sizeof(b), "<b@example.net>", (const char *)NULL);
    pkt_add(buf, &n, 'R', b, bl);
    pkt_add(buf, &n, 'T', NULL, 0);
    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof(name), "X-H%d", i);
        bl = strs(b, sizeof(b), name, "v", (const char *)NULL);
        pkt_add(buf, &n, 'L', b, bl);
    }
    pkt_add(buf, &n, 'N', NULL, 0);
    pkt_add(buf, &n, 'B', "chunk1", 6);
    pkt_add(buf, &n, 'B', "chunk2", 6);
    pkt_add(buf, &n, 'B', "chunk3", 6);
    pkt_add(buf, &n, 'E', NULL, 0);
    pkt_add(buf, &n, 'Q', NULL, 0);
    write_all(m.fd, buf, n); /* one write: the engine reads it as one run */
    expect(&m, 'c', NULL, 0); /* MAIL */
    expect(&m, 'c', NULL, 0); /* RCPT */
    expect(&m, 'c', NULL, 0); /* DATA */
    expect(&m, 'c', NULL, 0); /* EOH */
    expect(&m, 't', NULL, 0); /* EOM */
    ck_assert(!read_pkt(&m, &rc, r, sizeof(r), &rl)); /* and nothing else */
    mta_join(&m);
    mta_finish(&m);
    ck_assert_str_eq(trace_now(), "O:3f:80080;C:client.example:4:192.0.2.1:25;"
                                  "M:<a@example.org>|SIZE=9;R:<b@example.net>;T;"
                                  "L:X-H0=v;L:X-H1=v;L:X-H2=v;N;B:chunk1;B:chunk2;B:chunk3;E;X:-");
}
END_TEST

/* ---- the listener (engine_new, engine_run, engine_stop, engine_free) ----- */

typedef struct {
    engine_t *e;
    int rc;
} runner;

static void *run_engine(void *arg)
{
    runner *r = arg;

    r->rc = engine_run(r->e);
    return NULL;
}

static int unix_connect(const char *path)
{
    struct sockaddr_un sun;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    ck_assert_int_ge(fd, 0);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    ck_assert_uint_lt(strlen(path), sizeof(sun.sun_path));
    memcpy(sun.sun_path, path, strlen(path) + 1);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    return fd;
}

/* With at most one worker, a second connection waits in the backlog
 * until the first ends, then is served. */
START_TEST(test_listener_max_workers)
{
    char dir[] = "/tmp/test_engine.XXXXXX", path[64], spec[80], err[256] = "";
    runner r = {NULL, -1};
    uint32_t d[3] = {htonl(6), htonl(0x3f), htonl(0)}, out[3];
    unsigned char buf[64];
    size_t len;
    char c;
    pthread_t th;
    mta m1, m2;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/milter.sock", dir);
    snprintf(spec, sizeof(spec), "unix:%s", path);
    r.e = engine_new(spec, 5, &cbs, err, sizeof(err));
    ck_assert_msg(r.e != NULL, "engine_new: %s", err);
    engine_set_max_workers(r.e, 1);
    ck_assert_int_eq(pthread_create(&th, NULL, run_engine, &r), 0);

    memset(&m1, 0, sizeof(m1));
    memset(&m2, 0, sizeof(m2));
    m1.fd = unix_connect(path);
    set_rcvtimeo(m1.fd, 5);
    negotiate_v(&m1, 6, 0x3f, 0, out);
    m2.fd = unix_connect(path); /* accepted by the kernel, not served */
    set_rcvtimeo(m2.fd, 1);
    send_pkt(&m2, 'O', d, sizeof(d));
    ck_assert_msg(!read_pkt(&m2, &c, buf, sizeof(buf), &len), "second connection served beside the first");
    send_pkt(&m1, 'Q', NULL, 0);
    close(m1.fd);
    set_rcvtimeo(m2.fd, 5);
    ck_assert_msg(read_pkt(&m2, &c, buf, sizeof(buf), &len), "second connection not served after the first");
    ck_assert_int_eq(c, 'O');
    send_pkt(&m2, 'Q', NULL, 0);
    close(m2.fd);

    engine_stop(r.e);
    ck_assert_int_eq(pthread_join(th, NULL), 0);
    ck_assert_int_eq(r.rc, 0);
    for (int i = 0; i < 100 && engine_active(r.e) > 0; i++)
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    engine_free(r.e);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

/* A unix socket: connections are served (with engine_run's read timeout),
 * engine_stop() ends engine_run(), engine_free() removes the socket file. */
START_TEST(test_listener_unix)
{
    char dir[] = "/tmp/test_engine.XXXXXX", path[64], spec[80], err[256] = "";
    runner r = {NULL, -1};
    pthread_t th;
    struct timespec ts;
    struct stat st;
    mta m;
    uint32_t out[3];
    double t0;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/milter.sock", dir);
    snprintf(spec, sizeof(spec), "unix:%s", path);
    r.e = engine_new(spec, 1, &cbs, err, sizeof(err));
    ck_assert_msg(r.e != NULL, "engine_new: %s", err);
    engine_set_idle_limit(r.e, 2);
    ck_assert_int_eq(stat(path, &st), 0);
    ck_assert(S_ISSOCK(st.st_mode));
    ck_assert_int_eq(pthread_create(&th, NULL, run_engine, &r), 0);

    memset(&m, 0, sizeof(m));
    m.fd = unix_connect(path);
    set_rcvtimeo(m.fd, 5);
    negotiate_v(&m, 6, 0x3f, 0, out);
    ck_assert_uint_eq(out[0], 6);
    SEND_STRS(&m, 'H', "h");
    expect(&m, 'c', NULL, 0);
    send_pkt(&m, 'Q', NULL, 0);
    ck_assert(!read_pkt(&m, &(char){0}, (unsigned char[8]){0}, 8, &(size_t){0}));
    close(m.fd);

    /* an idle MTA: the engine gives up after its idle limit (2 s here),
     * not after its 1 s timeout */
    m.fd = unix_connect(path);
    set_rcvtimeo(m.fd, 5);
    negotiate_v(&m, 6, 0x3f, 0, out);
    t0 = now_s();
    ck_assert(!read_pkt(&m, &(char){0}, (unsigned char[8]){0}, 8, &(size_t){0}));
    ck_assert_msg(now_s() - t0 >= 1.5 && now_s() - t0 < 4.5, "closed after %.2f s", now_s() - t0);
    close(m.fd);

    engine_stop(r.e);
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    ck_assert_msg(pthread_timedjoin_np(th, NULL, &ts) == 0, "engine_run did not return");
    ck_assert_int_eq(r.rc, 0);
    for (int i = 0; i < 100 && engine_active(r.e) > 0; i++)
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    ck_assert_int_eq(engine_active(r.e), 0);
    engine_free(r.e);
    ck_assert_int_ne(stat(path, &st), 0); /* removed */
    ck_assert_int_eq(rmdir(dir), 0);
    ck_assert_int_eq(close_count(), 2);
    ck_assert_ptr_nonnull(strstr(tu_log_text(), "connection idle too long"));
}
END_TEST

/* Bad specs are refused with a message; a stale socket file is replaced,
 * any other file at the path is left alone. */
START_TEST(test_listener_specs)
{
    static const char *const bad[] = {"bogus:/x", "inet:@127.0.0.1", "inet:25", "inet:123456789@127.0.0.1",
                                      "unix:/nonexistent-dir/x/milter.sock"};
    char dir[] = "/tmp/test_engine.XXXXXX", path[64], spec[80], err[256];
    struct sockaddr_un sun;
    engine_t *e;
    int fd;
    FILE *f;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        ck_assert_msg(engine_new(bad[i], 1, &cbs, err, sizeof(err)) == NULL, "%s accepted", bad[i]);
        ck_assert_msg(err[0] != '\0', "no message for %s", bad[i]);
    }
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/milter.sock", dir);
    snprintf(spec, sizeof(spec), "local:%s", path);
    /* a regular file is not replaced */
    f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    ck_assert_ptr_null(engine_new(spec, 1, &cbs, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "not a socket"));
    ck_assert_int_eq(access(path, F_OK), 0);
    ck_assert_int_eq(unlink(path), 0);
    /* a stale socket (bound, nobody listening) is */
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, path, strlen(path) + 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    close(fd);
    e = engine_new(spec, 1, &cbs, err, sizeof(err));
    ck_assert_msg(e != NULL, "stale socket: %s", err);
    {
        /* a socket someone listens on is not taken over */
        engine_t *e2 = engine_new(spec, 1, &cbs, err, sizeof(err));
        struct stat st;

        ck_assert_ptr_null(e2);
        ck_assert_msg(strstr(err, "in use") != NULL, "%s", err);
        /* a later instance's socket file is not removed by this one */
        ck_assert_int_eq(unlink(path), 0);
        fd = socket(AF_UNIX, SOCK_STREAM, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
        engine_free(e);
        ck_assert_int_eq(stat(path, &st), 0);
        close(fd);
        ck_assert_int_eq(unlink(path), 0);
    }
    ck_assert_int_ne(access(path, F_OK), 0);
    ck_assert_int_eq(rmdir(dir), 0);
}
END_TEST

static Suite *engine_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *t;

    t = tcase_create("negotiation");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_negotiate_masks_offer);
    tcase_add_test(t, test_negotiate_version_min);
    tcase_add_test(t, test_negotiate_twice_ends);
    tcase_add_test(t, test_command_before_negotiate_ends);
    tcase_add_test(t, test_negotiate_old_version_ends);
    tcase_add_test(t, test_negotiate_short_ends);
    tcase_add_test(t, test_negotiate_refused_ends);
    suite_add_tcase(s, t);

    t = tcase_create("macros");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_macro_braces_both_ways);
    tcase_add_test(t, test_macro_later_stage_wins);
    tcase_add_test(t, test_macro_eoh_seen_at_eom);
    tcase_add_test(t, test_macro_rcpt_gone_after_new_mail);
    tcase_add_test(t, test_macro_abort_clears_mail_and_later);
    suite_add_tcase(s, t);

    t = tcase_create("commands");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_connect_families);
    tcase_add_test(t, test_connect_malformed_ends);
    tcase_add_test(t, test_envelope_argv);
    tcase_add_test(t, test_mail_malformed_ends);
    tcase_add_test(t, test_tcp_sendmail_pattern);
    tcase_add_test(t, test_header_body_unanswered);
    tcase_add_test(t, test_header_body_noreply_not_offered);
    tcase_add_test(t, test_header_no_callback_unanswered);
    tcase_add_test(t, test_unanswered_verdict_kept);
    tcase_add_test(t, test_unanswered_verdict_first_wins);
    tcase_add_test(t, test_unanswered_verdict_cleared);
    suite_add_tcase(s, t);

    t = tcase_create("replies");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_verdict_codes);
    tcase_add_test(t, test_setreply_matching_class);
    tcase_add_test(t, test_setreply_refuses_bad_input);
    tcase_add_test(t, test_eom_edits_in_order);
    tcase_add_test(t, test_eom_edits_only_if_negotiated);
    tcase_add_test(t, test_edits_refused_outside_eom);
    tcase_add_test(t, test_eom_data_is_body);
    suite_add_tcase(s, t);

    t = tcase_create("life");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_quit_nc_new_connection);
    tcase_add_test(t, test_close_once_on_quit);
    tcase_add_test(t, test_close_once_on_eof);
    tcase_add_test(t, test_close_once_on_error);
    tcase_add_test(t, test_close_once_without_negotiation);
    suite_add_tcase(s, t);

    t = tcase_create("limits");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_packet_length_zero_ends);
    tcase_add_test(t, test_packet_too_long_ends);
    tcase_add_test(t, test_big_packets_accepted);
    tcase_add_test(t, test_eof_inside_packet_ends);
    tcase_add_test(t, test_stalled_mta_times_out);
    tcase_add_test(t, test_pipelined_transaction);
    suite_add_tcase(s, t);

    t = tcase_create("listener");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_listener_unix);
    tcase_add_test(t, test_listener_max_workers);
    tcase_add_test(t, test_listener_specs);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    /* The daemon ignores SIGPIPE (main.c); so must a test whose engine
     * may write to an MTA that has gone. */
    signal(SIGPIPE, SIG_IGN);
    return tu_run(engine_suite());
}
