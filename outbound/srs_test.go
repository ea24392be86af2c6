package outbound

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// postsrsdTime is the fake time of postsrsd's own tests: 2020-01-01 00:01:00 UTC.
var postsrsdTime = time.Unix(1577836860, 0)

func newTestSRS(t *testing.T, now time.Time, secrets ...string) *SRS {
	t.Helper()
	s, err := NewSRS(SRSConfig{Secrets: secrets, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatalf("NewSRS: %v", err)
	}
	return s
}

// TestSRSPostsrsdVectors checks the published vectors of postsrsd's unit and
// blackbox tests (secret "tops3cr3t", alias domain example.com).
func TestSRSPostsrsdVectors(t *testing.T) {
	s := newTestSRS(t, postsrsdTime, "tops3cr3t")
	forward := []struct{ sender, want string }{
		{"test@otherdomain.com", "SRS0=vmyz=2W=otherdomain.com=test@example.com"},
		{"sender@otherdomain.com", "SRS0=9KJ+=2W=otherdomain.com=sender@example.com"},
		{"test@example.com", "test@example.com"},
		{"", ""},
		{"<>", "<>"},
		{"SRS0=opaque+string@otherdomain.com", "SRS1=chaI=otherdomain.com==opaque+string@example.com"},
		{"SRS1=X=thirddomain.com==opaque+string@otherdomain.com", "SRS1=JIBX=thirddomain.com==opaque+string@example.com"},
		{"test@" + strings.Repeat("a", 508-9) + ".net", "SRS0=ckoK=2W=" + strings.Repeat("a", 508-9) + ".net=test@example.com"},
	}
	for _, tc := range forward {
		got, err := s.Forward(tc.sender, "example.com")
		if err != nil || got != tc.want {
			t.Errorf("Forward(%q) = %q, %v, want %q", tc.sender, got, err, tc.want)
		}
	}
	reverse := []struct{ addr, want string }{
		{"SRS0=vmyz=2W=otherdomain.com=test@example.com", "test@otherdomain.com"},
		{"SRS0=9KJ+=2W=otherdomain.com=sender@example.com", "sender@otherdomain.com"},
		{"SRS1=JIBX=thirddomain.com==opaque+string@example.com", "SRS0=opaque+string@thirddomain.com"},
		{"srs0=xjo9=2v=otherdomain.com=test@example.com", "test@otherdomain.com"},
		{"SRS0=XJO9=2V=OTHERDOMAIN.COM=TEST@EXAMPLE.COM", "TEST@OTHERDOMAIN.COM"},
		{"SRS0=845K=2W=" + strings.Repeat("a", 508-34) + ".net=test@example.com", "test@" + strings.Repeat("a", 508-34) + ".net"},
	}
	for _, tc := range reverse {
		got, err := s.Reverse(tc.addr)
		if err != nil || got != tc.want {
			t.Errorf("Reverse(%q) = %q, %v, want %q", tc.addr, got, err, tc.want)
		}
	}
	bad := []string{
		"SRS0=te87=T7=otherdomain.com=test@example.com", // six months old
		"SRS0=VcIb=7N=otherdomain.com=test@example.com", // six months ahead
		"SRS0=FAKE=2V=otherdomain.com=test@example.com",
		"SRS0=@example.com",
		"SRS0=XjO9@example.com",
		"SRS0=XjO9=2V@example.com",
		"SRS0=XjO9=2V=otherdomain.com@example.com",
		"SRS0=XjO9=2%=otherdomain.com=test@example.com",
		"SRS1=XXXX=thirddomain.com==opaque+string@example.com",
		"SRS1=JIBX=thirddomain.com@example.com",
	}
	for _, addr := range bad {
		if got, err := s.Reverse(addr); !errors.Is(err, ErrSRSInvalid) || IsTemporary(err) {
			t.Errorf("Reverse(%q) = %q, %v, want ErrSRSInvalid", addr, got, err)
		}
	}
	if _, err := s.Reverse("test@example.com"); !errors.Is(err, ErrNotSRS) {
		t.Errorf("Reverse(plain) = %v, want ErrNotSRS", err)
	}
	if _, err := s.Forward("foo", "example.com"); err == nil || IsTemporary(err) {
		t.Errorf("Forward(%q) = %v, want permanent error", "foo", err)
	}
}

func TestSRSRoundTripAndExpiry(t *testing.T) {
	sent := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	s := newTestSRS(t, sent, "new", "old")
	fw, err := s.Forward("Alice.Smith@Origin.Example", "forward.example")
	if err != nil {
		t.Fatalf("Forward: %v", err)
	}
	if !strings.HasPrefix(fw, "SRS0=") || !strings.HasSuffix(fw, "@forward.example") {
		t.Fatalf("Forward = %q, want SRS0=...@forward.example", fw)
	}
	for _, tc := range []struct {
		age  time.Duration
		addr string
		ok   bool
	}{
		{0, fw, true},
		{0, strings.ToLower(fw), true},
		{20 * 24 * time.Hour, fw, true},
		{21 * 24 * time.Hour, fw, true},
		{22 * 24 * time.Hour, fw, false},
		{400 * 24 * time.Hour, fw, false},
		{1024 * 24 * time.Hour, fw, true}, // the 2-char stamp wraps every 1024 days, as in libsrs2
	} {
		later := newTestSRS(t, sent.Add(tc.age), "new", "old")
		got, err := later.Reverse(tc.addr)
		if tc.ok && (err != nil || !strings.EqualFold(got, "Alice.Smith@Origin.Example")) {
			t.Errorf("after %v: Reverse(%q) = %q, %v, want the original sender", tc.age, tc.addr, got, err)
		}
		if !tc.ok && !errors.Is(err, ErrSRSInvalid) {
			t.Errorf("after %v: Reverse(%q) = %q, %v, want ErrSRSInvalid", tc.age, tc.addr, got, err)
		}
	}
	// Rotation: an address signed with the secret now second still verifies;
	// one signed with a dropped secret does not.
	rotated := newTestSRS(t, sent, "newer", "new")
	if got, err := rotated.Reverse(fw); err != nil || got != "Alice.Smith@Origin.Example" {
		t.Errorf("rotated Reverse(%q) = %q, %v", fw, got, err)
	}
	dropped := newTestSRS(t, sent, "newer")
	if _, err := dropped.Reverse(fw); !errors.Is(err, ErrSRSInvalid) {
		t.Errorf("Reverse with dropped secret = %v, want ErrSRSInvalid", err)
	}
	// Local domains are left alone.
	loc, err := NewSRS(SRSConfig{Secrets: []string{"x"}, LocalDomains: []string{"Origin.Example"}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := loc.Forward("bob@origin.example", "forward.example"); got != "bob@origin.example" {
		t.Errorf("Forward(local) = %q, want unchanged", got)
	}
}

// TestSRS1OfSRS0 forwards twice through two hosts and bounces back.
func TestSRS1OfSRS0(t *testing.T) {
	first := newTestSRS(t, postsrsdTime, "first-secret")
	second := newTestSRS(t, postsrsdTime, "second-secret")
	srs0, err := first.Forward("user@origin.example", "first.example")
	if err != nil {
		t.Fatal(err)
	}
	srs1, err := second.Forward(srs0, "second.example")
	if err != nil {
		t.Fatal(err)
	}
	local0 := strings.TrimSuffix(srs0, "@first.example")
	if want := "=first.example=" + local0[4:] + "@second.example"; !strings.HasPrefix(srs1, "SRS1=") || !strings.HasSuffix(srs1, want) {
		t.Fatalf("Forward(%q) = %q, want SRS1=HHHH%s", srs0, srs1, want)
	}
	// A third hop keeps the first forwarder.
	third := newTestSRS(t, postsrsdTime, "third-secret")
	srs1b, err := third.Forward(srs1, "third.example")
	if err != nil || !strings.Contains(srs1b, "=first.example==") || !strings.HasSuffix(srs1b, "@third.example") {
		t.Fatalf("Forward(%q) = %q, %v", srs1, srs1b, err)
	}
	back, err := second.Reverse(srs1)
	if err != nil || back != srs0 {
		t.Fatalf("Reverse(%q) = %q, %v, want %q", srs1, back, err, srs0)
	}
	orig, err := first.Reverse(back)
	if err != nil || orig != "user@origin.example" {
		t.Fatalf("Reverse(%q) = %q, %v", back, orig, err)
	}
	if _, err := first.Reverse(srs1); !errors.Is(err, ErrSRSInvalid) {
		t.Fatalf("Reverse with the wrong secret = %v, want ErrSRSInvalid", err)
	}
}

func FuzzSRSReverse(f *testing.F) {
	for _, s := range []string{"SRS0=9KJ+=2W=otherdomain.com=sender@example.com", "SRS1=JIBX=thirddomain.com==opaque+string@example.com", "SRS0=", "srs1-a=b=c", "plain@example.com"} {
		f.Add(s)
	}
	s, _ := NewSRS(SRSConfig{Secrets: []string{"tops3cr3t"}, Now: func() time.Time { return postsrsdTime }})
	f.Fuzz(func(t *testing.T, addr string) {
		got, err := s.Reverse(addr)
		if err == nil && got == "" {
			t.Fatalf("Reverse(%q) = empty, nil", addr)
		}
		if _, err := s.Forward(addr, "example.com"); err != nil && IsTemporary(err) {
			t.Fatalf("Forward(%q) = %v: temporary", addr, err)
		}
	})
}

func TestParseSRSSecrets(t *testing.T) {
	got, err := ParseSRSSecrets(strings.NewReader("# rotated 2026-11\nnew-secret\n\n  old-secret  \n"))
	if err != nil || strings.Join(got, ",") != "new-secret,old-secret" {
		t.Errorf("ParseSRSSecrets = %q, %v", got, err)
	}
	if _, err := ParseSRSSecrets(strings.NewReader("# none\n")); !errors.Is(err, ErrConfig) {
		t.Errorf("ParseSRSSecrets(empty) = %v, want ErrConfig", err)
	}
}
