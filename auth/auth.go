// Package auth verifies where a message comes from: SPF (RFC 7208), DKIM
// signatures (RFC 6376, RFC 8301, RFC 8463), DMARC (RFC 7489) and DNS
// blocklists (RFC 5782), and records the outcome in an
// Authentication-Results field (RFC 8601).
//
// Check runs every test for one message and returns Results, a value; the
// caller decides what to do with it (score it, reject, quarantine). All DNS
// goes through one Resolver, declared here; DNSResolver is the package's
// implementation with timeouts and a TTL cache, and net.DefaultResolver
// also satisfies it. A DNS failure becomes a temperror result, never an
// error return.
//
// Built on blitiri.com.ar/go/spf (SPF) and github.com/emersion/go-msgauth
// (DKIM, DMARC record syntax, Authentication-Results syntax); DMARC
// alignment, the organizational domain and DNSBLs are ours.
//
// Notable divergences:
//   - SPF records (the top one and those reached by include and redirect)
//     are checked against the full ABNF of RFC 7208 §12 before
//     blitiri.com.ar/go/spf evaluates them, so a syntax error anywhere is a
//     permerror, even after a match (§4.6). The a, mx and exists
//     mechanisms whose domain-spec has a "/" or the p macro are expanded by
//     sluice (§7.1, §7.3); in include, redirect and ptr the library's
//     handling remains: "/" there is a permerror and %{p} expands to
//     "unknown". exp= is checked but no explanation is fetched.
//   - SPF's HELO identity is checked for every message (RFC 7208 §2.3), but
//     only a null reverse-path makes it the SPF result DMARC uses.
//   - DMARC reports temperror, not fail, when no aligned identifier passed
//     and an aligned SPF or DKIM check failed temporarily, so a retry can
//     pass; RFC 7489 leaves this case open.
//   - DMARC takes the organizational domain from the ICANN section of the
//     Public Suffix List compiled into golang.org/x/net/publicsuffix.
//   - DKIM signature expiry (x=) is checked against the wall clock by
//     go-msgauth; it cannot be given a clock.
//   - DNSBLs are queried for the connecting client's IP only, not for the
//     other untrusted relays SpamAssassin looks at, and not for private,
//     loopback or link-local addresses.
package auth

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluice-mail/sluice/mail"
)

// Config configures Check. The zero value is usable: every field has a
// documented default.
type Config struct {
	// DKIMMaxSignatures is how many DKIM-Signature fields are verified;
	// the rest are reported neutral. Default 5.
	DKIMMaxSignatures int
	// DKIMMinRSABits is the smallest RSA key accepted. Default 1024, the
	// RFC 8301 §3.2 minimum; go-msgauth refuses shorter keys anyway.
	DKIMMinRSABits int
	// DNSBLs are the blocklists to query for the client IP.
	DNSBLs []DNSBL
	// DNSBLMaxQueries bounds the number of lists queried per message.
	// Default 20.
	DNSBLMaxQueries int
	// DNSBLTimeout bounds the DNSBL lookups of one message. Default 5s.
	DNSBLTimeout time.Duration
	// Timeout bounds the whole check of one message, in addition to the
	// caller's ctx. Default 20s.
	Timeout time.Duration
	// Sample returns a number in [0, n) for DMARC pct sampling. Default
	// math/rand/v2.IntN; set it to make sampling deterministic.
	Sample func(n int) int
}

func (c Config) withDefaults() Config {
	if c.DKIMMaxSignatures <= 0 {
		c.DKIMMaxSignatures = 5
	}
	if c.DKIMMinRSABits <= 0 {
		c.DKIMMinRSABits = 1024
	}
	if c.DNSBLMaxQueries <= 0 {
		c.DNSBLMaxQueries = 20
	}
	if c.DNSBLTimeout <= 0 {
		c.DNSBLTimeout = 5 * time.Second
	}
	if c.Timeout <= 0 {
		c.Timeout = 20 * time.Second
	}
	if c.Sample == nil {
		c.Sample = rand.IntN
	}
	return c
}

