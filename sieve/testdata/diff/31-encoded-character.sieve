require ["encoded-character", "fileinto"];
if header :contains "Subject" "${hex:46 52 45 45}" {
	fileinto "${unicode:46}ree";
}
