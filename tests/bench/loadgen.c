/* loadgen.c - a milter-protocol load generator for benchmarks.
 *
 * Speaks the milter protocol version 6 the way Postfix's milter8 client
 * does, to any milter socket (unix:PATH or inet:PORT@HOST): option
 * negotiation (honouring the protocol flags and the macro lists the milter
 * asks for), macros, connect, HELO, MAIL, RCPT, DATA, one header at a time,
 * end of headers, body chunks of at most 65535 bytes, end of message, then
 * every reply up to the final one (header changes, quarantine, progress).
 * One message per milter connection, as Postfix does with one message per
 * SMTP session.  N threads each run one connection at a time until COUNT
 * messages are done or SECONDS have passed.
 *
 * The corpus is a manifest (TSV, one message a line:
 *   FILE CLIENT_ADDR HELO MAIL_FROM RCPT [EXPECTED_VERDICT]
 * FILE relative to the manifest's directory) or plain .eml files given on
 * the command line (client 127.0.0.1, envelope from the From: address).
 * Prints msgs/s, latency percentiles from connect() to the final reply and
 * the verdict counts; with expectations, the number of mismatches.
 *
 * Not installed; not part of the daemon.  SECURITY: a test tool; it trusts
 * its corpus, but bounds every reply it reads from the milter (64 KiB
 * packets, 30 s socket timeouts, 1000 replies per message).
 *
 * With -S inet:PORT@HOST it speaks SMTP instead, to an MTA (Postfix on
 * loopback), one message per session, XCLIENT ADDR/HELO first with -X (so
 * the milter behind it sees the corpus' client address); the latency is
 * then connect to the reply to the final dot (or the refusal).
 * -I ignores the expected verdicts (a run without the milter).
 * -N sets TCP_NODELAY on loadgen's side (Postfix does not, for milters).
 *
 * Usage: loadgen (-s SOCKET | -S inet:PORT@HOST [-X]) [-c CONNS] [-n COUNT]
 *                [-t SECONDS] [-N] [-v] (-m MANIFEST | FILE.eml...)
 * Exit 0 when every message got a final reply (and, with expectations,
 * matched them), 1 otherwise, 2 on usage errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Commands (MTA -> milter). */
#define C_ABORT 'A'
#define C_BODY 'B'
#define C_CONNECT 'C'
#define C_MACRO 'D'
#define C_BODYEOB 'E'
#define C_HELO 'H'
#define C_HEADER 'L'
#define C_MAIL 'M'
#define C_EOH 'N'
#define C_OPTNEG 'O'
#define C_QUIT 'Q'
#define C_RCPT 'R'
#define C_DATA 'T'

/* Protocol flags (SMFIP_*). */
#define P_NOCONNECT 0x1u
#define P_NOHELO 0x2u
#define P_NOMAIL 0x4u
#define P_NORCPT 0x8u
#define P_NOBODY 0x10u
#define P_NOHDRS 0x20u
#define P_NOEOH 0x40u
#define P_NR_HDR 0x80u
#define P_NODATA 0x200u
#define P_SKIP 0x400u
#define P_NR_CONN 0x1000u
#define P_NR_HELO 0x2000u
#define P_NR_MAIL 0x4000u
#define P_NR_RCPT 0x8000u
#define P_NR_DATA 0x10000u
#define P_NR_EOH 0x40000u
#define P_NR_BODY 0x80000u
#define P_HDR_LEADSPC 0x100000u
#define P_OFFERED 0x1FFFFFu   /* what Postfix 3.x offers */
#define A_OFFERED 0x1FFu      /* all actions */

#define MAX_PACKET 65536u     /* replies larger than this are an error */
#define BODY_CHUNK 65535u
#define MAX_REPLIES 1000      /* per message */
#define NSTAGES 7             /* connect helo mail rcpt data eom eoh */

enum verdict { V_ACCEPT, V_REJECT, V_TEMPFAIL, V_DISCARD, V_QUARANTINE, V_ERROR, V_N };
static const char *const verdict_name[V_N] = {
    "accept", "reject", "tempfail", "discard", "quarantine", "error"
};

struct hdr { char *name, *value; };
struct msg {
    char *file, *addr, *helo, *from, *rcpt;
    int expect;                 /* verdict, or -1 */
    struct hdr *hdrs;
    size_t nhdrs;
    char *body;                 /* CRLF lines */
    size_t bodylen;
    char *smtp;                 /* SMTP mode: the whole message, CRLF, dot-stuffed, ".\r\n" */
    size_t smtplen;
};

/* Everything the threads share; set up before they start. */
struct run;
static void corpus_free(struct run *r);

struct run {
    const char *socket;
    int nodelay, verbose, smtp, xclient, ignore_expect;
    struct msg *msgs;
    size_t nmsgs;
    unsigned long count;
    double deadline;            /* monotonic seconds, 0 = none */
    atomic_ulong next;
    atomic_ulong done;
    atomic_ulong verdicts[V_N];
    atomic_ulong mismatches;
    double *lat_ms;             /* count slots, index = message number */
    pthread_mutex_t out_lock;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(2);
    }
    return p;
}
static void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (p == NULL) {
        fprintf(stderr, "loadgen: out of memory\n");
        exit(2);
    }
    return p;
}
static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

