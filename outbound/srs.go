package outbound

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"
)

// SRS timestamps count days in two base32 characters, as libsrs2 does: the
// day number modulo 1024.
const (
	srsDay        = 24 * time.Hour
	srsStampChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	srsStampSlots = 1 << 10
)

// SRSConfig configures an [SRS]. The zero value of every field except
// Secrets takes the documented default.
type SRSConfig struct {
	// Secrets are the HMAC keys. The first signs new addresses; all of them
	// verify, so a secret can be rotated in by putting it first and rotated
	// out MaxAge later. At least one is required.
	Secrets []string
	// LocalDomains are never rewritten by Forward: mail from them already
	// passes SPF when we send it. Compared case-insensitively.
	LocalDomains []string
	// MaxAge is how long an SRS address stays valid for bounces, rounded
	// down to whole days. Default 21 days (postsrsd's default).
	MaxAge time.Duration
	// HashLength is the number of base64 characters of the HMAC kept in the
	// address. Default 4, as postsrsd.
	HashLength int
	// Separator follows the SRS0/SRS1 tag in addresses we create: '=', '-'
	// or '+'. Default '='. All three are accepted on reversal.
	Separator byte
	// Now returns the current time. Default time.Now.
	Now func() time.Time
}

// SRS rewrites envelope senders with the Sender Rewriting Scheme in the
// format of libsrs2 and postsrsd:
//
//	SRS0=HHHH=TT=orig.domain=local@forward.domain
//	SRS1=HHHH=first.forwarder==HHHH=TT=orig.domain=local@forward.domain
//
// HHHH is the start of the base64 HMAC-SHA1, over the lower-cased timestamp,
// domain and local part (SRS0) or first forwarder and SRS0 remainder (SRS1);
// TT is the day number in base32. SRS is safe for concurrent use.
type SRS struct {
	secrets   [][]byte
	local     map[string]bool
	maxDays   int64
	hashLen   int
	separator byte
	now       func() time.Time
}

// NewSRS returns an SRS for cfg, or an error wrapping [ErrConfig].
func NewSRS(cfg SRSConfig) (*SRS, error) {
	if len(cfg.Secrets) == 0 {
		return nil, fmt.Errorf("%w: %w: SRS needs at least one secret", ErrPermanent, ErrConfig)
	}
	s := &SRS{
		local:     make(map[string]bool),
		maxDays:   21,
		hashLen:   4,
		separator: '=',
		now:       time.Now,
	}
	for _, sec := range cfg.Secrets {
		if sec == "" {
			return nil, fmt.Errorf("%w: %w: empty SRS secret", ErrPermanent, ErrConfig)
		}
		s.secrets = append(s.secrets, []byte(sec))
	}
	for _, d := range cfg.LocalDomains {
		s.local[strings.ToLower(strings.TrimSuffix(d, "."))] = true
	}
	if cfg.MaxAge > 0 {
		s.maxDays = int64(cfg.MaxAge / srsDay)
	}
	if cfg.HashLength > 0 {
		if cfg.HashLength > 27 {
			return nil, fmt.Errorf("%w: %w: SRS hash length %d over 27", ErrPermanent, ErrConfig, cfg.HashLength)
		}
		s.hashLen = cfg.HashLength
	}
	if cfg.Separator != 0 {
		if !isSRSSeparator(cfg.Separator) {
			return nil, fmt.Errorf("%w: %w: SRS separator %q not one of =-+", ErrPermanent, ErrConfig, cfg.Separator)
		}
		s.separator = cfg.Separator
	}
	if cfg.Now != nil {
		s.now = cfg.Now
	}
	return s, nil
}

func isSRSSeparator(c byte) bool { return c == '=' || c == '-' || c == '+' }

// IsSRS reports whether addr has the local part of an SRS0 or SRS1 address.
func IsSRS(addr string) bool {
	return len(addr) > 5 && (strings.EqualFold(addr[:4], "SRS0") || strings.EqualFold(addr[:4], "SRS1")) && isSRSSeparator(addr[4])
}

// Forward returns the envelope sender to use when forwarding mail from
// sender through ourDomain. The null sender ("" or "<>"), senders in
// ourDomain or in the configured local domains are returned unchanged. An
// SRS0 sender from another forwarder becomes SRS1; an SRS1 sender keeps its
// first forwarder and gets our hash and domain.
func (s *SRS) Forward(sender, ourDomain string) (string, error) {
	if sender == "" || sender == "<>" {
		return sender, nil
	}
	ourDomain = ourDomain[strings.LastIndexByte(ourDomain, '@')+1:]
	if ourDomain == "" {
		return "", fmt.Errorf("%w: %w: no forwarding domain", ErrPermanent, ErrConfig)
	}
	at := strings.LastIndexByte(sender, '@')
	if at <= 0 || at == len(sender)-1 {
		return "", fmt.Errorf("%w: SRS: sender %q has no domain", ErrPermanent, sender)
	}
	user, host := sender[:at], sender[at+1:]
	if strings.EqualFold(host, ourDomain) || s.local[strings.ToLower(host)] {
		return sender, nil
	}
	sep := string(s.separator)
	switch {
	case len(user) > 5 && strings.EqualFold(user[:4], "SRS1") && isSRSSeparator(user[4]):
		// Keep the first forwarder and the SRS0 part; re-hash them as ours.
		rest := user[5:]
		i := strings.IndexByte(rest, '=')
		if i < 0 {
			return "", fmt.Errorf("%w: %w: SRS1 sender %q has no host", ErrPermanent, ErrSRSInvalid, sender)
		}
		rest = rest[i+1:]
		j := strings.IndexByte(rest, '=')
		if j <= 0 || j == len(rest)-1 {
			return "", fmt.Errorf("%w: %w: SRS1 sender %q has no user", ErrPermanent, ErrSRSInvalid, sender)
		}
		fhost, fuser := rest[:j], rest[j+1:]
		return "SRS1" + sep + s.hash(0, fhost, fuser) + "=" + fhost + "=" + fuser + "@" + ourDomain, nil
	case len(user) > 4 && strings.EqualFold(user[:4], "SRS0") && isSRSSeparator(user[4]):
		// RFC-less but libsrs2's guarded scheme: the SRS0 address of another
		// forwarder becomes SRS1 naming that forwarder; its local part after
		// the tag (separator included) is carried verbatim.
		fuser := user[4:]
		return "SRS1" + sep + s.hash(0, host, fuser) + "=" + host + "=" + fuser + "@" + ourDomain, nil
	}
	stamp := srsStamp(s.now())
	return "SRS0" + sep + s.hash(0, stamp, host, user) + "=" + stamp + "=" + host + "=" + user + "@" + ourDomain, nil
}

