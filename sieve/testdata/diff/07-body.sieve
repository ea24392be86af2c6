require ["body", "fileinto"];
if body :text :contains ["viagra", "mortgage", "click here", "unsubscribe"] {
	fileinto "BodyMatch";
}
if body :raw :contains "=3D" {
	fileinto "QuotedPrintable";
}
