package outbound

import (
	"bufio"
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mail/sluice/mail"
)

// KeyTableEntry is one line of an OpenDKIM KeyTable:
//
//	keyname  domain:selector:/path/to/key
//
// Domain may be "%", replaced by the domain of the address being signed for;
// "%" in Key is replaced the same way.
type KeyTableEntry struct {
	Name     string
	Domain   string
	Selector string
	// Key is a file path (starting with "/" or ".", relative paths resolved
	// against the KeyTable's directory) or, as in OpenDKIM, the key data
	// itself in base64 (PKCS#1, PKCS#8, or a raw 32-byte ed25519 seed).
	Key string
}

// SigningTableEntry is one line of an OpenDKIM SigningTable: an address
// pattern and the KeyTable name of the key that signs for it.
type SigningTableEntry struct {
	Pattern string
	KeyName string
}

// ParseKeyTable parses an OpenDKIM KeyTable: one "keyname
// domain:selector:keypath" per line, "#" comments and blank lines ignored.
// Errors wrap [ErrConfig].
func ParseKeyTable(r io.Reader) ([]KeyTableEntry, error) {
	var out []KeyTableEntry
	err := eachTableLine(r, func(n int, key, value string) error {
		parts := strings.SplitN(value, ":", 3)
		for i := range parts {
			parts[i] = strings.TrimSpace(parts[i])
		}
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			return fmt.Errorf("line %d: want keyname domain:selector:keypath", n)
		}
		out = append(out, KeyTableEntry{Name: key, Domain: strings.ToLower(parts[0]), Selector: parts[1], Key: parts[2]})
		return nil
	})
	return out, err
}

// ParseSigningTable parses an OpenDKIM SigningTable: one "pattern keyname"
// per line, "#" comments and blank lines ignored. Supported patterns:
//
//   - a pattern with "*" is a glob over the whole address, "*" matching any
//     run of characters (OpenDKIM's refile: semantics): "*@example.com",
//     "*@*.example.com", "*";
//   - "user@example.com" matches that address exactly;
//   - "example.com" or "@example.com" matches every address in that
//     domain (OpenDKIM's plain-file lookup by domain);
//   - ".example.com" matches every address in its subdomains.
//
// Matching is case-insensitive. Errors wrap [ErrConfig].
func ParseSigningTable(r io.Reader) ([]SigningTableEntry, error) {
	var out []SigningTableEntry
	err := eachTableLine(r, func(n int, key, value string) error {
		if strings.ContainsAny(value, " \t") {
			return fmt.Errorf("line %d: want pattern keyname", n)
		}
		out = append(out, SigningTableEntry{Pattern: strings.ToLower(key), KeyName: value})
		return nil
	})
	return out, err
}

