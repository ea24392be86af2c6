package rules

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"
)

// budgetRules are the stock rules behind EMPTY_MESSAGE (20_meta_tests.cf)
// without their priority lines (budgetPriorities), and metas over a
// decided and an undecided rule.
const budgetRules = `
body __NONEMPTY_BODY	/\S/
tflags __NONEMPTY_BODY	nosubject
header __MIME_ATTACHMENT	Content-Type =~ /multipart\/mixed/i
meta EMPTY_MESSAGE	!__MIME_ATTACHMENT && !__NONEMPTY_BODY
score EMPTY_MESSAGE 2.3
header __HAS_SUBJECT	exists:Subject
body __BODY_HELLO	/hello/
meta KNOWN_OR	__HAS_SUBJECT || __BODY_HELLO
score KNOWN_OR 1
meta UNKNOWN_AND	__HAS_SUBJECT && __BODY_HELLO
score UNKNOWN_AND 1
meta NOT_HELLO	!__BODY_HELLO
score NOT_HELLO 1
`

// budgetPriorities are the stock priority lines of EMPTY_MESSAGE's rules
// (bug 8078): SpamAssassin runs them before any deadline check.
const budgetPriorities = `
priority __NONEMPTY_BODY -2000
priority __MIME_ATTACHMENT -2000
`

// TestBudgetUndecided: rules the budget skipped are undecided, and so are
// the metas that depend on them; EMPTY_MESSAGE must not fire on a message
// whose body rules did not run, a || with a known-true branch still fires.
func TestBudgetUndecided(t *testing.T) {
	msg := newTestMessage([]byte("From: a@example.com\r\nSubject: hi\r\n\r\nhello world\r\n"))
	empty := newTestMessage([]byte("From: a@example.com\r\nSubject: hi\r\n\r\n"))
	for _, tc := range []struct {
		name   string
		budget time.Duration
		prio   bool // with budgetPriorities
		msg    Message
		want   []string
		cut    bool
	}{
		{"full budget", time.Hour, false, msg, []string{"KNOWN_OR", "UNKNOWN_AND"}, false},
		{"full budget, empty", time.Hour, false, empty, []string{"EMPTY_MESSAGE", "KNOWN_OR", "NOT_HELLO"}, false},
		// A nanosecond: every regex rule is skipped.
		{"cut", time.Nanosecond, false, msg, []string{"KNOWN_OR"}, true},
		{"cut, empty", time.Nanosecond, false, empty, []string{"KNOWN_OR"}, true},
		// The early rules are decided however soon the budget runs out, as
		// in SpamAssassin: EMPTY_MESSAGE then fires on an empty message
		// only, and the metas over the other rules stay undecided.
		{"cut, early rules", time.Nanosecond, true, msg, []string{"KNOWN_OR"}, true},
		{"cut, early rules, empty", time.Nanosecond, true, empty, []string{"EMPTY_MESSAGE", "KNOWN_OR"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			text := budgetRules
			if tc.prio {
				text += budgetPriorities
			}
			rs, err := LoadString("budget.cf", text, Options{Budget: tc.budget})
			if err != nil {
				t.Fatal(err)
			}
			res := rs.Eval(context.Background(), tc.msg, Input{})
			var got []string
			for _, h := range res.Hits {
				got = append(got, h.Rule)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("hits %v, want %v", got, tc.want)
			}
			if res.TimedOut != tc.cut || (res.Undecided > 0) != tc.cut || (res.UndecidedMetas > 0) != tc.cut {
				t.Errorf("TimedOut %v, Undecided %d, UndecidedMetas %d; want cut %v",
					res.TimedOut, res.Undecided, res.UndecidedMetas, tc.cut)
			}
		})
	}
}

