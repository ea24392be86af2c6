package main

import (
	"bufio"
	"fmt"
	"net"
	"strings"
	"time"
)

// spamdCheck sends msg to spamd at addr with the SPAMC/1.5 CHECK command
// (what `spamc -c` sends) and reports spamd's verdict from its "Spam:"
// header line.
func spamdCheck(addr string, msg []byte) (spam bool, err error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return false, fmt.Errorf("benchrules: spamd: %w", err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Minute))
	fmt.Fprintf(c, "CHECK SPAMC/1.5\r\nContent-length: %d\r\n\r\n", len(msg))
	if _, err := c.Write(msg); err != nil {
		return false, fmt.Errorf("benchrules: spamd: %w", err)
	}
	c.(*net.TCPConn).CloseWrite()
	r := bufio.NewReader(c)
	status, err := r.ReadString('\n')
	if err != nil || !strings.Contains(status, "EX_OK") {
		return false, fmt.Errorf("benchrules: spamd: status %q: %v", strings.TrimSpace(status), err)
	}
	for {
		line, err := r.ReadString('\n')
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "Spam:"); ok {
			return strings.HasPrefix(strings.TrimSpace(v), "True"), nil
		}
		if line == "" || err != nil {
			return false, fmt.Errorf("benchrules: spamd: no Spam line")
		}
	}
}
