require ["imap4flags", "variables", "fileinto", "relational", "comparator-i;ascii-numeric"];
addflag "flags" ["A", "B"];
addflag "flags" "C";
removeflag "flags" "B";
if hasflag :count "eq" :comparator "i;ascii-numeric" "flags" "2" {
	fileinto :flags "${flags}" "TwoFlags";
}
if hasflag :is "flags" "b" {
	fileinto "HasB";
}
