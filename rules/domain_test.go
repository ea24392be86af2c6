package rules

import "testing"

func TestRegistrableDomain(t *testing.T) {
	multi := map[string]bool{"co.uk": true, "ma.us": true, "k12.ma.us": true}
	tests := []struct{ in, want string }{
		{"mail.example.co.uk", "example.co.uk"},
		{"a.b.school.k12.ma.us", "school.k12.ma.us"},
		{"x.town.ma.us", "town.ma.us"},
		{"www.example.com", "example.com"},
		{"Example.COM.", "example.com"},
		{"192.0.2.1", "192.0.2.1"},
		{"localhost", "localhost"},
	}
	for _, tt := range tests {
		if got := RegistrableDomain(tt.in, nil, multi); got != tt.want {
			t.Errorf("RegistrableDomain(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
