package rules

// The eval functions of SpamAssassin's SPF plugin
// (Mail::SpamAssassin::Plugin::SPF).

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
