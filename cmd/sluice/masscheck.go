package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/bayes/boltstore"
	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/pipeline"
	"github.com/sluice-mail/sluice/rules"
)

// mcMaxFP is the false-positive rate the recall@FP figure is read at.
const mcMaxFP = 0.001

// Masscheck modes: the same test messages scored without Bayes and with it.
const (
	modeNoBayes = iota
	modeBayes
	numModes
)

// mcSample is one labelled message of a mass check.
type mcSample struct {
	src  mail.Source
	spam bool
}

// name is the sample's file, with its mbox index where it has one.
func (s *mcSample) name() string {
	if s.src.Mbox {
		return fmt.Sprintf("%s:%d", s.src.File, s.src.Index)
	}
	return s.src.File
}

// mcScore is one test message's outcome in one mode.
type mcScore struct {
	Score float64
	Spam  bool
	// Bayes reports that the classifier gave a probability (and so the
	// score set switched to its Bayes twin).
	Bayes bool
	// TimedOut reports that rule evaluation ran out of its budget.
	TimedOut bool
	Hits     []string
}

// mcTest is one test message and its outcome in every mode.
type mcTest struct {
	Name  string
	Spam  bool
	Modes [numModes]mcScore
}

// mcModeStats are the figures of one mode.
type mcModeStats struct {
	Label                 string
	Recall, FPRate        float64 // at required_score
	RecallAtFP            float64
	Threshold             float64 // recall@FP counts spam scoring above it
	OneMinusAUC           float64
	BayesScored           int // test messages Bayes gave a probability for
	TimedOut              int // test messages whose rules ran out of time
	SpamTested, HamTested int
}

// mcReport is what a mass check found; the printed table and the HTML
// page are made from it.
type mcReport struct {
	TrainSpam, TrainHam int
	Fraction            float64
	Required            float64
	Tests               []mcTest
	Stats               [numModes]mcModeStats
	Elapsed             time.Duration
}

