package pipeline

import (
	"bytes"
	"io"
	"strings"
)

// identify returns the Message-ID and the queue ID our MTA wrote into the
// topmost Received field ("by mx (Postfix) with ESMTP id 4Xyz..."), both
// for log lines only. It reads the header block and nothing else.
func identify(raw []byte) (msgID, queueID string) {
	end := bytes.Index(raw, []byte("\r\n\r\n"))
	if end < 0 {
		end = len(raw)
	}
	var field []byte
	flush := func() {
		name, value, ok := bytes.Cut(field, []byte(":"))
		if !ok {
			return
		}
		switch strings.ToLower(string(bytes.TrimSpace(name))) {
		case "message-id":
			if msgID == "" {
				msgID = strings.TrimSpace(string(value))
			}
		case "received":
			if queueID == "" {
				queueID = receivedID(string(value))
			}
		}
	}
	for _, line := range bytes.Split(raw[:end], []byte("\r\n")) {
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
			field = append(field, ' ')
			field = append(field, bytes.TrimSpace(line)...)
			continue
		}
		flush()
		field = append(field[:0], line...)
	}
	flush()
	return msgID, queueID
}

// receivedID extracts the "id" clause of a Received field value (RFC 5321
// §4.4); only the first (topmost) Received is consulted.
func receivedID(v string) string {
	f := strings.Fields(v)
	for i := 0; i+1 < len(f); i++ {
		if strings.EqualFold(f[i], "id") {
			return strings.TrimRight(f[i+1], ";")
		}
	}
	return ""
}

// newMultiReader reads the parts one after the other without copying them.
func newMultiReader(parts [][]byte) io.Reader {
	rs := make([]io.Reader, 0, len(parts))
	for _, p := range parts {
		if len(p) > 0 {
			rs = append(rs, bytes.NewReader(p))
		}
	}
	return io.MultiReader(rs...)
}
