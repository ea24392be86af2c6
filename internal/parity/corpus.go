// Package parity measures how closely sluice's rule engine agrees with
// SpamAssassin 4.0.1 on the same messages (issue 4): it cleans corpus
// messages the same way for both engines, runs SpamAssassin's spamd
// (local tests only, private site configuration, one connection per child)
// and sluice's rules in-process, and compares the two per (message, rule).
//
// Divergences from SpamAssassin's own mass-check: the comparison sees only
// rules with a non-zero score (SpamAssassin never runs a rule scored 0, and
// neither engine reports __ sub-rules), and the rule universe is the set of
// rules that either engine fired on at least one message and that sluice
// has active; rules neither fires on anywhere agree trivially and are
// counted separately (see Report).
package parity

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
)

// Message is one corpus file.
type Message struct {
	// Name is label/file, e.g. "spam/00001.7848dde101aa985090474a91ec93fcf0".
	Name string
	// Label is "ham" or "spam", the corpus folder.
	Label string
	// Path is the file on disk.
	Path string
}

// Corpus lists dir/ham and dir/spam, each sorted by file name, ham first.
func Corpus(dir string) ([]Message, error) {
	var out []Message
	for _, label := range []string{"ham", "spam"} {
		ents, err := os.ReadDir(filepath.Join(dir, label))
		if err != nil {
			return nil, fmt.Errorf("parity: corpus: %w", err)
		}
		names := make([]string, 0, len(ents))
		for _, e := range ents {
			if e.Type().IsRegular() {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, Message{Name: label + "/" + n, Label: label, Path: filepath.Join(dir, label, n)})
		}
	}
	return out, nil
}

// Sample keeps every n-th message (the 0th, n-th, 2n-th, …) of msgs: a
// deterministic sample with ham and spam in the corpus' proportion.
func Sample(msgs []Message, n int) []Message {
	if n <= 1 {
		return msgs
	}
	var out []Message
	for i := 0; i < len(msgs); i += n {
		out = append(out, msgs[i])
	}
	return out
}

// Clean returns raw without a leading mbox "From " line and without the
// header fields whose name starts with X-Spam- (case-insensitive), with
// their continuation lines; everything else is kept byte for byte. Both
// engines see these bytes, so an upstream verdict cannot steer either.
func Clean(raw []byte) []byte {
	if bytes.HasPrefix(raw, []byte("From ")) {
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			raw = raw[i+1:]
		} else {
			raw = nil
		}
	}
	out := make([]byte, 0, len(raw))
	skipping := false
	rest := raw
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		var line []byte
		if i < 0 {
			line, rest = rest, nil
		} else {
			line, rest = rest[:i+1], rest[i+1:]
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 { // end of the header
			out = append(out, line...)
			out = append(out, rest...)
			return out
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !skipping {
				out = append(out, line...)
			}
			continue
		}
		skipping = len(line) >= 7 && bytes.EqualFold(line[:7], []byte("X-Spam-"))
		if !skipping {
			out = append(out, line...)
		}
	}
	return out
}

// Hash is the cache key of a cleaned message: hex SHA-256.
func Hash(msg []byte) string {
	h := sha256.Sum256(msg)
	return hex.EncodeToString(h[:])
}
