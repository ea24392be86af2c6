package rules

// The eval functions of SpamAssassin's DKIM plugin
// (Mail::SpamAssassin::Plugin::DKIM).

import (
	"strings"
)

// check_dkim_signed: a signature is present. As in SpamAssassin, this
// is known only once the signatures were looked at, which needs DNS: with
// the auth checks off (spamassassin -L, sluice check -dns off) it never
// fires.
func evalDKIMSigned(ec *EvalContext, _ []string) (bool, error) {
	return ec.Input.Auth.DKIMAny, nil
}

// check_dkim_valid([domain...])
func evalDKIMValid(ec *EvalContext, args []string) (bool, error) {
	doms := ec.Input.Auth.DKIMDomains
	if len(args) == 0 {
		return len(doms) > 0, nil
	}
	for _, d := range doms {
		for _, a := range args {
			if strings.EqualFold(d, a) {
				return true, nil
			}
		}
	}
	return false, nil
}

// check_dkim_valid_author_sig: a valid signature by the From domain.
func evalDKIMAuthor(ec *EvalContext, _ []string) (bool, error) {
	from := ec.addrs("From")
	if len(from) == 0 {
		return false, nil
	}
	fd := from[0][strings.LastIndexByte(from[0], '@')+1:]
	for _, d := range ec.Input.Auth.DKIMDomains {
		if strings.EqualFold(d, fd) {
			return true, nil
		}
	}
	return false, nil
}

func domainOf(addr string) string { return addr[strings.LastIndexByte(addr, '@')+1:] }

// evalDKIMWelcome: a From address on the (default) DKIM welcomelist whose
// listed signer — or its own domain — signed the message validly.
func evalDKIMWelcome(def bool) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		list := ec.Config.WelcomelistDKIM
		if def {
			list = ec.Config.DefWelcomelistDKIM
		}
		for _, a := range ec.addrs("From") {
			for _, e := range list {
				if !globMatch(e.Addr, a) {
					continue
				}
				signer := e.Signer
				if signer == "" {
					signer = domainOf(a)
				}
				for _, d := range ec.Input.Auth.DKIMDomains {
					d = strings.ToLower(d)
					if d == signer || strings.HasSuffix(signer, "."+d) {
						return true, nil
					}
				}
			}
		}
		return false, nil
	}
}

// check_dkim_valid_envelopefrom: a valid signature by the envelope sender's domain.
func evalDKIMEnvFrom(ec *EvalContext, _ []string) (bool, error) {
	env := ec.addrs("EnvelopeFrom")
	if len(env) == 0 {
		return false, nil
	}
	for _, d := range ec.Input.Auth.DKIMDomains {
		if strings.EqualFold(d, domainOf(env[0])) {
			return true, nil
		}
	}
	return false, nil
}