// cmdMasscheck trains a fresh Bayes database on the older part of a
// labelled corpus and scores the newer part with and without it, as
// SpamAssassin's mass-check measures a rule set.
func cmdMasscheck(args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet("masscheck", stderr)
	var spamPaths, hamPaths, ruleDirs stringList
	fs.Var(&spamPaths, "spam", "spam `path`: message file, directory or mbox (repeatable)")
	fs.Var(&hamPaths, "ham", "ham `path`: message file, directory or mbox (repeatable)")
	fraction := fs.Float64("train-fraction", 0.7, "share of each class, oldest first, to train Bayes on; the rest is tested")
	htmlPath := fs.String("html", "", "write a self-contained HTML report to `file`")
	cfgPath := fs.String("config", "", "configuration `file` (TOML); default: embedded defaults, with authentication checks off")
	fs.Var(&ruleDirs, "rules", "rules `dir`ectory or file (repeatable; replaces [rules])")
	bayesPath := fs.String("bayes", "", "train into this bbolt database `file` (created if missing) instead of one in memory")
	dns := fs.String("dns", "", "DNS `server:port` for SPF/DKIM/DMARC (replaces auth.dns, turns the checks on); \"off\" skips them")
	export := fs.String("export", "", "write the split to `dir`: the messages as scored (X-Spam-* removed) and one list per class and phase")
	logPath := fs.String("log", "", "write one line per test message and mode to `file`: class, mode, file, score, verdict, rules")
	jobs := fs.Int("j", runtime.GOMAXPROCS(0), "messages scored in parallel")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if len(spamPaths) == 0 || len(hamPaths) == 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: sluice masscheck -spam PATH... -ham PATH... [-train-fraction F] [-html FILE] [-config F] [-rules DIR] [-bayes DB]")
		return 2
	}
	if !(*fraction >= 0 && *fraction < 1) {
		fmt.Fprintf(stderr, "sluice: -train-fraction %v: want 0 <= F < 1\n", *fraction)
		return 2
	}
	start := time.Now()
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	masscheckConfig(&cfg, *cfgPath, *dns, ruleDirs)
	// masscheck brings its own database; the configured one is never
	// opened, let alone trained.
	cfg.Bayes.Enabled = false
	log := newLogger(config.Log{Level: "warn", Format: "text"}, stderr)

	spam, err := readSamples(spamPaths, true, cfg.LMTP.MaxMessageSize, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	ham, err := readSamples(hamPaths, false, cfg.LMTP.MaxMessageSize, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	trainSpam, testSpam := splitSamples(spam, *fraction)
	trainHam, testHam := splitSamples(ham, *fraction)
	if *export != "" {
		if err := exportSplit(*export, map[string][]mcSample{
			"train-spam": trainSpam, "train-ham": trainHam, "test-spam": testSpam, "test-ham": testHam,
		}); err != nil {
			fmt.Fprintf(stderr, "sluice: -export: %v\n", err)
			return 1
		}
	}

	stage, err := newSpamStage(cfg, &redisPool{}, log, false, false, false)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	if stage == nil {
		fmt.Fprintln(stderr, "sluice: masscheck: rules are off")
		return 1
	}
	var store bayes.Store = &bayes.MemStore{}
	if *bayesPath != "" {
		bs, err := boltstore.Open(*bayesPath, boltstore.Options{LockTimeout: cfg.Bayes.LockTimeout})
		if err != nil {
			fmt.Fprintf(stderr, "sluice: -bayes %s: %v\n", *bayesPath, err)
			return 1
		}
		defer bs.Close()
		store = bs
	}
	bc := bayesConfigFrom(stage.Rules.Config().Bayes)
	if !bc.UseBayes || !stage.Rules.Config().Bayes.UseBayes {
		fmt.Fprintln(stderr, "sluice: masscheck: the rule files say use_bayes 0; the Bayes mode scores like set 0")
	}
	// The classifier learns whatever the rule files say about use_bayes:
	// training is what masscheck is asked to do.
	bc.UseBayes = true
	train := &bayes.Classifier{Store: store, Config: bc, Metadata: bayesMetadata(stage.Rules)}
	ctx := context.Background()
	if err := mcTrain(ctx, train, stage.Parse, trainSpam, trainHam); err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}

	// The test phase reads the database and never writes it: the
	// pipeline's auto-learn finds a frozen store.
	test := *train
	test.Store = frozenStore{store}
	withBayes := *stage
	withBayes.Bayes = &test
	without := *stage
	without.Bayes = nil
	pc := pipeline.Config{Hostname: hostnameOf(cfg)}
	if cfg.Auth.Enabled {
		if pc.Auth, err = newAuthStage(cfg, nil); err != nil {
			fmt.Fprintf(stderr, "sluice: %v\n", err)
			return 1
		}
	}
	var pipes [numModes]*pipeline.Pipeline
	pc.Spam = &without
	pipes[modeNoBayes] = pipeline.New(pc, log)
	pc.Spam = &withBayes
	pipes[modeBayes] = pipeline.New(pc, log)

	tests := append(append([]mcSample{}, testSpam...), testHam...)
	results, err := scoreTests(ctx, pipes, tests, max(*jobs, 1))
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	rep := &mcReport{
		TrainSpam: len(trainSpam), TrainHam: len(trainHam),
		Fraction: *fraction, Required: stage.Rules.Config().RequiredScore,
		Tests: results,
	}
	rep.Stats[modeNoBayes] = modeStats(results, modeNoBayes, fmt.Sprintf("set%d", scoreSetOf(cfg, false)))
	rep.Stats[modeBayes] = modeStats(results, modeBayes, fmt.Sprintf("set%d+bayes", scoreSetOf(cfg, true)))
	rep.Elapsed = time.Since(start)
	printMasscheck(stdout, rep)
	if *logPath != "" {
		if err := writeMasscheckLog(*logPath, rep); err != nil {
			fmt.Fprintf(stderr, "sluice: -log: %v\n", err)
			return 1
		}
	}
	if *htmlPath != "" {
		if err := writeHTMLReport(*htmlPath, rep); err != nil {
			fmt.Fprintf(stderr, "sluice: -html: %v\n", err)
			return 1
		}
	}
	return 0
}

// masscheckConfig adjusts cfg for a measurement: -dns, -rules, and
// budgets that do not depend on how loaded the machine is.
func masscheckConfig(cfg *config.Config, cfgPath, dns string, ruleDirs []string) {
	// Authentication checks of old mail against today's DNS measure
	// nothing; they run only when asked for.
	switch {
	case dns == "off", dns == "" && cfgPath == "":
		cfg.Auth.Enabled = false
	case dns != "":
		cfg.Auth.Enabled, cfg.Auth.DNS = true, []string{dns}
	}
	if len(ruleDirs) > 0 {
		cfg.Rules.Mode, cfg.Rules.Dirs = "dirs", ruleDirs
	}
	if cfg.Rules.Mode == "off" {
		cfg.Rules.Mode = "auto"
	}
	// A measurement must not depend on how loaded the machine is: the
	// rules get ten times delivery's time budget.
	if cfgPath == "" {
		cfg.Rules.Budget = 20 * time.Second
	}
}

// mcTrain learns the training messages, spam and ham.
func mcTrain(ctx context.Context, c *bayes.Classifier, opts mail.Options, spam, ham []mcSample) error {
	for _, set := range [][]mcSample{spam, ham} {
		for i := range set {
			msg := mail.Parse(set[i].src.Raw, opts)
			if _, err := c.Learn(ctx, msg, set[i].spam); err != nil {
				return fmt.Errorf("learning %s: %w", set[i].name(), err)
			}
		}
	}
	return nil
}

