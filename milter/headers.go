package milter

import (
	"strings"

	"github.com/sluice-mail/sluice/mail"
)

// actionKind is what a header action does.
type actionKind int

const (
	// actInsert inserts a field below index fields (0: at the top).
	actInsert actionKind = iota
	// actAdd appends a field after the last one.
	actAdd
	// actChange replaces the index-th field named name (1-based, per
	// name); an empty value deletes it.
	actChange
)

// action is one header change as the milter protocol sends it
// (SMFIR_INSHEADER, SMFIR_ADDHEADER, SMFIR_CHGHEADER).
type action struct {
	kind  actionKind
	index int
	name  string
	value string // after the colon, line ends LF, as the MTA stores it
}

// step is one element of the alignment of the original fields with the
// final ones.
type step struct {
	op   byte // 'k' kept, 'd' deleted, 'i' inserted, 'c' changed
	o, f int  // indexes into the original and final fields
}

// headerActions returns the milter actions that turn the header fields
// orig, as the MTA sent them, into final, as the per-message steps left
// them. Kept fields are those whose bytes did not change (mail.Header
// keeps them as received); the edits only add, remove and rewrite fields
// in place, never reorder them. The actions are ordered so that every
// index refers to the header as the actions before it left it: appends
// first, then the rest from the bottom up, so that nothing above a change
// has moved yet.
func headerActions(orig, final []mail.Field, leadingSpace bool) []action {
	steps := align(orig, final)
	occ := make([]int, len(orig)) // 1-based occurrence of each field's name
	seen := make(map[string]int)
	for i := range orig {
		n := strings.ToLower(orig[i].Name)
		seen[n]++
		occ[i] = seen[n]
	}
	var out []action
	// Fields added after the last original field go on with appends, in
	// order: an append lands below everything, whatever comes later.
	tail := len(steps)
	for tail > 0 && steps[tail-1].op == 'i' {
		tail--
	}
	for _, s := range steps[tail:] {
		f := &final[s.f]
		out = append(out, action{kind: actAdd, name: f.Name, value: fieldValue(f, leadingSpace)})
	}
	pos := 0 // original fields above each step
	above := make([]int, tail)
	for k, s := range steps[:tail] {
		above[k] = pos
		if s.op != 'i' {
			pos++
		}
	}
	for k := tail - 1; k >= 0; k-- {
		s := steps[k]
		switch s.op {
		case 'i':
			f := &final[s.f]
			out = append(out, action{kind: actInsert, index: above[k], name: f.Name, value: fieldValue(f, leadingSpace)})
		case 'd':
			out = append(out, action{kind: actChange, index: occ[s.o], name: orig[s.o].Name})
		case 'c':
			f := &final[s.f]
			// The MTA finds the field by name, whatever its case, and
			// writes the name given.
			out = append(out, action{kind: actChange, index: occ[s.o], name: f.Name, value: fieldValue(f, leadingSpace)})
		}
	}
	return out
}

// align matches orig with final: where they differ, the original field
// at hand went, unless it is still to come in final and the final field
// at hand is nowhere in the rest of orig (then that one is new). Removals
// thus come before additions, and additions at the end become appends. A
// deletion next to an insertion of a field of the same name is a change.
// Counting what remains keeps this linear in the number of fields.
func align(orig, final []mail.Field) []step {
	rest := make(map[string]int, len(orig))   // in orig[i:]
	restF := make(map[string]int, len(final)) // in final[j:]
	for i := range orig {
		rest[string(orig[i].Raw())]++
	}
	for j := range final {
		restF[string(final[j].Raw())]++
	}
	var steps []step
	i, j := 0, 0
	for i < len(orig) && j < len(final) {
		o, f := string(orig[i].Raw()), string(final[j].Raw())
		switch {
		case o == f:
			steps = append(steps, step{op: 'k', o: i, f: j})
			rest[o]--
			restF[f]--
			i++
			j++
		case restF[o] > 0 && rest[f] == 0:
			steps = append(steps, step{op: 'i', f: j})
			restF[f]--
			j++
		default:
			steps = append(steps, step{op: 'd', o: i})
			rest[o]--
			i++
		}
	}
	for ; i < len(orig); i++ {
		steps = append(steps, step{op: 'd', o: i})
	}
	for ; j < len(final); j++ {
		steps = append(steps, step{op: 'i', f: j})
	}
	// A field deleted and one of the same name inserted in its place
	// (a Subject rewrite) is one change.
	out := steps[:0]
	for k := 0; k < len(steps); k++ {
		s := steps[k]
		if k+1 < len(steps) {
			n := steps[k+1]
			switch {
			case s.op == 'd' && n.op == 'i' && strings.EqualFold(orig[s.o].Name, final[n.f].Name):
				out = append(out, step{op: 'c', o: s.o, f: n.f})
				k++
				continue
			case s.op == 'i' && n.op == 'd' && strings.EqualFold(final[s.f].Name, orig[n.o].Name):
				out = append(out, step{op: 'c', o: n.o, f: s.f})
				k++
				continue
			}
		}
		out = append(out, s)
	}
	return out
}

// fieldValue is f's value as a milter action carries it: what follows the
// colon, without the final line end, with LF line ends. Without the
// leading-space option the MTA adds the space after the colon itself.
func fieldValue(f *mail.Field, leadingSpace bool) string {
	raw := string(f.Raw())
	_, v, _ := strings.Cut(raw, ":")
	v = strings.TrimRight(v, "\r\n")
	v = strings.ReplaceAll(v, "\r\n", "\n")
	if !leadingSpace {
		v = strings.TrimPrefix(v, " ")
	}
	return v
}
