// Package relays parses Received header fields (RFC 5321 §4.4) into the
// relays a message passed and splits them by trust, as SpamAssassin's
// Message::Metadata::Received does: trusted_networks and
// internal_networks when configured, SpamAssassin's inference (private or
// authenticated relays are trusted, up to the first that is not) when
// neither is. It formats the X-Spam-Relays-* pseudo-headers and derives
// the envelope sender from the header.
//
// Divergence from SpamAssassin: msa_networks and originating_ip_headers
// are not read (SpamAssassin's default originating_ip_headers are used).
package relays

import (
	"net/netip"
	"strings"

	"github.com/sluice-mail/sluice/mail"
)

// Relay is one handover recorded by a Received header field (RFC 5321
// §4.4), as SpamAssassin's Message::Metadata::Received understands it.
// Characters SpamAssassin considers invalid in a field (white space, NUL,
// #, brackets, parentheses, angle brackets, |) are replaced with '!'.
type Relay struct {
	IP      string // connecting client address, without brackets or IPv6: prefix
	RDNS    string // reverse DNS name the receiving MTA recorded
	HELO    string // HELO/EHLO argument
	By      string // receiving host
	Ident   string // RFC 1413 ident, when recorded
	EnvFrom string // envelope sender, when recorded
	ID      string // queue id
	Auth    string // authentication mechanism or MTA that vouched for it
	// Internal and MSA are set by the trust pass.
	Internal, MSA bool
	// Private reports a private, loopback, link-local or CGN address.
	Private bool
	// NoReverseDNS reports an MTA known to look up rDNS that recorded none.
	NoReverseDNS bool

	hasEnvFrom bool // the field recorded an envelope sender (maybe empty)
}

// String formats the relay as SpamAssassin does in X-Spam-Path-*.
func (r Relay) String() string {
	var b strings.Builder
	b.WriteString("[ ip=")
	b.WriteString(r.IP)
	b.WriteString(" rdns=")
	b.WriteString(r.RDNS)
	b.WriteString(" helo=")
	b.WriteString(r.HELO)
	b.WriteString(" by=")
	b.WriteString(r.By)
	b.WriteString(" ident=")
	b.WriteString(r.Ident)
	b.WriteString(" envfrom=")
	b.WriteString(r.EnvFrom)
	b.WriteString(" intl=")
	b.WriteByte(b01(r.Internal))
	b.WriteString(" id=")
	b.WriteString(r.ID)
	b.WriteString(" auth=")
	b.WriteString(r.Auth)
	b.WriteString(" msa=")
	b.WriteByte(b01(r.MSA))
	b.WriteString(" ]")
	return b.String()
}

func b01(v bool) byte {
	if v {
		return '1'
	}
	return '0'
}

// Path is the message's relay path split by trust, newest first, as
// SpamAssassin's received-header metadata.
type Path struct {
	Trusted, Untrusted, Internal, External []Relay
	// Unparseable counts Received fields that could not be parsed.
	Unparseable int
	// LastTrusted and LastInternal are SpamAssassin's
	// last_trusted_relay_index and last_internal_relay_index: the index
	// (0 = newest) of the last Received line still in the trusted
	// (internal) part, counting the lines that yield no relay; -1 when
	// the newest is already untrusted (external).
	LastTrusted, LastInternal int
}

// Pseudo returns the text of SpamAssassin's pseudo-header name
// (X-Spam-Path-Trusted, -Untrusted, -Internal, -External, case
// insensitive) and whether name is one of them.
func (rl *Path) Pseudo(name string) (string, bool) {
	var list []Relay
	switch strings.ToLower(name) {
	case "x-spam-relays-trusted":
		list = rl.Trusted
	case "x-spam-relays-untrusted":
		list = rl.Untrusted
	case "x-spam-relays-internal":
		list = rl.Internal
	case "x-spam-relays-external":
		list = rl.External
	default:
		return "", false
	}
	s := make([]string, len(list))
	for i, r := range list {
		s[i] = r.String()
	}
	return strings.Join(s, " "), true
}

// LastExternalIP is SpamAssassin's LASTEXTERNALIP tag: the address of the
// newest external relay.
func (rl *Path) LastExternalIP() string {
	if len(rl.External) == 0 {
		return ""
	}
	return rl.External[0].IP
}

// IsPseudo reports whether name is an X-Spam-Path-* pseudo-header.
func IsPseudo(name string) bool {
	return len(name) > 14 && strings.EqualFold(name[:14], "x-spam-relays-")
}