func eachTableLine(r io.Reader, fn func(n int, key, value string) error) error {
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		key, value, ok := strings.Cut(line, " ")
		if k2, v2, ok2 := strings.Cut(line, "\t"); ok2 && (!ok || len(k2) < len(key)) {
			key, value, ok = k2, v2, true
		}
		if !ok {
			return fmt.Errorf("%w: %w: line %d: missing value", ErrPermanent, ErrConfig, n)
		}
		if err := fn(n, key, strings.TrimSpace(value)); err != nil {
			return fmt.Errorf("%w: %w: %w", ErrPermanent, ErrConfig, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %w: %w", ErrPermanent, ErrConfig, err)
	}
	return nil
}

// matchPattern reports whether the lower-cased address addr matches a
// SigningTable pattern.
func matchPattern(pattern, addr string) bool {
	if strings.Contains(pattern, "*") {
		return globMatch(pattern, addr)
	}
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	switch {
	case strings.Contains(pattern, "@") && !strings.HasPrefix(pattern, "@"):
		return pattern == addr
	case strings.HasPrefix(pattern, "."):
		return strings.HasSuffix(domain, pattern)
	}
	return strings.TrimPrefix(pattern, "@") == domain
}

// globMatch reports whether s matches pattern, where "*" matches any run of
// characters and every other character matches itself.
func globMatch(pattern, s string) bool {
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	last := parts[len(parts)-1]
	for _, p := range parts[1 : len(parts)-1] {
		i := strings.Index(s, p)
		if i < 0 {
			return false
		}
		s = s[i+len(p):]
	}
	return len(parts) > 1 && strings.HasSuffix(s, last)
}

// DKIMConfig configures a [DKIM] signer.
type DKIMConfig struct {
	// KeyTable and SigningTable are file paths, optionally prefixed with
	// "file:" or "refile:" as in opendkim.conf; both prefixes are read the
	// same way (see ParseSigningTable).
	KeyTable, SigningTable string
	// HeaderKeys lists the header fields to sign, in addition to From which
	// is always signed and oversigned. Default [DefaultSignedHeaders]().
	HeaderKeys []string
	// Simple selects simple/simple canonicalization instead of the default
	// relaxed/relaxed.
	Simple bool
}

// DefaultSignedHeaders returns the fields signed when present, after RFC
// 6376 §5.4.1's recommendation and OpenDKIM's defaults.
func DefaultSignedHeaders() []string {
	return []string{
		"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID",
		"In-Reply-To", "References", "MIME-Version", "Content-Type",
		"Content-Transfer-Encoding", "Content-Disposition", "Resent-Date",
		"Resent-From", "Resent-To", "Resent-Cc", "Resent-Message-ID", "Sender",
		"List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post",
		"List-Subscribe", "List-Post", "List-Owner", "List-Archive",
		"Auto-Submitted",
	}
}

// DKIM signs messages with the keys of an OpenDKIM KeyTable, chosen by a
// SigningTable. It is safe for concurrent use.
type DKIM struct {
	keys    map[string]KeyTableEntry
	signing []SigningTableEntry
	headers []string
	canon   dkim.Canonicalization
	baseDir string

	mu     sync.Mutex
	loaded map[string]crypto.Signer // key source → parsed key
}

// LoadDKIM reads the tables named in cfg and loads every key they name
// (keys behind a "%" path are loaded on first use). Errors wrap [ErrConfig].
func LoadDKIM(cfg DKIMConfig) (*DKIM, error) {
	kt, err := readTable(cfg.KeyTable)
	if err != nil {
		return nil, err
	}
	keys, err := ParseKeyTable(bytes.NewReader(kt))
	if err != nil {
		return nil, fmt.Errorf("KeyTable %s: %w", cfg.KeyTable, err)
	}
	st, err := readTable(cfg.SigningTable)
	if err != nil {
		return nil, err
	}
	signing, err := ParseSigningTable(bytes.NewReader(st))
	if err != nil {
		return nil, fmt.Errorf("SigningTable %s: %w", cfg.SigningTable, err)
	}
	d, err := NewDKIM(keys, signing, cfg)
	if err != nil {
		return nil, err
	}
	d.baseDir = filepath.Dir(tablePath(cfg.KeyTable))
	for _, k := range keys {
		if strings.Contains(k.Key, "%") {
			continue
		}
		if _, err := d.signer(k, ""); err != nil {
			if !errors.Is(err, ErrPermanent) {
				err = fmt.Errorf("%w: %w", ErrPermanent, err)
			}
			return nil, err
		}
	}
	return d, nil
}

// NewDKIM returns a DKIM for parsed tables; cfg's table paths are ignored.
// Key files named by relative paths are resolved against the working
// directory. Every SigningTable key name must be in the KeyTable.
func NewDKIM(keys []KeyTableEntry, signing []SigningTableEntry, cfg DKIMConfig) (*DKIM, error) {
	d := &DKIM{
		keys:    make(map[string]KeyTableEntry),
		signing: signing,
		headers: cfg.HeaderKeys,
		canon:   dkim.CanonicalizationRelaxed,
		loaded:  make(map[string]crypto.Signer),
	}
	if d.headers == nil {
		d.headers = DefaultSignedHeaders()
	}
	if cfg.Simple {
		d.canon = dkim.CanonicalizationSimple
	}
	for _, k := range keys {
		d.keys[k.Name] = k
	}
	for _, s := range signing {
		if _, ok := d.keys[s.KeyName]; !ok {
			return nil, fmt.Errorf("%w: %w: SigningTable names key %q missing from the KeyTable", ErrPermanent, ErrConfig, s.KeyName)
		}
	}
	return d, nil
}

func tablePath(p string) string {
	p = strings.TrimPrefix(p, "refile:")
	return strings.TrimPrefix(p, "file:")
}

func readTable(p string) ([]byte, error) {
	b, err := os.ReadFile(tablePath(p))
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %w", ErrPermanent, ErrConfig, err)
	}
	return b, nil
}

// signingKey is a resolved key for one signature.
type signingKey struct {
	domain, selector string
	signer           crypto.Signer
}

// keysFor returns the keys the SigningTable selects for addr, one per key
// name, in table order.
func (d *DKIM) keysFor(addr string) ([]signingKey, error) {
	addr = strings.ToLower(strings.Trim(addr, "<> "))
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return nil, nil
	}
	domain := addr[at+1:]
	var out []signingKey
	seen := make(map[string]bool)
	for _, s := range d.signing {
		if seen[s.KeyName] || !matchPattern(s.Pattern, addr) {
			continue
		}
		seen[s.KeyName] = true
		k := d.keys[s.KeyName]
		signer, err := d.signer(k, domain)
		if err != nil {
			// A "%" key path names a file per domain: no file, no key.
			if strings.Contains(k.Key, "%") && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, err
		}
		kd := k.Domain
		if kd == "%" {
			kd = domain
		}
		out = append(out, signingKey{domain: kd, selector: k.Selector, signer: signer})
	}
	return out, nil
}

