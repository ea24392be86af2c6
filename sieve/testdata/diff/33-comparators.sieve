require ["fileinto", "comparator-i;ascii-numeric"];
if header :is :comparator "i;octet" "Subject" "Re: " {
	fileinto "Octet";
}
if header :contains :comparator "i;ascii-casemap" "From" "EXAMPLE" {
	fileinto "Casemap";
}
if header :is :comparator "i;ascii-numeric" "X-Spam-Score" "7" {
	fileinto "Seven";
}
