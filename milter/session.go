package milter

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"runtime/debug"
	"strings"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/sluice-mail/sluice/mail"
)

// session is one MTA connection: the SMTP session it relays and the
// message under way.
type session struct {
	gomilter.NoOpMilter
	s            *Server
	leadingSpace bool // the MTA sends header values as they are

	clientIP net.IP
	helo     string
	opened   bool

	// The message under way.
	from     string
	authen   string // SASL login, from {auth_authen}
	rcpts    []string
	header   []byte       // the fields as received, CRLF line ends
	fields   []mail.Field // one per field the MTA sent, in its order
	body     []byte
	size     int64
	tooLarge bool
	start    time.Time
}

func (ss *session) NewConnection(gomilter.Modifier) error {
	ss.opened = true
	ss.s.sessions.Add(1)
	return nil
}

func (ss *session) Connect(_, family string, _ uint16, addr string, _ gomilter.Modifier) (*gomilter.Response, error) {
	ss.clientIP = nil
	if family == "tcp4" || family == "tcp6" {
		ss.clientIP = net.ParseIP(addr)
	}
	return nil, nil
}

func (ss *session) Helo(name string, _ gomilter.Modifier) (*gomilter.Response, error) {
	ss.helo = name
	return nil, nil
}

func (ss *session) MailFrom(from, _ string, m gomilter.Modifier) (*gomilter.Response, error) {
	ss.reset()
	ss.from = strings.Trim(from, "<>")
	ss.authen = m.Get(gomilter.MacroAuthAuthen)
	ss.start = time.Now()
	return nil, nil
}

func (ss *session) RcptTo(rcpt, _ string, _ gomilter.Modifier) (*gomilter.Response, error) {
	if len(ss.rcpts) < 10000 {
		ss.rcpts = append(ss.rcpts, strings.Trim(rcpt, "<>"))
	}
	return nil, nil
}

func (ss *session) Header(name, value string, _ gomilter.Modifier) (*gomilter.Response, error) {
	if ss.grow(len(name) + len(value) + 4) {
		return nil, nil
	}
	start := len(ss.header)
	ss.header = append(ss.header, name...)
	ss.header = append(ss.header, ':')
	if !ss.leadingSpace {
		ss.header = append(ss.header, ' ')
	}
	// The MTA ends folded lines with LF alone.
	ss.header = append(ss.header, strings.ReplaceAll(strings.ReplaceAll(value, "\r\n", "\n"), "\n", "\r\n")...)
	ss.header = append(ss.header, '\r', '\n')
	ss.fields = append(ss.fields, mail.NewField(string(ss.header[start:])))
	return nil, nil
}

func (ss *session) BodyChunk(chunk []byte, _ gomilter.Modifier) (*gomilter.Response, error) {
	if !ss.grow(len(chunk)) {
		ss.body = append(ss.body, chunk...)
	}
	return nil, nil
}

// grow counts n more bytes of the message and reports whether it is now
// over the size limit (and so no longer kept).
func (ss *session) grow(n int) bool {
	ss.size += int64(n)
	if ss.size > ss.s.cfg.MaxMessageSize && !ss.tooLarge {
		ss.tooLarge = true
		ss.header, ss.fields, ss.body = nil, nil, nil
	}
	return ss.tooLarge
}

func (ss *session) Abort(gomilter.Modifier) error {
	ss.reset()
	return nil
}

func (ss *session) Cleanup(gomilter.Modifier) {
	ss.reset()
	if ss.opened {
		ss.opened = false
		ss.s.sessions.Add(-1)
	}
}

// reset forgets the message under way; the connection data stays.
func (ss *session) reset() {
	ss.from, ss.authen, ss.rcpts = "", "", nil
	ss.header, ss.fields, ss.body = nil, nil, nil
	ss.size, ss.tooLarge = 0, false
}

// outbound reports whether the message is ours to sign.
func (ss *session) outbound() bool {
	if ss.authen != "" {
		return true
	}
	if ss.clientIP == nil {
		return false
	}
	for _, n := range ss.s.cfg.SignNetworks {
		if n.Contains(ss.clientIP) {
			return true
		}
	}
	return false
}

func (ss *session) EndOfMessage(m gomilter.Modifier) (resp *gomilter.Response, err error) {
	s := ss.s
	qid := m.Get(gomilter.MacroQueueId)
	dir := "inbound"
	if ss.outbound() {
		dir = "outbound"
	}
	attrs := []any{"queue_id", qid, "direction", dir, "from", ss.from, "rcpts", len(ss.rcpts), "size", ss.size}
	if ss.clientIP != nil {
		attrs = append(attrs, "client", ss.clientIP.String())
	}
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("milter panic", append(attrs, "err", fmt.Sprint(r), "stack", string(debug.Stack()))...)
			resp, err = s.onError(), nil
		}
		ss.reset()
	}()
	if ss.tooLarge {
		s.log.Warn("milter: message too large to check or sign; accepted as it is", append(attrs, "max", s.cfg.MaxMessageSize)...)
		return gomilter.RespAccept, nil
	}
	raw := make([]byte, 0, len(ss.header)+2+len(ss.body))
	raw = append(append(append(raw, ss.header...), '\r', '\n'), ss.body...)
	var result string
	if dir == "outbound" {
		resp, result = ss.sign(m, raw)
	} else {
		var more []any
		resp, result, more = ss.check(m, raw, qid)
		attrs = append(attrs, more...)
	}
	attrs = append(attrs, "result", result, "duration", time.Since(ss.start).Round(time.Microsecond))
	s.log.Info("milter", attrs...)
	return resp, nil
}

