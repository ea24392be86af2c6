package mail

import "sort"

// HeaderEdits are changes to a header section, as data: the steps that
// decide them (Authentication-Results, X-Spam-*, the Subject rewrite)
// return them, and whoever delivers the message applies them with
// Header.Edit and renders the header once. Indexes are positions in the
// fields the edits were computed from (Header.Fields).
type HeaderEdits struct {
	// Add are new fields, in order.
	Add []FieldAdd
	// Remove are the indexes of fields dropped, bytes and all.
	Remove []int
	// Rewrite maps a field's index to the whole field that takes its
	// place: name, colon, value and line end, as it is to be written.
	Rewrite map[int]string
}

// FieldAdd is one field to add.
type FieldAdd struct {
	// Before is the index of the field the new one goes above;
	// len(fields) puts it after the last field.
	Before int
	// Field is the whole field: name, colon, value (folded as it is to be
	// written) and line end.
	Field string
}

// Header is a header section under edit: its fields with their bytes,
// the lines between them that are not fields (kept in place), the blank
// line that ends it, and the edits applied so far. Bytes renders it.
type Header struct {
	prefix []byte // an mbox "From " line
	segs   []segment
	fields []Field // the current fields; nil when an edit made it stale
}

// segment is one field, or bytes kept as they are (gap).
type segment struct {
	field   Field
	gap     []byte
	isField bool
}

// NewHeader returns section (a header section, the blank line that ends
// it included or not) ready for edits; fields are its fields as
// ParseHeader splits them, each with its Offset in section.
func NewHeader(section []byte, fields []Field) *Header {
	h := &Header{}
	pos := 0
	for _, f := range fields {
		if f.offset < pos || f.offset+len(f.line) > len(section) {
			continue
		}
		if f.offset > pos {
			h.segs = append(h.segs, segment{gap: section[pos:f.offset]})
		}
		h.segs = append(h.segs, segment{field: f, isField: true})
		pos = f.offset + len(f.line)
	}
	if pos < len(section) {
		h.segs = append(h.segs, segment{gap: section[pos:]})
	}
	return h
}

// EditHeader returns the message's header section ready for edits, the
// mbox line (if any) kept first. When a limit of Options cut fields or
// values, the section is split again without limits, so that no field
// escapes an edit.
func (m *Message) EditHeader() *Header {
	fields := m.root.fields
	if m.truncated {
		fields = ParseHeader(m.root.headerBytes)
	}
	h := NewHeader(m.root.headerBytes, fields)
	h.prefix = []byte(m.mboxSep)
	return h
}

// Fields returns the header's fields as the edits so far left them, in
// order. The slice must not be modified; an Edit replaces it.
func (h *Header) Fields() []Field {
	if h.fields == nil {
		h.fields = make([]Field, 0, len(h.segs))
		for _, s := range h.segs {
			if s.isField {
				h.fields = append(h.fields, s.field)
			}
		}
	}
	return h.fields
}

// Edit applies e, whose indexes refer to Fields as it is now. Fields
// added at the same place keep their order in e.Add; fields added after
// the last field go above any non-field lines and the blank line that
// end the section.
func (h *Header) Edit(e HeaderEdits) {
	if len(e.Add) == 0 && len(e.Remove) == 0 && len(e.Rewrite) == 0 {
		return
	}
	n := len(h.Fields())
	adds := append([]FieldAdd(nil), e.Add...)
	for i := range adds {
		adds[i].Before = min(max(adds[i].Before, 0), n)
	}
	sort.SliceStable(adds, func(i, j int) bool { return adds[i].Before < adds[j].Before })
	removed := make(map[int]bool, len(e.Remove))
	for _, i := range e.Remove {
		removed[i] = true
	}
	// The segments after the last field (non-field lines, the blank line).
	tail := len(h.segs)
	for tail > 0 && !h.segs[tail-1].isField {
		tail--
	}
	out := make([]segment, 0, len(h.segs)+len(adds))
	i := 0 // index of the next field
	addUpTo := func(before int) {
		for len(adds) > 0 && adds[0].Before <= before {
			out = append(out, segment{field: NewField(adds[0].Field), isField: true})
			adds = adds[1:]
		}
	}
	for k, s := range h.segs {
		if k == tail {
			addUpTo(n)
		}
		if !s.isField {
			out = append(out, s)
			continue
		}
		addUpTo(i)
		switch r, ok := e.Rewrite[i]; {
		case removed[i]:
		case ok:
			out = append(out, segment{field: NewField(r), isField: true})
		default:
			out = append(out, s)
		}
		i++
	}
	addUpTo(n)
	h.segs, h.fields = out, nil
}

// Clone returns a copy of h that takes edits of its own; nil for nil.
// Edits never change what h and its clones share.
func (h *Header) Clone() *Header {
	if h == nil {
		return nil
	}
	c := *h
	return &c
}

// Bytes renders the header section: the kept fields' bytes as received,
// the added and rewritten fields as given, in a new slice.
func (h *Header) Bytes() []byte {
	size := len(h.prefix)
	for _, s := range h.segs {
		size += len(s.gap) + len(s.field.line)
	}
	out := make([]byte, 0, size)
	out = append(out, h.prefix...)
	for _, s := range h.segs {
		if s.isField {
			out = append(out, s.field.line...)
		} else {
			out = append(out, s.gap...)
		}
	}
	return out
}

// NewField returns raw (name, colon, value, line end) as a Field, split
// as ParseHeader splits one. Text without a colon becomes a field
// without a name, written as given.
func NewField(raw string) Field {
	b := []byte(raw)
	if fs := ParseHeader(b); len(fs) == 1 && len(fs[0].line) == len(b) {
		f := fs[0]
		f.offset = -1
		return f
	}
	return Field{line: b, rawValue: raw, offset: -1}
}