// HasKey reports whether the SigningTable selects a usable key for addr.
func (d *DKIM) HasKey(addr string) bool {
	keys, err := d.keysFor(addr)
	return err == nil && len(keys) > 0
}

func (d *DKIM) signer(k KeyTableEntry, domain string) (crypto.Signer, error) {
	src := strings.ReplaceAll(k.Key, "%", domain)
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.loaded[src]; ok {
		return s, nil
	}
	var data []byte
	if strings.HasPrefix(src, "/") || strings.HasPrefix(src, ".") {
		p := src
		if !filepath.IsAbs(p) && d.baseDir != "" {
			p = filepath.Join(d.baseDir, p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("%w: key %s: %w", ErrConfig, k.Name, err)
		}
		data = b
	} else {
		data = []byte(src)
	}
	s, err := ParsePrivateKey(data)
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", k.Name, err)
	}
	d.loaded[src] = s
	return s, nil
}

// ParsePrivateKey parses a DKIM private key in any form OpenDKIM, dkimpy or
// rspamd write: PEM "PRIVATE KEY" (PKCS#8, RSA or ed25519), PEM "RSA PRIVATE
// KEY" (PKCS#1), the same DER in bare base64, or a base64 raw 32-byte
// ed25519 seed. Errors wrap [ErrConfig].
func ParsePrivateKey(data []byte) (crypto.Signer, error) {
	der := data
	if blk, _ := pem.Decode(data); blk != nil {
		der = blk.Bytes
	} else if b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(data)), "")); err == nil {
		der = b
	} else {
		return nil, fmt.Errorf("%w: %w: private key is neither PEM nor base64", ErrPermanent, ErrConfig)
	}
	if len(der) == ed25519.SeedSize {
		return ed25519.NewKeyFromSeed(der), nil
	}
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		switch k := k.(type) {
		case *rsa.PrivateKey:
			return k, nil
		case ed25519.PrivateKey:
			return k, nil
		}
		return nil, fmt.Errorf("%w: %w: unsupported private key type %T", ErrPermanent, ErrConfig, k)
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: %w: cannot parse private key", ErrPermanent, ErrConfig)
}

// Sign returns raw with one DKIM-Signature prepended per key the
// SigningTable selects for addr (normally the header From address, or the
// forwarding recipient's address for a redirect). Existing fields, earlier
// DKIM-Signatures included, are left untouched. If no key matches, raw is
// returned unchanged and signed is false. A key that cannot be loaded is
// our fault, so errors are temporary.
func (d *DKIM) Sign(raw []byte, addr string) (out []byte, signed bool, err error) {
	keys, err := d.keysFor(addr)
	if err != nil {
		return raw, false, fmt.Errorf("%w: dkim key for %s: %v", ErrTemporary, addr, err)
	}
	if len(keys) == 0 {
		return raw, false, nil
	}
	hdr, _ := splitMessage(raw)
	headerKeys := d.headerKeys(hdr)
	var sigs []byte
	for _, k := range keys {
		s, err := dkim.NewSigner(&dkim.SignOptions{
			Domain:                 k.domain,
			Selector:               k.selector,
			Signer:                 k.signer,
			HeaderCanonicalization: d.canon,
			BodyCanonicalization:   d.canon,
			HeaderKeys:             headerKeys,
		})
		if err != nil {
			return nil, false, fmt.Errorf("%w: dkim: %w", ErrTemporary, err)
		}
		if _, err := s.Write(raw); err != nil {
			s.Close()
			return nil, false, fmt.Errorf("%w: dkim: %w", ErrTemporary, err)
		}
		if err := s.Close(); err != nil {
			return nil, false, fmt.Errorf("%w: dkim: %w", ErrTemporary, err)
		}
		sigs = append(sigs, s.Signature()...)
	}
	if !bytes.Contains(hdr, []byte("\r\n")) {
		sigs = bytes.ReplaceAll(sigs, []byte("\r\n"), []byte("\n"))
	}
	return append(sigs, raw...), true, nil
}

// headerKeys lists each configured field once per occurrence in hdr, and
// From once more: the extra entry "oversigns" it (RFC 6376 §5.4.2), so a
// From field added later breaks the signature.
func (d *DKIM) headerKeys(hdr []byte) []string {
	count := make(map[string]int)
	for _, f := range mail.ParseHeader(hdr) {
		count[strings.ToLower(f.Name)]++
	}
	keys := []string{}
	seen := make(map[string]bool)
	for _, h := range append([]string{"From"}, d.headers...) {
		lh := strings.ToLower(h)
		if seen[lh] {
			continue
		}
		seen[lh] = true
		n := count[lh]
		if lh == "from" {
			n++
		}
		for i := 0; i < n; i++ {
			keys = append(keys, h)
		}
	}
	return keys
}
