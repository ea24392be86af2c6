package rules

// The eval functions of SpamAssassin's WLBLEval plugin
// (Mail::SpamAssassin::Plugin::WLBLEval).

import (
	"net/netip"
	"strings"
)

func evalFromInList(list func(*Config) []string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		return anyGlob(list(ec.Config), ec.senders()), nil
	}
}

func evalToInList(list func(*Config) []string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		return anyGlob(list(ec.Config), ec.recipients()), nil
	}
}

func evalAddrList(header string) EvalFunc {
	return func(ec *EvalContext, args []string) (bool, error) {
		return anyGlob(ec.Config.AddrLists[arg(args, 0)], ec.addrs(header)), nil
	}
}

// uriHosts returns the distinct hosts of the message's URIs that
// get_uri_detail_list records (mailto: URIs left out, as WLBLEval's
// _check_uri_host_listed does): an IPv4 address, an address literal, or a
// dotted name ending in a known TLD.
func uriHosts(ec *EvalContext) []string {
	return memo(ec, "uri_hosts", func() []string {
		var out []string
		seen := map[string]bool{}
		for _, u := range ec.Msg.URIs() {
			if len(u) >= 7 && strings.EqualFold(u[:7], "mailto:") {
				continue
			}
			h := u
			if i := strings.Index(h, "://"); i >= 0 {
				h = h[i+3:]
			}
			if i := strings.IndexAny(h, "/?#"); i >= 0 {
				h = h[:i]
			}
			if i := strings.LastIndexByte(h, '@'); i >= 0 {
				h = h[i+1:]
			}
			if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h, "]") {
				h = h[:i]
			}
			h = strings.ToLower(h)
			if h == "" || seen[h] || !uriHostValid(ec.Config, h) {
				continue
			}
			seen[h] = true
			out = append(out, h)
		}
		return out
	})
}

// uriHostValid reports a host RegistryBoundaries' uri_to_domain accepts.
func uriHostValid(c *Config, h string) bool {
	if strings.HasPrefix(h, "[") || isIPv4(h) {
		return true
	}
	i := strings.LastIndexByte(h, '.')
	if i <= 0 || i == len(h)-1 {
		return false
	}
	return len(c.TLDs) == 0 || c.TLDs[h[i+1:]]
}

// hostInList is WLBLEval's lookup of a host in an enlist_uri_host list:
// the host, then each parent domain (at most the last 11 names), the
// first listed one deciding; an entry written "!name" unlists it. An
// address literal or IPv4 address is looked up as is.
func hostInList(host string, list []string) bool {
	keys := []string{strings.Trim(host, "[]")}
	if !strings.HasPrefix(host, "[") && !isIPv4(host) {
		keys = keys[:0]
		for h := host; ; {
			if len(keys) > 10 {
				keys = keys[1:]
			}
			keys = append(keys, h)
			i := strings.IndexByte(h, '.')
			if i < 0 {
				break
			}
			h = h[i+1:]
		}
	}
	for _, k := range keys {
		for _, e := range list {
			neg := strings.HasPrefix(e, "!")
			if strings.EqualFold(strings.TrimPrefix(e, "!"), k) {
				return !neg
			}
		}
	}
	return false
}

func evalURIHostIn(list func(*Config) []string) EvalFunc {
	return func(ec *EvalContext, _ []string) (bool, error) {
		for _, h := range uriHosts(ec) {
			if hostInList(h, list(ec.Config)) {
				return true, nil
			}
		}
		return false, nil
	}
}

func evalURIHostListed(ec *EvalContext, args []string) (bool, error) {
	list := ec.Config.URIHostLists[arg(args, 0)]
	for _, h := range uriHosts(ec) {
		if hostInList(h, list) {
			return true, nil
		}
	}
	return false, nil
}

// RcvdEntry is one welcomelist_from_rcvd (or def_) line: a sender glob
// and the relay it must have come through, an rDNS domain or a
// "[IP]", "[IP]/LEN" or classful "[A.B.C]" address.
type RcvdEntry struct {
	Addr, Relay string
}