// originatingIPHeaders are the originating_ip_headers of SpamAssassin's
// 10_default_prefs.cf: single-address fields turned into synthetic relays.
func originatingIPHeaders() []string {
	return []string{"X-Yahoo-Post-IP", "X-Originating-IP", "X-Apparently-From", "X-SenderIP", "X-AOL-IP",
		"X-MS-Exchange-CrossTenant-OriginalAttributedTenantConnectingIp"}
}

// Headers is what Compute reads of a message: the values of a header
// field, newest first, raw (undecoded, with folding) or decoded. The name
// "ALL" asks for every field of the header as "Name: value" lines.
type Headers interface {
	Header(name string, raw bool) []string
}

// Networks are the trust settings: trusted_networks, internal_networks
// and msa_networks.
type Networks struct {
	Trusted, Internal, MSA []netip.Prefix
}

// Compute parses the Received fields of msg (newest first) and
// splits them by trust. With trusted_networks or internal_networks
// configured, a relay is trusted while its client address is in
// trusted_networks (loopback always is) or it authenticated; without
// either, trust is inferred as SpamAssassin does: relays from private
// addresses, or that authenticated, are trusted and internal up to the
// first that is not.
func Compute(msg Headers, nets Networks) *Path {
	trusted, internal := nets.Trusted, nets.Internal
	configured := len(trusted) > 0 || len(internal) > 0
	if len(internal) == 0 {
		internal = trusted
	} else if len(trusted) == 0 {
		trusted = internal
	}
	hdrs := msg.Header("Received", true)
	for _, h := range originatingIPHeaders() {
		for _, v := range msg.Header(h, false) {
			if ip := ipAddressRE.FindString(v); ip != "" {
				hdrs = append(hdrs, "from X-Originating-IP: "+ip)
				break
			}
		}
	}
	rl := &Path{LastTrusted: -1, LastInternal: -1}
	inTrusted, inInternal := true, true
	// Past a trusted relay in msa_networks, every earlier relay keeps the
	// MSA's trust (Received.pm: the MSA authenticated its clients).
	foundMSA := false
	allowFetch := true
	var qmsEnvFrom *string
	for _, line := range hdrs {
		saved := qmsEnvFrom
		qmsEnvFrom = nil
		r, st := parseReceived(line)
		if st != rcvdParsed {
			// Received.pm: a line without a relay stays in the part it
			// is found in.
			if inTrusted {
				rl.LastTrusted++
			}
			if inInternal {
				rl.LastInternal++
			}
		}
		switch st {
		case rcvdUnparseable:
			rl.Unparseable++
			continue
		case rcvdFetcher:
			// A mail fetcher's handover restarts the path when it is
			// still in the trusted part.
			if allowFetch {
				rl.Trusted, rl.Internal, rl.External = nil, nil, nil
			}
			continue
		case rcvdQmailScanner:
			qmsEnvFrom = &r.EnvFrom
			continue
		case rcvdSkip:
			continue
		}
		if saved != nil {
			r.EnvFrom, r.hasEnvFrom = *saved, true
		}
		if inTrusted && !foundMSA {
			switch {
			case !configured:
				if !r.Private && r.Auth == "" {
					inTrusted, inInternal = false, false
				}
			case r.Auth == "" && !inNets(r.IP, trusted):
				inTrusted, inInternal = false, false
			default:
				if inInternal && r.Auth == "" && !inNets(r.IP, internal) {
					inInternal = false
				}
				if InPrefixes(r.IP, nets.MSA) {
					foundMSA, r.MSA = true, true
				}
			}
		}
		r.Internal = inInternal
		if inTrusted {
			rl.Trusted = append(rl.Trusted, r)
			rl.LastTrusted++
			allowFetch = true
		} else {
			rl.Untrusted = append(rl.Untrusted, r)
			allowFetch = false
		}
		if inInternal {
			rl.Internal = append(rl.Internal, r)
			rl.LastInternal++
		} else {
			rl.External = append(rl.External, r)
		}
	}
	return rl
}

// InPrefixes reports whether ip (a textual address) is in one of nets.
func InPrefixes(ip string, nets []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// inNets reports whether ip is loopback (always trusted) or in nets.
func inNets(ip string, nets []netip.Prefix) bool {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return false
	}
	a = a.Unmap()
	if a.IsLoopback() {
		return true
	}
	for _, n := range nets {
		if n.Contains(a) {
			return true
		}
	}
	return false
}

