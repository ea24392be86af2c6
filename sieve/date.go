package sieve

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// dateSpecs registers the commands and tests of date.
func dateSpecs(add func(*spec)) {
	// RFC 5260 date and currentdate.
	zoneTags := []tagDef{{name: "zone", group: "zonegroup", param: argString, paramName: "time-zone offset"},
		{name: "originalzone", group: "zonegroup", param: noParam}}
	add(&spec{name: "date", test: true, ext: "date", tags: append(matchingTags(indexTags()...), zoneTags...),
		pos:   []posDef{{typ: argString, name: "header name"}, {typ: argString, name: "date part"}, {typ: argStringList, name: "key list"}},
		check: checkDate, eval: evalDate})
	add(&spec{name: "currentdate", test: true, ext: "date", tags: append(matchingTags(), zoneTags[0]),
		pos:   []posDef{{typ: argString, name: "date part"}, {typ: argStringList, name: "key list"}},
		check: checkDate, eval: evalDate})
}

var dateParts = map[string]bool{"year": true, "month": true, "day": true, "date": true, "julian": true,
	"hour": true, "minute": true, "second": true, "time": true, "iso8601": true, "std11": true,
	"zone": true, "weekday": true}

func checkDate(v *validator, n *node) bool {
	pi := 0
	if n.name == "date" {
		pi = 1
		h := n.pargs[0].strs[0]
		if v.isConstant(h) && !validFieldName(h) {
			v.errorf(n.pargs[0].pos, "specified header field name '%s' is invalid", h)
			return false
		}
	}
	p := n.pargs[pi].strs[0]
	if v.isConstant(p) && !dateParts[strings.ToLower(p)] {
		v.errorf(n.pargs[pi].pos, "the %s test requires a valid date part as argument %d, but '%s' was found", n.name, pi+1, p)
		return false
	}
	if z, ok := n.tagStr("zone"); ok && v.isConstant(z) {
		if _, ok := parseZone(z); !ok {
			v.errorf(n.tags["zone"].pos, "the :zone tag for the %s test requires a valid time zone offset, but '%s' was found", n.name, z)
			return false
		}
	}
	return checkKeys(v, n, pi+1)
}

func parseZone(z string) (*time.Location, bool) {
	if len(z) != 5 || (z[0] != '+' && z[0] != '-') {
		return nil, false
	}
	h, err1 := strconv.Atoi(z[1:3])
	m, err2 := strconv.Atoi(z[3:5])
	if err1 != nil || err2 != nil || h > 23 || m > 59 {
		return nil, false
	}
	off := h*3600 + m*60
	if z[0] == '-' {
		off = -off
	}
	return time.FixedZone(z, off), true
}

func evalDate(r *run, n *node) (bool, error) {
	var dates []time.Time
	pi := 0
	if n.name == "date" {
		pi = 1
		for _, v := range selectIndex(n, headerValues(r.header, r.arg1(n, 0), false)) {
			// RFC 5260 §4.1: use the part after the last ';' (e.g. Received).
			if i := strings.LastIndexByte(v, ';'); i >= 0 {
				v = v[i+1:]
			}
			t, err := parseDate(v)
			if err != nil {
				continue
			}
			dates = append(dates, t)
		}
	} else {
		dates = []time.Time{r.env.Now}
	}
	loc := r.env.Now.Location()
	if n.name == "date" {
		loc = time.Local
	}
	zoneSet := false
	if z, ok := r.tag(n, "zone"); ok {
		l, ok := parseZone(z)
		if !ok {
			return false, nil
		}
		loc, zoneSet = l, true
	}
	part := strings.ToLower(r.arg1(n, pi))
	var vals []string
	for _, t := range dates {
		if n.name == "currentdate" || zoneSet || !n.has("originalzone") {
			if zoneSet || n.name == "date" {
				t = t.In(loc)
			}
		}
		vals = append(vals, datePart(t, part))
	}
	return r.matchValues(n, vals, r.arg(n, pi+1))
}

