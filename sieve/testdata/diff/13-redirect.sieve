if header :contains "To" "zzzz" {
	redirect "archive@example.org";
	redirect "archive@example.org";
	redirect "backup@example.org";
}
