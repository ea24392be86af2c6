require ["copy", "fileinto"];
if header :contains "Subject" ["money", "free", "!!"] {
	redirect :copy "review@example.org";
}
if address :domain :contains "from" "yahoo" {
	fileinto :copy "Yahoo";
}
