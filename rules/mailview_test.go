package rules

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/mail"
)

func TestFromMailHeaderNewlines(t *testing.T) {
	raw := []byte("From: a@example.com\nSubject: hello\n world\nX-A: 1\nX-A: 2\n\nbody\n")
	m := FromMail(mail.Parse(raw, mail.Options{}))
	tests := []struct {
		name string
		raw  bool
		want []string
	}{
		{"Subject", false, []string{"hello world"}},
		{"Subject", true, []string{" hello\n world"}},
		{"X-A", false, []string{"1", "2"}},
		{"X-Missing", false, nil},
	}
	for _, tt := range tests {
		if got := m.Header(tt.name, tt.raw); !slices.Equal(got, tt.want) {
			t.Errorf("Header(%q, %v) = %q, want %q", tt.name, tt.raw, got, tt.want)
		}
	}
	// A "$"-anchored header rule sees "hello world\n" as in SpamAssassin.
	rs, err := LoadString("t.cf", "header T_END Subject =~ /world$/\nscore T_END 1\n", Options{})
	if err != nil {
		t.Fatalf("LoadString = %v", err)
	}
	if res := rs.Eval(context.Background(), m, Input{}); len(res.Hits) != 1 {
		t.Errorf("Eval(T_END) hits = %v, want T_END", res.Hits)
	}
}

func TestFromMailCapabilities(t *testing.T) {
	raw := []byte("From: a@example.com\nSubject: s\nMIME-Version: 1.0\n" +
		"Content-Type: multipart/alternative; boundary=b\n\n" +
		"--b\nContent-Type: text/plain; charset=US-ASCII\nContent-Transfer-Encoding: quoted-printable\n\nhello=\n there\n" +
		"--b\nContent-Type: text/html\n\n<html><head><title>T</title></head><body><img src=x.gif width=10 height=20>hi</body></html>\n" +
		"--b--\nepilogue\n")
	m := FromMail(mail.Parse(raw, mail.Options{}))
	pm, ok := m.(PartsMessage)
	if !ok {
		t.Fatalf("FromMail does not implement PartsMessage")
	}
	ps := pm.Parts()
	if len(ps) != 2 {
		t.Fatalf("Parts() = %d parts, want 2", len(ps))
	}
	want := Part{ContentType: "text/plain", Charset: "us-ascii", Encoding: "quoted-printable", Parent: "multipart/alternative"}
	if got := ps[0]; got.ContentType != want.ContentType || got.Charset != want.Charset || got.Encoding != want.Encoding || got.Parent != want.Parent || string(got.Decoded) != "hello there" {
		t.Errorf("Parts()[0] = %+v, want %+v with Decoded %q", got, want, "hello there")
	}
	hm := m.(HTMLMessage).HTMLFacts()
	if hm.Values["html"] != 1 || hm.Tags["img"] == 0 || hm.Tags["title"] == 0 || !slices.Equal(hm.Text["title"], []string{"T"}) {
		t.Errorf("HTMLFacts() = %+v, want html, img and title T", hm)
	}
	if hm.Balance["body"] != 0 || hm.Values["image_area"] != 200 {
		t.Errorf("HTMLFacts() balance body %d, image_area %v; want 0, 200", hm.Balance["body"], hm.Values["image_area"])
	}
	if got := m.(ParseFlagsMessage).ParseFlags(); !slices.Contains(got, "mime_epilogue_exists") {
		t.Errorf("ParseFlags() = %q, want mime_epilogue_exists", got)
	}
}

// saPrepare strips what the SpamAssassin run stripped before scanning:
// the mbox "From " line and incoming X-Spam-* fields.
func saPrepare(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		}
	}
	var out bytes.Buffer
	out.Grow(len(raw))
	skip := false
	rest := raw
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		line := rest
		if i >= 0 {
			line = rest[:i+1]
		}
		rest = rest[len(line):]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			out.Write(line)
			out.Write(rest)
			break
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !skip {
				out.Write(line)
			}
			continue
		}
		skip = len(line) > 7 && strings.EqualFold(string(line[:7]), "X-Spam-")
		if !skip {
			out.Write(line)
		}
	}
	return out.Bytes()
}

// saVerdict is one row of dev-corpus-sa401.tsv.
type saVerdict struct {
	file, label string
	score       float64
	hits        map[string]bool
}

func loadSAVerdicts(t *testing.T, shared string) []saVerdict {
	t.Helper()
	f, err := os.Open(filepath.Join(shared, "conformance", "spamassassin", "dev-corpus-sa401.tsv"))
	if err != nil {
		t.Fatalf("open verdicts: %v", err)
	}
	defer f.Close()
	var out []saVerdict
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		cols := strings.Split(sc.Text(), "\t")
		if len(cols) < 5 || cols[0] == "file" {
			continue
		}
		v := saVerdict{file: cols[0], label: cols[1], hits: map[string]bool{}}
		v.score, _ = strconv.ParseFloat(cols[2], 64)
		for _, h := range strings.Split(cols[4], ",") {
			if name, _, _ := strings.Cut(h, "="); name != "" {
				v.hits[name] = true
			}
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("read verdicts: %v", err)
	}
	return out
}

