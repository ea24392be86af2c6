require ["include", "variables", "fileinto"];
global "tag";
if header :contains "Subject" "a" {
	set "tag" "a";
}
if string :is "${tag}" "a" {
	fileinto "Tag-a";
}
return;
