package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestBudgetCutNoEmptyMessage: with the stock rules and a budget that runs
// out at once, a message with a body does not get EMPTY_MESSAGE (its body
// rules were skipped, not false), and the verdict says the evaluation was
// cut (TIME_LIMIT_EXCEEDED, as SpamAssassin adds when its time_limit hits).
func TestBudgetCutNoEmptyMessage(t *testing.T) {
	rules := stockRules(t)
	dir := t.TempDir()
	conf := filepath.Join(dir, "sluice.toml")
	os.WriteFile(conf, []byte("[rules]\nbudget = \"1ns\"\ncache_dir = \"off\"\n"), 0o644)
	msg := filepath.Join(dir, "m.eml")
	os.WriteFile(msg, []byte("Received: from mx.remote.example (mx.remote.example [198.51.100.7])\n"+
		"\tby mx.example.org (Postfix) with ESMTP id 4AbCdE12; Thu, 03 Dec 2026 10:00:00 +0000\n"+
		"From: a@remote.example\nTo: b@example.org\nSubject: lunch\nDate: Thu, 03 Dec 2026 09:59:00 +0000\n"+
		"Message-ID: <budget1@remote.example>\n\nShall we meet for lunch on Friday?\n"), 0o644)
	var out, errb bytes.Buffer
	if code := run([]string{"check", "-config", conf, "-json", "-dns", "off", "-rules", rules, msg}, &out, &errb); code != 0 {
		t.Fatalf("sluice check = %d\n%s", code, errb.String())
	}
	var r jsonResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("check -json: %v\n%s", err, out.String())
	}
	hit := fired(r)
	if hit["EMPTY_MESSAGE"] {
		t.Errorf("EMPTY_MESSAGE fired on a message with a body whose rules the budget skipped: %v", r.Hits)
	}
	if !hit["TIME_LIMIT_EXCEEDED"] {
		t.Errorf("no TIME_LIMIT_EXCEEDED: %v", r.Hits)
	}
}