// mimeHTMLEvals are the eval functions the adapter makes reachable.
var mimeHTMLEvals = map[string]bool{
	"check_for_mime": true, "check_for_mime_html": true, "check_for_mime_html_only": true,
	"check_mime_multipart_ratio": true, "check_ma_non_text": true, "check_base64_length": true,
	"check_abundant_unicode_ratio": true, "check_msg_parse_flags": true, "check_microsoft_executable": true,
	"image_count": true, "pixel_coverage": true, "image_to_text_ratio": true,
	"multipart_alternative_difference": true, "multipart_alternative_difference_count": true,
	"html_test": true, "html_range": true, "html_eval": true, "html_tag_exists": true,
	"html_tag_balance": true, "html_image_only": true, "html_image_ratio": true,
	"html_text_match": true, "html_title_subject_ratio": true, "html_charset_faraway": true,
	"check_iframe_src": true,
}

// ruleTally counts one rule's decisions over a sample.
type ruleTally struct {
	name                 string
	both, saOnly, usOnly int
}

func (r ruleTally) agree(n int) float64 { return 1 - float64(r.saOnly+r.usOnly)/float64(n) }

// jaccard is the share of the messages either engine flags that both flag.
func (r ruleTally) jaccard() float64 {
	d := r.both + r.saOnly + r.usOnly
	if d == 0 {
		return 1
	}
	return float64(r.both) / float64(d)
}

