package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/config"
	"github.com/sluice-mail/sluice/mail"
	"github.com/sluice-mail/sluice/pipeline"
	"github.com/sluice-mail/sluice/spamd"
)

// Exit statuses of `sluice pipe`, from sysexits.h. Postfix's pipe(8)
// defers on EX_TEMPFAIL and bounces on most others, so every failure of
// ours is EX_TEMPFAIL: the message stays in Postfix's queue.
const (
	exitOK       = 0
	exitTempFail = 75
)

// cmdPipe is the content_filter mode: read one message on stdin, run the
// per-message pipeline, and re-inject the result with sendmail.
func cmdPipe(args []string, stdin io.Reader, stderr io.Writer) int {
	fs := newFlagSet("pipe", stderr)
	cfgPath := fs.String("config", "", "configuration `file` (TOML); default: embedded defaults")
	sender := fs.String("f", "", "envelope `sender` (Postfix: ${sender}); empty for the null sender")
	clientIP := fs.String("client-ip", "", "original client `IP` (Postfix: ${client_address})")
	helo := fs.String("helo", "", "original client HELO `name` (Postfix: ${client_helo})")
	queueID := fs.String("queue-id", "", "Postfix queue `ID` (${queue_id}), for logs")
	if err := fs.Parse(args); err != nil {
		return exitTempFail
	}
	rcpts := fs.Args()
	if len(rcpts) == 0 {
		fmt.Fprintln(stderr, "sluice pipe: no recipients (usage: sluice pipe -f SENDER [-client-ip IP] [-helo NAME] -- RECIPIENT...)")
		return exitTempFail
	}
	cfg, err := loadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "sluice pipe: %v\n", err)
		return exitTempFail
	}
	log := newLogger(cfg.Log, stderr)
	env := &mail.Envelope{MailFrom: *sender, Recipients: rcpts, ClientIP: net.ParseIP(*clientIP), ClientHelo: *helo, QueueID: *queueID}

	raw, release, err := readMessage(stdin, cfg.LMTP)
	if err != nil {
		log.Error("pipe: reading the message", "queue_id", *queueID, "err", err)
		return exitTempFail
	}
	defer release()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	copies, err := filterByServe(ctx, cfg, log, env, raw)
	if errors.Is(err, errNoServe) {
		copies, err = filterMessage(ctx, cfg, log, env, raw)
	}
	if err != nil {
		if cfg.Filter.OnError != "pass" {
			log.Error("pipe: message deferred", "queue_id", *queueID, "err", err)
			return exitTempFail
		}
		log.Warn("pipe: passing the message unscanned (filter.on_error = pass)", "queue_id", *queueID, "err", err)
		copies = []pipeline.Filtered{{Recipients: rcpts, Header: []byte("X-Sluice-Unscanned: filter error, see sluice log\r\n"), Body: raw}}
	}
	// Every copy is ready before the first goes out. A re-injection that
	// fails after another succeeded defers the message, and Postfix's
	// retry re-injects that other copy again: with per-user Bayes, run
	// the transport with a recipient limit of 1 (docs/bayes.md).
	for _, c := range copies {
		if err := reinject(ctx, cfg.Filter.Sendmail, *sender, c.Recipients, c.Reader()); err != nil {
			log.Error("pipe: re-injection failed; message deferred", "queue_id", *queueID, "err", err)
			return exitTempFail
		}
	}
	return exitOK
}

// errNoServe: no `sluice serve` is configured for pipe, or none answered.
var errNoServe = errors.New("no sluice serve answered")

// serveAddress is where pipe finds a running `sluice serve`: [filter]
// server, else the first [spamd] listen address; "" when neither is set
// or server is "off".
func serveAddress(cfg config.Config) string {
	switch a := cfg.Filter.Server; {
	case a == "off":
		return ""
	case a != "":
		return a
	case len(cfg.Spamd.Listen) > 0:
		return cfg.Spamd.Listen[0]
	}
	return ""
}