// parseDate reads an RFC 5322 §3.3 date-time tolerantly, the way Dovecot
// does: obsolete zone names, two-digit years and missing seconds are
// accepted, and an unknown zone counts as +0000.
func parseDate(v string) (time.Time, error) {
	bad := fmt.Errorf("sieve: bad date %q", v)
	if i := strings.IndexByte(v, '('); i > 0 {
		v = v[:i]
	}
	f := strings.Fields(strings.ReplaceAll(v, ",", " "))
	if len(f) > 0 && len(f[0]) >= 3 && !isDigits(f[0]) {
		f = f[1:] // day of week
	}
	if len(f) < 4 {
		return time.Time{}, bad
	}
	day, err := strconv.Atoi(f[0])
	if err != nil || day < 1 || day > 31 {
		return time.Time{}, bad
	}
	month := 0
	for i, m := range []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"} {
		if len(f[1]) >= 3 && strings.EqualFold(f[1][:3], m) {
			month = i + 1
		}
	}
	if month == 0 {
		return time.Time{}, bad
	}
	year, err := strconv.Atoi(f[2])
	if err != nil {
		return time.Time{}, bad
	}
	switch {
	case len(f[2]) <= 2 && year < 50:
		year += 2000
	case len(f[2]) <= 3:
		year += 1900
	}
	hms := strings.Split(f[3], ":")
	if len(hms) < 2 || len(hms) > 3 {
		return time.Time{}, bad
	}
	var tv [3]int
	for i, x := range hms {
		n, err := strconv.Atoi(x)
		if err != nil {
			return time.Time{}, bad
		}
		tv[i] = n
	}
	if tv[0] > 23 || tv[1] > 59 || tv[2] > 60 {
		return time.Time{}, bad
	}
	off := 0
	name := "+0000"
	if len(f) > 4 {
		z := f[4]
		if l, ok := parseZone(z); ok {
			_, off = time.Date(2000, 1, 1, 0, 0, 0, 0, l).Zone()
			name = z
		} else if o, ok := zoneNames[strings.ToUpper(z)]; ok {
			off = o * 3600
			name = fmt.Sprintf("%+03d00", o)
		}
	}
	loc := time.FixedZone(name, off)
	return time.Date(year, time.Month(month), day, tv[0], tv[1], tv[2], 0, loc), nil
}

// RFC 5322 §4.3 obsolete zone names.
var zoneNames = map[string]int{"UT": 0, "GMT": 0, "Z": 0, "EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
	"MST": -7, "MDT": -6, "PST": -8, "PDT": -7}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

func datePart(t time.Time, part string) string {
	switch part {
	case "year":
		return fmt.Sprintf("%04d", t.Year())
	case "month":
		return fmt.Sprintf("%02d", int(t.Month()))
	case "day":
		return fmt.Sprintf("%02d", t.Day())
	case "date":
		return t.Format("2006-01-02")
	case "julian":
		// Modified Julian Day: days since 1858-11-17.
		y, m, d := t.Date()
		day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
		mjd := day.Sub(time.Date(1858, 11, 17, 0, 0, 0, 0, time.UTC)).Hours() / 24
		return strconv.Itoa(int(mjd))
	case "hour":
		return fmt.Sprintf("%02d", t.Hour())
	case "minute":
		return fmt.Sprintf("%02d", t.Minute())
	case "second":
		return fmt.Sprintf("%02d", t.Second())
	case "time":
		return t.Format("15:04:05")
	case "iso8601":
		return t.Format("2006-01-02T15:04:05-07:00")
	case "std11":
		return t.Format("Mon, 2 Jan 2006 15:04:05 -0700")
	case "zone":
		return t.Format("-0700")
	case "weekday":
		return strconv.Itoa(int(t.Weekday()))
	}
	return ""
}
