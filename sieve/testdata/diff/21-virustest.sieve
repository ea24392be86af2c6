require ["virustest", "relational", "comparator-i;ascii-numeric", "fileinto", "variables"];
if virustest :value "eq" :comparator "i;ascii-numeric" "5" {
	discard;
	stop;
}
if virustest :matches "*" {
	fileinto "Virus${1}";
}
