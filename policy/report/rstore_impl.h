/*
 * rstore_impl.h - what the report store's back ends (rstore_sqlite.c,
 * rstore_pg.c) give rstore.c, which holds all the logic and all the SQL:
 * a back end only runs one statement with bound parameters and hands the
 * result rows back as text; and rstore_uri.c the kind of a URI.  Internal
 * to policy/report/rstore*.c.
 *
 * The SQL is written once, in the dialect SQLite and PostgreSQL share;
 * parameters are $1, $2, ... (SQLite binds them by name).  The few
 * differences are fields of rstore_ops: the id column's type, how a
 * writing transaction begins, the row lock of a claim, the lock that keeps
 * two processes from creating the schema at once.
 */
#ifndef MXG_RSTORE_IMPL_H
#define MXG_RSTORE_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rstore.h"

/* One bound parameter: text (s != NULL) or a 64-bit integer. */
typedef struct rs_param {
    const char *s;
    int64_t i;
} rs_param;
#define RS_S(v) ((rs_param){.s = (v), .i = 0})
#define RS_I(v) ((rs_param){.s = NULL, .i = (int64_t)(v)})

/* A result row: ncol values as text, NULL for SQL NULL (valid during the
 * call only).  Returns false to stop (the statement then fails with the
 * reason the callback wrote into err). */
typedef bool (*rs_row_cb)(void *arg, int ncol, const char *const *vals, char *err, size_t errsz);

typedef struct rstore_ops {
    const char *kind;        /* "sqlite", "postgresql" */
    const char *id_type;     /* the type of an id column */
    const char *begin_write; /* starts a transaction that writes */
    const char *claim_lock;  /* appended to the claim's SELECT */
    const char *schema_lock; /* run first in the schema's transaction, or NULL */
    /* Run one statement: np parameters, each result row to cb (may be
     * NULL), *changes (may be NULL) the rows it inserted, updated or
     * deleted.  False with the reason in err. */
    bool (*exec)(rstore_t *st, const char *sql, const rs_param *p, int np, rs_row_cb cb, void *arg,
                 unsigned long *changes, char *err, size_t errsz);
    /* Is the connection lost (a retry after reconnect may help)? */
    bool (*lost)(rstore_t *st);
    /* Before a call: re-make a lost connection (once).  False with the
     * reason in err when it cannot be. */
    bool (*ready)(rstore_t *st, char *err, size_t errsz);
    void (*close)(rstore_t *st);
} rstore_ops;

/* The common head of every back end's store (its first member). */
struct rstore {
    const rstore_ops *ops;
};

/* The kind of a store URI, by its prefix only (rstore_uri.c). */
typedef enum rs_kind { RS_NONE = 0, RS_SQLITE, RS_PG } rs_kind;
rs_kind rstore_uri_kind(const char *uri);

/* The back ends' open: the path after "sqlite:", the whole PostgreSQL
 * URI.  No schema work (rstore.c does it).  NULL with the reason in err. */
rstore_t *rstore_sqlite_open(const char *path, char *err, size_t errsz);
rstore_t *rstore_pg_open(const char *uri, char *err, size_t errsz);
/* Syntax of a PostgreSQL URI (libpq's parser; no connection). */
bool rstore_pg_uri_valid(const char *uri, char *err, size_t errsz);

#endif
