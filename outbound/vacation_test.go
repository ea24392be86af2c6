package outbound

import (
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const vacationOrig = "From: Carol <carol@remote.example>\r\n" +
	"To: Dave <dave@forward.example>\r\n" +
	"Subject: =?utf-8?q?Caf=C3=A9?= plans\r\n" +
	"Date: Mon, 23 Nov 2026 09:00:00 +0000\r\n" +
	"Message-ID: <plan-1@remote.example>\r\n" +
	"References: <plan-0@remote.example>\r\n" +
	"\r\n" +
	"Lunch?\r\n"

func TestShouldReply(t *testing.T) {
	orig := vacationOrig
	with := func(field string) string { return field + "\r\n" + orig }
	for _, tc := range []struct {
		name, raw, sender string
		reply             bool
	}{
		{"plain", orig, "carol@remote.example", true},
		{"null sender", orig, "", false},
		{"null sender brackets", orig, "<>", false},
		{"mailer-daemon", orig, "MAILER-DAEMON@remote.example", false},
		{"owner-", orig, "owner-list@remote.example", false},
		{"-request", orig, "list-request@remote.example", false},
		{"listserv", orig, "LISTSERV@remote.example", false},
		{"self", orig, "dave@forward.example", false},
		{"List-Id", with("List-Id: <l.remote.example>"), "carol@remote.example", false},
		{"List-Unsubscribe", with("List-Unsubscribe: <mailto:u@remote.example>"), "carol@remote.example", false},
		{"Auto-Submitted auto-replied", with("Auto-Submitted: auto-replied"), "carol@remote.example", false},
		{"Auto-Submitted auto-generated", with("Auto-Submitted: Auto-Generated; foo"), "carol@remote.example", false},
		{"Auto-Submitted no", with("Auto-Submitted: no"), "carol@remote.example", true},
		{"Precedence bulk", with("Precedence: bulk"), "carol@remote.example", false},
		{"Precedence list", with("Precedence: List"), "carol@remote.example", false},
		{"Precedence junk", with("Precedence: junk"), "carol@remote.example", false},
		{"delivery report", with("Content-Type: multipart/report; report-type=delivery-status; boundary=x"), "carol@remote.example", false},
		{"Precedence first-class", with("Precedence: first-class"), "carol@remote.example", true},
		{"not addressed", strings.Replace(orig, "dave@forward.example", "other@forward.example", 1), "carol@remote.example", false},
		{"addressed in Cc", strings.Replace(orig, "To: Dave <dave@forward.example>", "To: x@y.example\r\nCc: DAVE@forward.example", 1), "carol@remote.example", true},
	} {
		got, why := ShouldReply([]byte(tc.raw), tc.sender, "dave@forward.example", nil)
		if got != tc.reply {
			t.Errorf("%s: ShouldReply(sender %q) = %v (%s), want %v", tc.name, tc.sender, got, why, tc.reply)
		}
	}
	// :addresses names another address of the recipient.
	alias := strings.Replace(orig, "dave@forward.example", "d.alias@forward.example", 1)
	if ok, why := ShouldReply([]byte(alias), "carol@remote.example", "dave@forward.example", []string{"d.alias@forward.example"}); !ok {
		t.Errorf("ShouldReply with :addresses = false (%s), want true", why)
	}
}

func TestBuildVacation(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	reply, err := BuildVacation([]byte(vacationOrig), "carol@remote.example", "dave@forward.example", VacationParams{Reason: "I am away until Monday.\nÀ bientôt."}, "mx.forward.example", now)
	if err != nil {
		t.Fatal(err)
	}
	hdr, body := splitMessage(reply)
	for name, want := range map[string]string{
		"From":                      "dave@forward.example",
		"To":                        "<carol@remote.example>",
		"Subject":                   "Auto: =?utf-8?q?Caf=C3=A9?= plans",
		"In-Reply-To":               "<plan-1@remote.example>",
		"References":                "<plan-0@remote.example> <plan-1@remote.example>",
		"Auto-Submitted":            "auto-replied",
		"Content-Type":              "text/plain; charset=utf-8",
		"Content-Transfer-Encoding": "quoted-printable",
		"Date":                      "Mon, 23 Nov 2026 12:00:00 +0000",
		"Precedence":                "",
	} {
		if got := headerValue(hdr, name); got != want {
			t.Errorf("BuildVacation: %s = %q, want %q", name, got, want)
		}
	}
	if id := headerValue(hdr, "Message-ID"); !strings.HasSuffix(id, "@mx.forward.example>") {
		t.Errorf("Message-ID = %q", id)
	}
	if want := "I am away until Monday.\r\n=C3=80 bient=C3=B4t.\r\n"; string(body) != want {
		t.Errorf("body = %q, want %q", body, want)
	}
	// :subject, :from and :mime.
	reply, err = BuildVacation([]byte(vacationOrig), "carol@remote.example", "dave@forward.example", VacationParams{
		Subject: "Absence – Dave",
		From:    "Dave <dave@forward.example>",
		MIME:    true,
		Reason:  "Content-Type: text/html; charset=us-ascii\n\n<p>Away</p>\n",
	}, "mx.forward.example", now)
	if err != nil {
		t.Fatal(err)
	}
	hdr, body = splitMessage(reply)
	if got := headerValue(hdr, "Subject"); got != "=?utf-8?q?Absence_=E2=80=93_Dave?=" {
		t.Errorf(":subject encoded as %q", got)
	}
	if got := headerValue(hdr, "From"); got != "Dave <dave@forward.example>" {
		t.Errorf(":from gave From %q", got)
	}
	if got := headerValue(hdr, "Content-Type"); got != "text/html; charset=us-ascii" || string(body) != "<p>Away</p>\r\n" {
		t.Errorf(":mime gave Content-Type %q body %q", got, body)
	}
}

// TestVacationWindow sends through a sink: one reply per sender per window,
// signed for the reply's From domain, from the null sender; none to lists,
// auto-replies or the null sender.
func TestVacationWindow(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	store, err := OpenStore(StoreConfig{Path: filepath.Join(t.TempDir(), "outbound.db"), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	keys := forwardKeys(t)
	snk := startSink(t)
	s := newTestSender(t, snk.Addr, keys, store)
	s.cfg.Now = clock
	p := VacationParams{Reason: "away", Window: 3 * 24 * time.Hour}
	send := func(raw, sender string) bool {
		t.Helper()
		sent, why, err := s.Vacation(bg(), []byte(raw), sender, "dave@forward.example", p)
		if err != nil {
			t.Fatalf("Vacation(%q) = %v", sender, err)
		}
		t.Logf("Vacation(%q) = %v %s", sender, sent, why)
		return sent
	}
	if !send(vacationOrig, "carol@remote.example") {
		t.Fatal("first message: no reply")
	}
	if send(vacationOrig, "carol@remote.example") || send(vacationOrig, "Carol@Remote.Example") {
		t.Error("second message in the window: replied again")
	}
	if !send(vacationOrig, "erin@remote.example") {
		t.Error("another sender: no reply")
	}
	for _, raw := range []string{"List-Id: <l.remote.example>\r\n" + vacationOrig, "Auto-Submitted: auto-replied\r\n" + vacationOrig, "Precedence: bulk\r\n" + vacationOrig} {
		if send(raw, "frank@remote.example") {
			t.Errorf("replied to %q", strings.SplitN(raw, "\r\n", 2)[0])
		}
	}
	if send(vacationOrig, "") {
		t.Error("replied to the null sender")
	}
	now = now.Add(3*24*time.Hour + time.Second)
	if !send(vacationOrig, "carol@remote.example") {
		t.Error("after the window: no reply")
	}
	// Another handle is another window.
	p.Handle = "other"
	if !send(vacationOrig, "carol@remote.example") {
		t.Error("new handle: no reply")
	}
	got := snk.Received()
	if len(got) != 4 {
		t.Fatalf("sink received %d replies, want 4", len(got))
	}
	r := got[0]
	if r.From != "" || len(r.To) != 1 || r.To[0] != "carol@remote.example" {
		t.Errorf("reply envelope %q → %v, want null sender → carol@remote.example", r.From, r.To)
	}
	wantAllPass(t, "dkimpy", dkimpyVerify(t, r.Data, keys.zone), "rsa2026@forward.example", "ed2026@forward.example")

	// A relay failure releases the window, so Postfix's retry can answer.
	snk.SetFail(&smtpErr451)
	if _, _, err := s.Vacation(bg(), []byte(vacationOrig), "gina@remote.example", "dave@forward.example", p); !IsTemporary(err) {
		t.Fatalf("Vacation with relay down = %v, want temporary", err)
	}
	snk.SetFail(nil)
	if !send(vacationOrig, "gina@remote.example") {
		t.Error("retry after relay failure: no reply")
	}
}

func FuzzShouldReply(f *testing.F) {
	f.Add([]byte(vacationOrig), "carol@remote.example")
	f.Add([]byte("List-Id: x\n To: y\n\n"), "")
	f.Add([]byte("To: \"odd, name\" <dave@forward.example>\r\nAuto-Submitted: no; x\r\n\r\n"), "a@b")
	f.Fuzz(func(t *testing.T, raw []byte, sender string) {
		ok, why := ShouldReply(raw, sender, "dave@forward.example", nil)
		if ok == (why != "") {
			t.Fatalf("ShouldReply = %v, %q: reason must be given exactly when refusing", ok, why)
		}
		if ok {
			if _, err := BuildVacation(raw, sender, "dave@forward.example", VacationParams{Reason: "away"}, "h", postsrsdTime); err != nil {
				t.Fatalf("BuildVacation after ShouldReply = %v", err)
			}
		}
		MessageIdentity(raw)
	})
}
