/*
 * pktio.c - the milter packet layer (pktio.h): buffered reads cut into
 * packets, queued replies written in one call.
 *
 * Reading as much as the socket holds at once matters: Postfix streams
 * headers and body chunks without waiting when they are negotiated
 * unanswered, so one read() often brings many packets.
 *
 * Over TCP an MTA that writes a packet we do not answer (macros, or a
 * command negotiated unanswered) and then, in a second write, the next
 * command would wait for our ACK: its Nagle algorithm holds a small
 * segment while one is unacknowledged, and our kernel delays that ACK
 * (~40 ms) hoping to send it with a reply.  Sendmail does so before RCPT
 * and before end of message (issue 16).  So before pktio_next() blocks in
 * read() with nothing written since its last read, it sets TCP_QUICKACK,
 * which sends a pending ACK at once; Linux clears the option again, so it
 * is set each time.
 */
#include "config.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "pktio.h"
#include "xalloc.h"

#define READ_BUF_DEFAULT (65536u + 16u) /* one full 64 KB body chunk packet */

struct pktio {
    int fd;              /* the connection, -1 when detached */
    bool tcp;            /* fd is a TCP connection */
    bool unanswered;     /* bytes read and nothing written since: ACK owed */
    unsigned idle_limit; /* seconds the MTA may be silent between packets */
    time_t idle_since;   /* monotonic start of a wait between packets, or 0 */
    unsigned char *rbuf; /* received bytes rbuf[rstart..rend) */
    size_t rcap, rstart, rend;
    unsigned char *wbuf; /* queued packets, wbuf[0..wlen) */
    size_t wcap, wlen;
    const char *why;     /* why the connection failed, for the log */
    size_t max_packet;   /* longer packets end the connection */
};

static time_t mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

uint32_t pktio_get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void pktio_put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

const char *pktio_str(const unsigned char *data, size_t len, size_t *pos)
{
    const unsigned char *s = data + *pos, *nul;

    if (*pos >= len || (nul = memchr(s, '\0', len - *pos)) == NULL)
        return NULL;
    *pos += (size_t)(nul - s) + 1;
    return (const char *)s;
}

pktio_t *pktio_new(size_t max_packet)
{
    pktio_t *io = xcalloc(1, sizeof(*io));

    io->fd = -1;
    io->max_packet = max_packet;
    return io;
}

void pktio_free(pktio_t *io)
{
    if (io == NULL)
        return;
    free(io->rbuf);
    free(io->wbuf);
    free(io);
}

void pktio_attach(pktio_t *io, int fd, unsigned idle_limit)
{
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);

    io->fd = fd;
    io->tcp = getsockname(fd, (struct sockaddr *)&ss, &sslen) == 0 &&
              (ss.ss_family == AF_INET || ss.ss_family == AF_INET6);
    io->unanswered = false;
    io->idle_limit = idle_limit;
    io->idle_since = 0;
    io->rstart = io->rend = io->wlen = 0;
    io->why = NULL;
}

void pktio_detach(pktio_t *io)
{
    /* A buffer grown for one big packet goes back to the default size. */
    if (io->rcap > READ_BUF_DEFAULT) {
        free(io->rbuf);
        io->rbuf = NULL;
        io->rcap = 0;
    }
    io->fd = -1;
    io->rstart = io->rend = io->wlen = 0;
}

const char *pktio_why(const pktio_t *io)
{
    return io->why;
}

/* ---- input --------------------------------------------------------------- */

/* Room for need bytes from rbuf[0], keeping the avail bytes pending at the
 * front; a buffer grown for one big packet goes back to the default size. */
static void make_room(pktio_t *io, size_t avail, size_t need)
{
    if (io->rstart > 0) {
        memmove(io->rbuf, io->rbuf + io->rstart, avail);
        io->rstart = 0;
        io->rend = avail;
    }
    if (io->rcap > READ_BUF_DEFAULT && need <= READ_BUF_DEFAULT && avail <= READ_BUF_DEFAULT) {
        io->rbuf = xrealloc(io->rbuf, READ_BUF_DEFAULT);
        io->rcap = READ_BUF_DEFAULT;
    }
    if (io->rcap < need || io->rcap == 0) {
        io->rcap = need > READ_BUF_DEFAULT ? need : READ_BUF_DEFAULT;
        io->rbuf = xrealloc(io->rbuf, io->rcap);
    }
}