// scoreSetOf is SpamAssassin's score set for a configuration: 1 is added
// for network tests, 2 for Bayes.
func scoreSetOf(cfg config.Config, withBayes bool) int {
	set := 0
	if cfg.Auth.Enabled {
		set |= 1
	}
	if withBayes {
		set |= 2
	}
	return set
}

// readSamples reads every message under paths, with X-Spam-* fields
// removed, sorted oldest first by Date header (SpamAssassin's date
// parser), messages without a readable date last by file name.
func readSamples(paths []string, spam bool, maxSize int64, stderr io.Writer) ([]mcSample, error) {
	var out []mcSample
	err := mail.WalkSources(paths, nil, maxSize, func(src mail.Source, err error) error {
		if err != nil {
			fmt.Fprintf(stderr, "sluice: %s: %v (skipped)\n", src.File, err)
			return nil
		}
		src.Raw = stripSpamFields(src.Raw)
		out = append(out, mcSample{src: src, spam: spam})
		return nil
	})
	if err != nil {
		return nil, err
	}
	type key struct {
		file  string
		index int
	}
	type when struct {
		t  int64
		ok bool
	}
	dates := make(map[key]when, len(out))
	srcs := make([]mail.Source, len(out))
	for i := range out {
		srcs[i] = out[i].src
		t, ok := headerDate(srcs[i].Raw)
		dates[key{srcs[i].File, srcs[i].Index}] = when{t, ok}
	}
	mail.SortSources(srcs, func(s mail.Source) (int64, bool) {
		d := dates[key{s.File, s.Index}]
		return d.t, d.ok
	})
	for i := range srcs {
		out[i] = mcSample{src: srcs[i], spam: spam}
	}
	return out, nil
}

// headerDate is the time of a message's Date field.
func headerDate(raw []byte) (int64, bool) {
	msg := mail.Parse(raw[:mail.HeaderLen(raw)], mail.Options{})
	for _, d := range msg.Header("Date", false) {
		if t, ok := rules.ParseDate(strings.TrimRight(d, "\r\n")); ok {
			return t.Unix(), true
		}
	}
	return 0, false
}

// stripSpamFields removes every X-Spam-* field from the header of raw:
// a corpus that went through a filter carries its verdict, and a rule or
// a token reading it would measure that filter, not this one.
func stripSpamFields(raw []byte) []byte {
	var out bytes.Buffer
	out.Grow(len(raw))
	rest := raw
	dropping := false
	for len(rest) > 0 {
		n := bytes.IndexByte(rest, '\n') + 1
		if n == 0 {
			n = len(rest)
		}
		line := rest[:n]
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			out.Write(rest)
			return out.Bytes()
		}
		if line[0] != ' ' && line[0] != '\t' {
			dropping = len(line) >= 7 && bytes.EqualFold(line[:7], []byte("X-Spam-"))
		}
		if !dropping {
			out.Write(line)
		}
		rest = rest[n:]
	}
	return out.Bytes()
}

// splitSamples splits a chronologically sorted class: the first
// floor(fraction·n) to train on, the rest to test.
func splitSamples(s []mcSample, fraction float64) (train, test []mcSample) {
	n := int(math.Floor(fraction*float64(len(s)) + 1e-9))
	return s[:n], s[n:]
}

// exportSplit writes each named set's messages, as masscheck scores
// them, under dir/NAME/ (numbered in their order, so a name sorts
// chronologically) and their paths, one a line, to dir/NAME.list.
func exportSplit(dir string, sets map[string][]mcSample) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for name, set := range sets {
		sub := filepath.Join(abs, name)
		if err := os.MkdirAll(sub, 0o755); err != nil {
			return err
		}
		var list bytes.Buffer
		for i := range set {
			base := filepath.Base(set[i].src.File)
			if set[i].src.Mbox {
				base = fmt.Sprintf("%s.%d", base, set[i].src.Index)
			}
			p := filepath.Join(sub, fmt.Sprintf("%05d-%s", i, base))
			if err := os.WriteFile(p, set[i].src.Raw, 0o644); err != nil {
				return err
			}
			fmt.Fprintln(&list, p)
		}
		if err := os.WriteFile(filepath.Join(abs, name+".list"), list.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// scoreTests runs every test message through each mode's pipeline, jobs
// messages at a time, and returns the outcomes in the order of tests.
func scoreTests(ctx context.Context, pipes [numModes]*pipeline.Pipeline, tests []mcSample, jobs int) ([]mcTest, error) {
	out := make([]mcTest, len(tests))
	errs := make([]error, len(tests))
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < jobs; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i] = mcTest{Name: tests[i].name(), Spam: tests[i].spam}
				for mode, p := range pipes {
					cctx, cancel := context.WithTimeout(ctx, time.Minute)
					m, err := p.Check(cctx, &mail.Envelope{}, tests[i].src.Raw)
					cancel()
					if err != nil {
						errs[i] = fmt.Errorf("%s: %w", tests[i].name(), err)
						break
					}
					out[i].Modes[mode] = scoreOf(m)
				}
			}
		}()
	}
	for i := range tests {
		next <- i
	}
	close(next)
	wg.Wait()
	return out, errors.Join(errs...)
}

