package rules

import (
	"context"
	"os"
	"reflect"
	"testing"
	"time"

	"github.com/wasilibs/go-re2/experimental"
)

// TestLitSetCorpusAgrees checks that the rules matched in Go as literal
// sets (perlre.LitSet) find what their RE2 programs find, match for match,
// on every text of their kind in the corpus.
func TestLitSetCorpusAgrees(t *testing.T) {
	rs := loadStock(t)
	var lit []*rule
	for _, r := range rs.rules {
		if r.re != nil && r.re.lits != nil && r.inactive == "" {
			lit = append(lit, r)
		}
	}
	if len(lit) < 50 {
		t.Fatalf("%d rules matched as literal sets, want at least 50", len(lit))
	}
	res := make([]interface {
		Match([]byte) bool
		FindIndex([]byte) []int
		FindAllIndex([]byte, int) [][]int
	}, len(lit))
	for i, r := range lit {
		re, err := experimental.CompileLatin1(r.re.String())
		if err != nil {
			t.Fatalf("%s: CompileLatin1 = %v", r.name, err)
		}
		res[i] = re
	}
	n := 250
	if testing.Short() {
		n = 25
	}
	checked := 0
	for _, f := range corpusFiles(t, n) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		msg := newTestMessage(data)
		st := &evalState{rs: rs, ctx: context.Background(), deadline: time.Now().Add(time.Hour)}
		var uris [][]byte
		for _, u := range msg.URIs() {
			uris = append(uris, []byte(u))
		}
		texts := map[Kind][][]byte{KindBody: msg.Body(), KindRawBody: msg.RawBody(), KindFull: {msg.Full()}, KindURI: uris}
		for i, r := range lit {
			list := texts[r.kind]
			if r.kind == KindHeader || r.kind == KindMIMEHeader {
				h, _ := st.headerText(msg, r.def)
				list = [][]byte{[]byte(h)}
			}
			for _, text := range list {
				checked++
				if got, want := r.re.Match(text), res[i].Match(text); got != want {
					t.Fatalf("%s (%q) Match(%.200q) = %v, RE2 %v", r.name, r.re.String(), text, got, want)
				}
				if got, want := r.re.FindIndex(text), res[i].FindIndex(text); !reflect.DeepEqual(got, want) {
					t.Fatalf("%s FindIndex(%.200q) = %v, RE2 %v", r.name, text, got, want)
				}
				lim := r.maxhits
				if lim == 0 {
					lim = -1
				}
				if got, want := r.re.Count(text, lim), len(res[i].FindAllIndex(text, lim)); got != want {
					t.Fatalf("%s Count(%.200q, %d) = %d, RE2 %d", r.name, text, lim, got, want)
				}
			}
		}
	}
	t.Logf("%d rules matched as literal sets, %d (rule, text) pairs agree", len(lit), checked)
}
