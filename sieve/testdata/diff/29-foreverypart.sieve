require ["foreverypart", "mime", "fileinto", "variables"];
set "n" "";
foreverypart {
	set "n" "${n}x";
	if header :mime :contenttype "Content-Type" "application/octet-stream" {
		fileinto "Binary";
		break;
	}
}
if string :is "${n}" "xxx" {
	fileinto "ThreeParts";
}
