/*
 * listener.c - the listening socket and the worker pool (listener.h).
 *
 * Workers accept for themselves: each idle worker blocks in accept() on
 * the listening socket (the kernel wakes one per connection), serves that
 * connection to its end and accepts again; no thread hands connections
 * over.  A worker that takes the last idle place starts another one first,
 * so one always waits in accept().  accept() wakes every second
 * (SO_RCVTIMEO on the listener): idle workers beyond MIN_WORKERS leave
 * after IDLE_WORKER_SECONDS.  listener_run() only waits on a pipe that
 * listener_stop() writes to, so a signal handler can stop it.
 *
 * SECURITY: a unix socket path is replaced only if it is a socket nobody
 * answers on; the file is removed at the end only if it is still the one
 * we made.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "listener.h"
#include "log.h"
#include "xalloc.h"

#define IDLE_WORKER_SECONDS 60
#define MIN_WORKERS 2
/* At most this many connections are served at once (each holds a thread);
 * more wait in the listen backlog until a worker is free.  Postfix holds
 * one milter connection per smtpd and cleanup process (default process
 * limit 100 each). */
#define MAX_WORKERS 1024

struct listener {
    int lfd;            /* listening socket, -1 once closed */
    char *unix_path;    /* the socket file to remove at the end, or NULL */
    dev_t sock_dev;     /* ... if it is still this file */
    ino_t sock_ino;
    unsigned timeout;   /* seconds, SO_RCVTIMEO/SO_SNDTIMEO of accepted sockets */
    const listener_handler *h;
    int wake[2];        /* listener_stop() writes here */
    atomic_int stopping; /* lock-free: listener_stop() may run in a signal handler */
    atomic_int active;  /* connections being served */
    _Atomic time_t last_accept_warning;

    pthread_mutex_t mu; /* protects everything below */
    pthread_cond_t gone; /* a worker left accept() or the pool (monotonic clock) */
    int workers;        /* threads in the pool */
    int max_workers;    /* MAX_WORKERS, or less (tests) */
    int idle;           /* of them, in (or on the way to) accept() */
    bool failed;        /* accept() failed for good */
};

static time_t mono_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec;
}

/* ---- the listening socket ------------------------------------------------ */

/* Replace a socket file left by an earlier run; one that a running process
 * still answers on, and anything else, stays: false with err set. */
static bool clear_stale_socket(const struct sockaddr_un *sun, char *err, size_t errlen)
{
    const char *path = sun->sun_path;
    struct stat st;
    int fd;

    if (lstat(path, &st) != 0)
        return true;
    if (!S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a socket", path);
        return false;
    }
    if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
        int rc = connect(fd, (const struct sockaddr *)sun, sizeof(*sun));
        close(fd);
        if (rc == 0) {
            snprintf(err, errlen, "%s is in use: another mxguard (or milter) listens on it", path);
            return false;
        }
    }
    if (unlink(path) != 0) {
        snprintf(err, errlen, "cannot remove the old socket %s: %s", path, strerror(errno));
        return false;
    }
    return true;
}

static int listen_unix(listener_t *l, const char *path, char *err, size_t errlen)
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
    if (!clear_stale_socket(&sun, err, errlen))
        return -1;
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
        l->sock_dev = st.st_dev;
        l->sock_ino = st.st_ino;
    }
    l->unix_path = xstrdup(path);
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

/* The bound socket for spec, not yet listening; -1 with err set. */
static int open_socket(listener_t *l, const char *spec, char *err, size_t errlen)
{
    if (strncmp(spec, "unix:", 5) == 0)
        return listen_unix(l, spec + 5, err, errlen);
    if (strncmp(spec, "local:", 6) == 0)
        return listen_unix(l, spec + 6, err, errlen);
    if (strncmp(spec, "inet:", 5) == 0)
        return listen_inet(spec + 5, false, err, errlen);
    if (strncmp(spec, "inet6:", 6) == 0)
        return listen_inet(spec + 6, true, err, errlen);
    snprintf(err, errlen, "unknown socket type in %s", spec);
    return -1;
}

