require ["foreverypart", "mime", "extracttext", "variables", "fileinto"];
foreverypart {
	if header :mime :type "Content-Type" "text" {
		extracttext :first 40 :lower "t";
		if string :contains "${t}" "click" {
			fileinto "ClickText";
			break;
		}
	}
}
