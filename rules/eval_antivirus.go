package rules

// The eval functions of SpamAssassin's AntiVirus plugin
// (Mail::SpamAssassin::Plugin::AntiVirus).

import (
	"bytes"
	"strings"
)

// check_microsoft_executable: an attachment is a Windows executable.
func evalMSExecutable(ec *EvalContext, _ []string) (bool, error) {
	ps, _ := parts(ec)
	for _, p := range ps {
		fn := strings.ToLower(p.Filename)
		for _, ext := range []string{".exe", ".scr", ".pif", ".com", ".bat", ".cmd", ".cpl", ".lnk"} {
			if strings.HasSuffix(fn, ext) {
				return true, nil
			}
		}
		if bytes.HasPrefix(p.Decoded, []byte("MZ")) && len(p.Decoded) > 64 && !strings.HasPrefix(p.ContentType, "text/") {
			return true, nil
		}
	}
	return false, nil
}
