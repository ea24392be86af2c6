package rules

import (
	"context"
	"slices"
	"testing"

	"github.com/sluice-mail/sluice/mail"
)

// TestMIMEHeaderPerPart: the MIMEHeader plugin matches each part's value
// on its own, so an anchored pattern matches one Content-ID among several
// (spam/00182's PART_CID_STOCK); a part without the field matches as the
// empty string, or as the rule's if-unset text.
func TestMIMEHeaderPerPart(t *testing.T) {
	rs, err := LoadString("mh.cf", `
mimeheader CID_ANCHORED Content-ID =~ /^<[a-f0-9]{12}\$[a-f0-9]{8}\@[^\s\.]+>$/
mimeheader CID_TWO_LINES Content-ID =~ /\n</
mimeheader NO_CID Content-ID =~ /^$/
mimeheader CT_NOT_GIF Content-Type !~ /gif/
mimeheader CL_UNSET Content-Location =~ /^none$/ [if-unset: none]
mimeheader ONETAB_GIF Content-Type:raw =~ /^image\/gif;\n\tname=\".+?\"$/s
score ONETAB_GIF 1
score CID_ANCHORED 1
score CID_TWO_LINES 1
score NO_CID 1
score CT_NOT_GIF 1
score CL_UNSET 1
`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	msg := "Content-Type: multipart/related; boundary=b\n\n" +
		"--b\nContent-Type: image/gif\nContent-ID: <000c01c1d6ab$c9c58000@AndrewLi>\n\nR0lG\n" +
		"--b\nContent-Type: image/gif;\n\tname=\"x.gif\"\nContent-ID: <000d01c1d6ab$c9c58000@AndrewLi>\n\nR0lG\n--b--\n"
	res := rs.Eval(context.Background(), FromMail(mail.Parse([]byte(msg), mail.Options{})), Input{})
	var got []string
	for _, h := range res.Hits {
		got = append(got, h.Rule)
	}
	slices.Sort(got)
	// The multipart container has no Content-ID (NO_CID) and no
	// Content-Location (CL_UNSET); CT_NOT_GIF (!~) fires only when no
	// part matches, and the image parts do. ONETAB_GIF (72_active.cf's
	// __CTYPE_ONETAB_GIF, of STOCK_IMG_CTYPE) matches the second part's raw
	// value, which in a MIME part starts after the colon's white space.
	want := []string{"CID_ANCHORED", "CL_UNSET", "NO_CID", "ONETAB_GIF"}
	if !slices.Equal(got, want) {
		t.Errorf("hits %v, want %v", got, want)
	}
}
