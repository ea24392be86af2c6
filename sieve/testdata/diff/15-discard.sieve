if anyof (header :contains "Subject" "porn", not exists "Date") {
	discard;
	stop;
}
if allof (exists "Message-ID", header :matches "Message-ID" "<*@*>") {
	keep;
}
