package bayes

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
)

// Token is a token as SpamAssassin stores it: the low 40 bits (last five
// bytes) of the SHA-1 of the token text (Bayes.pm tokenize:
// substr(sha1($token), -5)). sa-learn --backup writes it as ten hex digits.
type Token [5]byte

// HashToken returns the stored form of the token text s.
func HashToken(s string) Token {
	sum := sha1.Sum([]byte(s))
	var t Token
	copy(t[:], sum[len(sum)-5:])
	return t
}

// String returns the token as ten lower-case hex digits, as in
// sa-learn --backup and --dump data.
func (t Token) String() string { return hex.EncodeToString(t[:]) }

// ParseToken reads a token written by [Token.String].
func ParseToken(s string) (Token, error) {
	var t Token
	if len(s) != 2*len(t) {
		return t, fmt.Errorf("%w: token %q is not %d hex digits", ErrFormat, s, 2*len(t))
	}
	if _, err := hex.Decode(t[:], []byte(s)); err != nil {
		return t, fmt.Errorf("%w: token %q: %v", ErrFormat, s, err)
	}
	return t, nil
}