// welcomeState is WLBLEval's from_in_(default_)welcomelist: 1 listed,
// -1 the address is listed but came through another relay (a forgery,
// unless welcomelist_allows_relays exempts it), 0 not listed.
func welcomeState(ec *EvalContext, def bool) int {
	key := "from_in_welcomelist"
	if def {
		key = "from_in_default_welcomelist"
	}
	return memo(ec, key, func() int {
		c := ec.Config
		list := c.WelcomelistRcvd
		if def {
			list = c.DefWelcomelistRcvd
		}
		found := 0
		for _, a := range ec.senders() {
			if !def && anyGlob(c.WelcomelistFrom, []string{a}) {
				return 1
			}
			switch welcomeRcvd(ec, list, a) {
			case 1:
				return 1
			case -1:
				found = -1
			}
		}
		return found
	})
}

// welcomeRcvd is _check_welcomelist_rcvd: addr against list, through the
// first untrusted relay, or every trusted one when none is untrusted
// (never the trusted ones past an untrusted relay: a forger can write
// those).
func welcomeRcvd(ec *EvalContext, list []RcvdEntry, addr string) int {
	rl := relaysFor(ec)
	via := rl.Trusted
	if len(rl.Untrusted) > 0 {
		via = rl.Untrusted[:1]
	}
	if len(via) == 0 {
		return 0
	}
	forged := 0
	for _, e := range list {
		if !globMatch(e.Addr, addr) {
			continue
		}
		for _, r := range via {
			if relayMatches(e.Relay, r.IP, r.RDNS) {
				return 1
			}
		}
		forged = -1
	}
	if forged != 0 && anyGlob(ec.Config.WelcomelistAllowsRelays, []string{addr}) {
		forged = 0
	}
	return forged
}

// relayMatches reports whether a relay with address ip and reverse name
// rdns is the one a welcomelist_from_rcvd entry names.
func relayMatches(want, ip, rdns string) bool {
	if !strings.HasPrefix(want, "[") {
		rdns = strings.ToLower(rdns)
		want = strings.ToLower(want)
		return rdns != "" && (rdns == want || strings.HasSuffix(rdns, "."+want))
	}
	end := strings.IndexByte(want, ']')
	if end < 0 || ip == "" {
		return false
	}
	wl := want[1:end] + want[end+1:] // "[1.2.3.0]/24" → "1.2.3.0/24"
	if a, err := netip.ParseAddr(wl); err == nil && a.Is4() {
		return wl == ip
	}
	if classful(wl) {
		return strings.HasPrefix(ip, strings.TrimRight(wl, ".")+".")
	}
	rip, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	if !strings.Contains(wl, "/") {
		a, err := netip.ParseAddr(wl)
		return err == nil && a.Unmap() == rip.Unmap()
	}
	pfx, err := netip.ParsePrefix(wl)
	return err == nil && pfx.Masked().Contains(rip.Unmap())
}

// classful reports an IPv4 prefix written as its leading octets ("10.",
// "192.168.1").
func classful(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < '0' || s[i] > '9') && s[i] != '.' {
			return false
		}
	}
	return true
}

func evalFromInWelcomelist(ec *EvalContext, _ []string) (bool, error) {
	return welcomeState(ec, false) > 0, nil
}

func evalFromInDefaultWelcomelist(ec *EvalContext, _ []string) (bool, error) {
	return welcomeState(ec, true) > 0, nil
}

func evalForgedInWelcomelist(ec *EvalContext, _ []string) (bool, error) {
	return welcomeState(ec, false) < 0 && welcomeState(ec, true) == 0, nil
}

func evalForgedInDefaultWelcomelist(ec *EvalContext, _ []string) (bool, error) {
	return welcomeState(ec, true) < 0 && welcomeState(ec, false) == 0, nil
}
