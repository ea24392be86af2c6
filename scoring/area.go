package scoring

import "github.com/sluice-mail/sluice/rules"

// Area returns SpamAssassin's report prefix for a rule of kind k: "BODY: "
// for body rules and body evals, "RAW: " for rawbody, "URI: " for uri,
// "FULL: " for full regex rules, and "" for header, mimeheader, meta and
// full eval rules. It fills HitDetail.Area until rules.Hit carries it.
func Area(k rules.Kind, eval bool) string {
	switch k {
	case rules.KindBody:
		return "BODY: "
	case rules.KindRawBody:
		return "RAW: "
	case rules.KindURI:
		return "URI: "
	case rules.KindFull:
		if !eval {
			return "FULL: "
		}
	}
	return ""
}
