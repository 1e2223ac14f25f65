/*
 * rstore_sqlite.c - the SQLite back end of the report store (rstore_impl.h):
 * one file, created with mode 0640, in WAL mode so that readers never wait
 * for the writer; a writer that finds the file locked waits up to
 * RS_SQLITE_BUSY_MS.  Writing transactions begin IMMEDIATE (the write lock
 * taken first: two processes never both read and then both try to write).
 * Statements are prepared once per store and kept.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "rstore_impl.h"
#include "xalloc.h"

#define RS_SQLITE_BUSY_MS 5000
#define RS_SQLITE_CACHE 32 /* prepared statements kept */
#define RS_SQLITE_MAXCOL 16

typedef struct rs_cached {
    char *sql; /* a copy of its text */
    sqlite3_stmt *stmt;
} rs_cached;

typedef struct rs_sqlite {
    struct rstore base;
    sqlite3 *db;
    rs_cached cache[RS_SQLITE_CACHE];
    size_t ncache, next; /* next: the slot replaced when full */
} rs_sqlite;

static void rs_sqlite_err(rs_sqlite *s, const char *what, char *err, size_t errsz)
{
    snprintf(err, errsz, "sqlite: %s: %s", what, sqlite3_errmsg(s->db));
}

/* A prepared statement for sql (reset, bindings cleared), or NULL. */
static sqlite3_stmt *rs_sqlite_stmt(rs_sqlite *s, const char *sql, char *err, size_t errsz)
{
    sqlite3_stmt *stmt;
    rs_cached *c;

    for (size_t i = 0; i < s->ncache; i++)
        if (strcmp(s->cache[i].sql, sql) == 0)
            return s->cache[i].stmt;
    if (sqlite3_prepare_v2(s->db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        rs_sqlite_err(s, "prepare", err, errsz);
        return NULL;
    }
    if (s->ncache < RS_SQLITE_CACHE) {
        c = &s->cache[s->ncache++];
    } else {
        c = &s->cache[s->next];
        s->next = (s->next + 1) % RS_SQLITE_CACHE;
        sqlite3_finalize(c->stmt);
        free(c->sql);
    }
    c->sql = xstrdup(sql);
    c->stmt = stmt;
    return stmt;
}

static bool rs_sqlite_bind(rs_sqlite *s, sqlite3_stmt *stmt, const rs_param *p, int np, char *err, size_t errsz)
{
    for (int i = 0; i < np; i++) {
        char name[16];
        snprintf(name, sizeof(name), "$%d", i + 1);
        int idx = sqlite3_bind_parameter_index(stmt, name), rc;
        if (idx == 0)
            continue; /* not used by this statement */
        rc = p[i].s != NULL ? sqlite3_bind_text(stmt, idx, p[i].s, -1, SQLITE_TRANSIENT)
                            : sqlite3_bind_int64(stmt, idx, p[i].i);
        if (rc != SQLITE_OK) {
            rs_sqlite_err(s, "bind", err, errsz);
            return false;
        }
    }
    return true;
}

static bool rs_sqlite_exec(rstore_t *st, const char *sql, const rs_param *p, int np, rs_row_cb cb, void *arg,
                           unsigned long *changes, char *err, size_t errsz)
{
    rs_sqlite *s = (rs_sqlite *)st;
    sqlite3_stmt *stmt = rs_sqlite_stmt(s, sql, err, errsz);
    bool ok = true;
    int rc;

    if (stmt == NULL)
        return false;
    if (!rs_sqlite_bind(s, stmt, p, np, err, errsz)) {
        sqlite3_clear_bindings(stmt);
        return false;
    }
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *vals[RS_SQLITE_MAXCOL];
        int ncol = sqlite3_column_count(stmt);
        if (ncol > RS_SQLITE_MAXCOL)
            ncol = RS_SQLITE_MAXCOL;
        for (int i = 0; i < ncol; i++)
            vals[i] = (const char *)sqlite3_column_text(stmt, i);
        if (cb != NULL && !cb(arg, ncol, vals, err, errsz)) {
            ok = false;
            break;
        }
    }
    if (ok && rc != SQLITE_DONE) {
        rs_sqlite_err(s, "step", err, errsz);
        ok = false;
    }
    if (ok && changes != NULL)
        *changes = (unsigned long)sqlite3_changes(s->db);
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return ok;
}

static bool rs_sqlite_lost(rstore_t *st)
{
    (void)st;
    return false;
}

static bool rs_sqlite_ready(rstore_t *st, char *err, size_t errsz)
{
    (void)st;
    (void)err;
    (void)errsz;
    return true;
}

static void rs_sqlite_close(rstore_t *st)
{
    rs_sqlite *s = (rs_sqlite *)st;

    for (size_t i = 0; i < s->ncache; i++) {
        sqlite3_finalize(s->cache[i].stmt);
        free(s->cache[i].sql);
    }
    sqlite3_close(s->db);
    free(s);
}

static const rstore_ops rs_sqlite_ops = {
    .kind = "sqlite",
    .id_type = "INTEGER PRIMARY KEY",
    .begin_write = "BEGIN IMMEDIATE",
    .claim_lock = "",
    .schema_lock = NULL,
    .schema_there = "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'report_schema'",
    .exec = rs_sqlite_exec,
    .lost = rs_sqlite_lost,
    .ready = rs_sqlite_ready,
    .close = rs_sqlite_close,
};

/* Create the file with mode 0640 unless it exists (SQLite would use
 * 0644 less the umask; its -wal and -shm files take the file's mode). */
static bool rs_sqlite_create(const char *path, char *err, size_t errsz)
{
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0640);

    if (fd < 0 && errno == EEXIST)
        return true;
    if (fd < 0) {
        snprintf(err, errsz, "sqlite: cannot create %s: %s", path, strerror(errno));
        return false;
    }
    if (fchmod(fd, 0640) != 0) {
        snprintf(err, errsz, "sqlite: chmod %s: %s", path, strerror(errno));
        close(fd);
        return false;
    }
    close(fd);
    return true;
}

/* Pragmas every connection needs: WAL, the busy wait, normal sync. */
static bool rs_sqlite_setup(rs_sqlite *s, char *err, size_t errsz)
{
    static const char *const pragmas[] = {
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL",
        "PRAGMA foreign_keys = ON",
    };

    if (sqlite3_busy_timeout(s->db, RS_SQLITE_BUSY_MS) != SQLITE_OK) {
        rs_sqlite_err(s, "busy_timeout", err, errsz);
        return false;
    }
    for (size_t i = 0; i < sizeof(pragmas) / sizeof(pragmas[0]); i++)
        if (sqlite3_exec(s->db, pragmas[i], NULL, NULL, NULL) != SQLITE_OK) {
            rs_sqlite_err(s, pragmas[i], err, errsz);
            return false;
        }
    return true;
}

rstore_t *rstore_sqlite_open(const char *path, char *err, size_t errsz)
{
    rs_sqlite *s;

    if (!rs_sqlite_create(path, err, errsz))
        return NULL;
    s = xcalloc(1, sizeof(*s));
    s->base.ops = &rs_sqlite_ops;
    if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        if (s->db != NULL)
            rs_sqlite_err(s, path, err, errsz);
        else
            snprintf(err, errsz, "sqlite: %s: out of memory", path);
        rs_sqlite_close(&s->base);
        return NULL;
    }
    if (!rs_sqlite_setup(s, err, errsz)) {
        rs_sqlite_close(&s->base);
        return NULL;
    }
    return &s->base;
}
