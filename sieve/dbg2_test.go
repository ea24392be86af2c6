package sieve

import (
	"context"
	"os"
	"testing"
)

func TestDebugRun(t *testing.T) {
	p := os.Getenv("SIEVE_RUN")
	if p == "" {
		t.Skip()
	}
	src, _ := os.ReadFile(p)
	s, err := Compile(p, src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := s.newRun(context.Background(), ParseMessage([]byte("From: a@b.c\r\nTo: x@y.z\r\nSubject: hi\r\n\r\nbody\r\n")), Env{From: "a@b.c", To: "x@y.z"})
	err = r.exec(s.cmds)
	t.Logf("err=%v vars=%v actions=%+v", err, r.vars, r.actions)
}
