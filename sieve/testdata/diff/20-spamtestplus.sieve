require ["spamtestplus", "relational", "comparator-i;ascii-numeric", "fileinto", "variables"];
if spamtest :percent :value "gt" :comparator "i;ascii-numeric" "50" {
	fileinto "Junk";
}
if spamtest :percent :matches "*" {
	fileinto "Pct${1}";
}
