require ["fileinto", "variables", "envelope"];
if anyof (header :contains "From" "taint.org", header :contains "To" "taint.org") {
	if allof (exists "In-Reply-To", not header :contains "Subject" "Re:") {
		fileinto "Threads.Odd";
	} elsif header :matches "Subject" "Re: *" {
		set "s" "${1}";
		fileinto "Threads";
	} else {
		keep;
	}
} elsif envelope :matches "from" "*@*" {
	if string :is "${2}" "example.net" { discard; }
}
