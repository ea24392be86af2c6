require ["fileinto", "relational", "comparator-i;ascii-numeric"];
if size :over 20K {
	fileinto "Big";
} elsif size :under 2K {
	fileinto "Small";
}
if header :count "ge" :comparator "i;ascii-numeric" "Received" "5" {
	fileinto "ManyHops";
}
