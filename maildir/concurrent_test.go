package maildir

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
)

// TestDeliverConcurrentDurable delivers concurrently into one Maildir
// and checks that every message is in new/.
func TestDeliverConcurrentDurable(t *testing.T) {
	root := t.TempDir() + "/Maildir"
	s, err := Open(root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 32
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.Deliver(context.Background(), "", Flags{}, false, strings.NewReader("Subject: "+strings.Repeat("m", i+1)+"\r\n\r\nbody\r\n"))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := os.ReadDir(root + "/new")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != n {
		t.Fatalf("%d messages in the Maildir, want %d", len(msgs), n)
	}
}
