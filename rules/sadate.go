package rules

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

// saTZ are the zone abbreviations SpamAssassin's parse_rfc822_date knows
// (Mail::SpamAssassin::Util %TZ), as offsets in minutes east of UTC.
var saTZ = map[string]int{
	"UT": 0, "UTC": 0, "NDT": -150, "AST": -240, "ADT": -180, "NST": -210,
	"EST": -300, "EDT": -240, "CST": -360, "CDT": -300, "MST": -420, "MDT": -360,
	"PST": -480, "PDT": -420, "HST": -600, "AKST": -540, "AKDT": -480,
	"HADT": -540, "HAST": -600, "GMT": 0, "BST": 60, "IST": 60, "WET": 0,
	"WEST": 60, "CET": 60, "CEST": 120, "EET": 120, "EEST": 180, "MSK": 180,
	"MSD": 240, "MET": 60, "MEZ": 60, "MEST": 120, "MESZ": 120, "BRST": -120,
	"BRT": -180, "AEST": 600, "AEDT": 660, "ACST": 570, "ACDT": 630,
	"AWST": 480, "NZST": 720, "NZDT": 780, "JST": 540, "KST": 540, "HKT": 480,
	"SGT": 480, "PHT": 480, "IDT": 180,
}

var (
	saDateDMY4  = regexp.MustCompile(`(?i) (\d+) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) `)
	saDateMDY   = regexp.MustCompile(`(?i) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +(\d+) \d+:\d+:\d+ (\d{4}) `)
	saDateDMY2  = regexp.MustCompile(`(?i) (\d+) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{2,3}) `)
	saDateHMS   = regexp.MustCompile(` (\d?\d):(\d\d)(:(\d\d))? `)
	saDateNumTZ = regexp.MustCompile(` ([-+])(\d\d)(\d\d) `)
	saDateTZ    = regexp.MustCompile(`\b([A-Z]{2,4}(?:-DST)?)\b`)
	saCommaRE   = regexp.MustCompile(`, *`)
	saSpaceRE   = regexp.MustCompile(`\s+`)
	// saRcvdDateRE is the date _get_received_header_times takes from a Received header.
	saRcvdDateRE = regexp.MustCompile(`\s.?\d+ \S\S\S \d+ \d+:\d+:\d+ \S+`)
	saFetchLocal = regexp.MustCompile(`\bfrom (?:localhost\s|(?:\S+ ){1,2}\S*\b127\.0\.0\.1\b)|qmail \d+ invoked by uid \d+`)
	saFetchmail  = regexp.MustCompile(`\bby localhost with \w+ \(fetchmail-[\d.]+`)
)