static int verdict_parse(const char *s)
{
    for (int v = 0; v < V_N; v++)
        if (strcmp(s, verdict_name[v]) == 0)
            return v;
    return -1;
}

/* ---- corpus ---------------------------------------------------------- */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0, r;

    if (f == NULL)
        return NULL;
    do {
        if (cap - n < 65536) {
            cap = cap ? cap * 2 : 131072;
            buf = xrealloc(buf, cap + 1);
        }
        r = fread(buf + n, 1, cap - n, f);
        n += r;
    } while (r > 0);
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The address in the From: header (between <> or the whole value). */
static char *from_addr(const struct msg *m)
{
    for (size_t i = 0; i < m->nhdrs; i++) {
        if (strcasecmp(m->hdrs[i].name, "From") != 0)
            continue;
        const char *v = m->hdrs[i].value, *lt = strchr(v, '<'), *gt;
        if (lt && (gt = strchr(lt, '>')) != NULL) {
            char *a = xmalloc((size_t)(gt - lt) + 2);
            memcpy(a, lt, (size_t)(gt - lt) + 1);
            a[gt - lt + 1] = '\0';
            return a;
        }
        while (*v == ' ' || *v == '\t')
            v++;
        char *a = xmalloc(strlen(v) + 3);
        sprintf(a, "<%s>", v);
        return a;
    }
    return xstrdup("<>");
}

/* Split a message into headers (name, value with its leading white space
 * and folds as "\n", CRs dropped: the form Postfix passes on) and a body
 * with CRLF line ends.  Returns 0 on a message without a header/body
 * separator and without headers. */
static int msg_parse(struct msg *m, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    size_t cap = 0;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *lend = eol ? eol : end;
        size_t l = (size_t)(lend - p);
        if (l > 0 && p[l - 1] == '\r')
            l--;
        if (l == 0) {
            p = eol ? eol + 1 : end;
            break;
        }
        if ((*p == ' ' || *p == '\t') && m->nhdrs > 0) {
            struct hdr *h = &m->hdrs[m->nhdrs - 1];
            size_t ol = strlen(h->value);
            h->value = xrealloc(h->value, ol + l + 2);
            h->value[ol] = '\n';
            memcpy(h->value + ol + 1, p, l);
            h->value[ol + 1 + l] = '\0';
        } else {
            const char *colon = memchr(p, ':', l);
            if (colon == NULL)
                return 0;
            if (m->nhdrs == cap) {
                cap = cap ? cap * 2 : 16;
                m->hdrs = xrealloc(m->hdrs, cap * sizeof(*m->hdrs));
            }
            struct hdr *h = &m->hdrs[m->nhdrs++];
            size_t nl = (size_t)(colon - p), vl = l - nl - 1;
            h->name = xmalloc(nl + 1);
            memcpy(h->name, p, nl);
            h->name[nl] = '\0';
            h->value = xmalloc(vl + 1);
            memcpy(h->value, colon + 1, vl);
            h->value[vl] = '\0';
        }
        p = eol ? eol + 1 : end;
    }
    /* Body: LF -> CRLF. */
    m->body = xmalloc(2 * (size_t)(end - p) + 1);
    m->bodylen = 0;
    for (const char *q = p; q < end; q++) {
        if (*q == '\n' && (q == p || q[-1] != '\r'))
            m->body[m->bodylen++] = '\r';
        m->body[m->bodylen++] = *q;
    }
    return m->nhdrs > 0;
}

static int msg_load(struct msg *m, const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    int ok;

    if (text == NULL) {
        fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
        return 0;
    }
    ok = msg_parse(m, text, len);
    /* SMTP mode: CRLF line ends, dot-stuffed, the final dot. */
    m->smtp = xmalloc(2 * len + 8);
    m->smtplen = 0;
    for (size_t i = 0; i < len; i++) {
        int bol = i == 0 || text[i - 1] == '\n';
        if (bol && text[i] == '.')
            m->smtp[m->smtplen++] = '.';
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r'))
            m->smtp[m->smtplen++] = '\r';
        m->smtp[m->smtplen++] = text[i];
    }
    if (m->smtplen > 0 && m->smtp[m->smtplen - 1] != '\n') {
        m->smtp[m->smtplen++] = '\r';
        m->smtp[m->smtplen++] = '\n';
    }
    memcpy(m->smtp + m->smtplen, ".\r\n", 3);
    m->smtplen += 3;
    free(text);
    if (!ok)
        fprintf(stderr, "loadgen: %s: not a message (no header fields)\n", path);
    m->file = xstrdup(path);
    return ok;
}

