#!/bin/sh
# report-ham.sieve runs this with the IMAP user as $1 and the message on
# stdin (Pigeonhole's vnd.dovecot.pipe), as the user's mail uid.
SLUICE=/usr/local/bin/sluice
CONFIG=/etc/sluice/sluice.toml
exec "$SLUICE" learn -config "$CONFIG" -ham -user "$1" -
