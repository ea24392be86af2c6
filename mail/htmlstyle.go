package mail

import (
	"strconv"
	"strings"
)

// The text styles and colours SpamAssassin's HTML.pm tracks to tell
// visible from invisible text.

// dim parses an image dimension: digits, optionally a percentage scaled
// by mult.
func dim(s string, mult int) int {
	pct := strings.HasSuffix(s, "%")
	s = strings.TrimSuffix(s, "%")
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0
	}
	if pct {
		n *= mult
	}
	return n
}

// goodFontFace mirrors SpamAssassin's font face sanity regex: a comma list
// of letter/space/hyphen names, optionally quoted.
func goodFontFace(f string) bool {
	f = strings.TrimSpace(f)
	f = strings.TrimSuffix(f, ";")
	if f == "" {
		return false
	}
	for _, name := range strings.Split(f, ",") {
		name = strings.TrimSpace(name)
		name = strings.Trim(name, `"'.`)
		if len(name) < 2 {
			return false
		}
		for i := 0; i < len(name); i++ {
			c := name[i] | 0x20
			if !(c >= 'a' && c <= 'z' || name[i] == ' ' || name[i] == '-' || (i == len(name)-1 && name[i] >= '0' && name[i] <= '9')) {
				return false
			}
		}
	}
	return true
}

// textStyle tracks colours, size and CSS display/visibility per element,
// as SpamAssassin's HTML::text_style does (including its quirks: a
// bgcolor attribute is ignored, only background-color in a style counts).
func (r *htmlRenderer) textStyle(tag string, attrs map[string]string, num int) {
	if tag == "th" {
		tag = "td"
	}
	if num != 1 {
		if tag != "body" {
			// Pop back to the matching element, if it is open.
			for i := len(r.styles) - 1; i > 0; i-- {
				if r.styles[i].tag == tag {
					r.styles = r.styles[:i]
					break
				}
			}
		}
		return
	}
	if tag == "basefont" {
		if n, ok := leadingInt(attrs["size"]); ok {
			r.basefont = n
		}
		return
	}
	if tag == "td" || tag == "tr" {
		r.closeTableTag(tag)
	}
	ns := r.styles[len(r.styles)-1]
	ns.tag = tag
	switch tag {
	case "big":
		ns.size++
		r.pushStyle(ns)
		return
	case "small":
		ns.size--
		r.pushStyle(ns)
		return
	}
	for k, v := range attrs {
		switch {
		case (k == "text" && tag == "body") || (k == "color" && (tag == "font" || tag == "basefont")):
			ns.fg = nameToRGB(v)
		case k == "size" && (tag == "font" || tag == "basefont"):
			t := strings.TrimLeft(v, " \t\r\n")
			if len(t) > 1 && (t[0] == '+' || t[0] == '-') {
				if n, ok := leadingInt(t[1:]); ok {
					if t[0] == '-' {
						n = -n
					}
					ns.size = r.basefont + n
				}
			} else if n, ok := leadingInt(t); ok {
				ns.size = n
			}
		case k == "style" && styleAllowed(tag):
			r.applyStyle(&ns, v)
		default:
			if !okAttribute(tag, k) {
				continue
			}
		}
		// SpamAssassin tracks sizes after each attribute it accepts.
		if ns.size > r.h.MaxSize {
			r.h.MaxSize = ns.size
		} else if ns.size < r.h.MinSize {
			r.h.MinSize = ns.size
		}
	}
	r.pushStyle(ns)
}

func (r *htmlRenderer) pushStyle(ns textStyle) {
	if len(r.styles) < 1024 {
		r.styles = append(r.styles, ns)
	}
}

// closeTableTag pops font and cell styles left open by a new <td> or <tr>.
func (r *htmlRenderer) closeTableTag(tag string) {
	open := false
	for _, s := range r.styles[1:] {
		if s.tag == tag {
			open = true
			break
		}
	}
	if !open {
		return
	}
	for len(r.styles) > 1 {
		top := r.styles[len(r.styles)-1].tag
		if (tag == "td" && (top == "font" || top == "td")) || (tag == "tr" && (top == "font" || top == "td" || top == "tr")) {
			r.styles = r.styles[:len(r.styles)-1]
			continue
		}
		break
	}
}

// okAttribute is SpamAssassin's %ok_attributes.
func okAttribute(tag, attr string) bool {
	switch tag {
	case "basefont", "font":
		return attr == "color" || attr == "face" || attr == "size"
	case "body":
		return attr == "text" || attr == "bgcolor" || attr == "link" || attr == "alink" || attr == "vlink" || attr == "background"
	case "marquee":
		return attr == "bgcolor" || attr == "background"
	case "table", "td", "th", "tr":
		return attr == "bgcolor" || attr == "style"
	case "span", "p", "div", "a":
		return attr == "style"
	}
	return false
}

func styleAllowed(tag string) bool {
	switch tag {
	case "table", "td", "tr", "span", "p", "div", "a":
		return true
	}
	return false
}

// leadingInt parses /^\s*(\d+)/.
func leadingInt(s string) (int, bool) {
	s = strings.TrimLeft(s, " \t\r\n")
	i := 0
	for i < len(s) && i < 9 && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, false
	}
	n, _ := strconv.Atoi(s[:i])
	return n, true
}