static int manifest_load(struct run *r, const char *path)
{
    FILE *f = fopen(path, "r");
    char line[4096], dir[2048];
    const char *slash = strrchr(path, '/');
    size_t cap = 0;
    unsigned lineno = 0;

    if (f == NULL) {
        fprintf(stderr, "loadgen: %s: %s\n", path, strerror(errno));
        return 0;
    }
    snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - path) : 1, slash ? path : ".");
    while (fgets(line, sizeof(line), f)) {
        char *field[6] = { 0 }, *save = NULL, full[4096 + 2048];
        int n = 0;
        lineno++;
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0')
            continue;
        for (char *t = strtok_r(line, "\t", &save); t && n < 6; t = strtok_r(NULL, "\t", &save))
            field[n++] = t;
        if (n < 5) {
            fprintf(stderr, "loadgen: %s:%u: expected FILE ADDR HELO FROM RCPT [VERDICT]\n", path, lineno);
            fclose(f);
            return 0;
        }
        if (r->nmsgs == cap) {
            cap = cap ? cap * 2 : 256;
            r->msgs = xrealloc(r->msgs, cap * sizeof(*r->msgs));
        }
        struct msg *m = &r->msgs[r->nmsgs];
        memset(m, 0, sizeof(*m));
        if (field[0][0] == '/')
            snprintf(full, sizeof(full), "%s", field[0]);
        else
            snprintf(full, sizeof(full), "%s/%s", dir, field[0]);
        if (!msg_load(m, full)) {
            fclose(f);
            return 0;
        }
        m->addr = xstrdup(field[1]);
        m->helo = xstrdup(field[2]);
        m->from = xstrdup(field[3]);
        m->rcpt = xstrdup(field[4]);
        m->expect = field[5] ? verdict_parse(field[5]) : -1;
        if (field[5] && m->expect < 0) {
            fprintf(stderr, "loadgen: %s:%u: unknown verdict %s\n", path, lineno, field[5]);
            fclose(f);
            return 0;
        }
        r->nmsgs++;
    }
    fclose(f);
    return 1;
}

/* ---- connection ------------------------------------------------------ */

#define OUT_MAX (2 * 65536 + 64)

struct conn {
    int fd;
    uint32_t proto;             /* negotiated protocol flags */
    char *macros[NSTAGES];      /* space-separated names, NULL = default */
    char *buf;                  /* reply buffer, MAX_PACKET */
    size_t buflen;
    const char *err;
    char out[OUT_MAX];          /* packets not yet written (see send_pkt) */
    size_t outlen, outcap;      /* outcap: 4 KB, or 2 x the TCP MSS (send_pkt) */
};

static int conn_open(struct conn *c, const char *spec, int nodelay)
{
    c->outcap = 4096;
    if (strncmp(spec, "unix:", 5) == 0 || strncmp(spec, "local:", 6) == 0 || spec[0] == '/') {
        const char *path = spec[0] == '/' ? spec : strchr(spec, ':') + 1;
        struct sockaddr_un sun;
        memset(&sun, 0, sizeof(sun));
        sun.sun_family = AF_UNIX;
        if (strlen(path) >= sizeof(sun.sun_path))
            return c->err = "socket path too long", 0;
        strcpy(sun.sun_path, path);
        c->fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&sun, sizeof(sun)) != 0)
            return c->err = "connect failed", 0;
    } else if (strncmp(spec, "inet:", 5) == 0) {
        char port[16], host[256];
        const char *at = strchr(spec + 5, '@');
        struct addrinfo hints, *ai = NULL;
        if (at == NULL || (size_t)(at - spec - 5) >= sizeof(port))
            return c->err = "inet:PORT@HOST expected", 0;
        snprintf(port, sizeof(port), "%.*s", (int)(at - spec - 5), spec + 5);
        snprintf(host, sizeof(host), "%s", at + 1);
        memset(&hints, 0, sizeof(hints));
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
        if (getaddrinfo(host, port, &hints, &ai) != 0)
            return c->err = "bad inet address (numeric host and port only)", 0;
        c->fd = socket(ai->ai_family, SOCK_STREAM, 0);
        if (c->fd >= 0 && nodelay) {
            int one = 1;
            setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        }
        int rc = c->fd < 0 ? -1 : connect(c->fd, ai->ai_addr, ai->ai_addrlen);
        freeaddrinfo(ai);
        if (rc != 0)
            return c->err = "connect failed", 0;
        /* Postfix's vstream_tweak_tcp(): a buffer of twice the MSS when the
         * MSS is more than half of it (on loopback: ~128 KB). */
        int mss = 0;
        socklen_t msslen = sizeof(mss);
        if (getsockopt(c->fd, IPPROTO_TCP, TCP_MAXSEG, &mss, &msslen) == 0 && mss > (int)c->outcap / 2)
            c->outcap = (size_t)mss * 2 < OUT_MAX ? (size_t)mss * 2 : OUT_MAX;
    } else {
        return c->err = "socket must be unix:PATH or inet:PORT@HOST", 0;
    }
    struct timeval tv = { 30, 0 };
    setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    return 1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return 0;
        p += w;
        n -= (size_t)w;
    }
    return 1;
}
static int read_all(int fd, char *p, size_t n)
{
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return 0;
        p += r;
        n -= (size_t)r;
    }
    return 1;
}

