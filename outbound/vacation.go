package outbound

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	smail "github.com/sluice-mail/sluice/mail"
)

// DefaultVacationWindow is the :days default of RFC 5230 §4.1: 7 days.
const DefaultVacationWindow = 7 * 24 * time.Hour

// VacationParams are the arguments of a Sieve vacation action (RFC 5230
// §4, RFC 6131 :seconds).
type VacationParams struct {
	// Reason is the reply body: plain text, or with MIME set a MIME entity
	// (header fields, blank line, body).
	Reason string
	// MIME marks Reason as a MIME entity (:mime).
	MIME bool
	// Subject is :subject; empty means "Auto: " and the original subject
	// (RFC 5230 §4.4).
	Subject string
	// From is :from; empty means the recipient's address.
	From string
	// Addresses are :addresses, the recipient's other addresses.
	Addresses []string
	// Handle is :handle; empty means [VacationHandle] of these parameters.
	Handle string
	// Window is :days or :seconds; zero means DefaultVacationWindow.
	Window time.Duration
}

// VacationHandle returns the handle RFC 5230 §4.2 derives when the script
// gives none: a digest of the reason, subject, from and :mime, so that
// changing the message starts a new window.
func VacationHandle(p VacationParams) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %q %t", p.Reason, p.Subject, p.From, p.MIME)
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// ShouldReply decides whether a vacation reply to the message raw, from the
// envelope sender to the envelope recipient rcpt, is allowed. It returns
// false and the reason when RFC 5230 §4.5 or RFC 3834 §2 says not to reply:
// the null sender, a sender that is a mailer daemon or list address, a
// sender that is the recipient itself, a List-* field, a multipart/report, an Auto-Submitted
// field other than "no", Precedence bulk, list or junk, or a message that
// does not name the recipient (or one of addresses) in To, Cc, Bcc or their
// Resent- forms.
func ShouldReply(raw []byte, sender, rcpt string, addresses []string) (reply bool, reason string) {
	sender = bareAddress(sender)
	if sender == "" || sender == "<>" {
		return false, "null sender"
	}
	local := strings.ToLower(sender)
	if at := strings.LastIndexByte(local, '@'); at >= 0 {
		local = local[:at]
	} else {
		return false, "sender without domain"
	}
	switch {
	case local == "mailer-daemon", local == "listserv", local == "majordomo",
		strings.HasPrefix(local, "owner-"), strings.HasSuffix(local, "-request"),
		strings.HasSuffix(local, "-owner"), strings.HasSuffix(local, "-bounces"):
		return false, "list or daemon sender " + sender
	}
	mine := append([]string{rcpt}, addresses...)
	for _, a := range mine {
		if strings.EqualFold(bareAddress(a), sender) {
			return false, "sender is the recipient"
		}
	}
	hdr, _ := splitMessage(raw)
	fields := smail.ParseHeader(hdr)
	addressed := false
	for _, f := range fields {
		name := strings.ToLower(f.Name)
		switch name {
		case "list-id", "list-help", "list-subscribe", "list-unsubscribe", "list-post", "list-owner", "list-archive":
			return false, "mailing list (" + f.Name + ")"
		case "auto-submitted":
			v := strings.ToLower(strings.TrimSpace(strings.SplitN(f.Unfolded(), ";", 2)[0]))
			if v != "no" {
				return false, "Auto-Submitted: " + v
			}
		case "content-type":
			// A delivery report (RFC 6522) is machine mail even without
			// Auto-Submitted.
			if strings.HasPrefix(strings.ToLower(f.Unfolded()), "multipart/report") {
				return false, "delivery report"
			}
		case "precedence":
			switch strings.ToLower(f.Unfolded()) {
			case "bulk", "list", "junk":
				return false, "Precedence: " + f.Unfolded()
			}
		case "to", "cc", "bcc", "resent-to", "resent-cc", "resent-bcc":
			list := smail.ParseAddressList(f.Unfolded())
			for _, l := range list {
				for _, a := range mine {
					if strings.EqualFold(l, bareAddress(a)) {
						addressed = true
					}
				}
			}
		}
	}
	if !addressed {
		return false, "recipient not in To/Cc/Bcc"
	}
	return true, ""
}

