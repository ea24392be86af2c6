package rules

// The eval functions of SpamAssassin's WLBLEval plugin
// (Mail::SpamAssassin::Plugin::WLBLEval).

import (
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

// uriHosts returns the lower-cased host names of the message's URIs.
func uriHosts(ec *EvalContext) []string {
	return memo(ec, "uri_hosts", func() []string {
		var out []string
		for _, u := range ec.Msg.URIs() {
			h := u
			if i := strings.Index(h, "://"); i >= 0 {
				h = h[i+3:]
			} else if strings.HasPrefix(strings.ToLower(h), "mailto:") {
				h = h[strings.LastIndexByte(h, '@')+1:]
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
			if h != "" {
				out = append(out, strings.ToLower(h))
			}
		}
		return out
	})
}

// hostInList reports whether host or one of its parent domains is listed
// (entries starting with ! exclude).
func hostInList(host string, list []string) bool {
	listed := false
	for _, e := range list {
		neg := strings.HasPrefix(e, "!")
		e = strings.TrimPrefix(e, "!")
		if host == e || strings.HasSuffix(host, "."+e) {
			if neg {
				return false
			}
			listed = true
		}
	}
	return listed
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
