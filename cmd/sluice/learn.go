package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/sluice-mail/sluice/bayes"
	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/rules"
)

// Learning in batches: one fsynced transaction per learnBatch messages (or
// learnBatchBytes of them, whichever comes first), so learning a folder
// costs a commit per batch. The file is locked for the transaction only,
// after the batch is tokenized: deliveries wait milliseconds, not seconds.
const (
	learnBatch      = 100
	learnBatchBytes = 16 << 20
)

// learnLockTimeout is the least a learner waits for the database: unlike
// a delivery, which goes on without Bayes, a learner has nothing better to
// do than wait for the deliveries reading the file.
const learnLockTimeout = 30 * time.Second

// learnCounts is what a learning run did, message by message.
type learnCounts struct {
	examined, learned, already, moved, forgotten, notLearned, skipped int
}

// cmdLearn is sa-learn: it learns messages as spam or ham, forgets them,
// or prints, backs up and restores the Bayes database.
func cmdLearn(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := newFlagSet("learn", stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage: sluice learn [-config F] [-bayes DB] [-user ADDR] (-spam|-ham|-forget) PATH...
       sluice learn [-config F] [-bayes DB] [-user ADDR] (-stats|-expire|-backup|-restore FILE|-import-sa FILE)

PATH is a message file, a directory (read recursively, Maildir cur/ and new/
included), an mbox, or - for one message on stdin.

`)
		fs.PrintDefaults()
	}
	cfgPath := fs.String("config", "", "configuration `file` (TOML); default: embedded defaults")
	dbPath := fs.String("bayes", "", "Bayes database `file` (overrides [bayes] path and [redis])")
	user := fs.String("user", "", "use the per-user database of `address` (DB.address, or under the Redis key prefix + u:address:)")
	spam := fs.Bool("spam", false, "learn the messages as spam")
	ham := fs.Bool("ham", false, "learn the messages as ham")
	forget := fs.Bool("forget", false, "forget the messages")
	stats := fs.Bool("stats", false, "print the database's counts, as sa-learn --dump magic")
	expire := fs.Bool("expire", false, "expire old tokens now, as sa-learn --force-expire, and print what went")
	backup := fs.Bool("backup", false, "write the database to stdout in sa-learn --backup format")
	restore := fs.String("restore", "", "replace the database with a -backup `file` (- for stdin)")
	importSA := fs.String("import-sa", "", "replace the database with an sa-learn --backup `file` (- for stdin)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	modes := 0
	for _, on := range []bool{*spam, *ham, *forget, *stats, *expire, *backup, *restore != "", *importSA != ""} {
		if on {
			modes++
		}
	}
	learning := *spam || *ham || *forget
	switch {
	case modes != 1:
		fmt.Fprintln(stderr, "sluice learn: give one of -spam, -ham, -forget, -stats, -expire, -backup, -restore, -import-sa")
		return 2
	case learning && fs.NArg() == 0:
		fmt.Fprintln(stderr, "sluice learn: no PATH to learn from (- reads stdin)")
		return 2
	case !learning && fs.NArg() > 0:
		fmt.Fprintf(stderr, "sluice learn: unexpected arguments %q\n", fs.Args())
		return 2
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "sluice: %v\n", err)
		return 1
	}
	if *dbPath != "" {
		// -bayes names a bbolt file, which takes over from [redis] for
		// this run.
		cfg.Bayes.Path, cfg.Redis.URL = *dbPath, ""
	}
	if *user != "" {
		if _, err := userKey(cfg, *user); err != nil {
			fmt.Fprintf(stderr, "sluice learn: %v\n", err)
			return 2
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// Reading (-stats, -backup) creates nothing: a typo in -bayes or -user
	// is an error, not a new empty database.
	cfg.Bayes.LockTimeout = max(cfg.Bayes.LockTimeout, learnLockTimeout)
	// Learning, forgetting and expiring follow the rule files' bayes_*
	// settings (expiry among them); the other modes only move data.
	var bc rules.BayesConfig
	var meta func(*mail.Message) []string
	var exp *bayes.Expiry
	if !*stats && !*backup && *restore == "" && *importSA == "" {
		if !cfg.Bayes.Enabled && !*expire {
			fmt.Fprintln(stderr, "sluice learn: Bayes is off ([bayes] enabled = false)")
			return 1
		}
		log := newLogger(config.Log{Level: "warn", Format: "text"}, stderr)
		if bc, meta, err = learnRulesConfig(cfg, log); err != nil {
			fmt.Fprintf(stderr, "sluice: %v\n", err)
			return 1
		}
		e := bayesConfigFrom(bc).Expiry
		exp = &e
	}
	store, closer, err := openBayesStore(cfg, &redisPool{}, *user, !*stats && !*backup && !*expire, exp)
	if err != nil {
		fmt.Fprintf(stderr, "sluice learn: %v\n", err)
		return 1
	}
	defer closer.Close()
	switch {
	case *stats:
		return learnStats(ctx, store, stdout, stderr)
	case *backup:
		return learnBackup(ctx, store, stdout, stderr)
	case *restore != "":
		return learnRestore(ctx, store, *restore, stdin, stdout, stderr)
	case *importSA != "":
		return learnRestore(ctx, store, *importSA, stdin, stdout, stderr)
	}
	if *expire {
		return learnExpire(ctx, store, *exp, stdout, stderr)
	}
	cl := &bayes.Classifier{Store: store, Config: bayesConfigFrom(bc), Metadata: meta}
	if !cl.Config.UseBayes {
		fmt.Fprintln(stderr, "sluice learn: Bayes is off in the rules (use_bayes 0 or use_learner 0)")
		return 1
	}
	class := bayes.Class(0)
	switch {
	case *spam:
		class = bayes.Spam
	case *ham:
		class = bayes.Ham
	}
	c, err := learnPaths(ctx, cl, class, fs.Args(), stdin, cfg.LMTP.MaxMessageSize, stderr)
	printLearnCounts(stdout, c, class)
	if err != nil {
		fmt.Fprintf(stderr, "sluice learn: %v\n", err)
		return 1
	}
	if c.skipped > 0 {
		return 1
	}
	return 0
}

// learnRulesConfig reads the bayes_* settings of the rules in force; with
// rules off, SpamAssassin's defaults.
// learnRulesConfig loads the rules for their bayes_* settings and for the
// metadata pseudo-headers delivery tokenizes (bayesMetadata), so a message
// learned here gives the tokens it gives when scored.
func learnRulesConfig(cfg config.Config, log *slog.Logger) (rules.BayesConfig, func(*mail.Message) []string, error) {
	rs, _, err := loadRules(cfg, nil, log)
	if err != nil {
		return rules.BayesConfig{}, nil, err
	}
	if rs == nil {
		return rules.DefaultBayesConfig(), nil, nil
	}
	return rs.Config().Bayes, bayesMetadata(rs), nil
}

// learnPaths learns (or, for class zero, forgets) every message under
// paths, in batches. Messages that cannot be read, are over maxSize or
// are not mail are skipped and named on stderr; a database error stops the
// run.
func learnPaths(ctx context.Context, cl *bayes.Classifier, class bayes.Class, paths []string, stdin io.Reader, maxSize int64, stderr io.Writer) (learnCounts, error) {
	var c learnCounts
	var batch []*mail.Message
	size := 0
	bar := newLearnBar(stderr)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		outs, err := cl.LearnAll(ctx, batch, class)
		if err != nil {
			return err
		}
		for _, o := range outs {
			switch o {
			case bayes.Learned:
				c.learned++
			case bayes.Already:
				c.already++
			case bayes.Moved:
				c.moved++
			case bayes.Forgotten:
				c.forgotten++
			case bayes.NotLearned:
				c.notLearned++
			}
		}
		batch, size = batch[:0], 0
		return nil
	}
	err := mail.WalkSources(paths, stdin, maxSize, func(src mail.Source, err error) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		c.examined++
		if bar != nil {
			bar.Add(1)
		}
		name := src.File
		if src.Mbox {
			name = fmt.Sprintf("%s:%d", src.File, src.Index)
		}
		if err == nil && !looksLikeMessage(src.Raw) {
			err = errors.New("not a message")
		}
		if err != nil {
			c.skipped++
			if bar != nil {
				bar.Clear()
			}
			fmt.Fprintf(stderr, "sluice learn: %s: skipped: %v\n", name, err)
			return nil
		}
		batch = append(batch, mail.Parse(src.Raw, mail.Options{}))
		size += len(src.Raw)
		if len(batch) >= learnBatch || size >= learnBatchBytes {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	if bar != nil {
		bar.Finish()
		fmt.Fprintln(stderr)
	}
	return c, err
}

// newLearnBar is a progress counter on stderr when it is a terminal; nil
// otherwise (cron, imapsieve pipes, tests). The total is not known before
// the walk, so it counts messages and their rate.
func newLearnBar(w io.Writer) *progressbar.ProgressBar {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return progressbar.NewOptions(-1,
		progressbar.OptionSetWriter(f),
		progressbar.OptionSetDescription("learning"),
		progressbar.OptionShowCount(),
		progressbar.OptionShowIts(),
		progressbar.OptionSetItsString("msg"),
		progressbar.OptionThrottle(200*time.Millisecond),
		progressbar.OptionSpinnerType(14),
	)
}

// looksLikeMessage reports whether raw starts with a header field, as
// mail does: a field name of printable ASCII and a colon. Empty input,
// binaries and text files dropped into a mail folder are not learned.
func looksLikeMessage(raw []byte) bool {
	line := raw
	if i := bytes.IndexByte(raw, '\n'); i >= 0 {
		line = raw[:i]
	}
	colon := bytes.IndexByte(line, ':')
	if colon <= 0 {
		return false
	}
	for _, b := range line[:colon] {
		if b <= ' ' || b > '~' {
			return false
		}
	}
	return true
}

// printLearnCounts prints sa-learn's summary line and the detail it
// leaves out.
func printLearnCounts(w io.Writer, c learnCounts, class bayes.Class) {
	if class == 0 {
		fmt.Fprintf(w, "Forgot tokens from %d message(s) (%d message(s) examined)\n", c.forgotten, c.examined)
		fmt.Fprintf(w, "forgotten %d, not learned before %d, skipped %d\n", c.forgotten, c.notLearned, c.skipped)
		return
	}
	other := "ham"
	if class == bayes.Ham {
		other = "spam"
	}
	fmt.Fprintf(w, "Learned tokens from %d message(s) (%d message(s) examined)\n", c.learned+c.moved, c.examined)
	fmt.Fprintf(w, "learned %d, already known %d, moved from %s %d, skipped %d\n", c.learned, c.already, other, c.moved, c.skipped)
}

// learnDump reads the whole database.
func learnDump(ctx context.Context, s bayes.Store) (*bayes.Backup, error) {
	d, ok := s.(bayes.Dumper)
	if !ok {
		return nil, errors.New("this Bayes store cannot be dumped")
	}
	return d.Dump(ctx)
}

// learnStats prints the database's counts in the layout of sa-learn
// --dump magic, for the values sluice keeps.
func learnStats(ctx context.Context, s bayes.Store, stdout, stderr io.Writer) int {
	b, err := learnDump(ctx, s)
	if err != nil {
		fmt.Fprintf(stderr, "sluice learn: %v\n", err)
		return 1
	}
	var oldest, newest int64
	for _, c := range b.Tokens {
		if oldest == 0 || c.Atime < oldest {
			oldest = c.Atime
		}
		newest = max(newest, c.Atime)
	}
	type magic struct {
		n    uint64
		name string
	}
	lines := []magic{
		{3, "bayes db version"},
		{b.NSpam, "nspam"},
		{b.NHam, "nham"},
		{uint64(len(b.Tokens)), "ntokens"},
		{uint64(oldest), "oldest atime"},
		{uint64(newest), "newest atime"},
	}
	if es, ok := s.(bayes.ExpiryStater); ok {
		st, err := es.ExpiryStats(ctx)
		if err != nil {
			fmt.Fprintf(stderr, "sluice learn: %v\n", err)
			return 1
		}
		lines = append(lines,
			magic{uint64(st.LastExpire), "last expiry atime"},
			magic{uint64(st.LastAtimeDelta), "last expire atime delta"},
			magic{uint64(st.LastReduce), "last expire reduction count"})
	}
	w := bufio.NewWriter(stdout)
	for _, v := range lines {
		// BayesStore dump_db_toks: "%.3f %10d %10d %10d  non-token data: %s".
		fmt.Fprintf(w, "%.3f %10d %10d %10d  non-token data: %s\n", 0.0, 0, v.n, 0, v.name)
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(stderr, "sluice learn: %v\n", err)
		return 1
	}
	return 0
}

// learnExpire runs an expiry now (sa-learn --force-expire) and prints
// what it removed. A store that expires by itself (Redis TTLs) has
// nothing to run, as sa-learn --force-expire does nothing there.
func learnExpire(ctx context.Context, s bayes.Store, e bayes.Expiry, stdout, stderr io.Writer) int {
	ex, ok := s.(bayes.Expirer)
	if !ok {
		fmt.Fprintln(stdout, "This Bayes store expires tokens by their TTL (bayes_token_ttl); nothing to run")
		return 0
	}
	res, err := ex.Expire(ctx, e)
	if err != nil {
		fmt.Fprintf(stderr, "sluice learn: %v\n", err)
		return 1
	}
	if res.Removed == 0 {
		fmt.Fprintf(stdout, "Expired nothing: %s\n", res.Skipped)
		return 0
	}
	// Bayes.pm expire_old_tokens_trapped's verbose lines.
	fmt.Fprintf(stdout, "%d entries kept, %d deleted\n", res.Before-res.Removed, res.Removed)
	fmt.Fprintf(stdout, "token atime cutoff %d (%s)\n", res.Cutoff, time.Unix(res.Cutoff, 0).UTC().Format(time.RFC3339))
	return 0
}

func learnBackup(ctx context.Context, s bayes.Store, stdout, stderr io.Writer) int {
	b, err := learnDump(ctx, s)
	if err == nil {
		err = bayes.WriteSABackup(stdout, b)
	}
	if err != nil {
		fmt.Fprintf(stderr, "sluice learn: %v\n", err)
		return 1
	}
	return 0
}

// learnRestore replaces the database with a backup: sluice's own -backup
// output and sa-learn --backup's are the same format.
func learnRestore(ctx context.Context, s bayes.Store, file string, stdin io.Reader, stdout, stderr io.Writer) int {
	r := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			fmt.Fprintf(stderr, "sluice learn: %v\n", err)
			return 1
		}
		defer f.Close()
		r = f
	}
	b, err := bayes.ReadSABackup(bufio.NewReader(r), time.Now())
	if err != nil {
		fmt.Fprintf(stderr, "sluice learn: %s: %v\n", file, err)
		return 1
	}
	rs, ok := s.(bayes.Restorer)
	if !ok {
		fmt.Fprintln(stderr, "sluice learn: this Bayes store cannot be restored")
		return 1
	}
	if err := rs.Restore(ctx, b); err != nil {
		fmt.Fprintf(stderr, "sluice learn: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "Restored %d spam, %d ham, %d tokens, %d learned message ids\n", b.NSpam, b.NHam, len(b.Tokens), len(b.Seen))
	return 0
}

// bayesConfigFrom turns the bayes_* settings the rules read into the
// classifier's Config, starting from SpamAssassin's defaults.
func bayesConfigFrom(b rules.BayesConfig) bayes.Config {
	c := bayes.DefaultConfig()
	c.UseBayes = b.UseBayes && b.UseLearner
	c.UseBayesRules = b.UseBayesRules
	c.AutoLearn = b.AutoLearn
	c.AutoLearnThresholdNonspam = b.AutoLearnThresholdNonspam
	c.AutoLearnThresholdSpam = b.AutoLearnThresholdSpam
	c.AutoLearnOnError = b.AutoLearnOnError
	c.MinHamNum, c.MinSpamNum = b.MinHamNum, b.MinSpamNum
	c.Expiry = bayes.Expiry{MaxDBSize: b.ExpiryMaxDBSize, Auto: b.AutoExpire, TokenTTL: b.TokenTTL, SeenTTL: b.SeenTTL}
	if len(b.IgnoreHeaders) > 0 {
		c.IgnoreHeaders = make(map[string]bool, len(b.IgnoreHeaders))
		for _, h := range b.IgnoreHeaders {
			c.IgnoreHeaders[strings.ToLower(h)] = true
		}
	}
	if v, ok := b.Other["bayes_max_token_length"]; ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			c.MaxTokenLength = n
		}
	}
	if v, ok := b.Other["bayes_use_hapaxes"]; ok {
		if n, err := strconv.Atoi(v); err == nil {
			c.UseHapaxes = n != 0
		}
	}
	if v, ok := b.Other["bayes_token_sources"]; ok {
		c.TokenSources = tokenSources(c.TokenSources, v)
	}
	// Only the English list translates (bayes.NewStopwords); a site that
	// leaves English out of bayes_stopword_languages gets none.
	if v, ok := b.Other["bayes_stopword_languages"]; ok && !containsField(v, "en") {
		c.Stopwords = nil
	} else if v, ok := b.Other["bayes_stopword_en"]; ok {
		if sw, err := bayes.NewStopwords(v); err == nil {
			c.Stopwords = sw
		}
	}
	return c
}

// tokenSources applies one bayes_token_sources value as Conf.pm does:
// "all" or "none", then names, each turned off with a leading "!".
func tokenSources(ts bayes.TokenSources, v string) bayes.TokenSources {
	for _, w := range strings.Fields(strings.ToLower(v)) {
		on := !strings.HasPrefix(w, "!")
		switch strings.TrimPrefix(w, "!") {
		case "all", "none":
			all := w == "all"
			ts = bayes.TokenSources{Header: all, Visible: all, Invisible: all, URI: all}
		case "header":
			ts.Header = on
		case "visible":
			ts.Visible = on
		case "invisible":
			ts.Invisible = on
		case "uri":
			ts.URI = on
		}
	}
	return ts
}

func containsField(s, f string) bool {
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool { return r == ' ' || r == ',' || r == '\t' }) {
		if w == f {
			return true
		}
	}
	return false
}
