package rules

// spfEvals are the eval functions of SpamAssassin's SPF plugin.
func spfEvals() map[string]EvalFunc {
	return map[string]EvalFunc{
		"check_for_def_spf_welcomelist_from": evalSPFWelcome(true),
		"check_for_spf_fail":                 spfIs("SPF", "fail"),
		"check_for_spf_helo_fail":            spfIs("HELO", "fail"),
		"check_for_spf_helo_neutral":         spfIs("HELO", "neutral"),
		"check_for_spf_helo_none":            spfIs("HELO", "none"),
		"check_for_spf_helo_pass":            spfIs("HELO", "pass"),
		"check_for_spf_helo_permerror":       spfIs("HELO", "permerror"),
		"check_for_spf_helo_softfail":        spfIs("HELO", "softfail"),
		"check_for_spf_helo_temperror":       spfIs("HELO", "temperror"),
		"check_for_spf_neutral":              spfIs("SPF", "neutral"),
		"check_for_spf_none":                 spfIs("SPF", "none"),
		"check_for_spf_pass":                 spfIs("SPF", "pass"),
		"check_for_spf_permerror":            spfIs("SPF", "permerror"),
		"check_for_spf_softfail":             spfIs("SPF", "softfail"),
		"check_for_spf_temperror":            spfIs("SPF", "temperror"),
		"check_for_spf_welcomelist_from":     evalSPFWelcome(false),
		"check_for_def_spf_whitelist_from":   evalSPFWelcome(true),
		"check_for_spf_whitelist_from":       evalSPFWelcome(false),
	}
}

func spfIs(which, want string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		got := ec.Input.Auth.SPF
		if which == "HELO" {
			got = ec.Input.Auth.SPFHelo
		}
		return got == want, nil
	}
}

// evalSPFWelcome: a sender on the (default) SPF welcomelist, with SPF pass.
func evalSPFWelcome(def bool) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		if ec.Input.Auth.SPF != "pass" {
			return false, nil
		}
		list := ec.Config.WelcomelistSPF
		if def {
			list = ec.Config.DefWelcomelistSPF
		}
		for _, a := range ec.senders() {
			for _, e := range list {
				if globMatch(e.Addr, a) {
					return true, nil
				}
			}
		}
		return false, nil
	}
}
