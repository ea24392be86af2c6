require ["spamtest", "relational", "comparator-i;ascii-numeric", "fileinto", "variables"];
if spamtest :value "ge" :comparator "i;ascii-numeric" "6" {
	fileinto "Junk";
} elsif spamtest :matches "*" {
	fileinto "Score${1}";
}
