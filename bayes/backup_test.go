package bayes

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestReadSABackup(t *testing.T) {
	now := time.Unix(2000000000, 0)
	in := "v\t3\tdb_version # this must be the first line!!!\n" +
		"v\t2\tnum_spam\n" +
		"v\t5\tnum_nonspam\n" +
		"t\t1\t0\t1028325152\t00b07ebf87\n" +
		"t\t0\t0\t1028325152\t01ece78d9d\n" +
		"t\t-3\t4\t2999999999\t0123456789\n" +
		"s\ts\t086dd6268d1178bc801625e5397b2a7b7b8cd0c7@sa_generated\n" +
		"x\tunknown lines are skipped\n"
	b, err := ReadSABackup(strings.NewReader(in), now)
	if err != nil {
		t.Fatal(err)
	}
	tok := func(s string) Token { t, _ := ParseToken(s); return t }
	if b.NSpam != 2 || b.NHam != 5 || len(b.Tokens) != 2 || len(b.Seen) != 1 {
		t.Fatalf("ReadSABackup = %d spam, %d ham, %d tokens, %d seen; want 2, 5, 2, 1", b.NSpam, b.NHam, len(b.Tokens), len(b.Seen))
	}
	if c := b.Tokens[tok("00b07ebf87")]; c != (Counts{Spam: 1, Atime: 1028325152}) {
		t.Errorf("token 00b07ebf87 = %+v", c)
	}
	if c := b.Tokens[tok("0123456789")]; c != (Counts{Ham: 4, Atime: now.Unix()}) {
		t.Errorf("token 0123456789 = %+v, want negative spam as 0, atime clamped", c)
	}
	if b.Seen["086dd6268d1178bc801625e5397b2a7b7b8cd0c7@sa_generated"] != Spam {
		t.Errorf("seen = %v", b.Seen)
	}

	v2, err := ReadSABackup(strings.NewReader("v\t2\tdb_version\nt\t1\t2\t3\thello\n"), now)
	if err != nil || v2.Tokens[HashToken("hello")] != (Counts{Spam: 1, Ham: 2, Atime: 3}) {
		t.Errorf("version 2 dump: %+v, %v; want the token text hashed", v2, err)
	}
	for _, bad := range []string{"", "t\t1\t0\t1\t00b07ebf87\n", "v\t4\tdb_version\n", "v\t3\tdb_version\nt\t1\t0\t1\tzz\n"} {
		if _, err := ReadSABackup(strings.NewReader(bad), now); !errors.Is(err, ErrFormat) {
			t.Errorf("ReadSABackup(%q) error %v, want ErrFormat", bad, err)
		}
	}

	var m MemStore
	if err := m.Restore(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	snap, _ := m.Lookup(context.Background(), []Token{tok("00b07ebf87")})
	if snap.NSpam != 2 || snap.NHam != 5 || snap.Counts[0].Spam != 1 {
		t.Errorf("restored snapshot %+v", snap)
	}
}

// TestWriteSABackupRoundTrip: what WriteSABackup writes, ReadSABackup
// reads back unchanged.
func TestWriteSABackupRoundTrip(t *testing.T) {
	tok := func(s string) Token { t, _ := ParseToken(s); return t }
	in := &Backup{
		NSpam: 2, NHam: 1,
		Tokens: map[Token]Counts{
			tok("00b07ebf87"): {Spam: 2, Atime: 1028325152},
			tok("0123456789"): {Spam: 1, Ham: 1, Atime: 1028325153},
		},
		Seen: map[string]Class{"a@sa_generated": Spam, "b@sa_generated": Spam, "c@x": Ham},
	}
	var buf strings.Builder
	if err := WriteSABackup(&buf, in); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(buf.String(), "v\t3\tdb_version # this must be the first line!!!\nv\t2\tnum_spam\nv\t1\tnum_nonspam\nt\t2\t0\t1028325152\t00b07ebf87\n") {
		t.Fatalf("WriteSABackup wrote:\n%s", buf.String())
	}
	out, err := ReadSABackup(strings.NewReader(buf.String()), time.Unix(2000000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("ReadSABackup(WriteSABackup(b)) = %+v, want %+v", out, in)
	}
}
