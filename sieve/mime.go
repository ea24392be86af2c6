package sieve

import (
	"mime"
	"strings"

	"github.com/sluice-mail/sluice/mail"
)

// mimeSpecs registers the commands and tests of foreverypart.
func mimeSpecs(add func(*spec)) {
	// RFC 5703 foreverypart, break, extracttext.
	add(&spec{name: "foreverypart", ext: "foreverypart", tags: []tagDef{{name: "name", param: argString, paramName: "name"}},
		block: needBlock, check: checkForeverypart, exec: execForeverypart})
	add(&spec{name: "break", ext: "foreverypart", tags: []tagDef{{name: "name", param: argString, paramName: "name"}},
		parent: []string{"foreverypart"}, check: checkBreak, exec: execBreak})
	add(&spec{name: "extracttext", ext: "extracttext", tags: []tagDef{
		{name: "first", param: argNumber, paramName: "number"},
		{name: "lower", group: "case", param: noParam}, {name: "upper", group: "case", param: noParam},
		{name: "lowerfirst", group: "casefirst", param: noParam}, {name: "upperfirst", group: "casefirst", param: noParam},
		{name: "quotewildcard", group: "quote", param: noParam},
		{name: "quoteregex", group: "quote", param: noParam, ext: "regex"},
		{name: "length", group: "length", param: noParam}},
		pos:    []posDef{{typ: argString, name: "varname"}},
		parent: []string{"foreverypart"}, check: checkExtracttext, exec: execExtracttext})
}

// RFC 5703 §4: the :mime family of options on header, address and exists.

func checkMime(v *validator, n *node) bool {
	if !n.has("mime") {
		for _, t := range []string{"anychild", "mimeopt"} {
			if a := n.tags[t]; a != nil {
				v.errorf(a.pos, "the :%s tag for the %s test requires the :mime tag", a.tag, n.name)
				return false
			}
		}
	}
	if n.has("mimeopt") {
		for _, h := range n.pargs[0].strs {
			if v.isConstant(h) && !strings.EqualFold(h, "content-type") && n.name == "header" {
				// Pigeonhole accepts any header; options then see no values.
			}
		}
	}
	return true
}

// mimeParts returns the indexes of the parts a :mime test examines.
func (r *run) mimeParts(n *node) []int {
	cur := r.curPart
	if cur < 0 {
		cur = 0
	}
	if !n.has("anychild") {
		return []int{cur}
	}
	// RFC 5703 §4.2: :anychild covers the current part and every part below it.
	out := []int{cur}
	out = append(out, r.descendants(cur)...)
	return out
}

func (r *run) descendants(p int) []int {
	var out []int
	for _, c := range r.allParts()[p].Children {
		out = append(out, c)
		out = append(out, r.descendants(c)...)
	}
	return out
}

func (r *run) partHeader(p int) []HeaderField {
	if p == 0 {
		return r.header
	}
	return r.allParts()[p].Header
}

func (r *run) mimeHeaderTest(n *node, names, keys []string) (bool, error) {
	m, err := r.newMatcher(n, keys)
	if err != nil {
		return false, err
	}
	for _, p := range r.mimeParts(n) {
		h := r.partHeader(p)
		for _, name := range names {
			var vals []string
			if opt := n.tags["mimeopt"]; opt != nil {
				if !strings.EqualFold(name, "content-type") && !strings.EqualFold(name, "content-disposition") {
					continue
				}
				raw := headerValues(h, name, false)
				if len(raw) == 0 && strings.EqualFold(name, "content-type") {
					raw = []string{r.allParts()[p].ContentType}
				}
				for _, v := range selectIndex(n, raw) {
					vals = append(vals, mimeOption(opt, v, r.strs(opt.strs))...)
				}
			} else {
				vals = selectIndex(n, headerValues(h, name, true))
			}
			for _, v := range vals {
				if ok, err := m.value(v); err != nil || ok {
					return ok, err
				}
			}
		}
	}
	return m.done(false), nil
}

