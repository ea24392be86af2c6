package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestSummary(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	got := summary(lat)
	want := "100 messages, 1 session, p50 51.0 ms, p90 91.0 ms, p99 100.0 ms, max 100.0 ms, mean 50.5 ms"
	if got != want {
		t.Fatalf("summary = %q, want %q", got, want)
	}
}

func TestStageMeans(t *testing.T) {
	m0 := map[string]float64{`sluice_stage_duration_seconds_sum{stage="rules"}`: 1, `sluice_stage_duration_seconds_count{stage="rules"}`: 10}
	m1 := map[string]float64{`sluice_stage_duration_seconds_sum{stage="rules"}`: 3, `sluice_stage_duration_seconds_count{stage="rules"}`: 110}
	if got, want := stageMeans(m0, m1), "rules 20.00 ms"; got != want {
		t.Fatalf("stageMeans = %q, want %q", got, want)
	}
}

func TestResidentKiB(t *testing.T) {
	rss, hwm := residentKiB(os.Getpid())
	if rss <= 0 || hwm < rss {
		t.Fatalf("residentKiB(self) = %d, %d", rss, hwm)
	}
	if !strings.Contains(summary([]time.Duration{time.Millisecond}), "p99 1.0 ms") {
		t.Fatal("summary of one message")
	}
}

func TestSlowestReport(t *testing.T) {
	m0 := map[string]float64{`sluice_stage_duration_seconds_sum{stage="rules"}`: 1, "go_gc_duration_seconds_count": 3}
	m1 := map[string]float64{`sluice_stage_duration_seconds_sum{stage="rules"}`: 1.030,
		`sluice_stage_duration_seconds_sum{stage="delivery"}`: 0.005, `sluice_stage_duration_seconds_sum{stage="sieve"}`: 0.001,
		"go_gc_duration_seconds_count": 4, "go_gc_duration_seconds_sum": 0.0002}
	slow := traceOf("/corpus/spam/slow", 40000, 40*time.Millisecond, m0, m1)
	fast := traceOf("/corpus/ham/fast", 2000, 2*time.Millisecond, m0, m0)
	got := slowestReport([]traceEntry{fast, slow}, 1)
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if len(lines) != 3 {
		t.Fatalf("report has %d lines, want header, columns and 1 message:\n%s", len(lines), got)
	}
	f := strings.Fields(lines[2])
	// latency size parse auth bayes rules autolearn sieve delivery other gc file
	want := []string{"40.0", "40000", "0.0", "0.0", "0.0", "30.0", "0.0", "1.0", "5.0", "5.0", "1/0.2", "slow"}
	if strings.Join(f, " ") != strings.Join(want, " ") {
		t.Fatalf("slowest line = %q, want %q", f, want)
	}
}
