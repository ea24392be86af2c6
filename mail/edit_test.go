package mail

import "testing"

func TestHeaderEdit(t *testing.T) {
	section := "Return-Path: <a@x>\r\nX-Spam-Flag: YES\r\nno colon here\r\nSubject: hi\r\n there\r\nTo: b@y\r\n\r\n"
	fields := ParseHeader([]byte(section))
	for _, f := range fields {
		if got := section[f.Offset() : f.Offset()+len(f.Raw())]; got != string(f.Raw()) {
			t.Fatalf("field %q at offset %d reads %q", f.Raw(), f.Offset(), got)
		}
	}
	h := NewHeader([]byte(section), fields)
	if got := string(h.Bytes()); got != section {
		t.Fatalf("Bytes() unedited = %q, want %q", got, section)
	}
	h.Edit(HeaderEdits{
		Add:     []FieldAdd{{Before: 0, Field: "A: 1\r\n"}, {Before: 4, Field: "Z: 9\r\n"}, {Before: 1, Field: "B: 2\r\n"}},
		Remove:  []int{1},
		Rewrite: map[int]string{2: "Subject: [SPAM] hi\r\n there\r\n"},
	})
	want := "A: 1\r\nReturn-Path: <a@x>\r\nB: 2\r\nno colon here\r\nSubject: [SPAM] hi\r\n there\r\nTo: b@y\r\nZ: 9\r\n\r\n"
	if got := string(h.Bytes()); got != want {
		t.Fatalf("Bytes() = %q, want %q", got, want)
	}
	fs := h.Fields()
	if len(fs) != 6 || fs[0].Name != "A" || fs[3].Value() != "[SPAM] hi there" || fs[5].Unfolded() != "9" {
		t.Fatalf("Fields() after Edit = %v", fs)
	}
	// Edits compose: the second's indexes are the first's result.
	h.Edit(HeaderEdits{Add: []FieldAdd{{Before: 0, Field: "C: 3\r\n"}}, Remove: []int{0}})
	if got := string(h.Bytes()); got != "C: 3\r\n"+want[len("A: 1\r\n"):] {
		t.Fatalf("Bytes() after a second Edit = %q", got)
	}
}