// mimeOption extracts :type, :subtype, :contenttype or :param values from a
// Content-Type or Content-Disposition value.
func mimeOption(opt *argument, v string, params []string) []string {
	mt, ps, err := mime.ParseMediaType(v)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]))
		ps = map[string]string{}
	}
	typ, sub, _ := strings.Cut(mt, "/")
	switch opt.tag {
	case "type":
		return []string{typ}
	case "subtype":
		return []string{sub}
	case "contenttype":
		return []string{mt}
	case "param":
		var out []string
		for _, p := range params {
			if val, ok := ps[strings.ToLower(p)]; ok {
				out = append(out, val)
			}
		}
		return out
	}
	return nil
}

// mimeExists: every named field must exist in some examined part.
func (r *run) mimeExists(n *node, names []string) (bool, error) {
	parts := r.mimeParts(n)
	for _, name := range names {
		found := false
		for _, p := range parts {
			if len(headerValues(r.partHeader(p), name, false)) > 0 {
				found = true
				break
			}
		}
		if !found {
			return false, nil
		}
	}
	return true, nil
}

func (r *run) mimeAddressTest(n *node, names, keys []string) (bool, error) {
	for _, p := range r.mimeParts(n) {
		ok, err := r.addressTest(n, r.partHeader(p), names, keys)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// breakSignal carries the name of the loop a break leaves.
type breakSignal struct{ name string }

func (b *breakSignal) Error() string { return "break" }

func execForeverypart(r *run, n *node) error {
	name, _ := r.tag(n, "name")
	var list []int
	if r.curPart < 0 {
		list = append([]int{0}, r.descendants(0)...)
	} else {
		list = r.descendants(r.curPart)
	}
	if r.loopDepth >= maxLoopDepth {
		return rtErr(n, "foreverypart loops nested too deeply (max %d)", maxLoopDepth)
	}
	r.loopDepth++
	saved := r.curPart
	defer func() { r.curPart = saved; r.loopDepth-- }()
	for _, p := range list {
		r.curPart = p
		err := r.exec(n.block)
		if b, ok := err.(*breakSignal); ok {
			if b.name == "" || strings.EqualFold(b.name, name) {
				return nil
			}
			return err
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// maxLoopDepth is Pigeonhole's limit on nested foreverypart loops.
const maxLoopDepth = 4

func checkForeverypart(v *validator, n *node) bool {
	depth := 1
	for p := n.parent; p != nil; p = p.parent {
		if p.name == "foreverypart" {
			depth++
		}
	}
	if depth > maxLoopDepth {
		v.errorf(n.pos, "the foreverypart command is nested too deeply (max %d levels)", maxLoopDepth)
		return false
	}
	return true
}

func checkBreak(v *validator, n *node) bool {
	name, ok := n.tagStr("name")
	if !ok {
		return true
	}
	for p := n.parent; p != nil; p = p.parent {
		if p.name == "foreverypart" {
			if pn, ok := p.tagStr("name"); ok && pn == name {
				return true
			}
		}
	}
	v.errorf(n.tags["name"].pos, "the break command is not within a foreverypart loop named '%s'", name)
	return false
}

func execBreak(r *run, n *node) error {
	name, _ := r.tag(n, "name")
	return &breakSignal{name: name}
}

func checkExtracttext(v *validator, n *node) bool {
	if !v.has("variables") {
		v.errorf(n.pos, "the extracttext command requires the variables extension")
		return false
	}
	return v.checkVariableName(n.pargs[0].pos, n.pargs[0].strs[0])
}

func execExtracttext(r *run, n *node) error {
	text := ""
	if r.curPart >= 0 {
		p := r.allParts()[r.curPart]
		if strings.HasPrefix(p.ContentType, "text/") {
			text = string(p.Body)
			if p.ContentType == "text/html" {
				text = string(mail.HTMLText(p.Body))
			}
		}
	}
	if first, ok := n.tagNum("first"); ok {
		rs := []rune(text)
		if int64(len(rs)) > first {
			text = string(rs[:first])
		}
	}
	return r.setVar(n, r.arg1(n, 0), applyModifiers(n, text, r.opts.Limits.MaxVariableSize))
}