// TestMetaBounds checks the three-valued evaluation of meta expressions
// over decided (K1 = 1, K0 = 0, K3 = 3 hits) and undecided (U, a plain
// rule; M, a multiple one with 2 hits counted so far) rules.
func TestMetaBounds(t *testing.T) {
	names := []string{"K1", "K0", "K3", "U", "M"}
	vals := []float64{1, 0, 3, 0, 2}
	unk := []float64{0, 0, 0, 1, math.Inf(1)}
	byName := map[string]*rule{}
	for i, n := range names {
		byName[n] = &rule{name: n, idx: i}
	}
	const yes, no, unknown = "true", "false", "unknown"
	for _, tc := range []struct{ expr, want string }{
		{"K1 || U", yes},
		{"U || K1", yes},
		{"K0 || U", unknown},
		{"K1 && U", unknown},
		{"K0 && U", no},
		{"U && K0", no},
		{"!U", unknown},
		{"!K0 && !U", unknown},
		{"!(K1 || U)", no},
		{"K1 + K3 + U > 3", yes},
		{"K1 + K3 + U > 4", unknown},
		{"K1 + U > 2", no},
		{"U + K0 == 0", unknown},
		{"U + K3 == 1", no},
		{"U + K3 != 1", yes},
		{"M > 1", yes},
		{"M > 2", unknown},
		{"M < 2", no},
		{"K0 * M", no},
		{"K1 * M >= 2", yes},
		{"K3 - U >= 2", yes},
		{"K3 - U >= 3", unknown},
		{"K3 / U", unknown},
		{"K0 / U", no},
		{"(K1 + U) / 2 > 0.4", yes},
		{"-U < 0", unknown},
		{"K3 > 2 && (U || K1)", yes},
	} {
		n, _, err := parseMeta(tc.expr)
		if err != nil {
			t.Fatalf("%s: %v", tc.expr, err)
		}
		n.resolve(byName)
		tr := n.bounds(vals, unk).truth()
		got := unknown
		switch {
		case tr.lo == 1:
			got = yes
		case tr.hi == 0:
			got = no
		}
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.expr, got, tc.want)
		}
		// Decided, the bounds agree with eval.
		if got != unknown {
			for _, u := range []float64{0, 1} {
				v := slices.Clone(vals)
				v[3] = u
				if e := b2f(n.eval(v) != 0); (e == 1) != (got == yes) {
					t.Errorf("%s: eval with U=%v gives %v, bounds %s", tc.expr, u, e, got)
				}
			}
		}
	}
}

// FuzzMetaBounds: whatever the expression, a decided bounds() agrees with
// eval for every value the undecided rules could take (U: 0 or 1; M: a
// multiple rule with 2 hits counted, so 2, 3 or many).
func FuzzMetaBounds(f *testing.F) {
	for _, s := range []string{"K1 || U", "!U && K0", "(K1 + K3 + U) > 3", "M * K1 - U >= 2",
		"K3 / (U + M) < 1", "!(M == 2) || -U", "U - U", "M / U > 0"} {
		f.Add(s)
	}
	names := []string{"K1", "K0", "K3", "U", "M"}
	byName := map[string]*rule{}
	for i, n := range names {
		byName[n] = &rule{name: n, idx: i}
	}
	vals := []float64{1, 0, 3, 0, 2}
	unk := []float64{0, 0, 0, 1, math.Inf(1)}
	f.Fuzz(func(t *testing.T, expr string) {
		n, _, err := parseMeta(expr)
		if err != nil {
			return
		}
		n.resolve(byName)
		tr := n.bounds(vals, unk).truth()
		if tr.lo != 1 && tr.hi != 0 {
			return // undecided: nothing to check
		}
		for _, u := range []float64{0, 1} {
			for _, m := range []float64{2, 3, 1000} {
				v := slices.Clone(vals)
				v[3], v[4] = u, m
				if got := n.eval(v) != 0; got != (tr.lo == 1) {
					t.Fatalf("%q: bounds say %v, eval with U=%v M=%v gives %v", expr, tr.lo == 1, u, m, got)
				}
			}
		}
	})
}
