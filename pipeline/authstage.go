package pipeline

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/metrics"
)

// AuthStage configures the SPF/DKIM/DMARC/DNSBL checks.
type AuthStage struct {
	Resolver auth.Resolver
	Config   auth.Config
	// AuthServID names us in Authentication-Results; forged fields carrying
	// it are removed from incoming mail first.
	AuthServID string
	// EnforceDMARC rejects (550 5.7.1) mail whose DMARC policy says reject
	// and files mail whose policy says quarantine into QuarantineFolder.
	// Off, the results only feed the score.
	EnforceDMARC     bool
	QuarantineFolder string
}

// StatusDMARCReject is the reply to mail refused by its domain's DMARC policy.
var StatusDMARCReject = &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 7, 1}, Message: "Rejected by the sender domain's DMARC policy"}

// runAuth checks the message and prepends our Authentication-Results.
func (p *Pipeline) runAuth(ctx context.Context, m *Message) {
	a := p.cfg.Auth
	start := p.cfg.Now()
	env := m.Env
	ip, helo := env.ClientIP, env.ClientHelo
	if ip == nil {
		ip, helo = receivedClient(m.Raw)
	}
	res := auth.Check(ctx, p.log, a.Resolver, a.Config, auth.Input{
		ClientIP: ip, HELO: helo, MailFrom: env.MailFrom, Raw: m.Raw,
	})
	m.Auth = &res
	hdr := auth.StripForged(m.Header, a.AuthServID)
	m.Header = append([]byte(res.Header(a.AuthServID)), hdr...)
	if mt := p.cfg.Metrics; mt != nil {
		mt.ObserveStage("auth", p.cfg.Now().Sub(start))
	}
}

// dmarcPolicy applies an enforced DMARC policy to one recipient's delivery.
func (p *Pipeline) dmarcPolicy(m *Message, d *Delivery) error {
	a := p.cfg.Auth
	if a == nil || !a.EnforceDMARC || m.Auth == nil {
		return nil
	}
	switch m.Auth.DMARC.Apply {
	case auth.PolicyReject:
		return StatusDMARCReject
	case auth.PolicyQuarantine:
		d.FileOnly(a.QuarantineFolder, true)
	}
	return nil
}

// receivedClient reads the client our own MTA recorded in the topmost
// Received field, "from HELO (NAME [IP])", for when the MTA did not pass it
// with XFORWARD. The topmost field is the one our MTA wrote, so it can be
// trusted as far as our MTA can.
func receivedClient(raw []byte) (net.IP, string) {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(raw)
	}
	lower := bytes.ToLower(raw[:end])
	start := 0
	if !bytes.HasPrefix(lower, []byte("received:")) {
		start = bytes.Index(lower, []byte("\nreceived:")) + 1
		if start == 0 {
			return nil, ""
		}
	}
	field := raw[start+len("received:") : end]
	// Unfold: the field ends at the first line not starting with WSP.
	var b strings.Builder
	for j, line := range bytes.Split(field, []byte("\r\n")) {
		if j > 0 && (len(line) == 0 || (line[0] != ' ' && line[0] != '\t')) {
			break
		}
		b.Write(line)
		b.WriteByte(' ')
	}
	v := b.String()
	f := strings.Fields(v)
	if len(f) < 2 || !strings.EqualFold(f[0], "from") {
		return nil, ""
	}
	helo := f[1]
	lb, rb := strings.IndexByte(v, '['), strings.IndexByte(v, ']')
	if lb < 0 || rb < lb {
		return nil, helo
	}
	addr := strings.TrimPrefix(strings.TrimPrefix(v[lb+1:rb], "IPv6:"), "ipv6:")
	return net.ParseIP(addr), helo
}

// CountLookups wraps r so that every lookup is counted in mt by result
// (ok, nxdomain, nodata, servfail, timeout, error).
func CountLookups(r auth.Resolver, mt *metrics.Metrics) auth.Resolver {
	if mt == nil {
		return r
	}
	return countingResolver{r: r, mt: mt}
}

type countingResolver struct {
	r  auth.Resolver
	mt *metrics.Metrics
}

func (c countingResolver) count(err error) {
	result := "ok"
	switch {
	case err == nil:
	case errors.Is(err, auth.ErrNXDomain):
		result = "nxdomain"
	case errors.Is(err, auth.ErrNoData):
		result = "nodata"
	case errors.Is(err, auth.ErrServFail):
		result = "servfail"
	case errors.Is(err, auth.ErrTimeout):
		result = "timeout"
	default:
		result = "error"
	}
	c.mt.DNSLookups.WithLabelValues(result).Inc()
}

func (c countingResolver) LookupTXT(ctx context.Context, name string) ([]string, error) {
	v, err := c.r.LookupTXT(ctx, name)
	c.count(err)
	return v, err
}

func (c countingResolver) LookupIP(ctx context.Context, network, host string) ([]net.IP, error) {
	v, err := c.r.LookupIP(ctx, network, host)
	c.count(err)
	return v, err
}

func (c countingResolver) LookupMX(ctx context.Context, name string) ([]*net.MX, error) {
	v, err := c.r.LookupMX(ctx, name)
	c.count(err)
	return v, err
}

func (c countingResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := c.r.LookupAddr(ctx, addr)
	c.count(err)
	return v, err
}
