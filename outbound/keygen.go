package outbound

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// GenerateKey returns a new DKIM private key. alg is "rsa" (bits default
// 2048, at least 1024: RFC 8301 §3.2) or "ed25519" (bits ignored, RFC 8463).
func GenerateKey(alg string, bits int) (crypto.Signer, error) {
	switch strings.ToLower(alg) {
	case "rsa", "":
		if bits == 0 {
			bits = 2048
		}
		if bits < 1024 {
			return nil, fmt.Errorf("%w: %w: RSA keys under 1024 bits are refused by verifiers (RFC 8301)", ErrPermanent, ErrConfig)
		}
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, fmt.Errorf("%w: generate RSA key: %w", ErrTemporary, err)
		}
		return k, nil
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("%w: generate ed25519 key: %w", ErrTemporary, err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("%w: %w: unknown key algorithm %q (want rsa or ed25519)", ErrPermanent, ErrConfig, alg)
}

// MarshalPrivateKey returns key as a PEM "PRIVATE KEY" block (PKCS#8), the
// form opendkim-genkey writes and OpenDKIM, dkimpy and go-msgauth read.
func MarshalPrivateKey(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w: %w", ErrPermanent, ErrConfig, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// WritePrivateKey writes key to path in PKCS#8 PEM with mode 0600. It
// refuses to overwrite an existing file, and writes through a temporary file
// so a crash leaves no half key behind.
func WritePrivateKey(path string, key crypto.Signer) error {
	data, err := MarshalPrivateKey(key)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%w: %w: %s exists", ErrPermanent, ErrConfig, path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".dkim-key-*")
	if err != nil {
		return fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	// Link fails if path appeared meanwhile, unlike Rename.
	if err := os.Link(tmp.Name(), path); err != nil {
		return fmt.Errorf("%w: %w", ErrPermanent, err)
	}
	return nil
}

// DNSRecordValue returns the TXT record value publishing pub (RFC 6376
// §3.6.1): "v=DKIM1; h=sha256; k=rsa; p=..." with the RSA key as a
// SubjectPublicKeyInfo (OpenDKIM rejects a bare PKCS#1 key), or "v=DKIM1;
// k=ed25519; p=..." with the raw 32-byte key (RFC 8463 §4).
func DNSRecordValue(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			return "", fmt.Errorf("%w: %w: %w", ErrPermanent, ErrConfig, err)
		}
		return "v=DKIM1; h=sha256; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(k), nil
	}
	return "", fmt.Errorf("%w: %w: unsupported public key %T", ErrPermanent, ErrConfig, pub)
}

// DNSRecord returns the zone-file record publishing pub, laid out as
// opendkim-genkey prints it: the tags in one string, the p= value split into
// quoted strings of at most 255 bytes (RFC 1035 §3.3.14), and a comment.
//
//	sel._domainkey	IN	TXT	( "v=DKIM1; h=sha256; k=rsa; "
//		  "p=MIIBIjAN..."
//		  "...IDAQAB" )  ; ----- DKIM key sel for example.com
func DNSRecord(selector, domain string, pub crypto.PublicKey) (string, error) {
	v, err := DNSRecordValue(pub)
	if err != nil {
		return "", err
	}
	i := strings.Index(v, "p=")
	var b strings.Builder
	fmt.Fprintf(&b, "%s._domainkey\tIN\tTXT\t( %q", selector, v[:i])
	for p := v[i:]; p != ""; {
		n := min(len(p), 255)
		fmt.Fprintf(&b, "\n\t  %q", p[:n])
		p = p[n:]
	}
	fmt.Fprintf(&b, " )  ; ----- DKIM key %s for %s\n", selector, domain)
	return b.String(), nil
}

// ParseDNSRecord joins the quoted strings of a record printed by
// [DNSRecord] (or opendkim-genkey) back into the TXT value.
func ParseDNSRecord(rec string) string {
	var b strings.Builder
	for {
		i := strings.IndexByte(rec, '"')
		if i < 0 {
			break
		}
		rec = rec[i+1:]
		j := strings.IndexByte(rec, '"')
		if j < 0 {
			break
		}
		b.WriteString(rec[:j])
		rec = rec[j+1:]
	}
	return b.String()
}

// GenerateKeyFiles does what opendkim-genkey does: it generates a key and
// writes dir/SELECTOR.private (PKCS#8 PEM, mode 0600) and dir/SELECTOR.txt
// (the [DNSRecord]), and returns the key's path and the record. It refuses
// to overwrite either file.
func GenerateKeyFiles(dir, selector, domain, alg string, bits int) (keyPath, record string, err error) {
	if selector == "" || domain == "" || strings.ContainsAny(selector, "/\\") {
		return "", "", fmt.Errorf("%w: %w: bad selector %q or domain %q", ErrPermanent, ErrConfig, selector, domain)
	}
	key, err := GenerateKey(alg, bits)
	if err != nil {
		return "", "", err
	}
	record, err = DNSRecord(selector, domain, key.Public())
	if err != nil {
		return "", "", err
	}
	keyPath = filepath.Join(dir, selector+".private")
	txtPath := filepath.Join(dir, selector+".txt")
	if _, err := os.Lstat(txtPath); err == nil {
		return "", "", fmt.Errorf("%w: %w: %s exists", ErrPermanent, ErrConfig, txtPath)
	}
	if err := WritePrivateKey(keyPath, key); err != nil {
		return "", "", err
	}
	if err := os.WriteFile(txtPath, []byte(record), 0o644); err != nil {
		return "", "", fmt.Errorf("%w: %w", ErrTemporary, err)
	}
	return keyPath, record, nil
}
