# mxguard-conf.sed - turns conf/mxguard.conf into the packaged
# /etc/mxguard/mxguard.conf (debian/rules): the config path, the socket in
# Postfix's chroot, and the user set.
s|/etc/mxguard\.conf|/etc/mxguard/mxguard.conf|g
/^# Where Postfix reaches the milter/,/^socket = /{
  s|^socket = .*|socket = "unix:/var/spool/postfix/mxguard/mxguard.sock";|
  s|^# Where Postfix reaches the milter.*|# Where Postfix reaches the milter: inside its chroot (/var/spool/postfix),\n# created by the package (mxguard:postfix, mode 2750: the socket inherits\n# group postfix).  In /etc/postfix/main.cf (see README.Debian):\n#   smtpd_milters = unix:mxguard/mxguard.sock|
  /^# or, for a chrooted smtpd/d
}
s|^#user = "mxguard";|user = "mxguard";|
s|^# unset under the systemd unit (mxguard.service), which runs as mxguard.|# set: the systemd unit already runs as mxguard, so nothing changes there.|
