package policy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sluice-mail/sluice/auth"
	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/internal/testutil"
)

// policydSPFConf makes policyd-spf report every MAIL FROM result in its
// header and refuse nothing, as diffConfig does for sluice. skip_addresses
// must not be empty; 198.18.255.255 is in no suite.
const policydSPFConf = `debugLevel = 0
TestOnly = 1
HELO_reject = False
Mail_From_reject = False
PermError_reject = False
TempError_Defer = False
skip_addresses = 198.18.255.255/32
Lookup_Time = 2
`

// diffConfig reports the SPF result of MAIL FROM (postmaster@HELO for a
// null sender) in Received-SPF and refuses nothing.
var diffConfig = Config{Hostname: "mx.example.test", HELOReject: RejectOff, MailFromReject: RejectOff}

// knownDifferences are the suite tests where sluice and policyd-spf give
// different results, with the reason; any other difference fails.
var knownDifferences = map[string]string{
	"rfc7208-tests.yml\tmultispf1":      "two SPF records: the suite allows permerror (RFC 7208 §4.5) and fail (RFC 4408 leniency); pyspf picks fail",
	"rfc4408-tests.yml\tmultispf1":      "as in rfc7208-tests.yml",
	"rfc7208-tests.yml\tptr-cname-loop": "dnstest answers the PTR name's CNAME loop SERVFAIL, as recursive resolvers do; pyspf through dnspython makes that a temperror of the whole check, sluice skips the name as RFC 7208 §5.5 says (the suite: neutral)",
}

// policydSPF is a running policyd-spf speaking the protocol on a pipe.
type policydSPF struct {
	in  io.WriteCloser
	out *bufio.Reader
	cmd *exec.Cmd
}

func startPolicydSPF(t *testing.T, dnsAddr string) *policydSPF {
	t.Helper()
	testutil.RequirePeer(t, "policyd-spf")
	_, port, _ := net.SplitHostPort(dnsAddr)
	conf := filepath.Join(t.TempDir(), "policyd-spf.conf")
	if err := os.WriteFile(conf, []byte(policydSPFConf), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/usr/bin/python3", filepath.Join("testdata", "policyd-spf-loopback.py"), port, conf)
	in, _ := cmd.StdinPipe()
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting policyd-spf: %v", err)
	}
	p := &policydSPF{in: in, out: bufio.NewReader(out), cmd: cmd}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	return p
}

// spfResultOf returns the SPF result an action reports: the word after
// "Received-SPF:" (lower-cased), else the action's first word.
func spfResultOf(action string) string {
	if _, rest, ok := strings.Cut(action, "Received-SPF: "); ok {
		w, _, _ := strings.Cut(rest, " ")
		return strings.ToLower(w)
	}
	w, _, _ := strings.Cut(action, " ")
	return strings.ToLower(w)
}

func (p *policydSPF) ask(t *testing.T, req Request) string {
	t.Helper()
	if _, err := io.WriteString(p.in, wire(req)); err != nil {
		t.Fatalf("policyd-spf: %v", err)
	}
	return readAction(t, p.out)
}

// TestSPFSuitesAgainstPolicydSPF drives the RFC 7208 and RFC 4408 test
// suites through the policy protocol, to sluice's server and to Debian's
// policyd-spf (pyspf) on the same loopback DNS, and compares the
// Received-SPF results with each other and with the suites.
func TestSPFSuitesAgainstPolicydSPF(t *testing.T) {
	if testing.Short() {
		t.Skip("starts policyd-spf per suite")
	}
	testutil.RequirePeer(t, "policyd-spf")
	dir := filepath.Join(testutil.SharedDir(t), "conformance", "spf")
	var total, agree, oursOK, pyOK int
	var diffs []string
	for _, file := range []string{"rfc7208-tests.yml", "rfc4408-tests.yml"} {
		for _, suite := range dnstest.ReadSPFSuites(t, filepath.Join(dir, file)) {
			srv := dnstest.Start(t, "")
			srv.AddSPFZone(t, suite.ZoneData)
			r, err := auth.NewDNSResolver(auth.DNSConfig{Servers: []string{srv.Addr}, Timeout: 150 * time.Millisecond, Attempts: 1})
			if err != nil {
				t.Fatal(err)
			}
			ours := NewChecker(diffConfig, r)
			py := startPolicydSPF(t, srv.Addr)
			names := make([]string, 0, len(suite.Tests))
			for name := range suite.Tests {
				names = append(names, name)
			}
			sort.Strings(names)
			for _, name := range names {
				tc := suite.Tests[name]
				req := rcptRequest(tc.Host, tc.Helo, tc.MailFrom, "rcpt@example.test")
				req["instance"] = file + "/" + name
				// Both sides get the request through the protocol: ours
				// through ReadRequest, as a connection would.
				parsed, err := ReadRequest(NewReader(strings.NewReader(wire(req)), Limits{}), Limits{})
				if err != nil {
					t.Fatal(err)
				}
				got := spfResultOf(ours.Check(context.Background(), parsed).Action)
				pyAction := py.ask(t, req)
				pyGot := spfResultOf(pyAction)
				want := dnstest.NodeStrings(t, &tc.Result)
				total++
				if got == pyGot {
					agree++
					if _, ok := knownDifferences[file+"\t"+name]; ok {
						t.Errorf("%s %s: sluice and policyd-spf agree (%s) but knownDifferences lists it", file, name, got)
					}
				} else {
					if _, ok := knownDifferences[file+"\t"+name]; !ok {
						t.Errorf("%s %s (%s, %q, %q): sluice %s, policyd-spf %s (%.100q)", file, name, tc.Host, tc.Helo, tc.MailFrom, got, pyGot, pyAction)
					}
					diffs = append(diffs, fmt.Sprintf("%s %s: sluice %s, policyd-spf %s (%.100q), suite %v", file, name, got, pyGot, pyAction, want))
				}
				if slices.Contains(want, got) {
					oursOK++
				} else {
					t.Errorf("%s %s (%s, %q, %q): sluice says %s, want %v (policyd-spf: %s)", file, name, tc.Host, tc.Helo, tc.MailFrom, got, want, pyGot)
				}
				if slices.Contains(want, pyGot) {
					pyOK++
				}
			}
		}
	}
	for _, d := range diffs {
		t.Logf("differs: %s", d)
	}
	t.Logf("%d suite tests through the policy protocol: sluice and policyd-spf agree on %d; suite expectations met: sluice %d, policyd-spf %d", total, agree, oursOK, pyOK)
}
