package rules

// The eval functions of SpamAssassin's TextCat plugin
// (Mail::SpamAssassin::Plugin::TextCat).

// check_body_8bits: eight bytes in a row with the high bit set in the body
// text, where ok_locales does not allow every charset.
func evalBody8Bits(ec *EvalContext, _ []string) (bool, error) {
	if ec.Config.OKLocales == "all" {
		return false, nil
	}
	for _, p := range bodyText(ec) {
		run := 0
		for _, c := range p {
			if c >= 0x80 {
				if run++; run >= 8 {
					return true, nil
				}
			} else {
				run = 0
			}
		}
	}
	return false, nil
}