// TestFromMailSpamAssassinParity compares the hits of the stock rules on a
// deterministic corpus sample with SpamAssassin 4.0.1's, evaluating the bare
// *mail.Message (before) and FromMail's adapter (after). Run with -v for
// the per-rule tables.
func TestFromMailSpamAssassinParity(t *testing.T) {
	shared := sharedDir(t)
	dir := stockRules(t)
	plugins := DefaultPlugins()
	plugins["Mail::SpamAssassin::Plugin::Dmarc"] = true
	rs, err := Load([]string{dir}, Options{Plugins: plugins, Budget: time.Minute})
	if err != nil {
		t.Fatalf("Load(%s) = %v", dir, err)
	}
	verdicts := loadSAVerdicts(t, shared)
	n := 200
	if testing.Short() || raceEnabled {
		n = 30
	}
	sort.Slice(verdicts, func(i, j int) bool { return verdicts[i].file < verdicts[j].file })
	step := max(1, len(verdicts)/n)
	var sample []saVerdict
	for i := 0; i < len(verdicts) && len(sample) < n; i += step {
		sample = append(sample, verdicts[i])
	}
	focus := map[string]bool{}
	for _, r := range rs.rules {
		if r.def != nil && mimeHTMLEvals[r.def.eval] && r.inactive == "" {
			focus[r.name] = true
		}
	}
	before, after := map[string]*ruleTally{}, map[string]*ruleTally{}
	tally := func(m map[string]*ruleTally, name string) *ruleTally {
		if m[name] == nil {
			m[name] = &ruleTally{name: name}
		}
		return m[name]
	}
	count := func(m map[string]*ruleTally, sa, us map[string]bool) {
		for name := range sa {
			if us[name] {
				tally(m, name).both++
			} else {
				tally(m, name).saOnly++
			}
		}
		for name := range us {
			if !sa[name] {
				tally(m, name).usOnly++
			}
		}
	}
	hitSet := func(res Result) map[string]bool {
		out := map[string]bool{}
		for _, h := range res.Hits {
			out[h.Rule] = true
		}
		return out
	}
	ctx := context.Background()
	verdictAgree := [2]int{}
	for _, v := range sample {
		raw, err := os.ReadFile(filepath.Join(shared, "corpus", "spamassassin", v.label, v.file))
		if err != nil {
			t.Fatalf("ReadFile: %v", err)
		}
		raw = saPrepare(raw)
		resB := rs.Eval(ctx, mail.Parse(raw, mail.Options{}), Input{})
		resA := rs.Eval(ctx, FromMail(mail.Parse(raw, mail.Options{})), Input{})
		if resA.TimedOut {
			t.Errorf("%s: Eval timed out", v.file)
		}
		count(before, v.hits, hitSet(resB))
		count(after, v.hits, hitSet(resA))
		for i, res := range []Result{resB, resA} {
			if (res.Score >= 5) == (v.score >= 5) {
				verdictAgree[i]++
			}
		}
	}
	table := func(m map[string]*ruleTally, keep func(*ruleTally) bool) []*ruleTally {
		var out []*ruleTally
		for _, r := range m {
			if keep(r) {
				out = append(out, r)
			}
		}
		sort.Slice(out, func(i, j int) bool {
			if a, b := out[i].saOnly+out[i].usOnly, out[j].saOnly+out[j].usOnly; a != b {
				return a > b
			}
			return out[i].name < out[j].name
		})
		return out
	}
	// pairs counts (message, rule) decisions over the rules either engine
	// fired in either run, so that before and after share a denominator.
	pairs := func(m map[string]*ruleTally, keep func(name string) bool) (agree, total int) {
		names := map[string]bool{}
		for _, mm := range []map[string]*ruleTally{before, after} {
			for name := range mm {
				if keep(name) {
					names[name] = true
				}
			}
		}
		total = len(names) * len(sample)
		agree = total
		for name := range names {
			if r := m[name]; r != nil {
				agree -= r.saOnly + r.usOnly
			}
		}
		return agree, total
	}
	var b strings.Builder
	fmt.Fprintf(&b, "sample: %d messages (every %dth of %d by name)\n", len(sample), step, len(verdicts))
	fmt.Fprintf(&b, "verdict (score >= 5) agreement: before %d/%d, after %d/%d\n", verdictAgree[0], len(sample), verdictAgree[1], len(sample))
	isFocus := func(name string) bool { return focus[name] }
	all := func(string) bool { return true }
	for _, x := range []struct {
		label string
		keep  func(string) bool
	}{{"MIME/HTML/image eval rules", isFocus}, {"all rules either engine fired", all}} {
		ab, tb := pairs(before, x.keep)
		aa, ta := pairs(after, x.keep)
		fmt.Fprintf(&b, "%s: (message, rule) agreement before %d/%d (%.2f%%), after %d/%d (%.2f%%)\n",
			x.label, ab, tb, pct(ab, tb), aa, ta, pct(aa, ta))
	}
	fmt.Fprintf(&b, "\nMIME/HTML/image eval rules that either engine fired (both/SA only/sluice only):\n%-32s %16s %16s\n", "rule", "before", "after")
	fb := table(after, func(r *ruleTally) bool { return focus[r.name] })
	for _, r := range table(before, func(r *ruleTally) bool { return focus[r.name] && after[r.name] == nil }) {
		fb = append(fb, r)
	}
	for _, r := range fb {
		pb := before[r.name]
		if pb == nil {
			pb = &ruleTally{}
		}
		pa := after[r.name]
		if pa == nil {
			pa = &ruleTally{}
		}
		fmt.Fprintf(&b, "%-32s %4d/%4d/%4d %3.0f%% %4d/%4d/%4d %3.0f%%\n", r.name,
			pb.both, pb.saOnly, pb.usOnly, 100*pb.agree(len(sample)), pa.both, pa.saOnly, pa.usOnly, 100*pa.agree(len(sample)))
	}
	fmt.Fprintf(&b, "\nAll rules SpamAssassin fires on >= 5 of the sample, after the adapter, worst first:\n%-32s %5s %5s %5s %7s %7s\n", "rule", "both", "SA", "sluice", "agree", "jaccard")
	for _, r := range table(after, func(r *ruleTally) bool { return r.both+r.saOnly >= 5 }) {
		fmt.Fprintf(&b, "%-32s %5d %5d %5d %6.1f%% %6.1f%%\n", r.name, r.both, r.saOnly, r.usOnly, 100*r.agree(len(sample)), 100*r.jaccard())
	}
	fmt.Fprintf(&b, "\nRules only sluice fires on >= 5 of the sample:\n")
	for _, r := range table(after, func(r *ruleTally) bool { return r.both+r.saOnly < 5 && r.usOnly >= 5 }) {
		fmt.Fprintf(&b, "%-32s %5d %5d %5d\n", r.name, r.both, r.saOnly, r.usOnly)
	}
	t.Log("\n" + b.String())
	if out := os.Getenv("SLUICE_PARITY_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The adapter must not lose agreement on the rules it exists for, and
	// HTML_MESSAGE, the commonest of them, must now mostly agree.
	fa, ft := pairs(after, isFocus)
	ba, bt := pairs(before, isFocus)
	if pct(fa, ft) < pct(ba, bt) {
		t.Errorf("MIME/HTML agreement after the adapter %.2f%% < before %.2f%%", pct(fa, ft), pct(ba, bt))
	}
	if r := after["HTML_MESSAGE"]; r != nil && r.agree(len(sample)) < 0.9 {
		t.Errorf("HTML_MESSAGE agreement = %.1f%%, want >= 90%%", 100*r.agree(len(sample)))
	}
}

func pct(a, b int) float64 {
	if b == 0 {
		return 100
	}
	return 100 * float64(a) / float64(b)
}
