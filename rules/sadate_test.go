package rules

import (
	"testing"
	"time"
)

func TestSAParseDate(t *testing.T) {
	utc := func(y int, mo time.Month, d, h, mi, s int) time.Time {
		return time.Date(y, mo, d, h, mi, s, 0, time.UTC)
	}
	tests := []struct {
		in   string
		want time.Time
		ok   bool
	}{
		{"Thu, 25 Jul 2002 15:39:47 EDT", utc(2002, 7, 25, 19, 39, 47), true},        // zone abbreviation from %TZ
		{"28 Jun 01 10:05:15 PM", utc(2001, 6, 28, 10, 5, 15), true},                 // two-digit year, PM is an unknown zone: UTC
		{"Wed, 21 Aug 2002 08:33:03 -0400 (EDT)", utc(2002, 8, 21, 12, 33, 3), true}, // numeric zone wins
		{"Mon Jul 29 10:00:00 2002", utc(2002, 7, 29, 0, 0, 0), true},                // asctime: the date match eats the time, as in Perl
		{"Sat, 31 Jun 2002 23:75:00 +0000", utc(2002, 7, 1, 23, 59, 0), true},        // clamped and rolled over
		{"1 Jan 1960 00:00:00 +0000", utc(1970, 1, 1, 0, 0, 0), true},                // year clamped
		{"yesterday", time.Time{}, false},
	}
	for _, tt := range tests {
		got, ok := saParseDate(tt.in)
		if ok != tt.ok || !got.Equal(tt.want) {
			t.Fatalf("saParseDate(%q) = %v, %v, want %v, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestSAReceivedTimes(t *testing.T) {
	tests := []struct {
		name string
		rcvd []string
		want int
	}{
		{"seconds required", []string{"from a by b; 1 Jan 2024 10:00 +0000", "from c by d; 1 Jan 2024 10:00:00 +0000"}, 1},
		{"fetchmail pair dropped", []string{"from localhost [127.0.0.1] by x; 1 Jan 2024 10:00:00 +0000", "from y by localhost with POP3 (fetchmail-5.9.0) for z; 1 Jan 2024 10:00:00 +0000", "from c by d; 1 Jan 2024 09:00:00 +0000"}, 1},
		{"local kept without fetchmail", []string{"from localhost [127.0.0.1] by x; 1 Jan 2024 10:00:00 +0000", "from c by d; 1 Jan 2024 09:00:00 +0000"}, 2},
		{"folded", []string{"from a by b; Thu,\n    28 Jun 2001 15:57:31 +0200"}, 1},
	}
	for _, tt := range tests {
		if got := saReceivedTimes(tt.rcvd); len(got) != tt.want {
			t.Fatalf("%s: saReceivedTimes(%q) = %v, want %d times", tt.name, tt.rcvd, got, tt.want)
		}
	}
}
