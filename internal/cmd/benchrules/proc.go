package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// clockTicks is USER_HZ, the unit of /proc/PID/stat's times: 100 on every
// Linux architecture, whatever the kernel's own HZ.
const clockTicks = 100

// procStat is what treeCPU needs from /proc/PID/stat.
type procStat struct {
	ppid int
	cpu  time.Duration // utime+stime+cutime+cstime
}

// readStat parses /proc/PID/stat (proc(5)): the fields after the command
// name in parentheses, which may itself hold spaces and parentheses.
func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("benchrules: /proc/%d/stat: no command name", pid)
	}
	f := bytes.Fields(b[i+1:])
	// f[0] is field 3 (state): ppid is field 4, utime..cstime 14..17.
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("benchrules: /proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ppid, _ := strconv.Atoi(string(f[1]))
	var ticks int64
	for _, s := range f[11:15] {
		n, _ := strconv.ParseInt(string(s), 10, 64)
		ticks += n
	}
	return procStat{ppid: ppid, cpu: time.Duration(ticks) * time.Second / clockTicks}, nil
}

// treeCPU returns the CPU time (user+system) of process root and of every
// live descendant, each with its reaped children's (cutime, cstime): a
// worker that has exited and been waited for is counted in its parent.
func treeCPU(root int) (time.Duration, error) {
	self, err := readStat(root)
	if err != nil {
		return 0, fmt.Errorf("benchrules: process %d: %w", root, err)
	}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	children := map[int][]int{}
	stats := map[int]procStat{root: self}
	for _, d := range dirs {
		pid, err := strconv.Atoi(filepath.Base(d))
		if err != nil || pid == root {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		stats[pid] = st
		children[st.ppid] = append(children[st.ppid], pid)
	}
	var total time.Duration
	todo := []int{root}
	for len(todo) > 0 {
		p := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		total += stats[p].cpu
		todo = append(todo, children[p]...)
	}
	return total, nil
}

// quiesce waits, up to limit, until the process tree of root spends less
// than 2% of a core for a second: start-up work (rspamd's hs_helper
// compiling Hyperscan databases, spamd's children preloading) must not be
// charged to the messages.
func quiesce(root int, limit time.Duration) {
	deadline := time.Now().Add(limit)
	prev, err := treeCPU(root)
	for err == nil && time.Now().Before(deadline) {
		time.Sleep(time.Second)
		var cur time.Duration
		cur, err = treeCPU(root)
		if cur-prev < 20*time.Millisecond {
			return
		}
		prev = cur
	}
}
