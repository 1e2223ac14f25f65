/*
 * listener.h - the engine's listening socket and its pool of worker
 * threads, knowing nothing of the milter protocol: it parses the socket
 * spec, listens, and has each accepted connection served to its end on a
 * worker thread by the handler's serve function (engine.c passes its own).
 *
 * Workers accept for themselves (no thread hands connections over); at
 * most max_workers connections are served at once, more wait in the
 * listen backlog; idle workers beyond two leave after a minute.
 *
 * Ownership: the listener owns the listening socket and, for unix:
 * sockets, the socket file (removed at the end if it is still ours); each
 * accepted socket belongs to the serve call that gets it.  The handler is
 * the caller's and must outlive the listener.
 */
#ifndef MXG_LISTENER_H
#define MXG_LISTENER_H

#include <stdbool.h>
#include <stddef.h>

typedef struct listener listener_t;

typedef struct listener_handler {
    /* Serve the connection fd to its end and close it; runs on a worker
     * thread, several at once.  *slot is the worker's own pointer (NULL at
     * first), kept from one of its connections to the next. */
    void (*serve)(void *arg, int fd, void **slot);
    /* The worker leaves: free its slot (called only if not NULL). */
    void (*slot_free)(void *slot);
    void *arg; /* serve's first argument */
} listener_handler;

/* Listen on spec: unix:/path, local:/path, inet:PORT@HOST, inet6:PORT@HOST
 * (a stale unix socket file is replaced; one a process still listens on,
 * or anything else at that path, is an error).  timeout: SO_RCVTIMEO and
 * SO_SNDTIMEO of each accepted socket, seconds (0: no limit).  NULL with
 * err set on failure. */
listener_t *listener_new(const char *spec, unsigned timeout, const listener_handler *h, char *err,
                         size_t errlen);
/* Accept and serve until listener_stop(); 0, or -1 if accept failed for
 * good.  Then the listening socket is closed unless a worker was still in
 * accept() after 3 seconds. */
int listener_run(listener_t *l);
/* Stop accepting (async-signal-safe; connections in flight go on). */
void listener_stop(listener_t *l);
/* At most n connections served at once (default and ceiling 1024);
 * call before listener_run(). */
void listener_set_max_workers(listener_t *l, unsigned n);
/* Connections being served now. */
int listener_active(const listener_t *l);
/* Close the listener (removing a unix socket file) and free it, true; but
 * if a worker is still serving after 2 seconds (the caller did not wait
 * for listener_active() to reach 0) it is left allocated for that worker,
 * false: the handler must then stay too. */
bool listener_free(listener_t *l);

#endif
