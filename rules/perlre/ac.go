package perlre

// AC is an Aho–Corasick automaton over ASCII-case-folded bytes,
// compiled to a dense DFA over byte classes: one table lookup per byte of
// text. Bytes that occur in no pattern share one class.
type AC struct {
	class  [256]uint8
	nclass int
	trans  []int32   // state*nclass + class → next state
	out    [][]int32 // pattern indices ending at each state (fail chain merged)
	hasOut []bool
}

func foldByte(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}

// NewAC compiles patterns (already lower case, non-empty).
func NewAC(pats []string) *AC {
	m := &AC{}
	used := [256]bool{}
	for _, p := range pats {
		for i := 0; i < len(p); i++ {
			used[p[i]] = true
		}
	}
	n := 1
	for c := 0; c < 256; c++ {
		if used[foldByte(byte(c))] {
			if m.class[foldByte(byte(c))] == 0 {
				if n == 255 {
					continue
				}
				m.class[foldByte(byte(c))] = uint8(n)
				n++
			}
			m.class[c] = m.class[foldByte(byte(c))]
		}
	}
	m.nclass = n
	// The trie is built in the transition table itself (0 is no edge:
	// no edge leads back to the root), and the breadth-first pass fills
	// in the failure transitions row by row, shallower rows first.
	trans := make([]int32, n, 64*n)
	outs := [][]int32{nil}
	for pi, p := range pats {
		s := int32(0)
		for i := 0; i < len(p); i++ {
			at := int(s)*n + int(m.class[p[i]])
			nx := trans[at]
			if nx == 0 {
				nx = int32(len(outs))
				trans[at] = nx
				trans = append(trans, make([]int32, n)...)
				outs = append(outs, nil)
			}
			s = nx
		}
		outs[s] = append(outs[s], int32(pi))
	}
	ns := len(outs)
	fail := make([]int32, ns)
	queue := make([]int32, 0, ns)
	for cl := 0; cl < n; cl++ {
		if nx := trans[cl]; nx != 0 {
			queue = append(queue, nx)
		}
	}
	for qi := 0; qi < len(queue); qi++ {
		s := queue[qi]
		if len(outs[fail[s]]) > 0 {
			outs[s] = append(outs[s][:len(outs[s]):len(outs[s])], outs[fail[s]]...)
		}
		row, frow := trans[int(s)*n:int(s+1)*n], trans[int(fail[s])*n:int(fail[s]+1)*n]
		for cl, nx := range row {
			if nx != 0 {
				fail[nx] = frow[cl]
				queue = append(queue, nx)
			} else {
				row[cl] = frow[cl]
			}
		}
	}
	m.trans = trans
	m.out = outs
	m.hasOut = make([]bool, ns)
	for i, o := range outs {
		m.hasOut[i] = len(o) > 0
	}
	return m
}

// ACFits reports whether NewAC can tell apart every byte of pats: the
// automaton has room for 254 distinct case-folded bytes, and a pattern
// with a byte beyond those would never be found.
func ACFits(pats []string) bool {
	used := [256]bool{}
	n := 0
	for _, p := range pats {
		for i := 0; i < len(p); i++ {
			if c := foldByte(p[i]); !used[c] {
				used[c] = true
				n++
			}
		}
	}
	return n <= 254
}

// Scan calls fn for each pattern occurrence in text (a pattern may be
// reported more than once).
func (m *AC) Scan(text []byte, fn func(pat int32)) { scan(m, text, fn) }

// ScanString is Scan over a string.
func (m *AC) ScanString(text string, fn func(pat int32)) { scan(m, text, fn) }

func scan[T ~string | ~[]byte](m *AC, text T, fn func(pat int32)) {
	s := int32(0)
	n := int32(m.nclass)
	trans, class, hasOut := m.trans, &m.class, m.hasOut
	for i := 0; i < len(text); i++ {
		s = trans[s*n+int32(class[text[i]])]
		if hasOut[s] {
			for _, p := range m.out[s] {
				fn(p)
			}
		}
	}
}
