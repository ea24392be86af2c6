package sieve

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// duplicateSpecs registers the commands and tests of duplicate.
func duplicateSpecs(add func(*spec)) {
	// RFC 7352 duplicate.
	add(&spec{name: "duplicate", test: true, ext: "duplicate", tags: []tagDef{
		{name: "handle", param: argString, paramName: "handle"},
		{name: "header", group: "id", param: argString, paramName: "header name"},
		{name: "uniqueid", group: "id", param: argString, paramName: "unique id"},
		{name: "seconds", param: argNumber, paramName: "period"},
		{name: "last", param: noParam}}, eval: evalDuplicate})
}

func evalDuplicate(r *run, n *node) (bool, error) {
	var id string
	if u, ok := r.tag(n, "uniqueid"); ok {
		id = u
	} else {
		name := "message-id"
		if h, ok := r.tag(n, "header"); ok {
			name = h
		}
		vals := headerValues(r.header, name, false)
		if len(vals) == 0 {
			return false, nil
		}
		id = vals[0]
	}
	handle, _ := r.tag(n, "handle")
	sum := sha256.Sum256([]byte("duplicate\x00" + handle + "\x00" + id))
	key := hex.EncodeToString(sum[:])
	period := 12 * time.Hour
	if s, ok := n.tagNum("seconds"); ok {
		period = time.Duration(s) * time.Second
	}
	if r.env.Duplicate == nil {
		return false, nil
	}
	for _, m := range r.dupMarks {
		if m.key == key {
			return true, nil
		}
	}
	seen, err := r.env.Duplicate.Seen(r.ctx, key)
	if err != nil {
		return false, rtErr(n, "duplicate: tracking failed: %v", err)
	}
	if !seen || n.has("last") {
		r.dupMarks = append(r.dupMarks, dupMark{key: key, expiry: r.env.Now.Add(period)})
	}
	return seen, nil
}
