require ["fileinto"];
if address :domain :is "from" ["example.com", "spamassassin.taint.org", "zzzz.example.com"] {
	fileinto "Known";
} elsif address :localpart :contains "from" ["info", "sales", "news"] {
	fileinto "Marketing";
} elsif address :all :matches ["to", "cc"] "*@*.org" {
	fileinto "Org";
}
