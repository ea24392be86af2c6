package outbound

import "testing"

func TestBareAddress(t *testing.T) {
	tests := []struct {
		in, want string
		plain    bool
	}{
		{"a@example.org", "a@example.org", true},
		{"<a@example.org>", "a@example.org", false},
		{"Alice <a@example.org>", "a@example.org", false},
		{`"Smith, Al" <al@example.org> (work)`, "al@example.org", false},
		{`"a b"@example.org`, `"a b"@example.org`, true},
		{"a b@example.org", "ab@example.org", false},
		{"@example.org", "@example.org", false},
	}
	for _, tt := range tests {
		if got := bareAddress(tt.in); got != tt.want {
			t.Errorf("bareAddress(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := plainAddress(tt.in); got != tt.plain {
			t.Errorf("plainAddress(%q) = %v, want %v", tt.in, got, tt.plain)
		}
	}
}
