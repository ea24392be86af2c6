package boltstore

import (
	"encoding/binary"
	"errors"
	"hash/fnv"
	"os"
	"syscall"
)

// bbolt's on-disk meta page (go.etcd.io/bbolt internal/common): a 16-byte
// page header (id, flags, count, overflow) and then
//
//	magic, version, pageSize, flags uint32
//	root bucket {root pgid, sequence uint64}
//	freelist, pgid, txid, checksum uint64
//
// in the machine's byte order, the checksum FNV-1a 64 over the fields
// before it. Pages 0 and 1 are the two meta pages; a commit writes the one
// of its txid's parity, so the valid one with the higher txid is current.
const (
	boltPageHeader = 16
	boltMetaSize   = 64
	boltMetaSum    = 56 // bytes the checksum covers
	boltMagic      = 0xED0CDAED
	boltVersion    = 2
)

// errNoMeta reports a file whose meta pages could not be read or
// validated: the caller asks bbolt itself instead.
var errNoMeta = errors.New("boltstore: no valid meta page")

// fileVersion identifies one committed state of the database file: the
// file (device and inode, so a file replaced under the same name never
// passes for the old one) and its current transaction id.
type fileVersion struct {
	dev, ino uint64
	txid     uint64
}

// readVersion reads path's current transaction id from its meta pages
// without opening it through bbolt, so without the file lock: an open,
// an fstat and two preads. A meta page torn by a concurrent commit fails
// its checksum and the other page, one transaction older, is taken;
// callers treat a result as a hint to compare, never as the data.
func readVersion(path string) (fileVersion, error) {
	f, err := os.Open(path)
	if err != nil {
		return fileVersion{}, err
	}
	defer f.Close()
	var v fileVersion
	if fi, err := f.Stat(); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			v.dev, v.ino = uint64(st.Dev), uint64(st.Ino)
		}
	}
	var buf [boltPageHeader + boltMetaSize]byte
	best, found := uint64(0), false
	var pageSize int64
	if _, err := f.ReadAt(buf[:], 0); err == nil {
		if txid, ps, ok := parseMeta(buf[:]); ok {
			best, found, pageSize = txid, true, int64(ps)
		}
	}
	if pageSize == 0 {
		// Page 0 is torn or corrupt: bbolt then assumes the OS page size.
		pageSize = int64(os.Getpagesize())
	}
	if _, err := f.ReadAt(buf[:], pageSize); err == nil {
		if txid, _, ok := parseMeta(buf[:]); ok && (!found || txid > best) {
			best, found = txid, true
		}
	}
	if !found {
		return fileVersion{}, errNoMeta
	}
	v.txid = best
	return v, nil
}

// parseMeta validates one meta page as bbolt's Meta.Validate does and
// returns its txid and page size.
func parseMeta(p []byte) (txid uint64, pageSize uint32, ok bool) {
	m := p[boltPageHeader:]
	bo := binary.NativeEndian
	if bo.Uint32(m[0:]) != boltMagic || bo.Uint32(m[4:]) != boltVersion {
		return 0, 0, false
	}
	h := fnv.New64a()
	h.Write(m[:boltMetaSum])
	if h.Sum64() != bo.Uint64(m[boltMetaSum:]) {
		return 0, 0, false
	}
	return bo.Uint64(m[48:]), bo.Uint32(m[8:]), true
}
