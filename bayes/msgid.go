package bayes

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/mail"
)

// MessageIDs returns the ids SpamAssassin records a learned message under
// (Bayes.pm _learn_trapped): first the generated id of Message.pm
// generate_msgid, SHA-1 of the last To, the last Date and the SHA-1 of the
// body as received, "@sa_generated"; then, if the Message-Id field holds
// "<...>", what is inside the brackets. The generated id comes first and is
// the one stored, so a database imported from sa-learn --backup knows the
// same messages.
func MessageIDs(msg *mail.Message) []string {
	ids := []string{generatedID(msg)}
	if v := last(msg.Header("Message-Id", false)); v != "" {
		// get_msgid: /^\s*<(.+)>\s*$/s
		s := strings.TrimSpace(v)
		if len(s) > 2 && s[0] == '<' && s[len(s)-1] == '>' {
			ids = append(ids, s[1:len(s)-1])
		}
	}
	return ids
}

func last(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[len(vs)-1]
}

func generatedID(msg *mail.Message) string {
	to := last(msg.Header("To", false))
	date := last(msg.Header("Date", false))
	body := pristineBody(msg)
	// get_pristine_body_digest hashes CRLF line ends as LF.
	if bytes.Contains(msg.Full(), []byte("\r\n")) {
		body = bytes.ReplaceAll(body, []byte("\r\n"), []byte("\n"))
	}
	bd := sha1.Sum(body)
	sum := sha1.Sum([]byte(to + "\x00" + date + "\x00" + hex.EncodeToString(bd[:])))
	return hex.EncodeToString(sum[:]) + "@sa_generated"
}

// pristineBody is the message after its header section (and the blank
// line ending it), as received.
func pristineBody(msg *mail.Message) []byte {
	full := msg.Full()
	n := len(msg.MboxSeparator()) + len(msg.HeaderBytes())
	if n > len(full) {
		return nil
	}
	return full[n:]
}

// receiveDate approximates Util.pm receive_date: the date of the first
// Received field that has one, else the Date field, else now. Dates more
// than a day ahead of now are taken as now.
func receiveDate(msg *mail.Message, now time.Time) int64 {
	t := func() time.Time {
		for _, r := range msg.Header("Received", false) {
			if i := strings.LastIndexByte(r, ';'); i >= 0 {
				if d, err := netmail.ParseDate(strings.TrimSpace(r[i+1:])); err == nil {
					return d
				}
			}
		}
		if d, err := netmail.ParseDate(strings.TrimSpace(last(msg.Header("Date", false)))); err == nil {
			return d
		}
		return now
	}()
	if t.Sub(now) > 24*time.Hour {
		t = now
	}
	return t.Unix()
}
