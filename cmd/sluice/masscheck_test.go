package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckManyInputs: one `sluice check` over files, a directory and an
// mbox prints one JSON object per message with its file (and mbox index);
// without -json one summary line each; a single file keeps one object,
// now with "file".
func TestCheckManyInputs(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "local.cf")
	os.WriteFile(rules, []byte("body MAGIC /magicword/\nscore MAGIC 6\nrequired_score 5\n"), 0o644)
	msgs := filepath.Join(dir, "msgs")
	os.MkdirAll(msgs, 0o755)
	os.WriteFile(filepath.Join(msgs, "a"), []byte("Subject: a\n\nmagicword\n"), 0o644)
	os.WriteFile(filepath.Join(msgs, "b"), []byte("Subject: b\n\nplain\n"), 0o644)
	mbox := filepath.Join(dir, "box")
	os.WriteFile(mbox, []byte("From x Mon Jan  1 00:00:00 2024\nSubject: c\n\nmagicword\n\nFrom y Mon Jan  1 00:00:01 2024\nSubject: d\n\nplain\n"), 0o644)

	var out, errb bytes.Buffer
	if code := run([]string{"check", "-json", "-dns", "off", "-rules", rules, msgs, mbox}, &out, &errb); code != 0 {
		t.Fatalf("check = %d\n%s", code, errb.String())
	}
	var got []string
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var r jsonResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		name := filepath.Base(r.File)
		if r.Index != nil {
			name += ":" + string(rune('0'+*r.Index))
		}
		if r.Spam {
			name += "=spam"
		}
		got = append(got, name)
	}
	if want := "a=spam b box:0=spam box:1"; strings.Join(got, " ") != want {
		t.Fatalf("check -json over many inputs = %q, want %q\n%s", strings.Join(got, " "), want, out.String())
	}

	out.Reset()
	run([]string{"check", "-dns", "off", "-rules", rules, msgs, mbox}, &out, &errb)
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 4 || !strings.HasSuffix(lines[0], "/msgs/a spam 6.0 MAGIC") || !strings.HasSuffix(lines[3], "/box:1 ham 0.0 none") {
		t.Fatalf("check summary lines = %q", lines)
	}

	out.Reset()
	run([]string{"check", "-json", "-dns", "off", "-rules", rules, filepath.Join(msgs, "a")}, &out, &errb)
	var one jsonResult
	if err := json.Unmarshal(out.Bytes(), &one); err != nil || one.File != filepath.Join(msgs, "a") || one.Index != nil || !one.Spam {
		t.Fatalf("check -json of one file = %q (%v)", out.String(), err)
	}
}
