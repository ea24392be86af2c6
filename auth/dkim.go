package auth

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/sluice-mail/sluice/mail"
)

// DKIM results (RFC 8601 §2.7.1).
const (
	DKIMNone      = "none"
	DKIMPass      = "pass"
	DKIMFail      = "fail"
	DKIMNeutral   = "neutral"
	DKIMTempError = "temperror"
	DKIMPermError = "permerror"
)

// DKIMResult is the outcome of verifying one DKIM-Signature field.
type DKIMResult struct {
	// Result is one of the DKIM* constants: neutral marks a signature
	// beyond Config.DKIMMaxSignatures, which was not verified.
	Result string
	// Domain is the signing domain (d=), lower-cased.
	Domain string
	// Identifier is the AUID (i=), "@"+Domain when absent.
	Identifier string
	// Selector is s=.
	Selector string
	// Algorithm is a=, for example "rsa-sha256" or "ed25519-sha256".
	Algorithm string
	// KeyBits is the RSA key size in bits, or 256 for ed25519; 0 when the
	// key was not fetched.
	KeyBits int
	// B is the start of the signature value (b=), for header.b (RFC 6008).
	B string
	// Reason says why the signature did not pass.
	Reason string
}

// keyInfo is what the DKIM key lookup learnt about a selector's key.
type keyInfo struct {
	bits    int
	tooWeak bool
}

// checkDKIM verifies up to max signatures of raw, whose header fields are
// fields, using r for key lookups and refusing RSA keys shorter than
// minBits (RFC 8301 §3.2). The fields only name the signatures for the
// results; go-msgauth verifies raw's bytes.
func checkDKIM(ctx context.Context, r Resolver, raw []byte, fields []mail.Field, max, minBits int) []DKIMResult {
	var results []DKIMResult
	for i := range fields {
		if !strings.EqualFold(fields[i].Name, "DKIM-Signature") {
			continue
		}
		tags := tagList(fields[i].Unfolded())
		b := tags["b"]
		if len(b) > 8 {
			b = b[:8]
		}
		results = append(results, DKIMResult{
			Domain:    strings.ToLower(tags["d"]),
			Selector:  tags["s"],
			Algorithm: strings.ToLower(tags["a"]),
			B:         b,
		})
	}
	if len(results) == 0 {
		return nil
	}

	var mu sync.Mutex
	keys := map[string]keyInfo{}
	lookup := func(name string) ([]string, error) {
		txts, err := r.LookupTXT(ctx, name)
		if err != nil {
			var de *net.DNSError
			if errors.As(err, &de) && (de.IsNotFound || !de.Temporary()) {
				return nil, de // go-msgauth: not temporary → permerror
			}
			// go-msgauth recognises temporary failures only as a bare
			// net.Error; anything unclassified is temporary.
			return nil, &net.DNSError{Err: err.Error(), Name: name, IsTemporary: true}
		}
		if len(txts) == 1 {
			ki := inspectKey(txts[0], minBits)
			mu.Lock()
			keys[strings.ToLower(name)] = ki
			mu.Unlock()
			if ki.tooWeak {
				return nil, fmt.Errorf("auth: RSA key of %d bits, under the %d-bit minimum", ki.bits, minBits)
			}
		}
		return txts, nil
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT:        lookup,
		MaxVerifications: max,
	})
	// An error other than ErrTooManySignatures is one go-msgauth could
	// not classify (reading the message); it then clears the Err of the
	// signature concerned, so no nil Err can be trusted as a pass.
	unclassified := err != nil && !errors.Is(err, dkim.ErrTooManySignatures)
	if unclassified && len(verifs) == 0 {
		for i := range results {
			results[i].Result = DKIMPermError
			results[i].Reason = err.Error()
		}
		return results
	}
	for i := range results {
		res := &results[i]
		if i >= len(verifs) {
			res.Result = DKIMNeutral
			res.Reason = "not verified: over the signature limit"
			continue
		}
		v := verifs[i]
		if v.Domain != "" {
			res.Domain = strings.ToLower(v.Domain)
		}
		res.Identifier = v.Identifier
		ki := keys[strings.ToLower(res.Selector+"._domainkey."+res.Domain)]
		res.KeyBits = ki.bits
		switch {
		case v.Err == nil && unclassified:
			res.Result = DKIMPermError
			res.Reason = err.Error()
			continue
		case v.Err == nil:
			res.Result = DKIMPass
		case dkim.IsTempFail(v.Err):
			res.Result = DKIMTempError
		case dkim.IsPermFail(v.Err):
			res.Result = DKIMPermError
		default:
			res.Result = DKIMFail
		}
		if v.Err != nil {
			res.Reason = v.Err.Error()
		}
	}
	return results
}

// inspectKey reads the key size from a DKIM key record (RFC 6376 §3.6.1).
// Syntax errors are left for go-msgauth to report.
func inspectKey(txt string, minBits int) keyInfo {
	tags := tagList(txt)
	switch strings.ToLower(tags["k"]) {
	case "ed25519":
		return keyInfo{bits: 256}
	case "", "rsa":
	default:
		return keyInfo{}
	}
	der, err := base64.StdEncoding.DecodeString(tags["p"])
	if err != nil || len(der) == 0 {
		return keyInfo{}
	}
	var pub *rsa.PublicKey
	if k, err := x509.ParsePKIXPublicKey(der); err == nil {
		pub, _ = k.(*rsa.PublicKey)
	} else if k, err := x509.ParsePKCS1PublicKey(der); err == nil {
		pub = k
	}
	if pub == nil {
		return keyInfo{}
	}
	bits := pub.N.BitLen()
	return keyInfo{bits: bits, tooWeak: bits < minBits}
}
