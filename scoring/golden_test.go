package scoring

import (
	"bytes"
	"encoding/hex"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/rules"
)

var update = flag.Bool("update", false, "regenerate testdata/golden/*.golden with spamassassin -L")

// oracleConf keeps the machine's settings and every network or learning
// feature out of SpamAssassin's run; the fixture's NAME.cf is appended.
const oracleConf = `use_bayes 0
bayes_auto_learn 0
skip_rbl_checks 1
dns_available no
use_auto_whitelist 0
use_txrep 0
use_razor2 0
use_pyzor 0
use_dcc 0
report_contact postmaster@example.test
`

// defaultsCf are the header lines of SpamAssassin's 10_default_prefs.cf,
// which spamassassin always reads and rules.LoadString does not.
const defaultsCf = `clear_headers
add_header all Checker-Version SpamAssassin _VERSION_ (_SUBVERSION_) on _HOSTNAME_
add_header spam Flag _YESNOCAPS_
add_header all Level _STARS(*)_
add_header all Status "_YESNO_, score=_SCORE_ required=_REQD_ tests=_TESTS_ autolearn=_AUTOLEARN_ version=_VERSION_"
`

func goldenNames(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for i, f := range files {
		files[i] = strings.TrimSuffix(filepath.Base(f), ".eml")
	}
	return files
}