/* Best effort: after a privilege drop the directory may not allow it. */
static void remove_socket_file(listener_t *l)
{
    struct stat st;

    if (l->unix_path && stat(l->unix_path, &st) == 0 && st.st_dev == l->sock_dev &&
        st.st_ino == l->sock_ino)
        (void)unlink(l->unix_path);
    free(l->unix_path);
    l->unix_path = NULL;
}

static listener_t *listener_alloc(unsigned timeout, const listener_handler *h)
{
    listener_t *l = xcalloc(1, sizeof(*l));
    pthread_condattr_t ca;

    l->lfd = -1;
    l->wake[0] = l->wake[1] = -1;
    l->timeout = timeout;
    l->max_workers = MAX_WORKERS;
    l->h = h;
    pthread_mutex_init(&l->mu, NULL);
    /* wait_gone() measures its limit on the monotonic clock: a change of
     * the wall clock must not stretch or cut a shutdown. */
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->gone, &ca);
    pthread_condattr_destroy(&ca);
    return l;
}

listener_t *listener_new(const char *spec, unsigned timeout, const listener_handler *h, char *err,
                         size_t errlen)
{
    listener_t *l = listener_alloc(timeout, h);
    int fd = open_socket(l, spec, err, errlen);

    if (fd >= 0 && listen(fd, SOMAXCONN) != 0) {
        snprintf(err, errlen, "listen on %s: %s", spec, strerror(errno));
        close(fd);
        fd = -1;
    }
    if (fd >= 0 && pipe2(l->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        snprintf(err, errlen, "pipe: %s", strerror(errno));
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        (void)listener_free(l);
        return NULL;
    }
    l->lfd = fd;
    return l;
}

/* ---- workers ------------------------------------------------------------- */

static void *worker(void *arg);

/* Start a worker, counted idle from now (l->mu held). */
static bool spawn_worker(listener_t *l)
{
    pthread_attr_t attr;
    pthread_t tid;
    int rc;

    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, worker, l);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        log_error("cannot start a milter worker thread: %s", strerror(rc));
        return false;
    }
    l->workers++;
    l->idle++;
    return true;
}

/* Leave the pool (l->mu held, released), freeing the worker's slot. */
static void *worker_exit(listener_t *l, bool was_idle, void *slot)
{
    if (slot != NULL)
        l->h->slot_free(slot);
    if (was_idle)
        l->idle--;
    l->workers--;
    pthread_cond_broadcast(&l->gone);
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* accept() failed with err on an idle worker: true if the worker leaves
 * (l->mu then held, for worker_exit()), false to accept again. */
static bool accept_failed(listener_t *l, int err, time_t idle_since)
{
    if (atomic_load(&l->stopping)) {
        pthread_mutex_lock(&l->mu);
        return true;
    }
    if (err == EAGAIN || err == EWOULDBLOCK) {
        /* the one-second tick: an idle worker beyond the minimum leaves */
        pthread_mutex_lock(&l->mu);
        if (l->workers > MIN_WORKERS && l->idle > 1 &&
            mono_now() - idle_since >= IDLE_WORKER_SECONDS)
            return true;
        pthread_mutex_unlock(&l->mu);
        return false;
    }
    if (err == EINTR || err == ECONNABORTED)
        return false;
    /* Only a listener that is not one any more is fatal; the rest (no
     * descriptors or memory for now, network errors that Linux reports on
     * the new connection) is retried after a pause, with a warning at most
     * every 10 seconds. */
    if (err == EBADF || err == ENOTSOCK || err == EFAULT || err == EINVAL) {
        log_error("accept on the milter socket: %s", strerror(err));
        pthread_mutex_lock(&l->mu);
        l->failed = true;
        listener_stop(l);
        return true;
    }
    if (mono_now() - atomic_load(&l->last_accept_warning) >= 10) {
        atomic_store(&l->last_accept_warning, mono_now());
        log_warn("accept on the milter socket: %s (retrying)", strerror(err));
    }
    nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    return false;
}

/* The worker took connection fd: it is busy now, and another worker is
 * started if none is left in accept(). */
static void take_connection(listener_t *l, int fd)
{
    struct timeval tv = {(time_t)l->timeout, 0};

    /* Always set: with no timeout, a TCP connection would otherwise keep
     * the listener's one-second tick. */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    pthread_mutex_lock(&l->mu);
    l->idle--;
    /* Counted before the lock goes, so that a stop that sees no idle
     * worker also sees this connection. */
    atomic_fetch_add(&l->active, 1);
    if (l->idle == 0 && l->workers < l->max_workers && !atomic_load(&l->stopping))
        (void)spawn_worker(l); /* if it fails, this one accepts after its connection */
    pthread_mutex_unlock(&l->mu);
}

/* A worker: accept, serve to the end, accept again, until told to leave. */
static void *worker(void *arg)
{
    listener_t *l = arg;
    time_t idle_since = mono_now();
    void *slot = NULL;

    for (;;) {
        int fd = accept4(l->lfd, NULL, NULL, SOCK_CLOEXEC), err = errno;

        if (fd < 0) {
            if (accept_failed(l, err, idle_since))
                return worker_exit(l, true, slot);
            continue;
        }
        take_connection(l, fd);
        l->h->serve(l->h->arg, fd, &slot);
        atomic_fetch_sub(&l->active, 1);

        pthread_mutex_lock(&l->mu);
        if (atomic_load(&l->stopping))
            return worker_exit(l, false, slot);
        l->idle++;
        pthread_mutex_unlock(&l->mu);
        idle_since = mono_now();
    }
}

/* ---- run, stop, free ----------------------------------------------------- */

/* Wait (l->mu held) at most seconds for *count, a count of workers, to
 * reach 0: workers signal l->gone as they leave accept() or the pool. */
static void wait_gone(listener_t *l, const int *count, int seconds)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts); /* the clock of l->gone */
    ts.tv_sec += seconds;
    while (*count > 0)
        if (pthread_cond_timedwait(&l->gone, &l->mu, &ts) == ETIMEDOUT)
            break;
}

