package parity

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ErrSpamd reports that spamd could not be started or gave no verdict.
var ErrSpamd = errors.New("parity: spamd")

// Verdict is one engine's decision on one message.
type Verdict struct {
	Score float64
	Spam  bool
	// Hits maps each rule that fired (non-zero score, no __ sub-rules) to
	// its score.
	Hits map[string]float64
}

// LocalCF is the site configuration both engines share: local tests only,
// no Bayes, no auto-learning, no reputation or collaborative filters,
// required_score 5. The report_safe and add_header lines only shape
// spamd's reply; sluice ignores them for the comparison.
//
// scripts/accuracy.sh builds its SpamAssassin sites from the same file.
//
//go:embed local.cf
var LocalCF string

// SpamdOptions configures StartSpamd.
type SpamdOptions struct {
	// Dir is a private directory for the site configuration and logs; it
	// must be readable by the user spamd's children run as (nobody).
	Dir string
	// Rules is the default rules directory (--configpath); default
	// /usr/share/spamassassin.
	Rules string
	// Children is spamd's child count; default 2.
	Children int
	// ExtraCF is appended to LocalCF in the site's local.cf.
	ExtraCF string
	// VirtualConfigDir, when set, is spamd's --virtual-config-dir (with
	// -x, %u the User header): each user's user_prefs is read from it,
	// as spamd reads one (read_scoreonly_config), in place of
	// --nouser-config.
	VirtualConfigDir string
	// SQLConfig, when set, runs spamd with -x --sql-config: each user's
	// preferences come from the site's user_scores_dsn (in ExtraCF), as
	// Conf::SQL reads them, for the User header (nobody without one).
	SQLConfig bool
}

// Spamd is a running private spamd.
type Spamd struct {
	port int
	cmd  *exec.Cmd
	done chan error
	log  string
}

// StartSpamd starts spamd -L on a free loopback port with a private site
// configuration (Debian's /etc/spamassassin/*.pre plus LocalCF),
// --nouser-config and --max-conn-per-child=1 (a 4.0.1 child otherwise
// carries capture-rule state from one message into the next), and waits
// until it accepts connections.
func StartSpamd(ctx context.Context, o SpamdOptions) (*Spamd, error) {
	if o.Rules == "" {
		o.Rules = "/usr/share/spamassassin"
	}
	if o.Children <= 0 {
		o.Children = 2
	}
	bin, err := exec.LookPath("spamd")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpamd, err)
	}
	if _, err := exec.LookPath("spamc"); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpamd, err)
	}
	site, err := writeSite(o.Dir, LocalCF+o.ExtraCF)
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpamd, err)
	}
	n := strconv.Itoa(o.Children)
	users := []string{"--nouser-config"}
	if o.VirtualConfigDir != "" {
		users = []string{"-x", "--virtual-config-dir=" + o.VirtualConfigDir}
	}
	if o.SQLConfig {
		users = []string{"-x", "--sql-config"}
	}
	args := append([]string{"-L", "--configpath", o.Rules, "--siteconfigpath", site}, users...)
	args = append(args, "-i", "127.0.0.1", "-p", strconv.Itoa(port),
		"--max-children", n, "--min-children", n, "--min-spare", "1", "--max-spare", n,
		"--max-conn-per-child=1", "-s", "stderr")
	if os.Geteuid() == 0 {
		args = append(args, "-u", "nobody")
	}
	s := &Spamd{port: port, done: make(chan error, 1), log: filepath.Join(o.Dir, "spamd.log")}
	logf, err := os.Create(s.log)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpamd, err)
	}
	s.cmd = exec.Command(bin, args...)
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	s.cmd.Dir = o.Dir
	if err := s.cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("%w: %w", ErrSpamd, err)
	}
	go func() { s.done <- s.cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		c, err := net.DialTimeout("tcp", s.addr(), time.Second)
		if err == nil {
			c.Close()
			return s, nil
		}
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("%w: exited before listening (%v); log %s", ErrSpamd, err, s.log)
		case <-ctx.Done():
			s.Close()
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, fmt.Errorf("%w: not listening after 3 minutes; log %s", ErrSpamd, s.log)
		}
	}
}

// WriteSite creates dir/site holding Debian's /etc/spamassassin/*.pre
// (which plugins load) and LocalCF, readable by every user, and returns
// its path.
func WriteSite(dir string) (string, error) { return writeSite(dir, LocalCF) }

