require ["enotify", "variables", "relational"];
if header :matches "Subject" "*" {
	set :encodeurl "s" "${1}";
}
if header :contains "From" ["@", "example"] {
	if valid_notify_method "mailto:alerts@example.org" {
		notify :importance "1" :message "Mail from ${1}" "mailto:alerts@example.org?subject=Alert";
	}
}
if size :over 10K {
	notify :from "user@example.org" "mailto:big@example.org%2cbig2@example.org?cc=big@example.org";
}
if notify_method_capability "mailto:x@example.org" "online" "maybe" {
	notify "mailto:online@example.org";
}