/* Write what send_pkt() buffered. */
static int flush_out(struct conn *c)
{
    int ok = c->outlen == 0 || write_all(c->fd, c->out, c->outlen);

    c->outlen = 0;
    if (!ok)
        c->err = "write to the milter failed";
    return ok;
}

/* Packets are buffered as Postfix's VSTREAM buffer does (4 KB; over TCP
 * twice the MSS, as vstream_tweak_tcp() makes it): written when
 * the buffer would overflow (a bigger packet then goes by itself) and
 * before every read of a reply.  So a macro packet and its command, or
 * headers sent without replies (SMFIP_NR_HDR), leave in one write, and
 * loadgen's TCP timing is the MTA's (Nagle included: no TCP_NODELAY
 * unless -N). */
static int send_pkt(struct conn *c, char cmd, const char *data, size_t len)
{
    uint32_t n = htonl((uint32_t)len + 1);
    char hdr[5];

    memcpy(hdr, &n, 4);
    hdr[4] = cmd;
    if (c->outlen + len + 5 > c->outcap && !flush_out(c))
        return 0;
    if (len + 5 > c->outcap) { /* one write, not a small one first */
        char *b = xmalloc(len + 5);
        int ok;

        memcpy(b, hdr, 5);
        memcpy(b + 5, data, len);
        ok = write_all(c->fd, b, len + 5);
        free(b);
        if (!ok)
            c->err = "write to the milter failed";
        return ok;
    }
    memcpy(c->out + c->outlen, hdr, 5);
    if (len)
        memcpy(c->out + c->outlen + 5, data, len);
    c->outlen += len + 5;
    return 1;
}

/* Read one reply packet into c->buf; returns its command byte, 0 on error. */
static char read_pkt(struct conn *c)
{
    uint32_t n;
    if (!flush_out(c))
        return 0;
    if (!read_all(c->fd, (char *)&n, 4))
        return c->err = "milter closed or timed out", 0;
    n = ntohl(n);
    if (n == 0 || n > MAX_PACKET)
        return c->err = "bad reply length", 0;
    if (!read_all(c->fd, c->buf, n))
        return c->err = "short reply", 0;
    c->buflen = n - 1;
    c->buf[n] = '\0';
    return c->buf[0];
}

/* Reply letters. */
#define R_ACCEPT 'a'
#define R_CONTINUE 'c'
#define R_DISCARD 'd'
#define R_REJECT 'r'
#define R_TEMPFAIL 't'
#define R_REPLYCODE 'y'
#define R_SKIP 's'
#define R_PROGRESS 'p'
#define R_QUARANTINE 'q'

/* Read replies until a final one; header changes and the like are counted
 * but ignored.  Returns the final letter (with R_REPLYCODE turned into
 * R_REJECT or R_TEMPFAIL), 0 on error.  *quarantined is set on 'q'. */
static char read_final(struct conn *c, int *quarantined)
{
    for (int i = 0; i < MAX_REPLIES; i++) {
        char r = read_pkt(c);
        switch (r) {
        case 0:
            return 0;
        case R_ACCEPT: case R_CONTINUE: case R_DISCARD: case R_REJECT:
        case R_TEMPFAIL: case R_SKIP:
            return r;
        case R_REPLYCODE:
            return c->buflen > 0 && c->buf[1] == '4' ? R_TEMPFAIL : R_REJECT;
        case R_QUARANTINE:
            if (quarantined)
                *quarantined = 1;
            break;
        case R_PROGRESS: case '+': case '-': case '2': case 'b': case 'e':
        case 'h': case 'i': case 'm':
            break;
        default:
            c->err = "unknown reply";
            return 0;
        }
    }
    c->err = "too many replies";
    return 0;
}

/* Stage index of the negotiated macro lists (SMFIM_*). */
enum { M_CONNECT, M_HELO, M_ENVFROM, M_ENVRCPT, M_DATA, M_EOM, M_EOH };

struct macval { const char *name, *value; };

/* Send the macros of STAGE for command CMD: the milter's list if it gave
 * one, else DEFAULTS (Postfix's defaults); names without a value are left
 * out; nothing is sent when no macro has a value. */
