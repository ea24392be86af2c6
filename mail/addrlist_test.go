package mail

import (
	"slices"
	"testing"
)

func TestParseAddressList(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
	}{
		{`"Sirius" <"sirius.black"@hogwarts.example>`, []string{`"sirius.black"@hogwarts.example`}},
		{`a@b.c, "Name, Comma" <d@e.f>, group: g@h.i, j@k.l;`, []string{"a@b.c", "d@e.f", "g@h.i", "j@k.l"}},
		{`undisclosed-recipients:;`, nil},
		{`<@route.example:user@example.com>`, []string{"user@example.com"}},
		{`user@example.com (Comment)`, []string{"user@example.com"}},
		{`Name <user@example .com>`, []string{"user@example.com"}},
		{`not an address`, []string{"notanaddress"}},
		{`a@b@c`, []string{"a@b@c"}},
		{`=?utf-8?q?J=C3=B6rg?= <jorg@example.de>`, []string{"jorg@example.de"}},
	} {
		if got := ParseAddressList(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("ParseAddressList(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzParseAddressList(f *testing.F) {
	f.Add(`"a b" <c@d.e>, group: f@g.h;`)
	f.Add(`<@r.example:u@x.example> (c (nested))`)
	f.Fuzz(func(t *testing.T, v string) {
		for _, a := range ParseAddressList(v) {
			if a == "" {
				t.Fatalf("ParseAddressList(%q) has an empty entry", v)
			}
		}
	})
}
