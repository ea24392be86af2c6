package mail

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// SpoolConfig says where and past which size a Spool keeps a message in a
// file instead of memory.
type SpoolConfig struct {
	// Dir holds the spool files. Default os.TempDir().
	Dir string
	// Threshold is the size past which a message moves from memory to a
	// file in Dir. Default 1 MiB; negative means never.
	Threshold int64
}

// spoolPrefix starts the name of every spool file, so that CleanSpool
// removes only those.
const spoolPrefix = "sluice-msg-"

// Spool receives one message as it is read. Up to the threshold it grows
// in memory; past it the message goes to a file, which Bytes maps into
// memory read-only: a large message then costs no heap at all, and its
// pages are the page cache's, which the kernel can reclaim. The file is
// unlinked as soon as it is created, so that nothing is left behind, even
// by a crash. A Spool is not safe for concurrent use.
type Spool struct {
	cfg  SpoolConfig
	buf  []byte
	f    *os.File
	size int64
	data []byte // the mapped file, once Bytes is called
}

// NewSpool returns an empty Spool.
func NewSpool(cfg SpoolConfig) *Spool {
	if cfg.Threshold == 0 {
		cfg.Threshold = 1 << 20
	}
	if cfg.Dir == "" {
		cfg.Dir = os.TempDir()
	}
	return &Spool{cfg: cfg}
}

// Write appends p to the message. An error writing the spool file (disk
// full) is returned wrapped; the Spool is then unusable.
func (s *Spool) Write(p []byte) (int, error) {
	if s.data != nil {
		return 0, errors.New("mail: spool: write after Bytes")
	}
	if s.f == nil && (s.cfg.Threshold < 0 || s.size+int64(len(p)) <= s.cfg.Threshold) {
		s.buf = append(s.buf, p...)
		s.size += int64(len(p))
		return len(p), nil
	}
	if s.f == nil {
		f, err := os.CreateTemp(s.cfg.Dir, spoolPrefix+"*")
		if err != nil {
			return 0, fmt.Errorf("mail: spool: %w", err)
		}
		os.Remove(f.Name())
		s.f = f
		if _, err := f.Write(s.buf); err != nil {
			return 0, fmt.Errorf("mail: spool: %w", err)
		}
		s.buf = nil
	}
	n, err := s.f.Write(p)
	s.size += int64(n)
	if err != nil {
		return n, fmt.Errorf("mail: spool: %w", err)
	}
	return n, nil
}

// Size returns the bytes written so far.
func (s *Spool) Size() int64 { return s.size }

// Spooled reports whether the message went to a file.
func (s *Spool) Spooled() bool { return s.f != nil }

// Bytes ends the writing and returns the message, valid until Close: the
// memory buffer, or the spool file mapped read-only.
func (s *Spool) Bytes() ([]byte, error) {
	if s.f == nil {
		return s.buf, nil
	}
	if s.data == nil {
		d, err := mapFile(s.f, s.size)
		if err != nil {
			return nil, fmt.Errorf("mail: spool: %w", err)
		}
		s.data = d
	}
	return s.data, nil
}

// Close releases the message: the buffer, or the mapping and the file.
// The slice Bytes returned must not be used after it.
func (s *Spool) Close() error {
	var err error
	if s.data != nil {
		err = unmapFile(s.data)
		s.data = nil
	}
	if s.f != nil {
		if cerr := s.f.Close(); err == nil {
			err = cerr
		}
		s.f = nil
	}
	s.buf = nil
	return err
}

// CleanSpool prepares dir for spool files: it creates it (mode 0700) when
// missing and removes spool files left there, for instance by a version
// that did not unlink them at once. Other files are left alone.
func CleanSpool(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("mail: spool: %w", err)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("mail: spool: %w", err)
	}
	for _, e := range ents {
		if e.Type().IsRegular() && strings.HasPrefix(e.Name(), spoolPrefix) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("mail: spool: %w", err)
			}
		}
	}
	return nil
}