int listener_run(listener_t *l)
{
    struct timeval tick = {1, 0};
    struct pollfd p;
    bool ok;

    setsockopt(l->lfd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof(tick));
    pthread_mutex_lock(&l->mu);
    ok = spawn_worker(l);
    pthread_mutex_unlock(&l->mu);
    p.fd = l->wake[0];
    p.events = POLLIN;
    while (ok && !atomic_load(&l->stopping))
        if (poll(&p, 1, -1) < 0 && errno != EINTR) {
            log_error("poll: %s", strerror(errno));
            break;
        }
    atomic_store(&l->stopping, 1);
    /* Wake the workers blocked in accept() now (else within a second);
     * then close: new connections are refused, not left in the backlog. */
    shutdown(l->lfd, SHUT_RDWR);
    pthread_mutex_lock(&l->mu);
    wait_gone(l, &l->idle, 3);
    ok = ok && !l->failed;
    if (l->idle == 0) {
        close(l->lfd);
        l->lfd = -1;
        remove_socket_file(l);
    }
    pthread_mutex_unlock(&l->mu);
    return ok ? 0 : -1;
}

void listener_stop(listener_t *l)
{
    char b = 1;

    atomic_store(&l->stopping, 1);
    if (l->wake[1] >= 0 && write(l->wake[1], &b, 1) < 0) {
        /* full pipe: a stop is already pending */
    }
}

void listener_set_max_workers(listener_t *l, unsigned n)
{
    l->max_workers = n == 0 ? 1 : n > MAX_WORKERS ? MAX_WORKERS : (int)n;
}

int listener_active(const listener_t *l)
{
    return atomic_load(&((listener_t *)l)->active);
}

bool listener_free(listener_t *l)
{
    if (l == NULL)
        return true;
    if (l->lfd >= 0)
        close(l->lfd);
    l->lfd = -1;
    remove_socket_file(l);
    /* Workers leave when their connection ends; one still busy keeps the
     * listener: leak it. */
    pthread_mutex_lock(&l->mu);
    wait_gone(l, &l->workers, 2);
    if (l->workers > 0) {
        pthread_mutex_unlock(&l->mu);
        return false;
    }
    pthread_mutex_unlock(&l->mu);
    if (l->wake[0] >= 0)
        close(l->wake[0]);
    if (l->wake[1] >= 0)
        close(l->wake[1]);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->gone);
    free(l);
    return true;
}
