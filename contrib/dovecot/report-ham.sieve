# A message was copied or moved out of Spam: learn it as ham for the user
# who did it, unless it went to Trash (imapsieve_mailbox2 in
# 90-sieve-learn.conf).
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

if environment :matches "imap.mailbox" "*" {
  set "mailbox" "${1}";
}

if string "${mailbox}" "Trash" {
  stop;
}

if environment :matches "imap.user" "*" {
  set "username" "${1}";
}

pipe :copy "learn-ham.sh" [ "${username}" ];
