# A message was copied or moved into Spam: learn it as spam for the user
# who did it (imapsieve_mailbox1 in 90-sieve-learn.conf).
require ["vnd.dovecot.pipe", "copy", "imapsieve", "environment", "variables"];

if environment :matches "imap.user" "*" {
  set "username" "${1}";
}

pipe :copy "learn-spam.sh" [ "${username}" ];