// BuildVacation returns the vacation reply to the message raw from the
// envelope sender, on behalf of the envelope recipient rcpt (RFC 5230 §5,
// RFC 3834 §3). hostname names the Message-ID's domain; now dates it. The
// reply carries "Auto-Submitted: auto-replied", In-Reply-To and References
// naming the original, and a text/plain UTF-8 quoted-printable body (or the
// :mime entity as given).
func BuildVacation(raw []byte, sender, rcpt string, p VacationParams, hostname string, now time.Time) ([]byte, error) {
	hdr, _ := splitMessage(raw)
	from := p.From
	if from == "" {
		from = rcpt
	}
	if !plainAddress(from) {
		addrs := smail.ParseAddressList(from)
		if len(addrs) != 1 || !plainAddress(addrs[0]) {
			return nil, fmt.Errorf("%w: vacation :from %q is not one address", ErrPermanent, from)
		}
		if !strings.Contains(from, "<") {
			from = "<" + from + ">"
		}
	}
	subject := p.Subject
	if subject != "" {
		subject = encodeHeaderText(subject)
	} else {
		// RFC 5230 §4.4: "Auto: " and the original subject, left encoded as
		// it came: encoded-words stay valid after the prefix.
		orig := headerValue(hdr, "Subject")
		if orig == "" {
			subject = "Automated reply"
		} else {
			subject = "Auto: " + orig
		}
	}
	var b bytes.Buffer
	field := func(name, value string) { fmt.Fprintf(&b, "%s: %s\r\n", name, value) }
	field("From", from)
	field("To", "<"+bareAddress(sender)+">")
	field("Subject", subject)
	field("Date", now.Format(time.RFC1123Z))
	field("Message-ID", newMessageID(hostname))
	// RFC 5230 §5.8 / RFC 3834 §3.1.5: thread the reply under the original.
	if id := headerValue(hdr, "Message-Id"); id != "" {
		field("In-Reply-To", id)
		refs := headerValue(hdr, "References")
		if refs == "" {
			refs = headerValue(hdr, "In-Reply-To")
		}
		field("References", strings.TrimSpace(refs+" "+id))
	}
	// RFC 3834 §5 and RFC 5230 §5: mark the reply as automatic.
	field("Auto-Submitted", "auto-replied")
	field("MIME-Version", "1.0")
	if p.MIME {
		ehdr, ebody := splitMessage([]byte(p.Reason))
		for _, f := range smail.ParseHeader(ehdr) {
			if strings.HasPrefix(strings.ToLower(f.Name), "content-") {
				b.Write(bytes.ReplaceAll(bytes.ReplaceAll(f.Raw(), []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n")))
			}
		}
		if len(ehdr) == 0 || headerValue(ehdr, "Content-Type") == "" {
			field("Content-Type", "text/plain; charset=us-ascii")
		}
		b.WriteString("\r\n")
		b.Write(toCRLF(ebody))
		return b.Bytes(), nil
	}
	field("Content-Type", "text/plain; charset=utf-8")
	field("Content-Transfer-Encoding", "quoted-printable")
	b.WriteString("\r\n")
	qp := quotedprintable.NewWriter(&b)
	qp.Write(toCRLF([]byte(p.Reason)))
	qp.Close()
	if !bytes.HasSuffix(b.Bytes(), []byte("\r\n")) {
		b.WriteString("\r\n")
	}
	return b.Bytes(), nil
}

func toCRLF(b []byte) []byte {
	b = bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
	return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n"))
}

// encodeHeaderText encodes s as RFC 2047 encoded-words when it is not
// plain ASCII.
func encodeHeaderText(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 || s[i] < 0x20 {
			return mime.QEncoding.Encode("utf-8", s)
		}
	}
	return s
}

func newMessageID(hostname string) string {
	var r [12]byte
	rand.Read(r[:])
	if hostname == "" {
		hostname = "localhost"
	}
	return "<" + hex.EncodeToString(r[:]) + "@" + hostname + ">"
}
