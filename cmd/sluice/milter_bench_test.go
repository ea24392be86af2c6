package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/sluice-mail/sluice/internal/dnstest"
	"github.com/sluice-mail/sluice/internal/testutil"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/milter"
	"github.com/sluice-mail/sluice/outbound"
	"github.com/sluice-mail/sluice/pipeline"
)

// benchMessage is a 4 KB plain-text message from alice@example.test.
func benchMessage() string {
	var b strings.Builder
	b.WriteString("From: Alice <alice@example.test>\r\nTo: Bob <bob@elsewhere.test>\r\n" +
		"Subject: Quarterly figures and the meeting on Thursday\r\n" +
		"Date: Fri, 04 Dec 2026 10:00:00 +0000\r\nMessage-ID: <bench-1@example.test>\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n")
	for i := 0; b.Len() < 4096; i++ {
		fmt.Fprintf(&b, "Line %d of the report: revenue, costs and the plan for next quarter are attached below.\r\n", i)
	}
	return b.String()
}

// milterSession opens a milter session to addr (host:port, or a socket
// path) as an MTA whose client is ip.
func milterSession(b *testing.B, addr, ip string) *gomilter.ClientSession {
	b.Helper()
	network := "tcp"
	if strings.HasPrefix(addr, "/") {
		network = "unix"
	}
	s, err := gomilter.NewClient(network, addr).Session(gomilter.NewMacroBag())
	if err != nil {
		b.Fatal(err)
	}
	if _, err := s.Conn("client.test", gomilter.FamilyInet, 25, ip); err != nil {
		b.Fatal(err)
	}
	if _, err := s.Helo("client.test"); err != nil {
		b.Fatal(err)
	}
	return s
}

// milterTransaction sends raw through s and returns the modifications and
// the final action.
func milterTransaction(b *testing.B, s *gomilter.ClientSession, fields []mail.Field, body []byte) ([]gomilter.ModifyAction, *gomilter.Action) {
	step := func(what string, act *gomilter.Action, err error) {
		if err != nil || act.Type != gomilter.ActionContinue {
			b.Fatalf("%s: %v %v", what, act, err)
		}
	}
	act, err := s.Mail("<alice@example.test>", "")
	step("MAIL", act, err)
	act, err = s.Rcpt("<bob@elsewhere.test>", "")
	step("RCPT", act, err)
	act, err = s.DataStart()
	step("DATA", act, err)
	for _, f := range fields {
		_, v, _ := strings.Cut(string(f.Raw()), ":")
		act, err = s.HeaderField(f.Name, strings.ReplaceAll(v, "\r\n", "\n"), nil)
		step("header", act, err)
	}
	act, err = s.HeaderEnd()
	step("EOH", act, err)
	act, err = s.BodyChunk(body)
	step("body", act, err)
	mods, act, err := s.End()
	if err != nil {
		b.Fatal(err)
	}
	return mods, act
}

