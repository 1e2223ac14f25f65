/*
 * privs.c - least privilege for the daemon: refuse root without a user,
 * the unix socket's mode and group, the change to the configured user.
 *
 * SECURITY: mxguard parses hostile input (SMTP, DNS) in-process, partly
 * with third-party parsers (libspf2, libopendkim).  It must not do so as
 * root: started as root it needs a user to change to, unless the
 * configuration says allow_root = true explicitly.  The socket is created
 * under umask 007 (never wider than 0770 before its mode is set) and then
 * given exactly socket_mode.
 */
#include "config.h"

#include <errno.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "privs.h"

bool privs_check_root(const conf_t *c, const struct passwd *pw, uid_t euid, char *err, size_t errlen)
{
    if (euid != 0 || c->allow_root || (pw != NULL && pw->pw_uid != 0))
        return true;
    if (pw == NULL)
        snprintf(err, errlen,
                 "%s: refusing to run as root without a user: set user = \"mxguard\"; (an unprivileged "
                 "user to change to after opening the socket), or allow_root = true; to run as root",
                 c->path);
    else
        snprintf(err, errlen,
                 "%s: refusing to run as root: user \"%s\" has uid 0; set an unprivileged user, or "
                 "allow_root = true; to run as root",
                 c->path, pw->pw_name);
    return false;
}

/* The path of a unix socket, or NULL. */
static const char *privs_socket_path(const char *conn)
{
    if (strncmp(conn, "unix:", 5) == 0)
        return conn + 5;
    if (strncmp(conn, "local:", 6) == 0)
        return conn + 6;
    return NULL;
}

bool privs_socket(const conf_t *c, const struct passwd *pw, char *err, size_t errlen)
{
    const char *path = privs_socket_path(c->socket);
    uid_t uid = (uid_t)-1;
    gid_t gid = (gid_t)-1;

    if (path == NULL)
        return true;
    if (chmod(path, (mode_t)c->socket_mode) != 0) {
        snprintf(err, errlen, "cannot set mode %04o on %s: %s", c->socket_mode, path, strerror(errno));
        return false;
    }
    if (c->socket_group) {
        const struct group *gr = getgrnam(c->socket_group);
        if (gr == NULL) {
            snprintf(err, errlen, "socket_group %s: no such group", c->socket_group);
            return false;
        }
        gid = gr->gr_gid;
    } else if (pw) {
        gid = pw->pw_gid;
    }
    if (pw && geteuid() != pw->pw_uid)
        uid = pw->pw_uid;
    if (uid == (uid_t)-1 && (gid == (gid_t)-1 || gid == getegid()))
        return true; /* already ours (created as that user: systemd's User=) */
    if (chown(path, uid, gid) != 0) {
        if (c->socket_group) {
            snprintf(err, errlen, "cannot give %s to group %s: %s", path, c->socket_group, strerror(errno));
            return false;
        }
        log_warn("cannot chown %s to %s: %s", path, pw->pw_name, strerror(errno));
    }
    return true;
}

void privs_drop(const struct passwd *pw)
{
    /* Already that user (systemd's User=, whose syscall filter refuses
     * set*id even when they would change nothing): nothing to drop. */
    if (getuid() == pw->pw_uid && geteuid() == pw->pw_uid && getgid() == pw->pw_gid && getegid() == pw->pw_gid)
        return;
    if (setgroups(0, NULL) != 0 && errno != EPERM)
        log_fatal("setgroups: %s", strerror(errno));
    if (initgroups(pw->pw_name, pw->pw_gid) != 0 && errno != EPERM)
        log_fatal("initgroups %s: %s", pw->pw_name, strerror(errno));
    if (setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)
        log_fatal("cannot change to user %s: %s", pw->pw_name, strerror(errno));
    if (pw->pw_uid != 0 && setuid(0) == 0)
        log_fatal("privileges were not dropped");
}