static int send_macros(struct conn *c, int stage, char cmd, const char *defaults,
                       const struct macval *vals, size_t nvals)
{
    char out[2048], names[1024];
    size_t len = 0;
    const char *list = c->macros[stage] ? c->macros[stage] : defaults;

    out[len++] = cmd;
    snprintf(names, sizeof(names), "%s", list);
    for (char *save = NULL, *t = strtok_r(names, " ,", &save); t; t = strtok_r(NULL, " ,", &save)) {
        const char *bare = t;
        char tmp[128];
        /* "{i}" and "i" are the same macro */
        if (t[0] == '{' && t[strlen(t) - 1] == '}' && strlen(t) < sizeof(tmp) && strlen(t) == 3) {
            tmp[0] = t[1];
            tmp[1] = '\0';
            bare = tmp;
        }
        for (size_t i = 0; i < nvals; i++) {
            if (strcmp(vals[i].name, bare) != 0 && strcmp(vals[i].name, t) != 0)
                continue;
            size_t nl = strlen(vals[i].name) + 1, vl = strlen(vals[i].value) + 1;
            if (len + nl + vl > sizeof(out))
                break;
            memcpy(out + len, vals[i].name, nl);
            len += nl;
            memcpy(out + len, vals[i].value, vl);
            len += vl;
        }
    }
    if (len == 1)
        return 1;
    return send_pkt(c, C_MACRO, out, len);
}

/* Option negotiation: offer version 6, all actions and protocol steps, read
 * the milter's flags and macro lists. */
static int negotiate(struct conn *c)
{
    uint32_t v[3] = { htonl(6), htonl(A_OFFERED), htonl(P_OFFERED) };
    if (!send_pkt(c, C_OPTNEG, (const char *)v, sizeof(v)))
        return 0;
    if (read_pkt(c) != C_OPTNEG || c->buflen < 12)
        return c->err = c->err ? c->err : "bad option negotiation reply", 0;
    memcpy(&c->proto, c->buf + 9, 4);
    c->proto = ntohl(c->proto);
    /* Macro lists: uint32 stage, NUL-terminated names. */
    size_t off = 13;
    while (off + 4 <= c->buflen + 1) {
        uint32_t st;
        memcpy(&st, c->buf + off, 4);
        st = ntohl(st);
        off += 4;
        const char *names = c->buf + off;
        size_t nl = strnlen(names, c->buflen + 1 - off);
        if (st < NSTAGES) {
            free(c->macros[st]);
            c->macros[st] = xstrdup(names);
        }
        off += nl + 1;
    }
    return 1;
}

static int nul_args(char *out, size_t cap, const char *const *args, size_t nargs)
{
    size_t len = 0;
    for (size_t i = 0; i < nargs; i++) {
        size_t l = strlen(args[i]) + 1;
        if (len + l > cap)
            return -1;
        memcpy(out + len, args[i], l);
        len += l;
    }
    return (int)len;
}

