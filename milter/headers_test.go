package milter

import (
	"strings"
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

// replay applies actions to orig as Postfix's cleanup does (a deleted
// field leaves the list) and returns the raw fields.
func replay(orig []mail.Field, acts []action, leadingSpace bool) []string {
	var lines []string
	for i := range orig {
		lines = append(lines, string(orig[i].Raw()))
	}
	render := func(a action) string {
		sep := ":"
		if !leadingSpace {
			sep = ": "
		}
		return a.name + sep + strings.ReplaceAll(a.value, "\n", "\r\n") + "\r\n"
	}
	for _, a := range acts {
		switch a.kind {
		case actAdd:
			lines = append(lines, render(a))
		case actInsert:
			i := min(a.index, len(lines))
			lines = append(lines[:i], append([]string{render(a)}, lines[i:]...)...)
		case actChange:
			n := 0
			for i, l := range lines {
				name, _, _ := strings.Cut(l, ":")
				if strings.EqualFold(name, a.name) {
					n++
					if n == a.index {
						if a.value == "" {
							lines = append(lines[:i], lines[i+1:]...)
						} else {
							lines[i] = render(a)
						}
						break
					}
				}
			}
		}
	}
	return lines
}

func checkActions(t *testing.T, from, to string, leadingSpace bool) []action {
	t.Helper()
	orig := mail.ParseHeader([]byte(from))
	final := mail.ParseHeader([]byte(to))
	acts := headerActions(orig, final, leadingSpace)
	got := strings.Join(replay(orig, acts, leadingSpace), "")
	var want strings.Builder
	for i := range final {
		want.Write(final[i].Raw())
	}
	if got != want.String() {
		t.Fatalf("headerActions(%q, %q) = %v, replayed to %q", from, to, acts, got)
	}
	return acts
}

func TestHeaderActions(t *testing.T) {
	for _, tc := range []struct {
		name, from, to string
		n              int // actions wanted
	}{
		{"same", "A: 1\r\nB: 2\r\n", "A: 1\r\nB: 2\r\n", 0},
		{"top", "A: 1\r\n", "AR: x\r\nA: 1\r\n", 1},
		{"append", "A: 1\r\n", "A: 1\r\nX-Spam-Status: No\r\nX-Spam-Level: \r\n", 2},
		{"remove dup", "X: 1\r\nA: 1\r\nX: 1\r\nX: 2\r\n", "A: 1\r\nX: 2\r\n", 2},
		{"rewrite", "Subject: a\r\nB: 1\r\n", "Subject: [SPAM] a\r\nB: 1\r\n", 1},
		{"folded", "A: 1\r\n", "A: 1\r\nAR: x;\r\n\tspf=pass\r\n", 1},
		{"everything", "AR: forged\r\nFrom: a\r\nSubject: s\r\nX-Spam-Flag: YES\r\nTo: b\r\n",
			"AR: ours\r\nFrom: a\r\nSubject: [SPAM] s\r\nTo: b\r\nX-Spam-Flag: YES\r\nX-Spam-Status: Yes\r\n", 5},
		{"empty", "", "A: 1\r\n", 1},
		{"all gone", "A: 1\r\nB: 2\r\n", "", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, ls := range []bool{true, false} {
				if acts := checkActions(t, tc.from, tc.to, ls); len(acts) != tc.n {
					t.Errorf("%d actions %v, want %d", len(acts), acts, tc.n)
				}
			}
		})
	}
}

// FuzzHeaderActions: whatever the two header sections, the actions turn
// the first into the second.
func FuzzHeaderActions(f *testing.F) {
	f.Add("A: 1\r\nB: 2\r\n", "C: 3\r\nA: 1\r\nB: 2\r\n")
	f.Add("X: 1\r\nX: 1\r\nY: 2\r\n", "X: 1\r\nZ: 9\r\nX: 1\r\n")
	f.Add("Subject: a\r\n b\r\n", "Subject: c\r\n")
	f.Fuzz(func(t *testing.T, from, to string) {
		norm := func(s string) string {
			// The fields as an MTA keeps them: names of printable
			// characters, values without NUL, every field ended by CRLF.
			var b strings.Builder
			for _, f := range mail.ParseHeader([]byte(s)) {
				if f.Name == "" || !strings.HasPrefix(string(f.Raw()), f.Name+":") || strings.ContainsAny(string(f.Raw()), "\x00") {
					continue
				}
				for _, c := range f.Name {
					if c <= ' ' || c >= 0x7f {
						return b.String()
					}
				}
				raw := strings.ReplaceAll(strings.ReplaceAll(string(f.Raw()), "\r", ""), "\n", "\r\n")
				if !strings.HasSuffix(raw, "\r\n") || strings.TrimSpace(raw[len(f.Name)+1:]) == "" {
					continue
				}
				b.WriteString(raw)
			}
			return b.String()
		}
		checkActions(t, norm(from), norm(to), true)
	})
}
