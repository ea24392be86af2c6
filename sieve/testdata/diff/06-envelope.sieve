require ["envelope", "fileinto", "subaddress"];
if envelope :detail "to" "lists" {
	fileinto "ViaDetail";
}
if envelope :domain :is "from" "example.net" {
	fileinto "FromNet";
}
if envelope :user :is "to" "user" {
	keep;
}
