require ["mime", "fileinto"];
if header :mime :type "Content-Type" "multipart" {
	fileinto "Multipart";
}
if header :mime :anychild :subtype "Content-Type" "html" {
	fileinto "HasHtml";
}
if exists :mime :anychild "Content-Disposition" {
	fileinto "HasDisposition";
}
if header :mime :anychild :param "charset" "Content-Type" "iso-8859-1" {
	fileinto "Latin1";
}
