package rules

// The eval functions of SpamAssassin's ImageInfo plugin
// (Mail::SpamAssassin::Plugin::ImageInfo).

import (
	"bytes"
	"image"
	_ "image/gif" // image_count, pixel_coverage: GIF dimensions
	_ "image/jpeg"
	_ "image/png"
	"math"
	"strings"
)

type imageInfo struct {
	kind string // gif, jpeg, png
	area int
}

func images(ec *EvalContext) []imageInfo {
	return memo(ec, "images", func() []imageInfo {
		ps, _ := parts(ec)
		var out []imageInfo
		for _, p := range ps {
			if !strings.HasPrefix(p.ContentType, "image/") {
				continue
			}
			cfg, kind, err := image.DecodeConfig(bytes.NewReader(p.Decoded))
			if err != nil {
				kind = strings.TrimPrefix(p.ContentType, "image/")
			}
			out = append(out, imageInfo{kind: kind, area: cfg.Width * cfg.Height})
		}
		return out
	})
}

// image_count(type, min [, max])
func evalImageCount(ec *EvalContext, args []string) (bool, error) {
	t := arg(args, 0)
	n := 0
	for _, im := range images(ec) {
		if t == "all" || im.kind == t {
			n++
		}
	}
	return float64(n) >= argFloat(args, 1, 0) && float64(n) <= argFloat(args, 2, math.Inf(1)), nil
}

// pixel_coverage(type, min [, max]): total image area.
func evalPixelCoverage(ec *EvalContext, args []string) (bool, error) {
	t := arg(args, 0)
	area := 0
	for _, im := range images(ec) {
		if t == "all" || im.kind == t {
			area += im.area
		}
	}
	return area > 0 && float64(area) >= argFloat(args, 1, 0) && float64(area) <= argFloat(args, 2, math.Inf(1)), nil
}

// image_to_text_ratio(type, min, max): body text length over image area.
func evalImageToTextRatio(ec *EvalContext, args []string) (bool, error) {
	t := arg(args, 0)
	area := 0
	for _, im := range images(ec) {
		if t == "all" || im.kind == t {
			area += im.area
		}
	}
	if area == 0 {
		return false, nil
	}
	text := 0
	for _, p := range bodyText(ec) {
		text += len(bytes.TrimSpace(p))
	}
	r := float64(text) / float64(area)
	return r >= argFloat(args, 1, 0) && r <= argFloat(args, 2, math.Inf(1)), nil
}
