#!/bin/sh
# Installs the real mail peers sluice's tests run against, from Debian.
# Does nothing when they are all present; needs root otherwise.
set -eu
pkgs="postfix dovecot-imapd dovecot-lmtpd dovecot-sieve swaks spamassassin spamc spamd python3-dkim opendkim opendkim-tools redis-server python3-spf postfix-policyd-spf-python libdbd-sqlite3-perl postgresql libdbd-pg-perl"
missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "install-peers: missing Debian packages:$missing (run as root, or install them)" >&2
	exit 1
fi
echo "install-peers: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Postfix must not get a system configuration of its own: tests run
# private instances with their own config directories.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
# The same holds for redis-server: tests start their own instances on free
# loopback ports, so whether Debian's service starts (or is refused by a
# policy-rc.d) does not matter to them.
apt-get update -q
apt-get install -y -q --no-install-recommends $missing
