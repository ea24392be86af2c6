package scoring

import (
	"runtime"
	"strings"
	"testing"
)

// TestFoldedFieldLinear checks that collecting a field folded into many
// lines allocates in proportion to its size, not to its size times its
// line count.
func TestFoldedFieldLinear(t *testing.T) {
	const size = 256 << 10
	var b strings.Builder
	b.WriteString("From: a@example.org\r\nSubject: start")
	for b.Len() < size {
		b.WriteString("\r\n xxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
	}
	b.WriteString("\r\n\r\nbody\r\n")
	m := parseMessage([]byte(b.String()))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	vals := m.fields("Subject")
	runtime.ReadMemStats(&after)
	if len(vals) != 1 || len(vals[0]) < size-100 {
		t.Fatalf("fields(Subject) = %d values, want one of about %d bytes", len(vals), size)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 8*size {
		t.Fatalf("fields(Subject) of a %d-byte folded field allocated %d bytes, want at most %d", size, got, 8*size)
	}
}
