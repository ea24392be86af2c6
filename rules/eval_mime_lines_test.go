package rules

import (
	"math/rand"
	"regexp"
	"strings"
	"testing"
)

var (
	innerSpaceRE = regexp.MustCompile(`\S\s+\S`)
	base64LineRE = regexp.MustCompile(`^(?:[A-Za-z0-9+/=]{60,76} ){2}`)
)

// TestUppercaseLineTests: hasInnerSpace and isBase64Line decide as the
// regexps MIMEEval.pm uses, on crafted and random lines.
func TestUppercaseLineTests(t *testing.T) {
	b64 := func(n int) string { return strings.Repeat("Ab+/9=", 20)[:n] }
	lines := []string{"", " ", "a", "a b", " a ", "a\tb", "a\x0bb", "  ab  ", "a \r\n", "\fa\fb",
		b64(60) + " " + b64(76) + " ", b64(59) + " " + b64(60) + " ", b64(77) + " " + b64(60) + " ",
		b64(60) + " " + b64(60), b64(60) + " " + b64(60) + " rest", b64(60) + "  " + b64(60) + " "}
	r := rand.New(rand.NewSource(1))
	alphabet := "aZ09+/= \t\r\n\f\x0b\x1b.-"
	for range 20000 {
		n := r.Intn(200)
		if r.Intn(4) == 0 {
			lines = append(lines, b64(60+r.Intn(17))+" "+b64(55+r.Intn(25))+string(alphabet[r.Intn(len(alphabet))]))
			continue
		}
		var b strings.Builder
		for range n {
			b.WriteByte(alphabet[r.Intn(len(alphabet))])
		}
		lines = append(lines, b.String())
	}
	for _, l := range lines {
		if got, want := hasInnerSpace([]byte(l)), innerSpaceRE.MatchString(l); got != want {
			t.Errorf("hasInnerSpace(%q) = %v, regexp says %v", l, got, want)
		}
		if got, want := isBase64Line([]byte(l)), base64LineRE.MatchString(l); got != want {
			t.Errorf("isBase64Line(%q) = %v, regexp says %v", l, got, want)
		}
	}
}

// FuzzUppercaseLineTests checks the same on any input.
func FuzzUppercaseLineTests(f *testing.F) {
	f.Add([]byte("a b"))
	f.Add([]byte(strings.Repeat("A", 60) + " " + strings.Repeat("b", 70) + " "))
	f.Fuzz(func(t *testing.T, p []byte) {
		if got, want := hasInnerSpace(p), innerSpaceRE.Match(p); got != want {
			t.Fatalf("hasInnerSpace(%q) = %v, regexp says %v", p, got, want)
		}
		if got, want := isBase64Line(p), base64LineRE.Match(p); got != want {
			t.Fatalf("isBase64Line(%q) = %v, regexp says %v", p, got, want)
		}
	})
}
