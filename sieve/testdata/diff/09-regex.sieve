require ["regex", "variables", "fileinto"];
if header :regex "subject" "([0-9]+)%" {
	fileinto "Percent.${1}";
}
if address :regex :localpart "from" "^[a-z]+[0-9]{2,}$" {
	fileinto "DigitsSender";
}
if header :regex :comparator "i;octet" "Message-ID" "@([A-Za-z0-9.-]+)>$" {
	set :lower "host" "${1}";
	if string :contains "${host}" "spamassassin" { fileinto "SAHost"; }
}
