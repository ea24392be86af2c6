// Command parity runs the differential harness of issue 4: SpamAssassin
// 4.0.1's spamd and sluice's rules on the same corpus messages, compared
// per (message, rule). It writes a Markdown report and a per-rule TSV.
//
//	parity [-corpus DIR] [-every N] [-cache FILE] [-md FILE] [-tsv FILE] [-sa-only]
//
// SpamAssassin's verdicts are cached by message hash in -cache, so a rerun
// asks spamd only about messages it has not seen.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/internal/parity"
)

func main() {
	shared := os.Getenv("SLUICE_SHARED")
	if shared == "" {
		shared = "../shared"
	}
	corpus := flag.String("corpus", filepath.Join(shared, "corpus", "spamassassin"), "corpus `dir` with ham/ and spam/")
	every := flag.Int("every", 1, "keep every `N`th message (sorted by name)")
	cachePath := flag.String("cache", "parity-sa-cache.tsv", "SpamAssassin verdict cache `file`")
	mdPath := flag.String("md", "", "write the Markdown report to `file`")
	tsvPath := flag.String("tsv", "", "write the per-rule TSV to `file`")
	rulesDir := flag.String("rules", "/usr/share/spamassassin", "rules `dir` for both engines")
	workers := flag.Int("workers", 2, "spamd children and concurrent clients; sluice workers")
	saOnly := flag.Bool("sa-only", false, "only fill the SpamAssassin cache")
	seed := flag.String("seed", "", "SpamAssassin verdict `TSV` (conformance/spamassassin/dev-corpus-sa401.tsv) that fills cache misses instead of spamd")
	msgsPath := flag.String("messages", "", "write per-message differences (TSV) to `file`")
	cross := flag.String("crosscheck", "", "compare the cache with this shared verdict `TSV` and report differences")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *corpus, *every, *cachePath, *mdPath, *tsvPath, *rulesDir, *workers, *saOnly, *seed, *cross, *msgsPath); err != nil {
		fmt.Fprintln(os.Stderr, "parity:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, corpus string, every int, cachePath, mdPath, tsvPath, rulesDir string, workers int, saOnly bool, seed, cross, msgsPath string) error {
	msgs, err := parity.Corpus(corpus)
	if err != nil {
		return err
	}
	msgs = parity.Sample(msgs, every)
	cache, err := parity.LoadCache(cachePath)
	if err != nil {
		return err
	}
	if seed != "" {
		shared, err := parity.ReadSharedTSV(seed)
		if err != nil {
			return err
		}
		n, err := parity.SeedCache(cache, msgs, shared)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "parity: %d verdicts taken from %s\n", n, seed)
	}
	tmp, err := os.MkdirTemp("", "parity")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	os.Chmod(tmp, 0o755) // spamd reads its site configuration as nobody
	missing := 0
	for _, m := range msgs {
		raw, err := os.ReadFile(m.Path)
		if err != nil {
			return err
		}
		if _, ok := cache[parity.Hash(parity.Clean(raw))]; !ok {
			missing++
		}
	}
	if missing > 0 {
		fmt.Fprintf(os.Stderr, "parity: %d of %d messages not cached; starting spamd\n", missing, len(msgs))
		sd, err := parity.StartSpamd(ctx, parity.SpamdOptions{Dir: filepath.Join(tmp, "spamd"), Rules: rulesDir, Children: workers})
		if err != nil {
			return err
		}
		start := time.Now()
		err = parity.SARun(ctx, sd, msgs, cache, workers, func(done, todo int) {
			if done%100 == 0 || done == todo {
				fmt.Fprintf(os.Stderr, "spamd: %d/%d (%.1f msg/s)\n", done, todo, float64(done)/time.Since(start).Seconds())
			}
		}, func() error { return cache.Save(cachePath) })
		sd.Close()
		if err != nil {
			return err
		}
	}
	if cross != "" {
		shared, err := parity.ReadSharedTSV(cross)
		if err != nil {
			return err
		}
		n, differ := parity.CrossCheck(cache, shared)
		fmt.Printf("cross-check against %s: %d messages compared, %d differ %v\n", cross, n, len(differ), differ[:min(len(differ), 10)])
	}
	if saOnly {
		return nil
	}
	localCF := filepath.Join(tmp, "local.cf")
	if err := os.WriteFile(localCF, []byte(parity.LocalCF), 0o644); err != nil {
		return err
	}
	t0 := time.Now()
	sl, err := parity.LoadSluice([]string{rulesDir}, localCF, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	load := time.Since(t0)
	t0 = time.Now()
	pairs, err := parity.Pairs(ctx, sl, msgs, cache, workers)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "sluice: %d messages in %v (rules load %v)\n", len(pairs), time.Since(t0).Round(time.Millisecond), load.Round(time.Millisecond))
	site, err := parity.WriteSite(filepath.Join(tmp, "perl"))
	if err != nil {
		return err
	}
	sa, err := parity.LoadSARules(ctx, rulesDir, site)
	if err != nil {
		return err
	}
	rep := parity.Compare(pairs, sl, sa)
	fmt.Print(rep.Summary())
	if msgsPath != "" {
		f, err := os.Create(msgsPath)
		if err != nil {
			return err
		}
		if err := parity.WriteMessages(f, pairs); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if tsvPath != "" {
		f, err := os.Create(tsvPath)
		if err != nil {
			return err
		}
		if err := rep.WriteTSV(f); err != nil {
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	if mdPath != "" {
		var gen strings.Builder
		if err := rep.WriteMarkdown(&gen, parity.Reasons()); err != nil {
			return err
		}
		uses := parity.EvalCoverage(sa)
		gen.WriteString("\n### Eval-function coverage\n\n")
		if err := parity.WriteEvalCoverage(&gen, uses); err != nil {
			return err
		}
		fmt.Fprintf(&gen, "\nGenerated %s over %d messages (every %d of the sorted corpus).\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), len(msgs), every)
		old, err := os.ReadFile(mdPath)
		if err != nil && !os.IsNotExist(err) {
			return err
		}
		if err := os.WriteFile(mdPath, []byte(parity.Splice(string(old), gen.String())), 0o644); err != nil {
			return err
		}
	}
	return nil
}