/* SO_RCVTIMEO woke a read with avail bytes of a packet pending: inside a
 * packet that is the timeout; between packets, true to wait on up to the
 * idle limit. */
static bool wait_on(pktio_t *io, size_t avail)
{
    time_t now = mono_now();

    if (avail == 0 && io->idle_since == 0)
        io->idle_since = now;
    if (avail == 0 && now - io->idle_since < (time_t)io->idle_limit)
        return true;
    io->why = avail > 0 ? "read timeout inside a packet" : "connection idle too long";
    return false;
}

/* One read() into the buffer: 1 with bytes added, 0 at the end of the
 * connection, -1 on error (io->why says). */
static int fill(pktio_t *io, size_t avail)
{
    for (;;) {
        ssize_t r;

        if (io->unanswered) {
            /* What we read got no reply: ACK it now, not ~40 ms later,
             * or the MTA's next command may wait on Nagle for it. */
            int one = 1;
            (void)setsockopt(io->fd, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
            io->unanswered = false;
        }
        r = read(io->fd, io->rbuf + io->rend, io->rcap - io->rend);
        if (r < 0 && errno == EINTR)
            continue;
        if (r == 0) {
            if (avail > 0)
                io->why = "connection closed inside a packet";
            return avail > 0 ? -1 : 0;
        }
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_on(io, avail))
                continue;
            return -1;
        }
        if (r < 0) {
            io->why = "read failed";
            return -1;
        }
        io->idle_since = 0;
        io->rend += (size_t)r;
        io->unanswered = io->tcp;
        return 1;
    }
}

int pktio_next(pktio_t *io, unsigned char *cmd, unsigned char **data, size_t *len)
{
    for (;;) {
        size_t avail = io->rend - io->rstart, need = 4;
        int r;

        if (avail >= 4) {
            uint32_t n = pktio_get32(io->rbuf + io->rstart);
            if (n == 0 || n > io->max_packet) {
                io->why = n == 0 ? "empty packet" : "packet too long";
                return -1;
            }
            if (avail >= 4 + (size_t)n) {
                *cmd = io->rbuf[io->rstart + 4];
                *data = io->rbuf + io->rstart + 5;
                *len = n - 1;
                io->rstart += 4 + (size_t)n;
                return 1;
            }
            need = 4 + (size_t)n;
        }
        make_room(io, avail, need);
        if ((r = fill(io, avail)) != 1)
            return r;
    }
}

/* ---- output -------------------------------------------------------------- */

void pktio_queue(pktio_t *io, unsigned char cmd, const void *a, size_t alen, const void *b,
                 size_t blen)
{
    size_t need = io->wlen + 5 + alen + blen;

    if (need > io->wcap) {
        io->wcap = need < 256 ? 256 : need * 2;
        io->wbuf = xrealloc(io->wbuf, io->wcap);
    }
    pktio_put32(io->wbuf + io->wlen, (uint32_t)(1 + alen + blen));
    io->wbuf[io->wlen + 4] = cmd;
    if (alen)
        memcpy(io->wbuf + io->wlen + 5, a, alen);
    if (blen)
        memcpy(io->wbuf + io->wlen + 5 + alen, b, blen);
    io->wlen = need;
}

bool pktio_flush(pktio_t *io)
{
    size_t off = 0;

    if (io->wlen == 0)
        return true;
    while (off < io->wlen) {
        /* MSG_NOSIGNAL: an MTA that went away is an error here, not a
         * SIGPIPE for the whole process. */
        ssize_t n = send(io->fd, io->wbuf + off, io->wlen - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            io->why = (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ? "write timeout"
                                                                           : "write failed";
            io->wlen = 0;
            return false;
        }
        off += (size_t)n;
    }
    io->wlen = 0;
    io->unanswered = false; /* the reply carried the ACK */
    return true;
}
