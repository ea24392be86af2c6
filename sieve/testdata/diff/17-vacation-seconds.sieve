require ["vacation-seconds", "variables"];
if header :matches "Subject" "*" {
	vacation :seconds 172800 :from "user@example.org" :handle "ooo" "Re: ${1}";
}