/* Run one message through a fresh connection; returns its verdict. */
static int run_message(struct run *r, const struct msg *m, unsigned long seq, const char **why)
{
    struct conn c;
    char pkt[4096], qid[32], rep = 0;
    int verdict = V_ERROR, quarantined = 0, len;
    struct macval vals[] = {
        { "j", "mta.bench.example" }, { "{daemon_name}", "loadgen" },
        { "{daemon_addr}", "127.0.0.1" }, { "v", "Postfix 3.7 (loadgen)" },
        { "_", "" }, { "i", qid }, { "{mail_addr}", "" }, { "{rcpt_addr}", "" },
        { "{mail_host}", "" }, { "{mail_mailer}", "smtp" }, { "{rcpt_mailer}", "smtp" },
    };
    char under[300], mail_addr[300], rcpt_addr[300];

    memset(&c, 0, sizeof(c));
    c.fd = -1;
    c.buf = xmalloc(MAX_PACKET + 1);
    snprintf(qid, sizeof(qid), "%lX", 0x10000000UL + seq);
    snprintf(under, sizeof(under), "[%s] [%s]", m->addr, m->addr);
    vals[4].value = under;
    snprintf(mail_addr, sizeof(mail_addr), "%.*s", (int)strcspn(m->from + (m->from[0] == '<'), ">"),
             m->from + (m->from[0] == '<'));
    snprintf(rcpt_addr, sizeof(rcpt_addr), "%.*s", (int)strcspn(m->rcpt + (m->rcpt[0] == '<'), ">"),
             m->rcpt + (m->rcpt[0] == '<'));
    vals[6].value = mail_addr;
    vals[7].value = rcpt_addr;
    const size_t nv = sizeof(vals) / sizeof(vals[0]);

#define STEP(call) do { if (!(call)) goto out; } while (0)
/* After a command that gets a reply: stop on anything but continue. */
#define REPLY(flag) do { \
        if (!(c.proto & (flag))) { \
            rep = read_final(&c, &quarantined); \
            if (rep != R_CONTINUE) goto final; \
        } } while (0)

    STEP(conn_open(&c, r->socket, r->nodelay));
    STEP(negotiate(&c));
    if (!(c.proto & P_NOCONNECT)) {
        struct in_addr a4;
        int is4 = inet_pton(AF_INET, m->addr, &a4) == 1;
        char host[300];
        snprintf(host, sizeof(host), "[%s]", m->addr);
        STEP(send_macros(&c, M_CONNECT, C_CONNECT, "j {daemon_name} {daemon_addr} v _", vals, nv));
        len = snprintf(pkt, sizeof(pkt), "%s", host) + 1;
        pkt[len++] = is4 ? '4' : '6';
        uint16_t port = htons(45678);
        memcpy(pkt + len, &port, 2);
        len += 2;
        len += snprintf(pkt + len, sizeof(pkt) - (size_t)len, "%s", m->addr) + 1;
        STEP(send_pkt(&c, C_CONNECT, pkt, (size_t)len));
        REPLY(P_NR_CONN);
    }
    if (!(c.proto & P_NOHELO)) {
        STEP(send_macros(&c, M_HELO, C_HELO, "{tls_version} {cipher} {cipher_bits} {cert_subject} {cert_issuer}", vals, nv));
        STEP(send_pkt(&c, C_HELO, m->helo, strlen(m->helo) + 1));
        REPLY(P_NR_HELO);
    }
    if (!(c.proto & P_NOMAIL)) {
        const char *a[] = { m->from };
        STEP(send_macros(&c, M_ENVFROM, C_MAIL, "i {auth_type} {auth_authen} {auth_author} {mail_addr} {mail_host} {mail_mailer}", vals, nv));
        len = nul_args(pkt, sizeof(pkt), a, 1);
        STEP(len > 0 && send_pkt(&c, C_MAIL, pkt, (size_t)len));
        REPLY(P_NR_MAIL);
    }
    if (!(c.proto & P_NORCPT)) {
        const char *a[] = { m->rcpt };
        STEP(send_macros(&c, M_ENVRCPT, C_RCPT, "i {rcpt_addr} {rcpt_host} {rcpt_mailer}", vals, nv));
        len = nul_args(pkt, sizeof(pkt), a, 1);
        STEP(len > 0 && send_pkt(&c, C_RCPT, pkt, (size_t)len));
        REPLY(P_NR_RCPT);
    }
    if (!(c.proto & P_NODATA)) {
        STEP(send_macros(&c, M_DATA, C_DATA, "i", vals, nv));
        STEP(send_pkt(&c, C_DATA, NULL, 0));
        REPLY(P_NR_DATA);
    }
    if (!(c.proto & P_NOHDRS)) {
        for (size_t i = 0; i < m->nhdrs; i++) {
            const char *v = m->hdrs[i].value;
            size_t nl = strlen(m->hdrs[i].name) + 1, vl;
            if (!(c.proto & P_HDR_LEADSPC))
                while (*v == ' ' || *v == '\t')
                    v++;
            vl = strlen(v) + 1;
            char *b = xmalloc(nl + vl);
            memcpy(b, m->hdrs[i].name, nl);
            memcpy(b + nl, v, vl);
            int ok = send_pkt(&c, C_HEADER, b, nl + vl);
            free(b);
            STEP(ok);
            if (!(c.proto & P_NR_HDR)) {
                rep = read_final(&c, &quarantined);
                if (rep == R_SKIP)
                    break;
                if (rep != R_CONTINUE)
                    goto final;
            }
        }
    }
    if (!(c.proto & P_NOEOH)) {
        STEP(send_macros(&c, M_EOH, C_EOH, "i", vals, nv));
        STEP(send_pkt(&c, C_EOH, NULL, 0));
        REPLY(P_NR_EOH);
    }
    if (!(c.proto & P_NOBODY)) {
        for (size_t off = 0; off < m->bodylen; off += BODY_CHUNK) {
            size_t n = m->bodylen - off < BODY_CHUNK ? m->bodylen - off : BODY_CHUNK;
            STEP(send_pkt(&c, C_BODY, m->body + off, n));
            if (!(c.proto & P_NR_BODY)) {
                rep = read_final(&c, &quarantined);
                if (rep == R_SKIP)
                    break;
                if (rep != R_CONTINUE)
                    goto final;
            }
        }
    }
    STEP(send_macros(&c, M_EOM, C_BODYEOB, "i", vals, nv));
    STEP(send_pkt(&c, C_BODYEOB, NULL, 0));
    rep = read_final(&c, &quarantined);
final:
    switch (rep) {
    case R_ACCEPT: case R_CONTINUE: verdict = quarantined ? V_QUARANTINE : V_ACCEPT; break;
    case R_REJECT: verdict = V_REJECT; break;
    case R_TEMPFAIL: verdict = V_TEMPFAIL; break;
    case R_DISCARD: verdict = V_DISCARD; break;
    case R_SKIP: c.err = "skip at end of message"; break;
    default: break;
    }
    if (verdict != V_ERROR)
        (void)send_pkt(&c, verdict == V_ACCEPT || verdict == V_QUARANTINE ? C_QUIT : C_ABORT, NULL, 0);
    if (verdict != V_ERROR && verdict != V_ACCEPT && verdict != V_QUARANTINE)
        (void)send_pkt(&c, C_QUIT, NULL, 0);
out:
#undef STEP
#undef REPLY
    *why = c.err ? c.err : "no final reply";
    if (c.fd >= 0) {
        (void)flush_out(&c);
        close(c.fd);
    }
    for (int i = 0; i < NSTAGES; i++)
        free(c.macros[i]);
    free(c.buf);
    return verdict;
}

/* ---- SMTP mode --------------------------------------------------------- */

