package rules

// The eval functions of SpamAssassin's DMARC plugin
// (Mail::SpamAssassin::Plugin::DMARC).

func dmarcIs(result, policy string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		a := ec.Input.Auth
		return a.DMARC == result && (policy == "" || a.DMARCPolicy == policy), nil
	}
}
