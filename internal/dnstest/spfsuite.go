package dnstest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/miekg/dns"
	"gopkg.in/yaml.v3"
)

// SPFSuite is one YAML document of the openspf/pyspf SPF test suites
// (rfc7208-tests.yml, rfc4408-tests.yml).
type SPFSuite struct {
	Description string
	Tests       map[string]SPFTest
	ZoneData    map[string][]yaml.Node `yaml:"zonedata"`
}

// SPFTest is one test of an SPFSuite.
type SPFTest struct {
	Spec     yaml.Node
	Helo     string
	Host     string
	MailFrom string `yaml:"mailfrom"`
	Result   yaml.Node
}

// ReadSPFSuites reads every document of the suite file at path.
func ReadSPFSuites(t testing.TB, path string) []SPFSuite {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []SPFSuite
	dec := yaml.NewDecoder(f)
	for {
		var s SPFSuite
		err := dec.Decode(&s)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, s)
	}
}

// NodeStrings returns a scalar or a sequence of scalars as a list.
func NodeStrings(t testing.TB, n *yaml.Node) []string {
	t.Helper()
	var list []string
	if n.Kind == yaml.SequenceNode {
		if err := n.Decode(&list); err != nil {
			t.Fatalf("decoding %v: %v", n.Value, err)
		}
		return list
	}
	return []string{n.Value}
}

// AddSPFZone serves a suite's zonedata, following the suites' conventions
// (conformance/README.md): SPF-type records are served as TXT unless the
// name has a TXT entry ("TXT: NONE" meaning none at all), and a TIMEOUT
// entry makes queries for the types the name has no records of time out.
func (s *Server) AddSPFZone(t testing.TB, zone map[string][]yaml.Node) {
	t.Helper()
	for name, entries := range zone {
		if err := s.addSPFName(t, name, entries); err != nil {
			t.Fatalf("zone %s: %v", name, err)
		}
	}
}

func (s *Server) addSPFName(t testing.TB, name string, entries []yaml.Node) error {
	fq := dns.Fqdn(name)
	hdr := func(rrtype uint16) dns.RR_Header {
		return dns.RR_Header{Name: fq, Rrtype: rrtype, Class: dns.ClassINET, Ttl: 300}
	}
	var txts, spfs [][]string
	hasTXT, timeout := false, false
	present := map[uint16]bool{}
	for _, e := range entries {
		if e.Kind == yaml.ScalarNode {
			if e.Value != "TIMEOUT" {
				return fmt.Errorf("unknown entry %q", e.Value)
			}
			timeout = true
			continue
		}
		if e.Kind != yaml.MappingNode || len(e.Content) != 2 {
			return fmt.Errorf("bad entry at line %d", e.Line)
		}
		typ, val := e.Content[0].Value, e.Content[1]
		switch typ {
		case "A", "AAAA":
			for _, v := range NodeStrings(t, val) {
				ip := net.ParseIP(v)
				if ip.To4() != nil && typ == "A" {
					s.Add(&dns.A{Hdr: hdr(dns.TypeA), A: ip})
					present[dns.TypeA] = true
				} else {
					s.Add(&dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip})
					present[dns.TypeAAAA] = true
				}
			}
		case "MX":
			var mx []any
			if err := val.Decode(&mx); err != nil || len(mx) != 2 {
				return fmt.Errorf("bad MX: %v", err)
			}
			s.Add(&dns.MX{Hdr: hdr(dns.TypeMX), Preference: uint16(mx[0].(int)), Mx: dns.Fqdn(mx[1].(string))})
			present[dns.TypeMX] = true
		case "PTR":
			for _, v := range NodeStrings(t, val) {
				s.Add(&dns.PTR{Hdr: hdr(dns.TypePTR), Ptr: dns.Fqdn(v)})
			}
			present[dns.TypePTR] = true
		case "CNAME":
			s.Add(&dns.CNAME{Hdr: hdr(dns.TypeCNAME), Target: dns.Fqdn(val.Value)})
			present[dns.TypeCNAME] = true
		case "TXT":
			hasTXT = true
			if val.Kind == yaml.ScalarNode && val.Value == "NONE" {
				continue
			}
			txts = append(txts, NodeStrings(t, val))
		case "SPF":
			spfs = append(spfs, NodeStrings(t, val))
		default:
			return fmt.Errorf("unknown record type %s", typ)
		}
	}
	if !hasTXT {
		txts = spfs
	}
	for _, strs := range txts {
		var chunks []string
		for _, v := range strs {
			for len(v) > 255 {
				chunks = append(chunks, v[:255])
				v = v[255:]
			}
			chunks = append(chunks, v)
		}
		s.Add(&dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: chunks})
		present[dns.TypeTXT] = true
	}
	if timeout {
		var types []uint16
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeMX, dns.TypeTXT, dns.TypePTR, dns.TypeSPF} {
			if !present[qt] {
				types = append(types, qt)
			}
		}
		s.Timeout(name, types...)
	}
	return nil
}
