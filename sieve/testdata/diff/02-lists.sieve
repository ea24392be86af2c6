require ["fileinto", "variables"];
if header :matches "List-Id" "*<*.*>*" {
	fileinto "Lists.${2}";
} elsif exists "List-Unsubscribe" {
	fileinto "Lists";
} elsif header :contains "Precedence" ["bulk", "list", "junk"] {
	fileinto "Bulk";
}
