# The embedded sieve_before default: file X-Spam-Flag: YES into Spam.
require ["fileinto", "mailbox", "imap4flags"];
if header :is "X-Spam-Flag" "YES" {
	addflag "\\Seen";
	fileinto :create "Spam";
	stop;
}
