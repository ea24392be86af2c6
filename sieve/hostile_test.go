package sieve

import (
	"context"
	"runtime"
	"strings"
	"testing"
	"time"
)

// hostileSize is the size of the hostile header and of the body it is
// compared with.
const hostileSize = 1 << 20

// foldedHeaderMsg is a message whose Subject is about 1 MiB folded into
// short lines.
func foldedHeaderMsg() []byte {
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nTo: b@example.org\r\nSubject: start")
	for b.Len() < hostileSize {
		b.WriteString("\r\n x")
	}
	b.WriteString("\r\n\r\nbody\r\n")
	return []byte(b.String())
}

// bigBodyMsg is a message with a short header and a 1 MiB body of short lines.
func bigBodyMsg() []byte {
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nTo: b@example.org\r\nSubject: start\r\n\r\n")
	for b.Len() < hostileSize {
		b.WriteString("x\r\n")
	}
	return []byte(b.String())
}

const headerTestScript = `require ["fileinto", "body"]; if anyof (header :contains "Subject" "needle", body :contains "needle") { fileinto "Found"; }`

// sieveStage parses raw and runs s against it, as the pipeline's Sieve
// stage does for one recipient.
func sieveStage(tb testing.TB, s *Script, raw []byte) {
	res, err := s.Run(context.Background(), ParseMessage(raw), Env{From: "a@example.org", To: "b@example.org"})
	if err != nil || !res.ImplicitKeep {
		tb.Fatalf("Run = %v, %v; want implicit keep", res, err)
	}
}

func benchStage(b *testing.B, raw []byte) {
	s, err := Compile("bench", []byte(headerTestScript), Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		sieveStage(b, s, raw)
	}
}

func BenchmarkFoldedHeader1MiB(b *testing.B) { benchStage(b, foldedHeaderMsg()) }
func BenchmarkBody1MiB(b *testing.B)         { benchStage(b, bigBodyMsg()) }

// TestFoldedHeaderLinear checks that unfolding is linear: a 1 MiB header
// folded into short lines costs at most three times the bytes allocated
// for a 1 MiB body through parse and a header test.
func TestFoldedHeaderLinear(t *testing.T) {
	s, err := Compile("t", []byte(headerTestScript), Options{})
	if err != nil {
		t.Fatal(err)
	}
	alloc := func(raw []byte) uint64 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		sieveStage(t, s, raw)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	header, body := alloc(foldedHeaderMsg()), alloc(bigBodyMsg())
	if header > 3*body {
		t.Fatalf("1 MiB folded header allocates %d bytes, 1 MiB body %d: more than 3x", header, body)
	}
}

func TestRunLimitMessages(t *testing.T) {
	src := []byte(strings.Repeat("keep;\n", 50))
	for _, tc := range []struct {
		name   string
		limits Limits
		want   string
	}{
		{"steps", Limits{MaxSteps: 10}, "t:11:1: execution exceeded the step limit of 10"},
		{"time", Limits{MaxCPUTime: time.Nanosecond}, "execution exceeded the time limit of 1ns"},
	} {
		s, err := Compile("t", src, Options{Limits: tc.limits})
		if err != nil {
			t.Fatal(err)
		}
		_, err = s.Run(context.Background(), ParseMessage([]byte(testMsg)), Env{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Run error = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestNotifyRefused: enotify is not offered by default, so a script that
// requires it fails to compile instead of notifying no one.
func TestNotifyRefused(t *testing.T) {
	src := "# notify\nrequire [\"enotify\"];\nnotify \"mailto:a@example.org\";\n"
	_, err := Compile("n.sieve", []byte(src), Options{})
	if err == nil || !strings.Contains(err.Error(), "n.sieve:2:9: notify is not supported") {
		t.Fatalf("Compile = %v, want n.sieve:2:9: notify is not supported", err)
	}
	if _, err := Compile("n.sieve", []byte(src), Options{Extensions: []string{"enotify"}}); err != nil {
		t.Fatalf("Compile with enotify offered = %v", err)
	}
}