func runMilterBench(b *testing.B, addr, ip, raw string, wantMods int) {
	b.Helper()
	k := mail.HeaderLen([]byte(raw))
	fields := mail.ParseHeader([]byte(raw[:k]))
	body := []byte(raw[k:])
	s := milterSession(b, addr, ip)
	defer s.Close()
	mods, act := milterTransaction(b, s, fields, body)
	if act.Type != gomilter.ActionAccept || len(mods) < wantMods {
		b.Fatalf("action %v, modifications %v", act, mods)
	}
	b.SetBytes(int64(len(raw)))
	b.ResetTimer()
	for range b.N {
		milterTransaction(b, s, fields, body)
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// serveBenchMilter runs a milter server with signer and checker on a
// unix socket and returns its path. Unix sockets, as for OpenDKIM below:
// over TCP, libmilter's replies at the end of a message (a header action,
// then accept) wait out the client's delayed ACK, 40 ms a message.
func serveBenchMilter(b *testing.B, cfg milter.Config, signer milter.Signer, checker milter.Checker) string {
	b.Helper()
	srv := milter.New(cfg, quiet(), signer, checker)
	path := filepath.Join(b.TempDir(), "milter.sock")
	l, err := milter.Listen("unix:" + path)
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(l)
	b.Cleanup(func() { srv.Close() })
	return path
}

// BenchmarkMilterSign: one outbound message through the milter, signed
// with RSA-2048, end to end over the milter protocol (one connection).
func BenchmarkMilterSign(b *testing.B) {
	cfg, _, _ := outboundSetup(b, "127.0.0.1:1")
	signer := &milterSigner{}
	if err := signer.load(cfg, quiet()); err != nil {
		b.Fatal(err)
	}
	nets, _ := cfg.Milter.Networks()
	addr := serveBenchMilter(b, milter.Config{SignNetworks: nets}, signer, nil)
	runMilterBench(b, addr, "127.0.0.1", benchMessage(), 1)
}

// BenchmarkMilterSignOpenDKIM: the same message signed by OpenDKIM's
// milter with the same key and tables, driven the same way.
func BenchmarkMilterSignOpenDKIM(b *testing.B) {
	bin := testutil.RequirePeer(b, "/usr/sbin/opendkim")[0]
	cfg, _, _ := outboundSetup(b, "127.0.0.1:1")
	dir := b.TempDir()
	sock := filepath.Join(dir, "opendkim.sock")
	hosts := filepath.Join(dir, "TrustedHosts")
	os.WriteFile(hosts, []byte("127.0.0.1\n"), 0o644)
	conf := filepath.Join(dir, "opendkim.conf")
	os.WriteFile(conf, []byte(fmt.Sprintf("Mode s\nSyslog no\nSocket local:%s\nKeyTable file:%s\nSigningTable refile:%s\nInternalHosts %s\nCanonicalization relaxed/relaxed\nRequireSafeKeys no\n",
		sock, cfg.Outbound.DKIMKeyTable, cfg.Outbound.DKIMSigningTable, hosts)), 0o644)
	cmd := exec.Command(bin, "-f", "-x", conf)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i > 100 {
			b.Fatal("opendkim did not create its socket")
		}
		time.Sleep(50 * time.Millisecond)
	}
	runMilterBench(b, sock, "127.0.0.1", benchMessage(), 1)
}

// BenchmarkMilterVerifyScore: one inbound message, DKIM-signed by its
// sender, through the milter: SPF, DKIM, DMARC against loopback DNS (warm
// cache), the stock SpamAssassin rules when installed (else the built-in
// ones), the score, the header actions.
func BenchmarkMilterVerifyScore(b *testing.B) {
	cfg, _, zone := outboundSetup(b, "127.0.0.1:1")
	dns := dnstest.Start(b, "example.test. TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n_dmarc.example.test. TXT \"v=DMARC1; p=reject\"\n")
	zb, _ := os.ReadFile(zone)
	name, value, _ := strings.Cut(strings.TrimSpace(string(zb)), " ")
	dns.AddTXT(name+".", value, 300)
	cfg.Auth.DNS = []string{dns.Addr}
	cfg.Rules.Mode = "auto"
	if os.Getenv("SLUICE_BENCH_RULES") != "" {
		cfg.Rules.Mode = os.Getenv("SLUICE_BENCH_RULES")
	}
	p, err := newPipeline(cfg, quiet(), nil, buildOpts{scanKey: []byte("bench-scan-key-0123456789")})
	if err != nil {
		b.Fatal(err)
	}
	d, err := outbound.LoadDKIM(outbound.DKIMConfig{KeyTable: cfg.Outbound.DKIMKeyTable, SigningTable: cfg.Outbound.DKIMSigningTable})
	if err != nil {
		b.Fatal(err)
	}
	signed, _, err := d.Sign([]byte(benchMessage()), "alice@example.test")
	if err != nil {
		b.Fatal(err)
	}
	addr := serveBenchMilter(b, milter.Config{}, nil, milterChecker{pipeline: func() *pipeline.Pipeline { return p }})
	runMilterBench(b, addr, "192.0.2.1", string(signed), 2)
}