func (r *htmlRenderer) applyStyle(ns *textStyle, style string) {
	parentBG := r.styles[len(r.styles)-1].bg
	for _, decl := range strings.Split(style, ";") {
		k, v, ok := strings.Cut(decl, ":")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		v = strings.TrimSpace(v)
		switch k {
		case "color", "background-color":
			v = strings.ToLower(v)
			if i := strings.Index(v, "!"); i >= 0 && strings.TrimSpace(v[i+1:]) == "important" {
				v = strings.TrimSpace(v[:i])
			}
			var c string
			switch {
			case strings.Contains(v, "rgb"):
				c = cssRGB(v)
			case v == "inherit":
				continue
			case v == "transparent":
				c = v
			default:
				c = nameToRGB(v)
			}
			if k == "color" {
				ns.fg = c
			} else {
				ns.bg = c
			}
		case "background":
			for _, w := range strings.Fields(strings.ToLower(v)) {
				if c := nameToRGB(w); c != "invalid" {
					ns.bg = c
				}
			}
		case "display":
			ns.display = strings.ToLower(v)
		case "visibility":
			ns.visible = strings.ToLower(v)
		}
	}
	if ns.bg == "transparent" {
		ns.bg = parentBG
	}
	if ns.fg == "transparent" {
		ns.fg = ns.bg
	}
}

// cssRGB turns "rgb(1, 2, 3)" into "#010203", as SpamAssassin does.
func cssRGB(v string) string {
	var digits strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] >= '0' && v[i] <= '9' || v[i] == ',' {
			digits.WriteByte(v[i])
		}
	}
	parts := strings.Split(digits.String(), ",")
	var out [3]int
	for i := 0; i < 3 && i < len(parts); i++ {
		n, _ := strconv.Atoi(parts[i])
		out[i] = min(max(n, 0), 255)
	}
	return "#" + hex2(out[0]) + hex2(out[1]) + hex2(out[2])
}

func hex2(n int) string {
	const h = "0123456789abcdef"
	return string([]byte{h[n>>4&0xf], h[n&0xf]})
}

// nameToRGB is SpamAssassin's name_to_rgb: a colour name or "#hex" (or
// rgb()) becomes "#rrggbb"; anything else, including hex without "#", is
// "invalid".
func nameToRGB(c string) string {
	c = strings.ToLower(strings.TrimSpace(c))
	if v := namedColor(c); v != "" {
		return v
	}
	isHexish := true
	for i := 0; i < len(c); i++ {
		if !(c[i] == '#' || c[i] >= 'a' && c[i] <= 'f' || c[i] >= '0' && c[i] <= '9') {
			isHexish = false
			break
		}
	}
	if strings.HasPrefix(c, "rgb(") {
		if strings.Contains(c, "%") {
			var digits []int
			for _, p := range strings.Split(strings.TrimSuffix(c[4:], ")"), ",") {
				n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(p), "%")))
				if err != nil {
					return "invalid"
				}
				digits = append(digits, n*255/100)
			}
			if len(digits) == 3 {
				return "#" + hex2(min(digits[0], 255)) + hex2(min(digits[1], 255)) + hex2(min(digits[2], 255))
			}
			return "invalid"
		}
		return cssRGB(c)
	}
	if !isHexish || !strings.HasPrefix(c, "#") {
		return "invalid"
	}
	h := strings.ReplaceAll(c, "#", "")
	if len(h) > 6 {
		h = h[:6]
	}
	if len(h) > 3 && len(h) < 6 {
		h = h[:3]
	}
	if m := len(h) % 3; m != 0 {
		h += strings.Repeat("0", 3-m)
	}
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	return "#" + h
}

// namedColor returns the "#rrggbb" value of an HTML/CSS colour name as
// SpamAssassin's %html_color table lists them, or "".
func namedColor(c string) string { return htmlColors[c] }

