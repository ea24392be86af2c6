package rules

import (
	"reflect"
	"testing"
)

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

// TestConfigDefaults: the settings a rule set starts from are
// SpamAssassin 4.0's defaults.
func TestConfigDefaults(t *testing.T) {
	rs, err := LoadString("empty.cf", "", Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := rs.Config()
	if c.RequiredScore != 5 || c.ReportSafe != 1 || c.BodyPartScanSize != 50000 || c.RawBodyPartScanSize != 500000 || !reflect.DeepEqual(c.DNS, DefaultDNSConfig()) {
		t.Fatalf("defaults = required %v, report_safe %v, body_part_scan_size %d, rawbody_part_scan_size %d, DNS %+v",
			c.RequiredScore, c.ReportSafe, c.BodyPartScanSize, c.RawBodyPartScanSize, c.DNS)
	}
}