var saMonths = map[string]time.Month{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
	"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}

// cutFirst removes the first match of re from s (replacing it with a
// space, as parse_rfc822_date's s/// does) and returns its submatches.
func cutFirst(re *regexp.Regexp, s *string) []string {
	loc := re.FindStringSubmatchIndex(*s)
	if loc == nil {
		return nil
	}
	m := make([]string, len(loc)/2)
	for i := range m {
		if loc[2*i] >= 0 {
			m[i] = (*s)[loc[2*i]:loc[2*i+1]]
		}
	}
	*s = (*s)[:loc[0]] + " " + (*s)[loc[1]:]
	return m
}

// saParseDate parses a date as SpamAssassin's Util::parse_rfc822_date
// does: lenient about order and year width, zone abbreviations from its
// table, any other zone (or none) taken as UTC, out-of-range fields
// clamped, years clamped to 1970..2037.
func saParseDate(date string) (time.Time, bool) {
	s := " " + date + " "
	s = saCommaRE.ReplaceAllString(s, " ")
	s = saSpaceRE.ReplaceAllString(s, " ")
	var dd, yyyy int
	var mon string
	if m := cutFirst(saDateDMY4, &s); m != nil {
		dd, _ = strconv.Atoi(m[1])
		mon, yyyy = m[2], atoiOr0(m[3])
	} else if m := cutFirst(saDateMDY, &s); m != nil {
		dd, _ = strconv.Atoi(m[2])
		mon, yyyy = m[1], atoiOr0(m[3])
	} else if m := cutFirst(saDateDMY2, &s); m != nil {
		dd, _ = strconv.Atoi(m[1])
		mon = m[2]
		if y := m[3]; len(y) == 2 && atoiOr0(y) < 50 {
			yyyy = atoiOr0(y) + 2000
		} else {
			yyyy = atoiOr0(y) + 1900
		}
	} else {
		return time.Time{}, false
	}
	var hh, mm, ss int
	if m := cutFirst(saDateHMS, &s); m != nil {
		hh, mm, ss = atoiOr0(m[1]), atoiOr0(m[2]), atoiOr0(m[4])
	}
	off := 0
	if m := cutFirst(saDateNumTZ, &s); m != nil {
		off = atoiOr0(m[2])*60 + atoiOr0(m[3])
		if m[1] == "-" {
			off = -off
		}
	} else if m := saDateTZ.FindStringSubmatch(s); m != nil {
		off = saTZ[m[1]]
	}
	mo := saMonths[strings.ToLower(mon)]
	ss, mm, hh = min(ss, 59), min(mm, 59), min(hh, 23)
	maxDD := 31
	switch mo {
	case 4, 6, 9, 11:
		maxDD = 30
	case 2:
		maxDD = 28
		if yyyy%4 == 0 && (yyyy%100 != 0 || yyyy%400 == 0) {
			maxDD = 29
		}
	}
	if dd > maxDD {
		dd = 1
		if mo++; mo > 12 {
			mo, yyyy = 1, yyyy+1
		}
	}
	yyyy = max(min(yyyy, 2037), 1970)
	if dd < 1 { // timegm croaks: SpamAssassin has no time
		return time.Time{}, false
	}
	t := time.Date(yyyy, mo, dd, hh, mm, ss, 0, time.UTC).Add(-time.Duration(off) * time.Minute)
	if t.Unix() < 0 {
		t = time.Unix(0, 0).UTC()
	}
	return t, true
}

func atoiOr0(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// saReceivedTimes returns the times of the Received headers (unfolded
// values, newest first) as HeaderEval's _get_received_header_times finds
// them: a first local (127.0.0.1, qmail uid) header is dropped when a
// fetchmail header follows it, and so is that fetchmail header (or a
// fetchmail header on top).
func saReceivedTimes(received []string) []time.Time {
	var lines []string
	for _, r := range received {
		// Unfolded as Message::Node does: the fold's line break goes.
		l := strings.NewReplacer("\r", "", "\n\t", " ", "\n", "").Replace(r)
		if strings.TrimSpace(l) != "" {
			lines = append(lines, l)
		}
	}
	switch {
	case len(lines) > 1 && saFetchLocal.MatchString(lines[0]) && saFetchmail.MatchString(lines[1]):
		lines = lines[2:]
	case len(lines) > 0 && !saFetchLocal.MatchString(lines[0]) && saFetchmail.MatchString(lines[0]):
		lines = lines[1:]
	}
	var out []time.Time
	for _, l := range lines {
		m := saRcvdDateRE.FindString(l)
		if m == "" {
			continue
		}
		if t, ok := saParseDate(m); ok {
			out = append(out, t)
		}
	}
	return out
}

// saDateHeaderTime is the time of the first Resent-Date, else Date,
// header that saParseDate can read.
func saDateHeaderTime(msg Message) (time.Time, bool) {
	for _, h := range []string{"Resent-Date", "Date"} {
		for _, d := range msg.Header(h, false) {
			if t, ok := saParseDate(strings.TrimRight(d, "\n")); ok {
				return t, true
			}
		}
	}
	return time.Time{}, false
}
