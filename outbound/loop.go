package outbound

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	smail "github.com/sluice-mail/sluice/mail"
)

// LoopHeader is the trace field sluice adds to every message it sends.
const LoopHeader = "X-Sluice-Loop"

// DefaultMaxHops is the default limit on Received fields: below Postfix's
// hopcount_limit (50), so we stop a loop before the relay bounces it.
const DefaultMaxHops = 30

// LoopToken returns the value of our trace field for mail that hostname
// sends on behalf of the recipient rcpt (the redirecting address, or the
// address answering a vacation). It is a digest, so the field reveals
// neither; the same host and recipient always give the same token.
func LoopToken(hostname, rcpt string) string {
	h := sha256.Sum256([]byte(strings.ToLower(hostname) + "\x00" + strings.ToLower(rcpt)))
	return hex.EncodeToString(h[:12])
}

// CheckLoop returns an error wrapping [ErrLoop] (and [ErrPermanent]) if
// sending raw on behalf of rcpt to the addresses to would loop: it already
// carries our trace token for (hostname, rcpt), it has maxHops or more
// Received fields (RFC 5321 §6.3; maxHops <= 0 means [DefaultMaxHops]), or
// one of to is already in its Delivered-To chain.
func CheckLoop(raw []byte, hostname, rcpt string, to []string, maxHops int) error {
	if maxHops <= 0 {
		maxHops = DefaultMaxHops
	}
	hdr, _ := splitMessage(raw)
	token := LoopToken(hostname, rcpt)
	hops := 0
	for _, f := range smail.ParseHeader(hdr) {
		switch {
		case strings.EqualFold(f.Name, LoopHeader) && f.Unfolded() == token:
			return fmt.Errorf("%w: %w: already sent on behalf of %s", ErrPermanent, ErrLoop, rcpt)
		case strings.EqualFold(f.Name, "Received"):
			hops++
		}
	}
	if hops >= maxHops {
		return fmt.Errorf("%w: %w: %d Received fields, limit %d", ErrPermanent, ErrLoop, hops, maxHops)
	}
	for _, a := range to {
		if AlreadyDelivered(raw, a) {
			return fmt.Errorf("%w: %w: %s is in the Delivered-To chain", ErrPermanent, ErrLoop, a)
		}
	}
	return nil
}

// AlreadyDelivered reports whether addr appears in a Delivered-To field of
// raw (as Postfix's local(8) and Dovecot add them), compared
// case-insensitively.
func AlreadyDelivered(raw []byte, addr string) bool {
	addr = bareAddress(addr)
	hdr, _ := splitMessage(raw)
	for _, v := range headerValues(hdr, "Delivered-To") {
		if strings.EqualFold(bareAddress(v), addr) {
			return true
		}
	}
	return false
}

// bareAddress strips angle brackets, a display name and surrounding space.
func bareAddress(s string) string {
	s = strings.TrimSpace(s)
	if a := smail.ParseAddressList(s); len(a) == 1 {
		return a[0]
	}
	return strings.Trim(s, "<> ")
}

// plainAddress reports whether s is a bare addr-spec: text on both sides
// of its last "@", a domain without white space or separators, and a local
// part that is quoted or holds none of them either.
func plainAddress(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	bad := func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune(`<>,;:()[]"\@`, r) }
	local := s[:at]
	quoted := len(local) >= 2 && local[0] == '"' && local[len(local)-1] == '"'
	return !strings.ContainsFunc(s[at+1:], bad) && (quoted || !strings.ContainsFunc(local, bad))
}

// prependField returns raw with "name: value" added as its first field,
// using raw's own line ending.
func prependField(raw []byte, name, value string) []byte {
	eol := "\r\n"
	hdr, _ := splitMessage(raw)
	if len(hdr) > 0 && !strings.Contains(string(hdr), "\r\n") {
		eol = "\n"
	}
	return append([]byte(name+": "+value+eol), raw...)
}