// onError is the answer to a message the checks or the signer failed on.
func (s *Server) onError() *gomilter.Response {
	if s.cfg.OnErrorAccept {
		return gomilter.RespAccept
	}
	r, _ := gomilter.RejectWithCodeAndReason(451, "4.7.1 Temporary failure, try again later")
	return r
}

// sign adds the DKIM-Signature fields through header actions.
func (ss *session) sign(m gomilter.Modifier, raw []byte) (*gomilter.Response, string) {
	s := ss.s
	if s.signer == nil {
		return gomilter.RespAccept, "unsigned"
	}
	addr := fromAddress(ss.fields)
	out, signed, err := s.signer.Sign(raw, addr)
	if err != nil {
		s.log.Error("milter: signing failed", "from", addr, "err", err)
		return s.onError(), "error"
	}
	if !signed {
		return gomilter.RespAccept, "unsigned"
	}
	sigs := mail.ParseHeader(out[:len(out)-len(raw)])
	// Inserted at the top in reverse, so that they keep their order.
	for i := len(sigs) - 1; i >= 0; i-- {
		f := &sigs[i]
		if err := m.InsertHeader(0, f.Name, fieldValue(f, ss.leadingSpace)); err != nil {
			s.log.Error("milter: header action failed", "err", err)
			return s.onError(), "error"
		}
	}
	return gomilter.RespAccept, "signed"
}

// check runs the Checker and applies its verdict.
func (ss *session) check(m gomilter.Modifier, raw []byte, qid string) (*gomilter.Response, string, []any) {
	s := ss.s
	if s.checker == nil {
		s.log.Error("milter: no checks loaded")
		return s.onError(), "error", nil
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.Timeout)
	defer cancel()
	env := &mail.Envelope{
		MailFrom: ss.from, Recipients: ss.rcpts, ClientIP: ss.clientIP, ClientHelo: ss.helo, QueueID: qid,
	}
	v, err := s.checker.Check(ctx, env, raw)
	if err == nil && v.TempError {
		err = fmt.Errorf("%w: a check failed temporarily", ErrUnavailable)
	}
	if err != nil {
		s.log.Error("milter: checks failed", "queue_id", qid, "err", err)
		return s.onError(), "error", nil
	}
	var attrs []any
	if v.Scored {
		attrs = []any{"score", fmt.Sprintf("%.1f", v.Score), "tests", v.Tests}
	}
	if v.DMARCReject {
		r, _ := gomilter.RejectWithCodeAndReason(550, "5.7.1 Rejected by the sender domain's DMARC policy")
		return r, "dmarc-reject", attrs
	}
	if v.Scored && s.cfg.RejectScore > 0 && v.Score >= s.cfg.RejectScore {
		r, _ := gomilter.RejectWithCodeAndReason(550, fmt.Sprintf("5.7.1 Message rejected as spam (score %.1f, limit %.1f)", v.Score, s.cfg.RejectScore))
		return r, "reject", attrs
	}
	if err := ss.apply(m, raw, v); err != nil {
		s.log.Error("milter: header action failed", "queue_id", qid, "err", err)
		return s.onError(), "error", attrs
	}
	return gomilter.RespAccept, "accept", attrs
}

// apply sends the header actions (and the body, where report_safe
// replaced it) that turn raw into the verdict's message.
func (ss *session) apply(m gomilter.Modifier, raw []byte, v Verdict) error {
	// Where the checks rewrote the message as bytes (report_safe), the
	// header section may run on into the body: split the whole again.
	out := make([]byte, 0, len(v.Header)+len(v.Body))
	out = append(append(out, v.Header...), v.Body...)
	k := mail.HeaderLen(out)
	newHeader, newBody := out[:k], out[k:]
	for _, a := range headerActions(ss.fields, mail.ParseHeader(newHeader), ss.leadingSpace) {
		var err error
		switch a.kind {
		case actAdd:
			err = m.AddHeader(a.name, a.value)
		case actInsert:
			err = m.InsertHeader(a.index, a.name, a.value)
		case actChange:
			err = m.ChangeHeader(a.index, a.name, a.value)
		}
		if err != nil {
			return err
		}
	}
	if body := raw[len(ss.header)+2:]; !bytes.Equal(newBody, body) {
		return m.ReplaceBody(bytes.NewReader(newBody))
	}
	return nil
}

// fromAddress is the address of the From field, the one the SigningTable
// is looked up with; "" when there is none.
func fromAddress(fields []mail.Field) string {
	for i := range fields {
		if strings.EqualFold(fields[i].Name, "From") {
			if addrs := mail.HeaderAddr(fields[i].RawValue()); len(addrs) > 0 {
				return addrs[0]
			}
			return ""
		}
	}
	return ""
}
