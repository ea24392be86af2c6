package rules

// The eval functions of SpamAssassin's FromNameSpoof plugin
// (Mail::SpamAssassin::Plugin::FromNameSpoof).

import (
	"regexp"
	"strings"

	"github.com/sluice-mail/sluice/mail"
)

func fromName(ec *EvalContext) string {
	for _, v := range ec.Msg.Header("From", true) {
		for _, n := range mail.HeaderName(v, false) {
			return strings.ToLower(strings.TrimSpace(n))
		}
	}
	return ""
}

func evalFromNameEqualsTo(ec *EvalContext, _ []string) (bool, error) {
	n := fromName(ec)
	for _, a := range ec.addrs("To") {
		if n != "" && strings.Contains(n, a) {
			return true, nil
		}
	}
	return false, nil
}

func evalFromNameEqualsReplyTo(ec *EvalContext, _ []string) (bool, error) {
	n := fromName(ec)
	from := ec.addrs("From")
	for _, a := range ec.addrs("Reply-To") {
		if n != "" && strings.Contains(n, a) && (len(from) == 0 || from[0] != a) {
			return true, nil
		}
	}
	return false, nil
}

var (
	urlWithAtRE    = regexp.MustCompile(`<?https?://\S{0,255}(?:@|%40)\S{0,255}`)
	bracketEmailRE = regexp.MustCompile(`<[\w.+-]+@[\w-]+(?:\.[\w-]+)+>`)
)

// check_fromname_spoof: the From display name holds an address whose
// domain differs from the From address's domain.
func evalFromNameSpoof(ec *EvalContext, _ []string) (bool, error) {
	n := fromName(ec)
	from := ec.addrs("From")
	m := regexp.MustCompile(`[\w.+-]+@([\w-]+(?:\.[\w-]+)+)`).FindStringSubmatch(n)
	if m == nil || len(from) == 0 {
		return false, nil
	}
	c := ec.Config
	fd := RegistrableDomain(from[0][strings.LastIndexByte(from[0], '@')+1:], c.TLDs, c.TwoLevelTLDs)
	return RegistrableDomain(m[1], c.TLDs, c.TwoLevelTLDs) != fd, nil
}