// EnvelopeFrom is the envelope sender the relays record, as SpamAssassin
// derives it before looking at other fields: the envfrom of the newest
// untrusted relay, or else of the oldest trusted one, when it holds an
// address (or is empty, a null sender). ok is false when neither does.
func (rl *Path) EnvelopeFrom() (addr string, ok bool) {
	var hop *Relay
	switch {
	case len(rl.Untrusted) > 0:
		hop = &rl.Untrusted[0]
	case len(rl.Trusted) > 0:
		hop = &rl.Trusted[len(rl.Trusted)-1]
	default:
		return "", false
	}
	if !hop.hasEnvFrom {
		return "", false
	}
	if hop.EnvFrom == "" || strings.IndexByte(hop.EnvFrom, '@') > 0 {
		return hop.EnvFrom, true
	}
	return "", false
}

// EnvelopeSender derives the envelope sender from the header as
// SpamAssassin does when no envelope_sender_header is configured (for a
// message whose SMTP envelope is unknown): the relays' envfrom, then
// X-Envelope-From, Envelope-Sender and Return-Path, each only when no
// Received field precedes it (it was then added before the last hop and
// may be forged); nothing when X-Sender is set and a fetchmail handover
// appears. ok is false when none applies.
func EnvelopeSender(msg Headers, rl *Path) (addr string, ok bool) {
	if a, ok := rl.EnvelopeFrom(); ok {
		return a, true
	}
	// first is SpamAssassin's get("Name:first:addr"): the first address
	// of the topmost field, parsed from its raw value.
	first := func(name string) (string, bool) {
		for _, v := range msg.Header(name, true) {
			for _, a := range mail.HeaderAddr(v) {
				return a, true
			}
			return "", false
		}
		return "", false
	}
	if xs, ok := first("X-Sender"); ok && strings.Contains(xs, "@") {
		for _, r := range msg.Header("Received", false) {
			if strings.Contains(r, "(fetchmail") {
				return "", false
			}
		}
	}
	// afterReceived reports a Received field earlier in the header.
	afterReceived := func(name string) bool {
		seen := false
		for _, f := range msg.Header("ALL", true) {
			n, _, _ := strings.Cut(f, ":")
			switch {
			case strings.EqualFold(n, "Received"):
				seen = true
			case strings.EqualFold(n, name):
				if seen {
					return true
				}
			}
		}
		return false
	}
	for _, name := range []string{"X-Envelope-From", "Envelope-Sender", "Return-Path"} {
		if a, ok := first(name); ok {
			if afterReceived(name) {
				if name == "X-Envelope-From" {
					return "", false
				}
				continue
			}
			return a, true
		}
	}
	return "", false
}

// IsTrustPseudo reports whether name is one of SpamAssassin's
// ALL-TRUSTED, ALL-INTERNAL, ALL-UNTRUSTED and ALL-EXTERNAL
// pseudo-headers (case-sensitive, as PerMsgStatus::_get compares them).
func IsTrustPseudo(name string) bool {
	switch name {
	case "ALL-TRUSTED", "ALL-INTERNAL", "ALL-UNTRUSTED", "ALL-EXTERNAL":
		return true
	}
	return false
}

// TrustFields selects from all, the message's header fields in order
// (the ALL pseudo-header's values), those the pseudo-header name covers,
// as PerMsgStatus::get_all_hdrs_in_rcvd_index_range does: ALL-TRUSTED
// (ALL-INTERNAL) is everything up to and including the first Received
// field past the trusted (internal) part, ALL-UNTRUSTED (ALL-EXTERNAL)
// everything from that Received field on. ok is false for another name.
func (rl *Path) TrustFields(name string, all []string) (fields []string, ok bool) {
	var start, end = -1, -1 // Received indexes; -1 = unbounded
	switch name {
	case "ALL-TRUSTED":
		end = rl.LastTrusted + 1
	case "ALL-INTERNAL":
		end = rl.LastInternal + 1
	case "ALL-UNTRUSTED":
		start = rl.LastTrusted + 1
	case "ALL-EXTERNAL":
		start = rl.LastInternal + 1
	default:
		return nil, false
	}
	cur := -1
	for _, f := range all {
		if len(f) >= 9 && strings.EqualFold(f[:9], "Received:") {
			cur++
		}
		switch {
		case (start < 0 || start <= cur) && (end < 0 || cur < end):
			fields = append(fields, f)
		case end >= 0 && cur == end:
			return append(fields, f), true
		}
	}
	return fields, true
}