/* Read one (multi-line) SMTP reply; returns its code, 0 on error.  One
 * command is in flight at a time, so a reply ends at the first complete
 * line "DDD " or "DDD". */
static int smtp_reply(struct conn *c)
{
    size_t have = 0, line = 0;
    for (;;) {
        if (have >= MAX_PACKET)
            return c->err = "SMTP reply too long", 0;
        ssize_t n = read(c->fd, c->buf + have, MAX_PACKET - have);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return c->err = "SMTP server closed or timed out", 0;
        have += (size_t)n;
        c->buf[have] = '\0';
        char *nl;
        while ((nl = memchr(c->buf + line, '\n', have - line)) != NULL) {
            const char *l = c->buf + line;
            if (nl - l >= 3 && (l[3] == ' ' || l[3] == '\r' || l[3] == '\n'))
                return atoi(l);
            line = (size_t)(nl - c->buf) + 1;
        }
    }
}

static int smtp_cmd(struct conn *c, const char *line)
{
    if (!write_all(c->fd, line, strlen(line)))
        return c->err = "write to the SMTP server failed", 0;
    return smtp_reply(c);
}

/* One message through an SMTP server (Postfix), one session: EHLO,
 * XCLIENT ADDR/HELO with -X, MAIL, RCPT, DATA.  The verdict comes from the
 * reply codes (a message in the hold queue counts as accepted). */
static int run_smtp(struct run *r, const struct msg *m, const char **why)
{
    struct conn c;
    char line[1024];
    int code, verdict = V_ERROR;

    memset(&c, 0, sizeof(c));
    c.fd = -1;
    c.buf = xmalloc(MAX_PACKET + 1);
    if (!conn_open(&c, r->socket, r->nodelay) || smtp_reply(&c) != 220)
        goto out;
    snprintf(line, sizeof(line), "EHLO %s\r\n", r->xclient ? "loadgen.bench.example" : m->helo);
    if (smtp_cmd(&c, line) != 250)
        goto out;
    if (r->xclient) {
        snprintf(line, sizeof(line), "XCLIENT ADDR=%s NAME=[UNAVAILABLE] HELO=%s\r\n", m->addr, m->helo);
        if (smtp_cmd(&c, line) != 220)
            goto out;
        snprintf(line, sizeof(line), "EHLO %s\r\n", m->helo);
        if ((code = smtp_cmd(&c, line)) != 250)
            goto verdict;
    }
    snprintf(line, sizeof(line), "MAIL FROM:%s\r\n", m->from);
    if ((code = smtp_cmd(&c, line)) != 250)
        goto verdict;
    snprintf(line, sizeof(line), "RCPT TO:%s\r\n", m->rcpt);
    if ((code = smtp_cmd(&c, line)) != 250)
        goto verdict;
    if ((code = smtp_cmd(&c, "DATA\r\n")) != 354)
        goto verdict;
    if (!write_all(c.fd, m->smtp, m->smtplen)) {
        c.err = "write to the SMTP server failed";
        goto out;
    }
    code = smtp_reply(&c);
verdict:
    if (code >= 200 && code < 300)
        verdict = V_ACCEPT;
    else if (code >= 400 && code < 500)
        verdict = V_TEMPFAIL;
    else if (code >= 500 && code < 600)
        verdict = V_REJECT;
    if (verdict != V_ERROR)
        (void)write_all(c.fd, "QUIT\r\n", 6);
out:
    *why = c.err ? c.err : "unexpected SMTP reply";
    if (c.fd >= 0)
        close(c.fd);
    free(c.buf);
    return verdict;
}

