/*
 * pktio.h - the milter packet layer under the protocol engine (engine.c):
 * one connection's bytes in and out, nothing of what a command means.
 * It reads as much as the socket holds at once and cuts it into packets
 * (a 4-byte big-endian length, a command byte, length-1 bytes of data),
 * queues reply packets and writes them in one call.
 *
 * Ownership: a pktio_t owns its read and write buffers and keeps them from
 * one connection to the next (each worker thread holds one); it never owns
 * the socket: the caller opens and closes it.  Not thread-safe: one
 * connection, one thread.
 *
 * SECURITY: the length of every packet comes from the MTA and is checked
 * (0 and more than max_packet, given at pktio_new, end the connection) before anything
 * is read or allocated for it; pktio_str() never reads past the data.
 */
#ifndef MXG_PKTIO_H
#define MXG_PKTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pktio pktio_t;

/* No buffers yet (they are made on first use); pktio_free(NULL) is fine. */
pktio_t *pktio_new(size_t max_packet);
void pktio_free(pktio_t *io);

/* Start a connection on fd (still the caller's).  idle_limit: seconds the
 * MTA may stay silent between two packets (checked each time SO_RCVTIMEO
 * wakes a read; inside a packet the first such wake-up ends it). */
void pktio_attach(pktio_t *io, int fd, unsigned idle_limit);
/* The connection ended: a read buffer grown for one big packet is freed,
 * the default-sized ones are kept for the next connection. */
void pktio_detach(pktio_t *io);

/* The next packet: 1 with cmd, data and len set (data valid until the next
 * call), 0 at the end of the connection, -1 on error (pktio_why() says). */
int pktio_next(pktio_t *io, unsigned char *cmd, unsigned char **data, size_t *len);
/* Queue a packet cmd with data a[0..alen) then b[0..blen) (either may be
 * empty); nothing is written yet. */
void pktio_queue(pktio_t *io, unsigned char cmd, const void *a, size_t alen, const void *b,
                 size_t blen);
/* Write everything queued (true at once if nothing is); false if the MTA
 * is gone or too slow (pktio_why() says). */
bool pktio_flush(pktio_t *io);
/* Why the last pktio_next() or pktio_flush() failed, for the log; NULL if
 * none did since pktio_attach(). */
const char *pktio_why(const pktio_t *io);

/* ---- reading and writing the fields of a packet -------------------------- */

uint32_t pktio_get32(const unsigned char *p);
void pktio_put32(unsigned char *p, uint32_t v);
/* The NUL-terminated string at *pos within data[0..len); NULL if there is
 * no NUL before the end.  Advances *pos past the NUL. */
const char *pktio_str(const unsigned char *data, size_t len, size_t *pos);

#endif
