//go:build !unix

package mail

import (
	"io"
	"os"
)

// mapFile reads the first size bytes of f: without mmap the message is
// held in memory once, at its exact size.
func mapFile(f *os.File, size int64) ([]byte, error) {
	b := make([]byte, size)
	_, err := io.ReadFull(io.NewSectionReader(f, 0, size), b)
	return b, err
}

func unmapFile([]byte) error { return nil }
