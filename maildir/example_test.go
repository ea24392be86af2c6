package maildir_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-mail/sluice/maildir"
)

func Example() {
	dir, _ := os.MkdirTemp("", "maildir-example")
	defer os.RemoveAll(dir)

	// One Store per user; Open creates the Maildir if needed.
	store, err := maildir.Open(filepath.Join(dir, "example.com", "bob", "Maildir"), maildir.Options{Hostname: "mx1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	msg := "From: alice@example.org\r\nSubject: hello\r\n\r\nHi Bob!\r\n"

	// Into INBOX, unread: new/.
	d, err := store.Deliver(context.Background(), "INBOX", maildir.Flags{}, false, strings.NewReader(msg))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Folder, filepath.Base(filepath.Dir(d.Path)), d.Size)

	// Into a folder created on demand, flagged as read junk: cur/.
	flags := maildir.ParseFlags([]string{`\Seen`, "Junk"})
	d, err = store.Deliver(context.Background(), "Spam/Caught", flags, true, strings.NewReader(msg))
	if err != nil {
		fmt.Println(err)
		return
	}
	rel, _ := filepath.Rel(store.Root(), d.Path)
	name := filepath.Base(rel)
	fmt.Println(d.Folder, filepath.Dir(rel), name[strings.Index(name, ",S="):])

	// Not created when create is false.
	_, err = store.Deliver(context.Background(), "Archive", maildir.Flags{}, false, strings.NewReader(msg))
	fmt.Println(err)
	// Output:
	// INBOX new 48
	// Spam.Caught .Spam.Caught/cur ,S=48,W=52:2,Sa
	// maildir: folder does not exist: "Archive"
}

func ExampleFolderDir() {
	for _, name := range []string{"INBOX", "Lists/Go", "Entwürfe", "Tom & Jerry", "../etc"} {
		dir, err := maildir.FolderDir(name)
		fmt.Printf("%q %v\n", dir, err)
	}
	// Output:
	// "" <nil>
	// ".Lists.Go" <nil>
	// ".Entw&APw-rfe" <nil>
	// ".Tom &- Jerry" <nil>
	// "" maildir: invalid folder name: "../etc": empty hierarchy level (leading, trailing or doubled separator)
}

func ExampleFolderName() {
	name, err := maildir.FolderName(".Entw&APw-rfe")
	fmt.Println(name, err)
	// Output: Entwürfe <nil>
}

func ExampleParseFlags() {
	f := maildir.ParseFlags([]string{`\seen \Flagged`, "$Label1", `\Recent`})
	fmt.Println(f.Seen, f.Flagged, f.Keywords)
	fmt.Println(f)
	// Output:
	// true true [$Label1]
	// \Flagged \Seen $Label1
}
