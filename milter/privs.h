/*
 * privs.h - least privilege for the daemon (main.c): the refusal to run as
 * root without a user, the unix socket's mode and group, the change to the
 * configured user.
 *
 * Order in main.c: privs_check_root() before the socket is opened,
 * privs_socket() right after engine_new() opened the socket, privs_drop() after daemon()
 * and the pidfile, before any mail is read.
 */
#ifndef MXG_PRIVS_H
#define MXG_PRIVS_H

#include <pwd.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "conf.h"

/* Would a process with effective uid euid run as root with this config?
 * pw is the configured user (NULL: none).  True when it may start: euid is
 * not 0, or the user is not root (uid 0), or allow_root is set.  Otherwise
 * false, with the reason and the fix in err. */
bool privs_check_root(const conf_t *c, const struct passwd *pw, uid_t euid, char *err, size_t errlen);

/* Give a unix socket (c->socket "unix:" / "local:") its mode (socket_mode)
 * and owner: the user pw (when set) and socket_group, else pw's group.
 * Nothing for inet sockets.  False with the reason in err when the
 * configured mode or group cannot be applied (the caller stops); failing
 * to hand the socket to pw when no socket_group is set is only logged. */
bool privs_socket(const conf_t *c, const struct passwd *pw, char *err, size_t errlen);

/* Change to pw's uid, gid and supplementary groups for good (log_fatal on
 * failure, including when root could be regained).  Nothing when the
 * process already is that user (systemd's User=). */
void privs_drop(const struct passwd *pw);

#endif
