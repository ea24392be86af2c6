package rules

// dmarcEvals are the eval functions of SpamAssassin's DMARC plugin.
func dmarcEvals() map[string]EvalFunc {
	return map[string]EvalFunc{
		"check_dmarc_missing":    dmarcIs("none", ""),
		"check_dmarc_none":       dmarcIs("fail", "none"),
		"check_dmarc_pass":       dmarcIs("pass", ""),
		"check_dmarc_quarantine": dmarcIs("fail", "quarantine"),
		"check_dmarc_reject":     dmarcIs("fail", "reject"),
	}
}

func dmarcIs(result, policy string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		a := ec.Input.Auth
		return a.DMARC == result && (policy == "" || a.DMARCPolicy == policy), nil
	}
}
