require ["ihave", "fileinto"];
if ihave "fileinto" {
	fileinto "HaveFileinto";
}
if ihave "x-nonexistent" {
	nonexistent_command "frob";
}
if ihave ["imap4flags", "copy"] {
	fileinto :copy "HaveBoth";
}