// Reverse returns the address a bounce to the SRS address addr must go to:
// the original sender for SRS0, the first forwarder's SRS0 address for
// SRS1. It returns an error wrapping [ErrNotSRS] for other addresses and
// [ErrSRSInvalid] for a bad hash, an expired timestamp or bad syntax.
func (s *SRS) Reverse(addr string) (string, error) {
	if !IsSRS(addr) {
		return "", fmt.Errorf("%w: %w: %q", ErrPermanent, ErrNotSRS, addr)
	}
	user := addr
	if at := strings.LastIndexByte(addr, '@'); at >= 0 {
		user = addr[:at]
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: %w: %s in %q", ErrPermanent, ErrSRSInvalid, why, addr)
	}
	// Fields after the tag separator are split on '=' only, as libsrs2 does.
	fields := user[5:]
	if strings.EqualFold(user[:4], "SRS1") {
		hash, rest, ok := strings.Cut(fields, "=")
		if !ok || hash == "" {
			return "", bad("no hash")
		}
		fhost, fuser, ok := strings.Cut(rest, "=")
		if !ok || fhost == "" || fuser == "" {
			return "", bad("no host or user")
		}
		if !s.checkHash(hash, fhost, fuser) {
			return "", bad("hash mismatch")
		}
		return "SRS0" + fuser + "@" + fhost, nil
	}
	parts := strings.SplitN(fields, "=", 4)
	if len(parts) != 4 || parts[0] == "" || parts[1] == "" || parts[2] == "" || parts[3] == "" {
		return "", bad("missing field")
	}
	hash, stamp, host, local := parts[0], parts[1], parts[2], parts[3]
	if err := s.checkStamp(stamp); err != "" {
		return "", bad(err)
	}
	if !s.checkHash(hash, stamp, host, local) {
		return "", bad("hash mismatch")
	}
	return local + "@" + host, nil
}

// hash returns the truncated base64 HMAC-SHA1 of the lower-cased data with
// secret i; base64 of the digest's first bytes is exactly libsrs2's "little
// base64 encoding".
func (s *SRS) hash(i int, data ...string) string {
	return s.fullHash(i, data...)[:s.hashLen]
}

func (s *SRS) fullHash(i int, data ...string) string {
	m := hmac.New(sha1.New, s.secrets[i])
	for _, d := range data {
		m.Write([]byte(asciiLower(d)))
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// checkHash compares case-insensitively, because some MTAs lower-case local
// parts; a hash longer than ours is truncated, shorter is rejected.
func (s *SRS) checkHash(got string, data ...string) bool {
	if len(got) < s.hashLen {
		return false
	}
	got = asciiLower(got[:s.hashLen])
	ok := 0
	for i := range s.secrets {
		want := asciiLower(s.hash(i, data...))
		ok |= subtle.ConstantTimeCompare([]byte(got), []byte(want))
	}
	return ok == 1
}

func srsStamp(t time.Time) string {
	day := t.Unix() / int64(srsDay/time.Second)
	return string([]byte{srsStampChars[(day>>5)&31], srsStampChars[day&31]})
}

// checkStamp returns "" if stamp is at most MaxAge days old, modulo the
// 1024-day wrap, as libsrs2 checks it.
func (s *SRS) checkStamp(stamp string) string {
	if len(stamp) != 2 {
		return "bad timestamp"
	}
	var then int64
	for i := 0; i < 2; i++ {
		c := stamp[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		k := strings.IndexByte(srsStampChars, c)
		if k < 0 {
			return "bad timestamp character"
		}
		then = then<<5 | int64(k)
	}
	now := (s.now().Unix() / int64(srsDay/time.Second)) % srsStampSlots
	for now < then {
		now += srsStampSlots
	}
	if now > then+s.maxDays {
		return "timestamp expired"
	}
	return ""
}

// asciiLower lower-cases ASCII letters only, as C's tolower in the C locale.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// ParseSRSSecrets reads a postsrsd secrets file: one secret per line, the
// first signing, blank lines and lines starting with "#" ignored. Errors
// wrap [ErrConfig].
func ParseSRSSecrets(r io.Reader) ([]string, error) {
	var secrets []string
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		secrets = append(secrets, line)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w: SRS secrets: %w", ErrPermanent, ErrConfig, err)
	}
	if len(secrets) == 0 {
		return nil, fmt.Errorf("%w: %w: no SRS secret", ErrPermanent, ErrConfig)
	}
	return secrets, nil
}
