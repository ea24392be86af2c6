require ["imap4flags", "fileinto", "variables"];
if header :contains "Subject" ["re:", "fwd:"] {
	addflag "\\Answered";
}
if exists "X-Mailer" {
	addflag "$Mailer";
}
if header :contains "From" "@" {
	setflag "seen" "\\Seen";
	fileinto :flags "${seen}" "Flagged";
}