// htmlColors is SpamAssassin's %html_color table.
var htmlColors = map[string]string{
	"aqua":                 "#00ffff",
	"cyan":                 "#00ffff",
	"black":                "#000000",
	"blue":                 "#0000ff",
	"fuchsia":              "#ff00ff",
	"magenta":              "#ff00ff",
	"gray":                 "#808080",
	"grey":                 "#808080",
	"green":                "#008000",
	"lime":                 "#00ff00",
	"maroon":               "#800000",
	"navy":                 "#000080",
	"olive":                "#808000",
	"purple":               "#800080",
	"red":                  "#ff0000",
	"silver":               "#c0c0c0",
	"teal":                 "#008080",
	"white":                "#ffffff",
	"yellow":               "#ffff00",
	"aliceblue":            "#f0f8ff",
	"antiquewhite":         "#faebd7",
	"aquamarine":           "#7fffd4",
	"azure":                "#f0ffff",
	"beige":                "#f5f5dc",
	"bisque":               "#ffe4c4",
	"blanchedalmond":       "#ffebcd",
	"blueviolet":           "#8a2be2",
	"brown":                "#a52a2a",
	"burlywood":            "#deb887",
	"cadetblue":            "#5f9ea0",
	"chartreuse":           "#7fff00",
	"chocolate":            "#d2691e",
	"coral":                "#ff7f50",
	"cornflowerblue":       "#6495ed",
	"cornsilk":             "#fff8dc",
	"crimson":              "#dc143c",
	"darkblue":             "#00008b",
	"darkcyan":             "#008b8b",
	"darkgoldenrod":        "#b8860b",
	"darkgray":             "#a9a9a9",
	"darkgrey":             "#a9a9a9",
	"darkgreen":            "#006400",
	"darkkhaki":            "#bdb76b",
	"darkmagenta":          "#8b008b",
	"darkolivegreen":       "#556b2f",
	"darkorange":           "#ff8c00",
	"darkorchid":           "#9932cc",
	"darkred":              "#8b0000",
	"darksalmon":           "#e9967a",
	"darkseagreen":         "#8fbc8f",
	"darkslateblue":        "#483d8b",
	"darkslategray":        "#2f4f4f",
	"darkslategrey":        "#2f4f4f",
	"darkturquoise":        "#00ced1",
	"darkviolet":           "#9400d3",
	"deeppink":             "#ff1493",
	"deepskyblue":          "#00bfff",
	"dimgray":              "#696969",
	"dimgrey":              "#696969",
	"dodgerblue":           "#1e90ff",
	"firebrick":            "#b22222",
	"floralwhite":          "#fffaf0",
	"forestgreen":          "#228b22",
	"gainsboro":            "#dcdcdc",
	"ghostwhite":           "#f8f8ff",
	"gold":                 "#ffd700",
	"goldenrod":            "#daa520",
	"greenyellow":          "#adff2f",
	"honeydew":             "#f0fff0",
	"hotpink":              "#ff69b4",
	"indianred":            "#cd5c5c",
	"indigo":               "#4b0082",
	"ivory":                "#fffff0",
	"khaki":                "#f0e68c",
	"lavender":             "#e6e6fa",
	"lavenderblush":        "#fff0f5",
	"lawngreen":            "#7cfc00",
	"lemonchiffon":         "#fffacd",
	"lightblue":            "#add8e6",
	"lightcoral":           "#f08080",
	"lightcyan":            "#e0ffff",
	"lightgoldenrodyellow": "#fafad2",
	"lightgray":            "#d3d3d3",
	"lightgrey":            "#d3d3d3",
	"lightgreen":           "#90ee90",
	"lightpink":            "#ffb6c1",
	"lightsalmon":          "#ffa07a",
	"lightseagreen":        "#20b2aa",
	"lightskyblue":         "#87cefa",
	"lightslategray":       "#778899",
	"lightslategrey":       "#778899",
	"lightsteelblue":       "#b0c4de",
	"lightyellow":          "#ffffe0",
	"limegreen":            "#32cd32",
	"linen":                "#faf0e6",
	"mediumaquamarine":     "#66cdaa",
	"mediumblue":           "#0000cd",
	"mediumorchid":         "#ba55d3",
	"mediumpurple":         "#9370db",
	"mediumseagreen":       "#3cb371",
	"mediumslateblue":      "#7b68ee",
	"mediumspringgreen":    "#00fa9a",
	"mediumturquoise":      "#48d1cc",
	"mediumvioletred":      "#c71585",
	"midnightblue":         "#191970",
	"mintcream":            "#f5fffa",
	"mistyrose":            "#ffe4e1",
	"moccasin":             "#ffe4b5",
	"navajowhite":          "#ffdead",
	"oldlace":              "#fdf5e6",
	"olivedrab":            "#6b8e23",
	"orange":               "#ffa500",
	"orangered":            "#ff4500",
	"orchid":               "#da70d6",
	"palegoldenrod":        "#eee8aa",
	"palegreen":            "#98fb98",
	"paleturquoise":        "#afeeee",
	"palevioletred":        "#db7093",
	"papayawhip":           "#ffefd5",
	"peachpuff":            "#ffdab9",
	"peru":                 "#cd853f",
	"pink":                 "#ffc0cb",
	"plum":                 "#dda0dd",
	"powderblue":           "#b0e0e6",
	"rosybrown":            "#bc8f8f",
	"royalblue":            "#4169e1",
	"saddlebrown":          "#8b4513",
	"salmon":               "#fa8072",
	"sandybrown":           "#f4a460",
	"seagreen":             "#2e8b57",
	"seashell":             "#fff5ee",
	"sienna":               "#a0522d",
	"skyblue":              "#87ceeb",
	"slateblue":            "#6a5acd",
	"slategray":            "#708090",
	"slategrey":            "#708090",
	"snow":                 "#fffafa",
	"springgreen":          "#00ff7f",
	"steelblue":            "#4682b4",
	"tan":                  "#d2b48c",
	"thistle":              "#d8bfd8",
	"tomato":               "#ff6347",
	"turquoise":            "#40e0d0",
	"violet":               "#ee82ee",
	"wheat":                "#f5deb3",
	"whitesmoke":           "#f5f5f5",
	"yellowgreen":          "#9acd32",
}
