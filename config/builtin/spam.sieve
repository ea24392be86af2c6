# sluice's built-in sieve_before script: mail the rule engine flagged as
# spam goes to the Spam folder, created on demand. Set [sieve] spam_folder
# to change the folder, or to "" to turn this script off.
require ["fileinto", "mailbox"];
if header :is "X-Spam-Flag" "YES" {
	fileinto :create "${spam_folder}";
	stop;
}
