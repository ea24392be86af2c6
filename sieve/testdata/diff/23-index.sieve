require ["index", "date", "fileinto", "variables"];
if header :index 1 :matches "Received" "*from *" {
	fileinto "FirstHop";
}
if header :index 1 :last :contains "Received" "localhost" {
	fileinto "LastLocal";
}
if date :index 1 :zone "+0000" :matches "received" "month" "*" {
	fileinto "RcvdMonth${1}";
}
