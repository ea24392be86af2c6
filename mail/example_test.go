package mail_test

import (
	"fmt"

	"github.com/sluice-mail/sluice/mail"
)

func ExampleParse() {
	raw := []byte("From: =?utf-8?q?J=C3=B6rg?= <joerg@example.com>\n" +
		"Subject: Hello\n" +
		"Content-Type: text/html\n" +
		"\n" +
		"<p>Visit <a href=\"http://www.example.com/\">us</a></p>\n")
	m := mail.Parse(raw, mail.Options{})
	fmt.Printf("%q\n", m.Header("From", false))
	fmt.Printf("%q\n", mail.HeaderAddr(m.Header("From", true)[0]))
	fmt.Printf("%q\n", m.Body())
	fmt.Printf("%q\n", m.URIs())
	// Output:
	// ["Jörg <joerg@example.com>\n"]
	// ["joerg@example.com"]
	// ["Hello\n" "\n" "Visit us\n"]
	// ["http://www.example.com/"]
}
