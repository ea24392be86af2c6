require ["fileinto", "variables", "relational", "comparator-i;ascii-numeric"];
if header :matches "Subject" "[*] *" {
	set :lower "tag" "${1}";
	fileinto "Tagged.${tag}";
	stop;
}
if header :matches "Subject" "*" {
	set :length "len" "${1}";
	if string :value "gt" :comparator "i;ascii-numeric" "${len}" "60" {
		fileinto "LongSubject";
	}
}