static void *worker(void *arg)
{
    struct run *r = arg;
    for (;;) {
        unsigned long i = atomic_fetch_add(&r->next, 1);
        if (i >= r->count || (r->deadline > 0 && now_s() >= r->deadline))
            break;
        const struct msg *m = &r->msgs[i % r->nmsgs];
        const char *why = "";
        double t0 = now_s();
        int v = r->smtp ? run_smtp(r, m, &why) : run_message(r, m, i, &why);
        r->lat_ms[i] = (now_s() - t0) * 1000.0;
        atomic_fetch_add(&r->verdicts[v], 1);
        atomic_fetch_add(&r->done, 1);
        int want = r->ignore_expect ? -1 : r->smtp && m->expect == V_QUARANTINE ? V_ACCEPT : m->expect;
        int bad = want >= 0 && v != want;
        if (bad)
            atomic_fetch_add(&r->mismatches, 1);
        if (r->verbose || bad || v == V_ERROR) {
            pthread_mutex_lock(&r->out_lock);
            fprintf(stderr, "loadgen: %s: %s%s%s%s%s\n", m->file, verdict_name[v],
                    m->expect >= 0 ? " expected " : "", m->expect >= 0 ? verdict_name[m->expect] : "",
                    v == V_ERROR ? ": " : "", v == V_ERROR ? why : "");
            pthread_mutex_unlock(&r->out_lock);
        }
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void usage(void)
{
    fprintf(stderr, "usage: loadgen (-s unix:PATH|inet:PORT@HOST | -S inet:PORT@HOST [-X])\n"
                    "               [-c CONNS] [-n COUNT] [-t SECONDS] [-I] [-N] [-v] (-m MANIFEST | FILE.eml...)\n");
    exit(2);
}

/* Free the corpus (the process ends right after; freeing keeps the
 * sanitizer build's leak check meaningful). */
static void corpus_free(struct run *r)
{
    for (size_t i = 0; i < r->nmsgs; i++) {
        struct msg *m = &r->msgs[i];
        for (size_t h = 0; h < m->nhdrs; h++) {
            free(m->hdrs[h].name);
            free(m->hdrs[h].value);
        }
        free(m->hdrs);
        free(m->file);
        free(m->addr);
        free(m->helo);
        free(m->from);
        free(m->rcpt);
        free(m->body);
        free(m->smtp);
    }
    free(r->msgs);
    r->msgs = NULL;
    r->nmsgs = 0;
}

int main(int argc, char **argv)
{
    struct run r;
    const char *manifest = NULL;
    unsigned long conns = 10;
    double seconds = 0;
    int opt;

    memset(&r, 0, sizeof(r));
    r.count = 1000;
    /* A filter that closes its end is an error of that message, not of loadgen. */
    signal(SIGPIPE, SIG_IGN);
    pthread_mutex_init(&r.out_lock, NULL);
    while ((opt = getopt(argc, argv, "s:S:c:n:t:m:NXIv")) != -1) {
        switch (opt) {
        case 's': r.socket = optarg; break;
        case 'S': r.socket = optarg; r.smtp = 1; break;
        case 'X': r.xclient = 1; break;
        case 'I': r.ignore_expect = 1; break;
        case 'c': conns = strtoul(optarg, NULL, 10); break;
        case 'n': r.count = strtoul(optarg, NULL, 10); break;
        case 't': seconds = strtod(optarg, NULL); break;
        case 'm': manifest = optarg; break;
        case 'N': r.nodelay = 1; break;
        case 'v': r.verbose = 1; break;
        default: usage();
        }
    }
    if (r.socket == NULL || conns == 0 || conns > 1000 || r.count == 0 || r.count > 100000000UL)
        usage();
    if (manifest) {
        if (!manifest_load(&r, manifest))
            return 2;
    } else {
        if (optind >= argc)
            usage();
        r.msgs = xmalloc((size_t)(argc - optind) * sizeof(*r.msgs));
        for (int i = optind; i < argc; i++) {
            struct msg *m = &r.msgs[r.nmsgs++];
            memset(m, 0, sizeof(*m));
            if (!msg_load(m, argv[i]))
                return 2;
            m->addr = xstrdup("127.0.0.1");
            m->helo = xstrdup("client.bench.example");
            m->from = from_addr(m);
            m->rcpt = xstrdup("<rcpt@dest.bench.example>");
            m->expect = -1;
        }
    }
    if (r.nmsgs == 0) {
        fprintf(stderr, "loadgen: empty corpus\n");
        return 2;
    }
    r.lat_ms = xmalloc(r.count * sizeof(double));
    for (unsigned long i = 0; i < r.count; i++)
        r.lat_ms[i] = -1.0;
    pthread_t *th = xmalloc(conns * sizeof(pthread_t));
    double t0 = now_s();
    if (seconds > 0)
        r.deadline = t0 + seconds;
    unsigned long started = 0;
    for (; started < conns; started++)
        if (pthread_create(&th[started], NULL, worker, &r) != 0)
            break;
    for (unsigned long i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    double el = now_s() - t0;
    unsigned long done = atomic_load(&r.done);

    /* Latencies: the slots of the messages run (a deadline can leave
     * holes); empty ones hold -1. */
    size_t filled = 0;
    for (unsigned long i = 0; i < r.count; i++)
        if (r.lat_ms[i] >= 0)
            r.lat_ms[filled++] = r.lat_ms[i];
    done = filled;
    qsort(r.lat_ms, done, sizeof(double), cmp_double);
#define PCT(p) (done ? r.lat_ms[(size_t)((double)(done - 1) * (p))] : 0.0)
    printf("loadgen: socket=%s conns=%lu messages=%lu corpus=%zu elapsed_s=%.3f msgs_per_s=%.1f "
           "p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f",
           r.socket, conns, done, r.nmsgs, el, el > 0 ? (double)done / el : 0.0,
           PCT(0.5), PCT(0.9), PCT(0.99), PCT(1.0));
#undef PCT
    for (int v = 0; v < V_N; v++)
        printf(" %s=%lu", verdict_name[v], atomic_load(&r.verdicts[v]));
    printf(" mismatches=%lu\n", atomic_load(&r.mismatches));
    int rc = atomic_load(&r.verdicts[V_ERROR]) == 0 && atomic_load(&r.mismatches) == 0 ? 0 : 1;
    free(th);
    free(r.lat_ms);
    corpus_free(&r);
    return rc;
}