// filterByServe hands the message to a running `sluice serve` over its
// spamd listener (the FILTER extension), as spamc hands one to spamd, so
// that pipe does not load and compile the rules itself. It returns
// errNoServe when none is configured or none accepts the connection; an
// error after that is the message's (temporary) failure.
func filterByServe(ctx context.Context, cfg config.Config, log *slog.Logger, env *mail.Envelope, raw []byte) ([]pipeline.Filtered, error) {
	addr := serveAddress(cfg)
	if addr == "" {
		return nil, errNoServe
	}
	network, address := "tcp", addr
	if p, ok := strings.CutPrefix(addr, "unix:"); ok {
		network, address = "unix", p
	}
	d := net.Dialer{Timeout: 2 * time.Second}
	conn, err := d.DialContext(ctx, network, address)
	if err != nil {
		log.Info("pipe: no sluice serve answered; filtering in-process", "server", addr, "err", err)
		return nil, errNoServe
	}
	defer conn.Close()
	se := spamd.Envelope{From: env.MailFrom, To: env.Recipients, ClientHelo: env.ClientHelo, QueueID: env.QueueID}
	if env.ClientIP != nil {
		se.ClientAddress = env.ClientIP.String()
	}
	// The header grows by what the filter adds; 1 MiB is far beyond it.
	copies, err := spamd.RequestFilter(ctx, conn, se, raw, cfg.LMTP.MaxMessageSize+1<<20)
	if err != nil {
		return nil, fmt.Errorf("sluice serve at %s: %w", addr, err)
	}
	out := make([]pipeline.Filtered, len(copies))
	for i, c := range copies {
		k := mail.HeaderLen(c.Message)
		out[i] = pipeline.Filtered{Recipients: c.Recipients, Header: c.Message[:k], Body: c.Message[k:]}
	}
	log.Info("pipe: filtered by sluice serve", "server", addr, "queue_id", env.QueueID, "copies", len(out))
	return out, nil
}

// filterMessage builds the pipeline from cfg and runs its per-message
// steps: one copy per mailbox with per-user Bayes, else one for all.
func filterMessage(ctx context.Context, cfg config.Config, log *slog.Logger, env *mail.Envelope, raw []byte) ([]pipeline.Filtered, error) {
	p, err := newPipeline(cfg, log, nil, buildOpts{oneShot: true})
	if err != nil {
		return nil, err
	}
	return p.Filter(ctx, env, raw)
}

// errTooLarge: the message on standard input is over lmtp.max_message_size.
var errTooLarge = errors.New("message larger than lmtp.max_message_size")

// readMessage reads the message on stdin as the LMTP listener reads DATA:
// in memory up to l.SpoolThreshold, past it into an unlinked file in
// l.SpoolDir (else $TMPDIR: pipe runs as the transport's user, who may
// not write the server's spool) mapped read-only, so that a large
// message is not held on the heap. release frees it.
func readMessage(stdin io.Reader, l config.LMTP) (raw []byte, release func(), err error) {
	dir := l.SpoolDir
	if dir == "" {
		dir = os.TempDir()
	}
	sp := mail.NewSpool(mail.SpoolConfig{Dir: dir, Threshold: l.SpoolThreshold})
	n, err := io.Copy(sp, io.LimitReader(stdin, l.MaxMessageSize+1))
	if err == nil && n > l.MaxMessageSize {
		// Postfix's own message_size_limit normally stops this earlier.
		err = fmt.Errorf("%w (%d)", errTooLarge, l.MaxMessageSize)
	}
	if err == nil {
		raw, err = sp.Bytes()
	}
	if err != nil {
		sp.Close()
		return nil, nil, err
	}
	return raw, func() { sp.Close() }, nil
}

// reinject hands msg back to the MTA: sendmail -G -i -f SENDER -- RCPT...
func reinject(ctx context.Context, sendmail, sender string, rcpts []string, msg io.Reader) error {
	args := append([]string{"-G", "-i", "-f", sender, "--"}, rcpts...)
	cmd := exec.CommandContext(ctx, sendmail, args...)
	cmd.Stdin = msg
	var errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &errb, &errb
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w: %s", sendmail, err, bytes.TrimSpace(errb.Bytes()))
	}
	return nil
}
