package pipeline

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"io"
	"slices"
	"strings"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/mail"
)

// ScannedField names the field Scan adds: "X-Sluice-Scanned: AUTHSERVID;
// v=1; [a=quarantine;] b=MAC". The MAC (HMAC-SHA256 with Config.ScanKey)
// covers the authserv-id, the a= tag, the From, To, Subject and
// Message-ID fields, every X-Spam-* field, our Authentication-Results
// fields and the body, so that a mark copied onto other mail, or mail
// whose verdict fields were changed on the way, does not verify. a= carries
// a DMARC policy of quarantine to the delivery, which applies it (with
// AuthStage.EnforceDMARC) without checking again.
const ScannedField = "X-Sluice-Scanned"

// Scan runs the per-message steps for a front end that hands the message
// back to the MTA (the milter), as Check does, and, with Config.ScanKey
// set, marks the header it returns with ScannedField (incoming marks
// removed): when the message later reaches this pipeline's Deliver or
// Filter with the mark intact, it is not checked again, and its
// Authentication-Results and X-Spam-* fields are kept. Nothing is counted.
func (p *Pipeline) Scan(ctx context.Context, env *mail.Envelope, raw []byte) (*Message, error) {
	m := newMessage(env, raw)
	m.scanning = true
	copies, err := p.perMessage(ctx, m, nil)
	if err != nil {
		return nil, err
	}
	c := copies[0]
	if len(p.cfg.ScanKey) > 0 {
		fields := mail.ParseHeader(c.Header)
		var marks []int
		kept := make([]mail.Field, 0, len(fields))
		for i, f := range fields {
			if strings.EqualFold(f.Name, ScannedField) {
				marks = append(marks, i)
			} else {
				kept = append(kept, f)
			}
		}
		id := p.authServID()
		apply, tag := "", ""
		if c.Auth != nil && c.Auth.DMARC.Apply == auth.PolicyQuarantine {
			apply = auth.PolicyQuarantine
			tag = " a=" + apply + ";"
		}
		mark := ScannedField + ": " + id + "; v=1;" + tag + " b=" + p.scanMAC(id, apply, kept, c.Body) + "\r\n"
		h := mail.NewHeader(c.Header, fields)
		h.Edit(mail.HeaderEdits{Remove: marks, Add: []mail.FieldAdd{{Before: 0, Field: mark}}})
		c.Header = h.Bytes()
	}
	return c, nil
}

// DMARCRejects reports whether m, as a per-message step left it, is
// refused by its domain's DMARC policy under enforcement (AuthStage's
// EnforceDMARC), as Deliver refuses it per recipient.
func (p *Pipeline) DMARCRejects(m *Message) bool {
	a := p.cfg.Auth
	return a != nil && a.EnforceDMARC && m.Auth != nil && m.Auth.DMARC.Apply == auth.PolicyReject
}

// DMARCTempError reports whether enforcement is on and DMARC could not be
// evaluated for m for now (a DNS failure): the policy to apply is unknown.
func (p *Pipeline) DMARCTempError(m *Message) bool {
	a := p.cfg.Auth
	return a != nil && a.EnforceDMARC && m.Auth != nil && m.Auth.DMARC.Result == auth.DMARCTempError
}

func (p *Pipeline) authServID() string {
	if a := p.cfg.Auth; a != nil && a.AuthServID != "" {
		return a.AuthServID
	}
	return p.cfg.Hostname
}

// scanned reports whether m carries one mark of ours that verifies.
func (p *Pipeline) scanned(m *Message) bool {
	if len(p.cfg.ScanKey) == 0 || m.scanning {
		return false
	}
	fields := m.Parsed.Root().Fields()
	at := -1
	for i := range fields {
		if strings.EqualFold(fields[i].Name, ScannedField) {
			if at >= 0 {
				return false
			}
			at = i
		}
	}
	if at < 0 {
		return false
	}
	id, rest, _ := strings.Cut(fields[at].Unfolded(), ";")
	id = strings.TrimSpace(id)
	if !strings.EqualFold(id, p.authServID()) {
		return false
	}
	var got, apply string
	for _, tag := range strings.Split(rest, ";") {
		tag = strings.TrimSpace(tag)
		if v, ok := strings.CutPrefix(tag, "b="); ok {
			got = v
		}
		if v, ok := strings.CutPrefix(tag, "a="); ok {
			apply = v
		}
	}
	want := p.scanMAC(id, apply, slices.Delete(slices.Clone(fields), at, at+1), m.Body)
	if got == "" || !hmac.Equal([]byte(got), []byte(want)) {
		return false
	}
	if apply == auth.PolicyQuarantine {
		m.Auth = &auth.Results{DMARC: auth.DMARCResult{Apply: apply}}
	}
	return true
}

// scanMAC is the MAC of a mark (see ScannedField). Values are compared
// unfolded with white space collapsed, the body with LF line ends and no
// trailing empty lines, so that a hop that refolds or re-ends lines
// keeps the mark valid.
func (p *Pipeline) scanMAC(id, apply string, fields []mail.Field, body []byte) string {
	mac := hmac.New(sha256.New, p.cfg.ScanKey)
	io.WriteString(mac, "sluice-scan-v1\n"+strings.ToLower(id)+"\n"+apply+"\n")
	ours := map[int]bool{}
	for _, i := range auth.Forged(fields, id) {
		ours[i] = true
	}
	for i := range fields {
		name := strings.ToLower(fields[i].Name)
		switch {
		case name == "from", name == "to", name == "subject", name == "message-id",
			strings.HasPrefix(name, "x-spam-"), ours[i]:
			io.WriteString(mac, name+":"+strings.Join(strings.Fields(fields[i].Unfolded()), " ")+"\n")
		}
	}
	sum := sha256.Sum256(bytes.TrimRight(bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n")), "\n"))
	mac.Write(sum[:])
	return base64.RawStdEncoding.EncodeToString(mac.Sum(nil))
}
