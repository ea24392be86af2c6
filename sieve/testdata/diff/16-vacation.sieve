require ["vacation"];
if not header :contains "Precedence" ["bulk", "list"] {
	vacation :days 5 :subject "Out of office" :addresses ["user@example.org", "alias@example.org"] "I am away until Monday.";
}
