require ["imap4flags"];
if header :contains "Subject" "e" {
	setflag "\\Flagged";
}
if header :contains "Subject" "a" {
	addflag ["$Important", "\\Seen"];
	keep;
}
