require ["editheader", "fileinto"];
addheader "X-Sieve-Filtered" "yes";
deleteheader "X-Mailer";
if exists "X-Mailer" {
	fileinto "MailerStillThere";
}
if header :is "X-Sieve-Filtered" "yes" {
	fileinto "Filtered";
}
deleteheader :matches "Received" "*localhost*";
if header :contains "Received" "localhost" {
	fileinto "LocalhostStillThere";
}
