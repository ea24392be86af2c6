package auth

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/emersion/go-msgauth/dmarc"
	"golang.org/x/net/publicsuffix"
)

// DMARC results (RFC 7489 §11.2, RFC 8601 §2.7.1) and policies (§6.3).
const (
	DMARCNone      = "none"
	DMARCPass      = "pass"
	DMARCFail      = "fail"
	DMARCTempError = "temperror"
	DMARCPermError = "permerror"

	PolicyNone       = "none"
	PolicyQuarantine = "quarantine"
	PolicyReject     = "reject"
)

// DMARCResult is the DMARC evaluation of the RFC5322.From domain. It is a
// value: whether to act on Apply is the caller's decision.
type DMARCResult struct {
	// Result is one of the DMARC* result constants.
	Result string
	// FromDomain is the RFC5322.From domain; OrgDomain its organizational
	// domain (RFC 7489 §3.2).
	FromDomain string
	OrgDomain  string
	// RecordDomain is the domain whose _dmarc record was used: FromDomain,
	// or OrgDomain after the fallback of RFC 7489 §6.6.3. Empty if none.
	RecordDomain string
	// Policy is the published policy that applies to FromDomain: p, or sp
	// for a subdomain whose record came from the organizational domain.
	// Empty without a record.
	Policy string
	// Apply is the policy to apply to this message: "none" unless Result
	// is fail, then Policy, one step milder (reject → quarantine →
	// none) when the message fell outside the pct sample (RFC 7489 §6.3).
	Apply string
	// Pct is the record's pct (default 100); Sampled reports whether this
	// message fell inside it.
	Pct     int
	Sampled bool
	// ADKIM and ASPF are the alignment modes: "r" (relaxed) or "s"
	// (strict).
	ADKIM, ASPF string
	// SPFAligned and DKIMAligned report which passing identifier aligned;
	// DKIMDomain is the d= of the first aligned passing signature.
	SPFAligned  bool
	DKIMAligned bool
	DKIMDomain  string
	// Reason says why the result is not pass.
	Reason string
}

// OrgDomain returns the organizational domain of domain (RFC 7489 §3.2):
// the public suffix by the ICANN section of the Public Suffix List plus one
// label. Private-section entries (blogspot.com, …) are ignored, so
// a.blogspot.com belongs to blogspot.com. A name outside any listed TLD
// uses its last label as the suffix (the PSL's implicit "*" rule).
func OrgDomain(domain string) string {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if domain == "" {
		return ""
	}
	suffix := icannSuffix(domain)
	if suffix == domain {
		return domain
	}
	rest := strings.TrimSuffix(domain, "."+suffix)
	if i := strings.LastIndexByte(rest, '.'); i >= 0 {
		rest = rest[i+1:]
	}
	return rest + "." + suffix
}

func icannSuffix(domain string) string {
	for d := domain; d != ""; {
		s, icann := publicsuffix.PublicSuffix(d)
		if icann || !strings.Contains(s, ".") {
			return s
		}
		// A private rule matched: try again from its parent.
		_, d, _ = strings.Cut(s, ".")
	}
	i := strings.LastIndexByte(domain, '.')
	return domain[i+1:]
}

// aligned reports whether identifier domain id aligns with from
// (RFC 7489 §3.1.1, §3.1.2).
func aligned(id, from, mode string) bool {
	id = strings.ToLower(strings.TrimSuffix(id, "."))
	if id == "" {
		return false
	}
	if id == from {
		return true
	}
	// RFC 7489 §3.1.1: relaxed alignment compares organizational domains.
	return mode != string(dmarc.AlignmentStrict) && OrgDomain(id) == OrgDomain(from)
}

// lookupDMARC finds the DMARC record for from (RFC 7489 §6.6.3): at
// _dmarc.<from>, then at _dmarc.<organizational domain>.
func lookupDMARC(ctx context.Context, r Resolver, from, org string) (*dmarc.Record, string, error) {
	domains := []string{from}
	if org != from {
		domains = append(domains, org)
	}
	for _, d := range domains {
		txts, err := r.LookupTXT(ctx, "_dmarc."+d)
		if err != nil {
			var de *net.DNSError
			if errors.As(err, &de) && de.IsNotFound {
				continue
			}
			return nil, d, fmt.Errorf("%w: _dmarc.%s: %w", errDMARCTemp, d, err)
		}
		// Records not starting with v=DMARC1 are discarded; more than one
		// remaining ends discovery with no policy.
		var recs []string
		for _, t := range txts {
			first, _, _ := strings.Cut(t, ";")
			if k, v, _ := strings.Cut(first, "="); strings.TrimSpace(k) == "v" && strings.TrimSpace(v) == "DMARC1" {
				recs = append(recs, t)
			}
		}
		switch len(recs) {
		case 0:
			continue
		case 1:
			rec, err := parseDMARC(recs[0])
			if err != nil {
				return nil, d, fmt.Errorf("%w at _dmarc.%s: %w", errDMARCSyntax, d, err)
			}
			return rec, d, nil
		default:
			return nil, "", nil
		}
	}
	return nil, "", nil
}