// Input is what Check needs to know about one message.
type Input struct {
	// ClientIP is the address of the SMTP client that handed the message
	// to our MTA. If nil, SPF is none and no DNSBL is queried.
	ClientIP net.IP
	// HELO is the name the client gave in HELO/EHLO.
	HELO string
	// MailFrom is the RFC5321.MailFrom address without angle brackets;
	// empty for the null reverse-path.
	MailFrom string
	// Raw is the whole message, header and body, as received.
	Raw []byte
	// Fields are Raw's header fields as package mail splits them
	// (mail.Message's Root().Fields()); nil: Check splits Raw's header
	// with mail.ParseHeader. DKIM verifies Raw's bytes either way.
	Fields []mail.Field
	// FromDomain is the RFC5322.From domain. If empty, it is taken from
	// Raw's From field; a message without exactly one From address then
	// gets DMARC none.
	FromDomain string
}

// Results holds the outcome of every check of one message.
type Results struct {
	// SPF is the result for the MAIL FROM identity, or for the HELO
	// identity when the reverse-path is null; it is the one DMARC uses.
	SPF SPFResult
	// SPFHELO is the result for the HELO identity (RFC 7208 §2.3), which
	// SpamAssassin's SPF_HELO_* rules read. For a null reverse-path it
	// equals SPF.
	SPFHELO SPFResult
	DKIM    []DKIMResult
	DMARC   DMARCResult
	// DNSBL lists the blocklists that list the client IP.
	DNSBL []DNSBLHit
	// DNSBLErrors are the lists that failed or timed out; they are not
	// hits.
	DNSBLErrors []string
}

// Check runs SPF (MAIL FROM and HELO), DKIM and the DNSBL lookups
// concurrently, then DMARC, all bounded by ctx and cfg.Timeout. It never
// fails: DNS trouble shows as temperror results. A panic inside one of the
// concurrent checks is re-raised on the caller's goroutine, for the
// pipeline's recover. log receives debug detail; nil discards it.
func Check(ctx context.Context, log *slog.Logger, r Resolver, cfg Config, in Input) Results {
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()

	if in.Fields == nil {
		in.Fields = mail.ParseHeader(in.Raw)
	}
	var res Results
	var wg sync.WaitGroup
	// A panic in a check is carried back to this goroutine and re-raised,
	// so that the pipeline's recover sees it instead of the process dying.
	var panicked atomic.Pointer[any]
	run := func(f func()) {
		wg.Go(func() {
			defer func() {
				if v := recover(); v != nil {
					panicked.CompareAndSwap(nil, &v)
				}
			}()
			f()
		})
	}
	run(func() {
		res.SPF = checkSPF(ctx, r, in.ClientIP, in.HELO, in.MailFrom)
	})
	nullSender := !strings.Contains(in.MailFrom, "@")
	if !nullSender {
		run(func() {
			res.SPFHELO = checkSPF(ctx, r, in.ClientIP, in.HELO, "")
		})
	}
	run(func() {
		res.DKIM = checkDKIM(ctx, r, in.Raw, in.Fields, cfg.DKIMMaxSignatures, cfg.DKIMMinRSABits)
	})
	run(func() {
		bctx, cancel := context.WithTimeout(ctx, cfg.DNSBLTimeout)
		defer cancel()
		hits, errs := checkDNSBL(bctx, r, in.ClientIP, cfg.DNSBLs, cfg.DNSBLMaxQueries)
		res.DNSBL = hits
		for _, err := range errs {
			res.DNSBLErrors = append(res.DNSBLErrors, err.Error())
		}
	})
	from := in.FromDomain
	if from == "" {
		from, _ = fromDomain(in.Fields)
	}
	wg.Wait()
	if v := panicked.Load(); v != nil {
		panic(*v)
	}
	if nullSender {
		res.SPFHELO = res.SPF
	}

	res.DMARC = checkDMARC(ctx, r, from, res.SPF, res.DKIM, cfg.Sample(100))

	log.DebugContext(ctx, "auth results",
		slog.String("spf", res.SPF.Result),
		slog.String("spf_domain", res.SPF.Domain),
		slog.String("spf_helo", res.SPFHELO.Result),
		slog.Int("dkim_signatures", len(res.DKIM)),
		slog.String("dmarc", res.DMARC.Result),
		slog.String("dmarc_apply", res.DMARC.Apply),
		slog.Int("dnsbl_hits", len(res.DNSBL)))
	for _, d := range res.DKIM {
		log.DebugContext(ctx, "dkim", slog.String("domain", d.Domain),
			slog.String("selector", d.Selector), slog.String("result", d.Result),
			slog.String("reason", d.Reason))
	}
	for _, e := range res.DNSBLErrors {
		log.DebugContext(ctx, "dnsbl lookup failed", slog.String("err", e))
	}
	return res
}
