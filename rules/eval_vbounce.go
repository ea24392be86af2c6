package rules

// The eval functions of SpamAssassin's VBounce plugin
// (Mail::SpamAssassin::Plugin::VBounce): a bounce that quotes a Received
// field of one of the site's outbound relays (welcomelist_bounce_relays)
// answers mail the site really sent.

import (
	"bytes"
	"regexp"
	"strings"
)

var (
	bounceRcvdRE     = regexp.MustCompile(`(?i)^[> ]*Received:`)
	bounceRelayRE    = regexp.MustCompile(` ([^\s]+\.[^\s]+) `)
	bounceRelayWSRE  = regexp.MustCompile(`\s([^\s]+\.[^\s]+)\s`)
	bounceReceivedRE = regexp.MustCompile(`(?i)Received:`)
)

// have_any_bounce_relays(): welcomelist_bounce_relays lists a relay.
func evalHaveBounceRelays(ec *EvalContext, _ []string) (bool, error) {
	return len(ec.Config.WelcomelistBounceRelays) > 0, nil
}

// check_welcomelist_bounce_relays() (and check_whitelist_bounce_relays):
// a Received line quoted in the body, or in the raw body (an attached
// message/rfc822 or its header), names a host of
// welcomelist_bounce_relays. As VBounce.pm: body paragraphs starting
// "Received:" (after any quoting) are searched for " host.name ", then
// the raw body's lines from the first Received line on, continuation
// lines joined without their newlines, for whitespace-delimited names.
func evalWelcomelistBounceRelays(ec *EvalContext, _ []string) (bool, error) {
	list := ec.Config.WelcomelistBounceRelays
	if len(list) == 0 {
		return false, nil
	}
	listed := func(ms [][]string) bool {
		for _, m := range ms {
			if anyGlob(list, []string{strings.ToLower(m[1])}) {
				return true
			}
		}
		return false
	}
	for _, p := range ec.Msg.Body() {
		if bounceRcvdRE.Match(p) && listed(bounceRelayRE.FindAllStringSubmatch(string(p), -1)) {
			return true, nil
		}
	}
	body := pristineBody(ec.Msg.Full())
	if !bounceReceivedRE.Match(body) {
		return false, nil
	}
	found, full := false, ""
	for _, line := range strings.Split(string(body), "\n") {
		if !found {
			if !bounceRcvdRE.MatchString(line) {
				continue
			}
			found = true
		}
		if line != "" && (line[0] == ' ' || line[0] == '\t' || line[0] == '\r' || line[0] == '\f') {
			full += line
		} else {
			full = line
		}
		if bounceRcvdRE.MatchString(full) && listed(bounceRelayWSRE.FindAllStringSubmatch(full, -1)) {
			return true, nil
		}
	}
	return false, nil
}

// pristineBody is the raw message after its header (get_pristine_body).
func pristineBody(full []byte) []byte {
	i := bytes.Index(full, []byte("\n\n"))
	j := bytes.Index(full, []byte("\r\n\r\n"))
	switch {
	case j >= 0 && (i < 0 || j < i):
		return full[j+4:]
	case i >= 0:
		return full[i+2:]
	}
	return nil
}
