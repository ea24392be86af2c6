package sieve

import (
	"strconv"
)

// spamtestSpecs registers the commands and tests of spamtest.
func spamtestSpecs(add func(*spec)) {
	// RFC 5235 spamtest, spamtestplus and virustest.
	add(&spec{name: "spamtest", test: true, ext: "spamtest", tags: matchingTags(
		tagDef{name: "percent", param: noParam, ext: "spamtestplus"}),
		pos: []posDef{{typ: argString, name: "value"}}, eval: evalSpamtest("spamtest")})
	add(&spec{name: "virustest", test: true, ext: "virustest", tags: matchingTags(),
		pos: []posDef{{typ: argString, name: "value"}}, eval: evalSpamtest("virustest")})
}

func evalSpamtest(which string) func(r *run, n *node) (bool, error) {
	return func(r *run, n *node) (bool, error) {
		percent := n.has("percent")
		val := r.spamValue(which, percent)
		for _, x := range r.opts.Extra {
			if src, ok := x.(spamSource); ok {
				v, err := src.spamValue(r, which, percent)
				if err != nil {
					return false, err
				}
				val = v
				break
			}
		}
		return r.matchValues(n, []string{val}, []string{r.arg1(n, 0)})
	}
}

func (r *run) spamValue(which string, percent bool) string {
	e := r.env
	if which == "virustest" {
		if !e.VirusTested {
			return "0"
		}
		v := e.VirusValue
		if v < 1 {
			v = 1
		}
		if v > 5 {
			v = 5
		}
		return strconv.Itoa(v)
	}
	if !e.SpamTested {
		return "0"
	}
	ratio := 0.0
	if e.SpamRequired > 0 {
		ratio = e.SpamScore / e.SpamRequired
	}
	if ratio < 0 {
		ratio = 0
	}
	if ratio > 1 || e.Spam {
		ratio = max(ratio, 1)
	}
	if ratio > 1 {
		ratio = 1
	}
	if percent {
		return strconv.Itoa(int(ratio*100 + 0.5))
	}
	return strconv.Itoa(1 + int(ratio*9))
}