// runOracle runs spamassassin -L on one fixture (dir/NAME.eml, with its
// settings in dir/NAME.cf) with a private site configuration and writes its
// output as dir/NAME.golden.
func runOracle(t *testing.T, dir, name string) {
	t.Helper()
	bin, err := exec.LookPath("spamassassin")
	if err != nil {
		t.Fatalf("peer missing: spamassassin")
	}
	site := t.TempDir()
	pres, _ := filepath.Glob("/etc/spamassassin/*.pre")
	for _, p := range pres {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(site, filepath.Base(p)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	extra, err := os.ReadFile(filepath.Join(dir, name+".cf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(site, "local.cf"), append([]byte(oracleConf), extra...), 0o644); err != nil {
		t.Fatal(err)
	}
	prefs := filepath.Join(site, "user_prefs")
	if err := os.WriteFile(prefs, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(filepath.Join(dir, name+".eml"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	cmd := exec.Command(bin, "-L", "--siteconfigpath="+site, "-p", prefs)
	cmd.Stdin = in
	cmd.Env = append(os.Environ(), "TZ=UTC")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("spamassassin on %s: %v\n%s", name, err, errb.String())
	}
	if err := os.WriteFile(filepath.Join(dir, name+".golden"), out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// golden is what a test reads back from SpamAssassin's output.
type golden struct {
	raw     []byte
	fields  []Field // the X-Spam-* fields of the top-level header, in order
	verdict Verdict
	opt     Options
	conf    rules.Config
}

var (
	statusRE   = regexp.MustCompile(`^(Yes|No), score=(-?[0-9.]+) required=(-?[0-9.]+) tests=(.*?) autolearn=(\S+)`)
	checkerRE  = regexp.MustCompile(`^SpamAssassin (\S+) \((\S+)\) on (\S+)$`)
	receivedRE = regexp.MustCompile(`(?m)^Received: from localhost by \S+\r?\n\twith SpamAssassin \(version \S+\);\r?\n\t(.+?)\r?$`)
	boundaryRE = regexp.MustCompile(`----------=_([0-9A-F]{8})\.([0-9A-F]{8})`)
	reportRE   = regexp.MustCompile(`^\* +(-?[0-9.]+) (\S+) (.*)$`)
	summaryRE  = regexp.MustCompile(`^ *(-?[0-9.]+) (\S+) +(.*)$`)
)

// topFields returns the X-Spam-* fields of a message's top-level header
// with their folded values.
func topFields(msg []byte) []Field {
	m := parseMessage(msg)
	var out []Field
	for i := 0; i < len(m.lines); i++ {
		l := m.lines[i]
		if !isSpamField(l) || hasPrefixFold(l, "X-Spam-Prev-") {
			continue
		}
		name, val, _ := strings.Cut(l, ":")
		val = strings.TrimPrefix(val, " ")
		for i+1 < len(m.lines) && (m.lines[i+1][0] == ' ' || m.lines[i+1][0] == '\t') {
			i++
			val += m.lines[i]
		}
		val = strings.ReplaceAll(val, "\r\n", "\n")
		out = append(out, Field{Name: name, Value: strings.TrimSuffix(val, "\n")})
	}
	return out
}

func fieldValue(fs []Field, name string) string {
	for _, f := range fs {
		if f.Name == name {
			return f.Value
		}
	}
	return ""
}

// loadGolden reads a fixture, SpamAssassin's output for it, and rebuilds
// from that output the verdict SpamAssassin reached, so that the test
// checks formatting alone.
func loadGolden(t *testing.T, dir, name string) *golden {
	t.Helper()
	base := filepath.Join(dir, name)
	out, err := os.ReadFile(base + ".golden")
	if err != nil {
		t.Fatalf("%v (run go test -run TestGolden -update)", err)
	}
	cf, err := os.ReadFile(base + ".cf")
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.LoadString(name+".cf", defaultsCf+string(cf), rules.Options{})
	if err != nil {
		t.Fatalf("rules.LoadString(%s.cf): %v", name, err)
	}
	g := &golden{raw: out, conf: rs.Config(), fields: topFields(out)}

	unfold := func(s string) string { return strings.NewReplacer("\n\t", " ", "\n ", " ").Replace(s) }
	st := statusRE.FindStringSubmatch(unfold(fieldValue(g.fields, "X-Spam-Status")))
	if st == nil {
		t.Fatalf("%s: no X-Spam-Status in golden", name)
	}
	st[4] = strings.ReplaceAll(st[4], " ", "")
	v := &g.verdict
	v.Spam = st[1] == "Yes"
	v.Score, _ = strconv.ParseFloat(st[2], 64)
	v.Required, _ = strconv.ParseFloat(st[3], 64)
	v.Autolearn = st[5]
	ck := checkerRE.FindStringSubmatch(fieldValue(g.fields, "X-Spam-Checker-Version"))
	if ck == nil {
		t.Fatalf("%s: no X-Spam-Checker-Version in golden", name)
	}
	g.opt = Options{Version: ck[1], SubVersion: ck[2], Hostname: ck[3], Product: "SpamAssassin", ImitateSpamAssassin: true,
		ReportContact: "postmaster@example.test"}
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if m := receivedRE.FindSubmatch(out); m != nil {
		if now, err = time.Parse("Mon, 02 Jan 2006 15:04:05 -0700", string(m[1])); err != nil {
			t.Fatalf("%s: Received date: %v", name, err)
		}
	}
	g.opt.Now = func() time.Time { return now }
	if m := boundaryRE.FindSubmatch(out); m != nil {
		r, _ := hex.DecodeString(string(m[2]))
		g.opt.Rand = bytes.NewReader(r)
	}

	// Hits, in report order, from the report (header or body); exact
	// scores from _TESTSSCORES_ when the fixture adds it.
	scores := map[string]float64{}
	if ts := strings.ReplaceAll(unfold(fieldValue(g.fields, "X-Spam-Tests")), " ", ""); ts != "" && ts != "none" {
		for _, p := range strings.Split(ts, ",") {
			n, s, _ := strings.Cut(p, "=")
			scores[n], _ = strconv.ParseFloat(s, 64)
		}
	}
	v.Details = map[string]HitDetail{}
	var hits []rules.Hit
	addHit := func(score, rule, rest string) {
		d := HitDetail{}
		for _, a := range []string{"BODY: ", "RAW: ", "URI: ", "FULL: "} {
			if strings.HasPrefix(rest, a) {
				d.Area, rest = a, rest[len(a):]
			}
		}
		s, ok := scores[rule]
		if !ok {
			s, _ = strconv.ParseFloat(score, 64)
		}
		hits = append(hits, rules.Hit{Rule: rule, Score: s, Count: 1, Describe: rest})
		v.Details[rule] = d
	}
	more := func(line string) {
		h := &hits[len(hits)-1]
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]") {
			d := v.Details[h.Rule]
			d.Log = append(d.Log, line[1:len(line)-1])
			v.Details[h.Rule] = d
			return
		}
		h.Describe += " " + line
	}
	if rep := fieldValue(g.fields, "X-Spam-Report"); rep != "" {
		for _, l := range strings.Split(rep, "\n\t") {
			if m := reportRE.FindStringSubmatch(l); m != nil {
				addHit(m[1], m[2], m[3])
			} else if strings.HasPrefix(l, "*      ") && len(hits) > 0 {
				more(l[1:])
			}
		}
	} else if i := bytes.Index(out, []byte("---- ---------------------- ")); i >= 0 {
		text := strings.ReplaceAll(string(out[i:]), "\r\n", "\n")
		lines := strings.Split(text, "\n")[1:]
		for _, l := range lines {
			if l == "" {
				break
			}
			if strings.HasPrefix(l, strings.Repeat(" ", 27)) && len(hits) > 0 {
				more(l)
			} else if m := summaryRE.FindStringSubmatch(l); m != nil {
				addHit(m[1], m[2], m[3])
			} else if len(hits) > 0 {
				more(l)
			}
		}
		full := strings.ReplaceAll(string(out), "\r\n", "\n")
		if p := strings.Index(full, "Content preview:  "); p >= 0 {
			rest := full[p+len("Content preview:  "):]
			v.Preview = rest[:strings.Index(rest, "\n\n")]
		}
	}
	if len(hits) == 0 && st[4] != "none" {
		for _, n := range strings.Split(st[4], ",") {
			hits = append(hits, rules.Hit{Rule: n, Score: scores[n], Count: 1})
		}
	}
	v.Hits = hits
	var sum float64
	for _, h := range hits {
		sum += h.Score
	}
	if len(scores) > 0 {
		v.Score = round3(sum)
	}
	return g
}

const goldenDir = "testdata/golden"

// TestGolden compares Headers and Apply with SpamAssassin's own output for
// each fixture in testdata/golden, given the hits SpamAssassin found.
func TestGolden(t *testing.T) {
	for _, name := range goldenNames(t, goldenDir) {
		t.Run(name, func(t *testing.T) {
			if *update {
				runOracle(t, goldenDir, name)
			}
			compareGolden(t, goldenDir, name)
		})
	}
}

// compareGolden checks Headers and Apply against dir/NAME.golden.
func compareGolden(t *testing.T, dir, name string) {
	t.Helper()
	g := loadGolden(t, dir, name)
	raw, err := os.ReadFile(filepath.Join(dir, name+".eml"))
	if err != nil {
		t.Fatal(err)
	}
	fields := Headers(g.verdict, g.conf, g.opt)
	if len(fields) != len(g.fields) {
		t.Errorf("Headers: %d fields, want %d:\n got %q\nwant %q", len(fields), len(g.fields), fields, g.fields)
	}
	for i := 0; i < len(fields) && i < len(g.fields); i++ {
		if fields[i] != g.fields[i] {
			t.Errorf("Headers field %d = %q, want %q", i, fields[i], g.fields[i])
		}
	}
	if got := Apply(raw, g.verdict, g.conf, g.opt); !bytes.Equal(got, g.raw) {
		t.Errorf("Apply differs from SpamAssassin:\n%s", firstDiff(got, g.raw))
	}
	// ApplyParts, given the header section and the body apart, renders
	// the same message (a fresh golden: report_safe reads its random
	// boundary from the options).
	g = loadGolden(t, dir, name)
	k := len(raw)
	if i := bytes.Index(raw, []byte("\n\n")); i >= 0 {
		k = i + 2
	}
	if i := bytes.Index(raw, []byte("\n\r\n")); i >= 0 && i+3 < k {
		k = i + 3
	}
	h, b := ApplyParts(raw[:k], raw[k:], g.verdict, g.conf, g.opt)
	if got := append(append([]byte(nil), h...), b...); !bytes.Equal(got, g.raw) {
		t.Errorf("ApplyParts differs from SpamAssassin:\n%s", firstDiff(got, g.raw))
	}
}

var (
	parity     = flag.Int("parity", 0, "compare with spamassassin on this many messages of $SLUICE_SHARED/conformance/spamassassin/t-data (slow: about 2 s each)")
	parityFlip = flag.Bool("parityflip", false, "with -parity, use report_safe 0 on odd messages instead of even ones")
)

// TestParity runs SpamAssassin on messages of its own test corpus,
// alternating report_safe 0 and 1 with a Subject rewrite, and compares our
// output given its hits. It runs only with -parity N.
func TestParity(t *testing.T) {
	if *parity == 0 {
		t.Skip("run with -parity N")
	}
	shared := os.Getenv("SLUICE_SHARED")
	if shared == "" {
		shared = filepath.Join("..", "..", "shared")
	}
	all, _ := filepath.Glob(filepath.Join(shared, "conformance", "spamassassin", "t-data", "*", "*"))
	var files []string
	for _, f := range all {
		if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("no corpus under %s", shared)
		}
		t.Skip("corpus missing: set SLUICE_SHARED (required in CI)")
	}
	dir := t.TempDir()
	for i, f := range files {
		if i >= *parity {
			break
		}
		name := strings.ReplaceAll(strings.TrimPrefix(f, filepath.Join(shared, "conformance", "spamassassin", "t-data")+"/"), "/", "_")
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cf := "rewrite_header Subject *****SPAM*****\nadd_header all Tests _TESTSSCORES(,)_\n"
		if (i%2 == 0) != *parityFlip {
			cf += "report_safe 0\n"
		}
		if err := os.WriteFile(filepath.Join(dir, name+".eml"), raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".cf"), []byte(cf), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Run(name, func(t *testing.T) {
			runOracle(t, dir, name)
			compareGolden(t, dir, name)
		})
	}
}

// firstDiff shows the first differing line of two outputs.
func firstDiff(got, want []byte) string {
	gl := strings.SplitAfter(string(got), "\n")
	wl := strings.SplitAfter(string(want), "\n")
	for i := 0; i < len(gl) || i < len(wl); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			return "line " + strconv.Itoa(i+1) + ":\n got " + strconv.Quote(g) + "\nwant " + strconv.Quote(w)
		}
	}
	return "same lines"
}
