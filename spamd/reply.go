package spamd

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/sluice-mail/sluice/scoring"
)

// spamHeader is the Spam: header line, as spamd's check() writes it: the
// score as _SCORE_ shows it (a ham never reaches the threshold), the
// threshold with one decimal. REPORT_IFSPAM says Yes/No, the rest
// True/False.
func spamHeader(req *Request, res *Result) string {
	flag := "False"
	switch {
	case res.Spam && req.Command == ReportIfSpam:
		flag = "Yes"
	case res.Spam:
		flag = "True"
	case req.Command == ReportIfSpam:
		flag = "No"
	}
	return fmt.Sprintf("Spam: %s ; %s / %s", flag,
		scoring.FormatScore(res.Score, res.Required, res.Spam), strconv.FormatFloat(res.Required, 'f', 1, 64))
}

// scanReply is the reply to a scanning command, with the headers the
// client's protocol version takes (spamd.raw check()).
func scanReply(req *Request, res *Result) []byte {
	spam := spamHeader(req, res)
	var b bytes.Buffer
	if req.WantsMessage() {
		msg := res.Message
		if req.Command == Headers {
			msg = headerSection(msg)
		}
		switch {
		case req.Proto >= 1.3:
			fmt.Fprintf(&b, "SPAMD/1.1 0 EX_OK\r\nContent-length: %d\r\n%s\r\n\r\n", len(msg), spam)
		case req.Proto >= 1.2:
			fmt.Fprintf(&b, "SPAMD/1.1 0 EX_OK\r\nContent-length: %d\r\n\r\n", len(msg))
		default:
			b.WriteString("SPAMD/1.0 0 EX_OK\r\n")
		}
		b.Write(msg)
		return b.Bytes()
	}
	b.WriteString("SPAMD/1.1 0 EX_OK\r\n")
	if req.Command == Check {
		b.WriteString(spam + "\r\n\r\n")
		return b.Bytes()
	}
	var body string
	switch {
	case req.Command == Report || (req.Command == ReportIfSpam && res.Spam):
		body = res.Report
	case req.Command == Symbols:
		body = strings.Join(res.Symbols, ",")
		if req.Proto < 1.3 {
			body += "\r\n"
		}
	}
	if req.Proto >= 1.3 {
		fmt.Fprintf(&b, "Content-length: %d\r\n", len(body))
	}
	b.WriteString(spam + "\r\n\r\n" + body)
	return b.Bytes()
}

// headerSection cuts msg after its first blank line, as spamd's HEADERS
// does with s/(\015?\012\015?\012).*$/$1/s.
func headerSection(msg []byte) []byte {
	for i := 0; i < len(msg); i++ {
		if msg[i] != '\n' {
			continue
		}
		j := i + 1
		if j < len(msg) && msg[j] == '\r' {
			j++
		}
		if j < len(msg) && msg[j] == '\n' {
			return msg[:j+1]
		}
	}
	return msg
}

// tellReply is the reply to TELL; spamd ends it with an extra CRLF.
func tellReply(did Learned) []byte {
	var hdr string
	if did.DidSetLocal {
		hdr += "DidSet: local\r\n"
	}
	if did.DidRemoveLocal {
		hdr += "DidRemove: local\r\n"
	}
	return []byte("SPAMD/1.1 0 EX_OK\r\n" + hdr + "\r\n\r\n")
}

// errorReply is the one line an error gets; the connection then closes.
func errorReply(err error) []byte {
	var e *Error
	if !errors.As(err, &e) {
		e = &Error{Code: ExTempFail, Text: "EX_TEMPFAIL: temporary failure, try again later"}
	}
	return fmt.Appendf(nil, "SPAMD/1.0 %d %s\r\n", int(e.Code), e.Text)
}
