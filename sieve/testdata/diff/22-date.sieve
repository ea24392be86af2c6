require ["date", "fileinto", "variables", "relational"];
if date :zone "+0000" :matches "date" "year" "*" {
	fileinto "Year${1}";
}
if date :zone "+0000" :value "lt" "date" "hour" "06" {
	fileinto "Night";
}
if date :originalzone :matches "date" "zone" "*" {
	fileinto "Zone${1}";
}
if date :zone "+0000" :is "date" "weekday" ["0", "6"] {
	fileinto "Weekend";
}
