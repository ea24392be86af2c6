package rules

import (
	"bytes"
	"strings"
)

// antivirusEvals are the eval functions of SpamAssassin's AntiVirus plugin.
func antivirusEvals() map[string]EvalFunc {
	return map[string]EvalFunc{
		"check_microsoft_executable": evalMSExecutable,
	}
}

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