// parseDMARC parses a DMARC record leniently, as RFC 7489 §6.3 asks:
// syntax errors in optional tags are ignored (the tag takes its default),
// and a record without a valid p (or with an invalid sp) counts as p=none
// if it names a report address (rua), else it is an error (§6.6.3 step 6).
func parseDMARC(txt string) (*dmarc.Record, error) {
	rec, err := dmarc.Parse(txt)
	if err == nil {
		return rec, nil
	}
	tags := map[string]string{}
	for _, pair := range strings.Split(txt, ";") {
		if k, v, ok := strings.Cut(pair, "="); ok {
			tags[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	valid := func(tag string) bool {
		v, ok := tags[tag]
		if !ok {
			return false
		}
		_, err := dmarc.Parse("v=DMARC1; p=none; " + tag + "=" + v)
		return err == nil
	}
	kept := []string{"v=DMARC1"}
	if !valid("p") || (tags["sp"] != "" && !valid("sp")) {
		if tags["rua"] == "" {
			return nil, err
		}
		kept = append(kept, "p=none")
	} else {
		kept = append(kept, "p="+tags["p"])
		if valid("sp") {
			kept = append(kept, "sp="+tags["sp"])
		}
	}
	for _, tag := range []string{"adkim", "aspf", "pct"} {
		if valid(tag) {
			kept = append(kept, tag+"="+tags[tag])
		}
	}
	return dmarc.Parse(strings.Join(kept, "; "))
}

// Errors of the DMARC record lookup.
var (
	errDMARCSyntax = errors.New("auth: invalid DMARC record")
	errDMARCTemp   = errors.New("auth: DMARC record lookup failed")
)

// checkDMARC evaluates DMARC for from, given the SPF and DKIM results. roll
// is a number in [0,100) deciding pct sampling.
func checkDMARC(ctx context.Context, r Resolver, from string, spf SPFResult, dk []DKIMResult, roll int) DMARCResult {
	from = strings.ToLower(strings.TrimSuffix(from, "."))
	res := DMARCResult{FromDomain: from, Apply: PolicyNone, Result: DMARCNone}
	if from == "" {
		res.Reason = "no single RFC5322.From domain"
		return res
	}
	res.OrgDomain = OrgDomain(from)
	rec, recDomain, err := lookupDMARC(ctx, r, from, res.OrgDomain)
	if err != nil {
		res.Result = DMARCTempError
		if errors.Is(err, errDMARCSyntax) {
			res.Result = DMARCPermError
			res.RecordDomain = recDomain
		}
		res.Reason = err.Error()
		return res
	}
	if rec == nil {
		res.Reason = "no DMARC record"
		return res
	}
	res.RecordDomain = recDomain
	res.Policy = string(rec.Policy)
	if recDomain != from && rec.SubdomainPolicy != "" {
		res.Policy = string(rec.SubdomainPolicy) // RFC 7489 §6.3 sp
	}
	res.Pct = 100
	if rec.Percent != nil {
		res.Pct = *rec.Percent
	}
	res.ADKIM, res.ASPF = string(rec.DKIMAlignment), string(rec.SPFAlignment)

	// RFC 7489 §4.2: pass when SPF or DKIM passes with an aligned
	// identifier. SPF's is the MAIL FROM domain, or the HELO name for a
	// null reverse-path (RFC 7208 §2.4).
	res.SPFAligned = spf.Result == SPFPass && aligned(spf.Domain, from, res.ASPF)
	temp := spf.Result == SPFTempError && aligned(spf.Domain, from, res.ASPF)
	for _, d := range dk {
		if !aligned(d.Domain, from, res.ADKIM) {
			continue
		}
		if d.Result == DKIMPass && !res.DKIMAligned {
			res.DKIMAligned = true
			res.DKIMDomain = d.Domain
		}
		temp = temp || d.Result == DKIMTempError
	}
	switch {
	case res.SPFAligned || res.DKIMAligned:
		res.Result = DMARCPass
		return res
	case temp:
		// An aligned identifier could not be checked: a retry may pass.
		res.Result = DMARCTempError
		res.Reason = "aligned SPF or DKIM check failed temporarily"
		return res
	}
	res.Result = DMARCFail
	res.Reason = "no aligned SPF or DKIM pass"
	res.Sampled = roll < res.Pct
	res.Apply = res.Policy
	if !res.Sampled {
		switch res.Policy {
		case PolicyReject:
			res.Apply = PolicyQuarantine
		case PolicyQuarantine:
			res.Apply = PolicyNone
		}
	}
	return res
}
