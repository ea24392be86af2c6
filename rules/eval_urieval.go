package rules

// The eval functions of SpamAssassin's URIEval plugin
// (Mail::SpamAssassin::Plugin::URIEval) that check_for_http_redirector's
// neighbours call: check_https_ip_mismatch and check_uri_truncated.

import "regexp"

var (
	// ipLinkRE is URIEval's m%^https?:/*(?:[^\@/]+\@)?\d+\.\d+\.\d+\.\d+%i.
	ipLinkRE = regexp.MustCompile(`(?i)^https?:/*(?:[^@/]+@)?[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+`)
	// httpsIPTextRE is the same for an https: anchor text.
	httpsIPTextRE = regexp.MustCompile(`(?i)^https:/*(?:[^@/]+@)?[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+`)
	httpsRE       = regexp.MustCompile(`(?i)https:`)
)

// check_https_ip_mismatch(): in an HTML part, a link to an IP address
// (http or https) whose anchor text shows an https: URL that is not
// itself one to an IP address (URIEval.pm: html_all's uri_detail, each
// href's anchor_text).
func evalHTTPSIPMismatch(ec *EvalContext, _ []string) (bool, error) {
	for _, h := range htmlAll(ec) {
		anchors := h.Text["anchor"]
		for i, href := range h.AnchorHrefs {
			if i >= len(anchors) {
				break
			}
			if !ipLinkRE.MatchString(href) {
				continue
			}
			t := anchors[i]
			if !httpsIPTextRE.MatchString(t) && httpsRE.MatchString(t) {
				return true, nil
			}
		}
	}
	return false, nil
}

// maxURILength is SpamAssassin's MAX_URI_LENGTH: the mail package cuts
// longer URIs to it.
const maxURILength = 8192

// URITruncatedMessage is an optional capability of a Message: whether a
// URI was cut to MAX_URI_LENGTH (SpamAssassin's $pms->{uri_truncated}).
type URITruncatedMessage interface {
	URITruncated() bool
}

// check_uri_truncated(): a URI of the message (in the text or an HTML
// attribute) was longer than MAX_URI_LENGTH and cut to it. Without
// URITruncatedMessage, a URI or href of exactly that length (what a cut
// leaves) counts as cut.
func evalURITruncated(ec *EvalContext, _ []string) (bool, error) {
	if m, ok := ec.Msg.(URITruncatedMessage); ok {
		return m.URITruncated(), nil
	}
	for _, u := range ec.Msg.URIs() {
		if len(u) >= maxURILength {
			return true, nil
		}
	}
	for _, h := range htmlAll(ec) {
		for _, u := range h.AnchorHrefs {
			if len(u) >= maxURILength {
				return true, nil
			}
		}
	}
	return false, nil
}
