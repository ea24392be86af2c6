package outbound_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/sluice-mail/sluice/outbound"
)

func ExampleSRS_Forward() {
	srs, err := outbound.NewSRS(outbound.SRSConfig{
		Secrets: []string{"tops3cr3t"},
		Now:     func() time.Time { return time.Unix(1577836860, 0) },
	})
	if err != nil {
		log.Fatal(err)
	}
	fwd, _ := srs.Forward("test@otherdomain.com", "example.com")
	fmt.Println(fwd)
	orig, _ := srs.Reverse(fwd)
	fmt.Println(orig)
	// Output:
	// SRS0=vmyz=2W=otherdomain.com=test@example.com
	// test@otherdomain.com
}

func ExampleDNSRecord() {
	key, err := outbound.GenerateKey("ed25519", 0)
	if err != nil {
		log.Fatal(err)
	}
	rec, _ := outbound.DNSRecord("mail", "example.com", key.Public())
	fmt.Println(strings.SplitN(rec, "\n", 2)[0])
	// Output:
	// mail._domainkey	IN	TXT	( "v=DKIM1; k=ed25519; "
}

func ExampleSender_Send() {
	store, err := outbound.OpenStore(outbound.StoreConfig{Path: "/var/lib/sluice/outbound.db"})
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	dk, err := outbound.LoadDKIM(outbound.DKIMConfig{
		KeyTable:     "/etc/sluice/dkim/KeyTable",
		SigningTable: "refile:/etc/sluice/dkim/SigningTable",
	})
	if err != nil {
		log.Fatal(err)
	}
	srs, err := outbound.NewSRS(outbound.SRSConfig{Secrets: []string{"from /etc/sluice/srs.secret"}})
	if err != nil {
		log.Fatal(err)
	}
	s, err := outbound.NewSender(outbound.SenderConfig{
		Submitter: outbound.NewRelay(outbound.RelayConfig{}), // 127.0.0.1:25
		Store:     store,
		DKIM:      dk,
		SRS:       srs,
		Hostname:  "mx.example.com",
	})
	if err != nil {
		log.Fatal(err)
	}
	raw := []byte("From: a@origin.example\r\nSubject: hi\r\n\r\nhello\r\n")
	key := outbound.DeliveryKey{Message: outbound.MessageIdentity(raw), Recipient: "bob@example.com", Action: "redirect:0"}
	err = s.Send(context.Background(), outbound.Msg{
		Kind: outbound.Redirect,
		From: "a@origin.example", // the original envelope sender
		To:   []string{"bob@elsewhere.example"},
		Raw:  raw,
		Rcpt: "bob@example.com", // whose script redirects
		Key:  &key,
	})
	if outbound.IsTemporary(err) {
		fmt.Println("answer 451 for bob@example.com; Postfix retries")
	}
}