func writeSite(dir, localCF string) (string, error) {
	site := filepath.Join(dir, "site")
	if err := os.MkdirAll(site, 0o755); err != nil {
		return "", fmt.Errorf("%w: %w", ErrSpamd, err)
	}
	os.Chmod(dir, 0o755)
	pres, _ := filepath.Glob("/etc/spamassassin/*.pre")
	for _, p := range pres {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("%w: %w", ErrSpamd, err)
		}
		if err := os.WriteFile(filepath.Join(site, filepath.Base(p)), b, 0o644); err != nil {
			return "", fmt.Errorf("%w: %w", ErrSpamd, err)
		}
	}
	if err := os.WriteFile(filepath.Join(site, "local.cf"), []byte(localCF), 0o644); err != nil {
		return "", fmt.Errorf("%w: %w", ErrSpamd, err)
	}
	return site, nil
}

func (s *Spamd) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// Close stops spamd (its children follow their parent).
func (s *Spamd) Close() error {
	if s.cmd.Process == nil {
		return nil
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.done
	}
	return nil
}

// Check runs spamc on msg and parses the Parity header LocalCF makes
// spamd add. It retries once when spamc hands the message back unchecked
// (spamc's fail-safe when spamd is busy or restarting a child).
func (s *Spamd) Check(ctx context.Context, msg []byte) (Verdict, error) {
	var last error
	for attempt := 0; attempt < 3; attempt++ {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		cmd := exec.CommandContext(cctx, "spamc", "-d", "127.0.0.1", "-p", strconv.Itoa(s.port),
			"-s", "50000000", "-t", "280", "-x")
		cmd.Stdin = bytes.NewReader(msg)
		out, err := cmd.Output()
		cancel()
		if err == nil {
			v, perr := ParseParityHeader(out)
			if perr == nil {
				return v, nil
			}
			last = perr
		} else {
			last = err
		}
		if ctx.Err() != nil {
			return Verdict{}, ctx.Err()
		}
		time.Sleep(500 * time.Millisecond)
	}
	return Verdict{}, fmt.Errorf("%w: no verdict: %w", ErrSpamd, last)
}

// ParseParityHeader reads "X-Spam-Parity: Yes 7.3 A=1.2,B=0.5" (possibly
// folded) from the header of spamd's reply.
func ParseParityHeader(reply []byte) (Verdict, error) {
	hdr := reply
	if i := bytes.Index(reply, []byte("\n\n")); i >= 0 {
		hdr = reply[:i+1]
	} else if i := bytes.Index(reply, []byte("\r\n\r\n")); i >= 0 {
		hdr = reply[:i+2]
	}
	sc := bufio.NewScanner(bytes.NewReader(hdr))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var val strings.Builder
	in := false
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if in && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			val.WriteString(strings.TrimSpace(line))
			continue
		}
		if in {
			break
		}
		if strings.HasPrefix(strings.ToLower(line), "x-spam-parity:") {
			in = true
			val.WriteString(strings.TrimSpace(line[len("x-spam-parity:"):]))
		}
	}
	if !in {
		return Verdict{}, fmt.Errorf("%w: reply has no X-Spam-Parity field", ErrSpamd)
	}
	// Folding may have split the test list at a comma: the list itself
	// has no spaces, so rejoin everything after the score.
	f := strings.Fields(val.String())
	if len(f) < 2 {
		return Verdict{}, fmt.Errorf("%w: bad X-Spam-Parity %q", ErrSpamd, val.String())
	}
	v := Verdict{Spam: f[0] == "Yes", Hits: map[string]float64{}}
	sc2, err := strconv.ParseFloat(f[1], 64)
	if err != nil {
		return Verdict{}, fmt.Errorf("%w: bad score %q", ErrSpamd, f[1])
	}
	v.Score = sc2
	if err := parseHits(strings.Join(f[2:], ""), v.Hits); err != nil {
		return Verdict{}, err
	}
	return v, nil
}

// parseHits reads "A=1.2,B=0.5" into m.
func parseHits(s string, m map[string]float64) error {
	for _, t := range strings.Split(s, ",") {
		if t == "" || t == "none" {
			continue
		}
		name, score, ok := strings.Cut(t, "=")
		if !ok {
			return fmt.Errorf("%w: bad hit %q", ErrSpamd, t)
		}
		x, err := strconv.ParseFloat(score, 64)
		if err != nil {
			return fmt.Errorf("%w: bad hit %q", ErrSpamd, t)
		}
		m[name] = x
	}
	return nil
}

// formatHits writes m as "A=1.2,B=0.5", sorted by name.
func formatHits(m map[string]float64) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for i, n := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(n)
		b.WriteByte('=')
		b.WriteString(strconv.FormatFloat(m[n], 'f', -1, 64))
	}
	return b.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Port is the loopback port spamd listens on, for clients other than
// Check (spamc run by a test).
func (s *Spamd) Port() int { return s.port }
