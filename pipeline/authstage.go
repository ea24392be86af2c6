package pipeline

import (
	"context"
	"errors"
	"net"

	"github.com/emersion/go-smtp"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/mail"
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

// runAuth checks the message, and edits its header: forged
// Authentication-Results fields out, ours in at the top.
func (p *Pipeline) runAuth(ctx context.Context, m *Message) {
	a := p.cfg.Auth
	start := p.cfg.Now()
	env := m.Env
	fields := p.parse(m).Root().Fields()
	ip, helo := env.ClientIP, env.ClientHelo
	if ip == nil {
		ip, helo = receivedClient(fields)
	}
	res := auth.Check(ctx, p.log, a.Resolver, a.Config, auth.Input{
		ClientIP: ip, HELO: helo, MailFrom: env.MailFrom, Raw: m.Raw, Fields: fields,
	})
	m.Auth = &res
	ours := res.Header(a.AuthServID)
	if h := p.editHeader(m); h != nil {
		h.Edit(mail.HeaderEdits{
			Remove: auth.Forged(h.Fields(), a.AuthServID),
			Add:    []mail.FieldAdd{{Before: 0, Field: ours}},
		})
	} else {
		m.Header = append([]byte(ours), auth.StripForged(m.Header, a.AuthServID)...)
	}
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

// LookupNS counts a name server lookup; a wrapped resolver without them
// answers a temporary error.
func (c countingResolver) LookupNS(ctx context.Context, name string) ([]*net.NS, error) {
	nr, ok := c.r.(interface {
		LookupNS(ctx context.Context, name string) ([]*net.NS, error)
	})
	if !ok {
		return nil, &net.DNSError{Err: "no NS lookups", Name: name, IsTemporary: true}
	}
	v, err := nr.LookupNS(ctx, name)
	c.count(err)
	return v, err
}

func (c countingResolver) LookupAddr(ctx context.Context, addr string) ([]string, error) {
	v, err := c.r.LookupAddr(ctx, addr)
	c.count(err)
	return v, err
}