func scoreOf(m *pipeline.Message) mcScore {
	v := m.Verdict
	if v == nil {
		return mcScore{}
	}
	s := mcScore{Score: v.Score, Spam: v.Spam, TimedOut: v.TimedOut}
	_, s.Bayes = v.Tags["BAYES"]
	for _, h := range v.Hits {
		s.Hits = append(s.Hits, h.Rule)
	}
	return s
}

// modeStats computes one mode's figures over the test messages.
func modeStats(tests []mcTest, mode int, label string) mcModeStats {
	st := mcModeStats{Label: label}
	var spam, ham []float64
	caught, fps := 0, 0
	for _, t := range tests {
		s := t.Modes[mode]
		if s.Bayes {
			st.BayesScored++
		}
		if s.TimedOut {
			st.TimedOut++
		}
		if t.Spam {
			spam = append(spam, s.Score)
			if s.Spam {
				caught++
			}
		} else {
			ham = append(ham, s.Score)
			if s.Spam {
				fps++
			}
		}
	}
	st.SpamTested, st.HamTested = len(spam), len(ham)
	st.Recall, st.FPRate = frac(caught, len(spam)), frac(fps, len(ham))
	st.RecallAtFP, st.Threshold = recallAtFP(spam, ham, mcMaxFP)
	st.OneMinusAUC = 1 - auc(spam, ham)
	return st
}

// scores returns one mode's test scores by class.
func (r *mcReport) scores(mode int) (spam, ham []float64) {
	for _, t := range r.Tests {
		if t.Spam {
			spam = append(spam, t.Modes[mode].Score)
		} else {
			ham = append(ham, t.Modes[mode].Score)
		}
	}
	return spam, ham
}

// printMasscheck prints the figures as one table, a mode a line.
func printMasscheck(w io.Writer, r *mcReport) {
	st := r.Stats[modeNoBayes]
	fmt.Fprintf(w, "trained: %d spam, %d ham (oldest %.0f%% of each)\n", r.TrainSpam, r.TrainHam, r.Fraction*100)
	fmt.Fprintf(w, "tested: %d spam, %d ham\n", st.SpamTested, st.HamTested)
	fmt.Fprintf(w, "required_score: %.1f\n", r.Required)
	fmt.Fprintf(w, "%-12s %12s %10s %14s %10s %9s %12s %9s\n", "mode", "spam-recall", "false-pos", "recall@0.1%fp", "threshold", "1-AUC", "bayes-scored", "timed-out")
	for _, st := range r.Stats {
		fmt.Fprintf(w, "%-12s %11.2f%% %9.2f%% %13.2f%% %10.3f %9.5f %12d %9d\n",
			st.Label, st.Recall*100, st.FPRate*100, st.RecallAtFP*100, st.Threshold, st.OneMinusAUC, st.BayesScored, st.TimedOut)
	}
	fmt.Fprintf(w, "elapsed: %s\n", r.Elapsed.Round(time.Second))
}

// writeMasscheckLog writes every test outcome, tab-separated, as
// SpamAssassin's mass-check writes ham.log and spam.log: class, mode,
// file, score, Y or N, the rules hit joined by commas.
func writeMasscheckLog(path string, r *mcReport) error {
	var b bytes.Buffer
	for _, t := range r.Tests {
		class := "ham"
		if t.Spam {
			class = "spam"
		}
		for mode, s := range t.Modes {
			yn := "N"
			if s.Spam {
				yn = "Y"
			}
			fmt.Fprintf(&b, "%s\t%s\t%s\t%.3f\t%s\t%s\n", class, r.Stats[mode].Label, t.Name, s.Score, yn, strings.Join(s.Hits, ","))
		}
	}
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// frozenStore is a [bayes.Store] that reads and never writes: Apply
// changes nothing and answers Already, so a pipeline that auto-learns
// leaves the database of a mass check's test phase as training left it.
type frozenStore struct{ bayes.Store }

// Apply implements [bayes.Store] by doing nothing.
func (frozenStore) Apply(context.Context, bayes.Change) (bayes.Outcome, error) {
	return bayes.Already, nil
}
