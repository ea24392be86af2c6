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

// Example_headerModifiers evaluates SpamAssassin's "From:addr:domain" and
// "From:name" the way PerMsgStatus::_get composes them.
func Example_headerModifiers() {
	m := mail.Parse([]byte("From: \"=?utf-8?q?Caf=C3=A9?= Shop\" <deals@mail.shop.example.co.uk>\n\nhi\n"), mail.Options{})
	for _, v := range m.Header("From", true) { // :addr and :name read raw values
		for _, a := range mail.HeaderAddr(v) {
			fmt.Println(a, mail.AddrHost(a), mail.Domain(mail.AddrHost(a)))
		}
		fmt.Printf("%q\n", mail.HeaderName(v, false))
	}
	// Output:
	// deals@mail.shop.example.co.uk mail.shop.example.co.uk example.co.uk
	// ["Café Shop"]
}
