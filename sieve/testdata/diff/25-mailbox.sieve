require ["mailbox", "fileinto"];
if mailboxexists "INBOX" {
	fileinto :create "Checked";
}
if not mailboxexists "Nonexistent" {
	fileinto :create "Created.Folder";
}
