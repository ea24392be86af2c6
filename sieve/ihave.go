package sieve

// ihaveSpecs registers the commands and tests of ihave.
func ihaveSpecs(add func(*spec)) {
	// RFC 5463 ihave and error.
	add(&spec{name: "ihave", test: true, ext: "ihave", pos: []posDef{{typ: argStringList, name: "capabilities"}},
		eval: func(r *run, n *node) (bool, error) {
			for _, c := range r.arg(n, 0) {
				if !r.opts.knownCapability(c) || ihaveRestricted[c] {
					return false, nil
				}
			}
			return true, nil
		}})
	add(&spec{name: "error", ext: "ihave", pos: []posDef{{typ: argString, name: "message"}},
		exec: func(r *run, n *node) error { return rtErr(n, "%s", r.arg1(n, 0)) }})
}

// ihaveRestricted lists capabilities ihave never grants: they change how
// the script is read before ihave could run (RFC 5463 §4).
var ihaveRestricted = map[string]bool{"encoded-character": true, "variables": true}

// knownCapability reports whether a script may require c.
func (o *Options) knownCapability(c string) bool {
	exts := o.Extensions
	if exts == nil {
		exts = DefaultExtensions()
	}
	for _, e := range exts {
		if e == c {
			return true
		}
	}
	return false
}
