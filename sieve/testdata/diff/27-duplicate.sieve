require ["duplicate", "fileinto"];
if duplicate {
	fileinto "Duplicate";
}
if duplicate :header "Subject" :seconds 3600 {
	fileinto "DupSubject";
}
