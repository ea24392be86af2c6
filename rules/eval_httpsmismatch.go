package rules

// The eval function of SpamAssassin's HTTPSMismatch plugin
// (Mail::SpamAssassin::Plugin::HTTPSMismatch).

import (
	"net/netip"
	"regexp"
	"strings"
)

var (
	httpHostRE  = regexp.MustCompile(`(?i)^https?://([^/:?#]+)`)
	httpsTextRE = regexp.MustCompile(`(?i)https://([^\s/:?#]+)`)
)

// check_https_http_mismatch(min, max): in one HTML part, an <a> whose
// text shows an https:// host whose registrable domain differs from
// that of the http(s) link it points to, with the part's count of
// distinct linked hrefs that carry anchor text in [min, max) (IP
// addresses on either side are left out).
func evalHTTPSHTTPMismatch(ec *EvalContext, args []string) (bool, error) {
	lo := argFloat(args, 0, 0)
	if lo == 0 {
		lo = 1
	}
	hi := argFloat(args, 1, -1)
	for _, h := range htmlAll(ec) {
		texts := map[string][]string{}
		var keys []string
		anchors := h.Text["anchor"]
		for i, k := range h.AnchorHrefs {
			if i >= len(anchors) {
				break
			}
			if _, ok := texts[k]; !ok {
				keys = append(keys, k)
			}
			texts[k] = append(texts[k], anchors[i])
		}
		hit, n := false, 0
		for _, k := range keys {
			m := httpHostRE.FindStringSubmatch(k)
			if m == nil || isIPAddr(m[1]) {
				continue
			}
			link, ok := mismatchDomain(ec.Config, m[1])
			if !ok {
				continue
			}
			n++
			for _, t := range texts[k] {
				tm := httpsTextRE.FindStringSubmatch(t)
				if tm == nil {
					continue
				}
				shown := tm[1]
				if !isIPAddr(shown) {
					if shown, ok = mismatchDomain(ec.Config, shown); !ok {
						continue
					}
				}
				if shown != link {
					hit = true
					break
				}
			}
		}
		if hit && float64(n) >= lo && (hi < 0 || float64(n) < hi) {
			return true, nil
		}
	}
	return false, nil
}

// mismatchDomain is RegistryBoundaries' trim_domain with its
// is_domain_valid check.
func mismatchDomain(c *Config, host string) (string, bool) {
	d := RegistrableDomain(strings.ToLower(host), c.TLDs, c.TwoLevelTLDs)
	i := strings.LastIndexByte(d, '.')
	if i <= 0 || i == len(d)-1 || (len(c.TLDs) > 0 && !c.TLDs[d[i+1:]]) {
		return "", false
	}
	return d, true
}

func isIPAddr(s string) bool {
	_, err := netip.ParseAddr(strings.Trim(s, "[]"))
	return err == nil
}
