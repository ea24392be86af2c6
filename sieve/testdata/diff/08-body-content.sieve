require ["body", "fileinto"];
if body :content "text/html" :contains "<a href" {
	fileinto "HtmlLinks";
} elsif body :content "text" :matches "*http://*" {
	fileinto "TextLinks";
}
