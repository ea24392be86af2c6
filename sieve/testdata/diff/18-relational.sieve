require ["relational", "comparator-i;ascii-numeric", "fileinto"];
if header :value "lt" :comparator "i;ascii-numeric" "X-Priority" "3" {
	fileinto "Urgent";
}
if address :count "gt" :comparator "i;ascii-numeric" ["to", "cc"] "3" {
	fileinto "ManyRecipients";
}
if header :value "ge" "Subject" "M" {
	fileinto "SubjectSecondHalf";
}
