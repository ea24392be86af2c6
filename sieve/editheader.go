package sieve

import (
	"fmt"
	"mime"
	"strings"
)

// editheaderSpecs registers the commands and tests of editheader.
func editheaderSpecs(add func(*spec)) {
	// RFC 5293 editheader.
	add(&spec{name: "addheader", ext: "editheader", tags: []tagDef{{name: "last", param: noParam}},
		pos: []posDef{{typ: argString, name: "field name"}, {typ: argString, name: "value"}}, check: checkAddheader, exec: execAddheader})
	add(&spec{name: "deleteheader", ext: "editheader", tags: append(matchingTags(), tagDef{name: "index", param: argNumber, paramName: "field index"},
		tagDef{name: "last", param: noParam}),
		pos:   []posDef{{typ: argString, name: "field name"}, {typ: argStringList, name: "value patterns", optional: true}},
		check: checkDeleteheader, exec: execDeleteheader})
}

func (r *run) protected(name string, add bool) bool {
	l := strings.ToLower(name)
	// RFC 5293 §6: Received and Auto-Submitted must not be removed.
	if !add && (l == "received" || l == "auto-submitted") {
		return true
	}
	if l == "subject" {
		return false
	}
	lists := [][]string{r.opts.ProtectedHeaders, r.opts.ForbidDeleteHeaders}
	if add {
		lists[1] = r.opts.ForbidAddHeaders
	}
	for _, list := range lists {
		for _, p := range list {
			if strings.EqualFold(p, name) {
				return true
			}
		}
	}
	return false
}

func checkAddheader(v *validator, n *node) bool {
	name := n.pargs[0].strs[0]
	if v.isConstant(name) && !validFieldName(name) {
		v.errorf(n.pargs[0].pos, "addheader command: specified field name '%s' is invalid", name)
		return false
	}
	val := n.pargs[1].strs[0]
	if v.isConstant(val) && !validFieldValue(val) {
		v.errorf(n.pargs[1].pos, "addheader command: specified value '%s' is invalid", val)
		return false
	}
	if v.isConstant(val) && v.isConstant(name) && len(name)+2+len(unfold(val)) > v.opts.MaxHeaderSize {
		v.errorf(n.pargs[1].pos, "addheader command: specified header field is too large (max %d bytes)", v.opts.MaxHeaderSize)
		return false
	}
	return true
}

// validFieldValue refuses NUL; line breaks are folded when the field is added.
func validFieldValue(s string) bool { return !strings.ContainsRune(s, 0) }

func (r *run) editHeader() {
	if !r.edited {
		r.header = append([]HeaderField(nil), r.header...)
		r.edited = true
	}
}

func execAddheader(r *run, n *node) error {
	name, val := r.arg1(n, 0), r.arg1(n, 1)
	if !validFieldName(name) {
		return rtErr(n, "addheader action: specified field name '%s' is invalid", name)
	}
	if !validFieldValue(val) {
		return rtErr(n, "addheader action: specified value '%s' is invalid", val)
	}
	if r.protected(name, true) {
		r.warnings = append(r.warnings, fmt.Sprintf("addheader action: adding protected header '%s' is not allowed", name))
		return nil
	}
	val = unfold(val)
	if len(name)+2+len(val) > r.opts.MaxHeaderSize {
		return rtErr(n, "addheader action: specified header field is too large (max %d bytes)", r.opts.MaxHeaderSize)
	}
	if !isASCII(val) {
		val = mime.QEncoding.Encode("utf-8", val)
	}
	r.editHeader()
	f := HeaderField{Name: name, Value: val}
	if n.has("last") {
		r.header = append(r.header, f)
	} else {
		r.header = append([]HeaderField{f}, r.header...)
	}
	return nil
}

// unfold joins the lines of a value to add: a line break followed by
// white space is a fold, any other becomes a space; trailing breaks go.
func unfold(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.TrimRight(s, "\n")
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			if i+1 < len(s) && (s[i+1] == ' ' || s[i+1] == '\t') {
				continue
			}
			b.WriteByte(' ')
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func checkDeleteheader(v *validator, n *node) bool {
	if n.has("last") && !n.has("index") {
		v.errorf(n.tags["last"].pos, "the :last tag for the deleteheader command requires the :index tag")
		return false
	}
	name := n.pargs[0].strs[0]
	if v.isConstant(name) && !validFieldName(name) {
		v.errorf(n.pargs[0].pos, "deleteheader command: specified field name '%s' is invalid", name)
		return false
	}
	if len(n.pargs) > 1 {
		return checkKeys(v, n, 1)
	}
	return true
}

func execDeleteheader(r *run, n *node) error {
	name := r.arg1(n, 0)
	if !validFieldName(name) {
		return rtErr(n, "deleteheader action: specified field name '%s' is invalid", name)
	}
	if r.protected(name, false) {
		r.warnings = append(r.warnings, fmt.Sprintf("deleteheader action: deleting protected header '%s' is not allowed", name))
		return nil
	}
	var keys []string
	hasKeys := len(n.pargs) > 1
	if hasKeys {
		keys = r.arg(n, 1)
	}
	idx, hasIdx := n.tagNum("index")
	// Positions of the fields with this name.
	var pos []int
	for i, f := range r.header {
		if strings.EqualFold(f.Name, name) {
			pos = append(pos, i)
		}
	}
	if hasIdx {
		i := int(idx) - 1
		if n.has("last") {
			i = len(pos) - int(idx)
		}
		if i < 0 || i >= len(pos) {
			return nil
		}
		pos = pos[i : i+1]
	}
	var del []int
	for _, p := range pos {
		if hasKeys {
			v := decodeHeader(strings.TrimSpace(r.header[p].Value))
			ok, err := r.matchValues(n, []string{v}, keys)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		del = append(del, p)
	}
	if len(del) == 0 {
		return nil
	}
	r.editHeader()
	out := r.header[:0:0]
	j := 0
	for i, f := range r.header {
		if j < len(del) && del[j] == i {
			j++
			continue
		}
		out = append(out, f)
	}
	r.header = out
	return nil
}
