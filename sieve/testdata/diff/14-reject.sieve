require ["reject"];
if header :contains "Subject" ["ADV", "$$$"] {
	reject "Your message was refused.";
	stop;
}
