package spool

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/waxseal/waxseal/internal/durable"
)

// Reports are small records the gateway owes someone else (the key server's
// delivery states), kept until the caller says they were handed over. The spool
// does not interpret them.
//
// They are appended to a log in the spool's reports/ directory, one line a
// record ("CRC32C-hex SP data LF"), in segments of maxReportSegment bytes
// (reports/TIME-RAND.log). A segment is written full of zeros (and fsync'd)
// when it is begun, and records overwrite the zeros: a NUL ends its records.
// AppendReport returns once its record is on disk, and concurrent appends
// share one write and one fdatasync (a group commit). As the write neither
// grows the file nor allocates blocks, the fdatasync needs no file system
// journal commit. A report costs its gateway message a fraction of one flush,
// not a file of its own (a create, two fsyncs and a rename, as reports cost
// before the log).
//
// Crash guarantees: a record whose AppendReport returned nil survives a crash
// (kill -9 or power loss) and is read again after restart until TakeReports
// covers it. A record whose append was interrupted may be torn; it is the last
// line of its segment (a segment is never appended to after a restart or after a
// failed write), fails its checksum or lacks its LF, and is skipped: its
// caller never got nil. What was handed over is recorded in memory only, so
// after a crash the records of segments not yet removed are read (and sent)
// again: at least once, never lost. The reader must tolerate repeats (the key
// server keeps the newest state per envelope, so a repeated report changes
// nothing).
//
// Files named *.json in reports/ are reports written one a file by gateways
// before the log; they are still read, first, and removed once taken.

// maxReportSegment is the size of a segment: an append that does not fit
// starts a new one, and a segment whose records were all handed over is
// removed. It bounds what a restart sends again.
var maxReportSegment int64 = 256 << 10

var crc32c = crc32.MakeTable(crc32.Castagnoli)

type reportLog struct {
	mu       sync.Mutex
	cond     sync.Cond
	f        *os.File // the segment being appended to; nil until the next append
	name     string   // its name
	size     int64    // its records' bytes on disk (synced): readers read no further
	alloc    int64    // its size (zeros beyond size)
	flushing bool     // a leader is writing a batch
	next     *reportBatch
	// taken is, by segment, how far its records were handed over (in memory
	// only: a restart sends them again).
	taken map[string]int64
}

type reportBatch struct {
	buf  []byte
	done bool
	err  error
}

func (s *Spool) reportsDir() string { return filepath.Join(s.dir, "reports") }

func (s *Spool) reportLog() *reportLog {
	s.reportsOnce.Do(func() {
		s.reports = &reportLog{next: &reportBatch{}, taken: map[string]int64{}}
		s.reports.cond.L = &s.reports.mu
	})
	return s.reports
}

// AppendReport stores data (one line: no LF in it) as a new report and returns
// once it is on disk. Appends that arrive while one is being written go to disk
// together in the next write, with one fsync.
func (s *Spool) AppendReport(data []byte) error {
	if bytes.IndexByte(data, '\n') >= 0 {
		return errors.New("spool report: a record may not hold a line feed")
	}
	l := s.reportLog()
	l.mu.Lock()
	b := l.next
	b.buf = fmt.Appendf(b.buf, "%08x ", crc32.Checksum(data, crc32c))
	b.buf = append(append(b.buf, data...), '\n')
	for l.flushing && !b.done {
		l.cond.Wait()
	}
	if b.done {
		// A leader wrote it with its own.
		err := b.err
		l.mu.Unlock()
		return err
	}
	// Nobody is writing, and b is still the batch being filled: lead it.
	l.flushing = true
	l.next = &reportBatch{}
	l.mu.Unlock()
	n, err := s.writeReports(l, b.buf)
	l.mu.Lock()
	if err == nil {
		l.size += n
	} else if l.f != nil {
		// A failed write or fsync leaves the segment's tail unknown: it is
		// never appended to again, and its reader skips what is torn.
		l.f.Close()
		l.f, l.name, l.size = nil, "", 0
	}
	b.done, b.err = true, err
	l.flushing = false
	l.cond.Broadcast()
	l.mu.Unlock()
	return err
}

// writeReports writes one batch to the current segment (starting a new one if
// there is none or it is full) and fsyncs it. Only the leader calls it, so it
// owns l.f, l.name and l.size (read under l.mu by others) without the lock;
// it takes the lock to change them.
func (s *Spool) writeReports(l *reportLog, buf []byte) (int64, error) {
	if l.f != nil && l.size+int64(len(buf)) > l.alloc {
		l.mu.Lock()
		l.f.Close()
		l.f, l.name, l.size = nil, "", 0
		l.mu.Unlock()
	}
	if l.f == nil {
		dir := s.reportsDir()
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return 0, fmt.Errorf("spool report: %w", err)
		}
		var r [8]byte
		rand.Read(r[:])
		// Time first, so that segments sort in the order they were begun.
		name := time.Now().UTC().Format("20060102T150405.000000000") + "-" + hex.EncodeToString(r[:]) + ".log"
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return 0, fmt.Errorf("spool report: %w", err)
		}
		// Zeros written (not fallocated: the first write to an unwritten
		// extent changes metadata), the size and the new name on disk, once.
		alloc := max(maxReportSegment, int64(len(buf)))
		_, err = f.Write(make([]byte, alloc))
		if err == nil {
			err = f.Sync()
		}
		if err == nil {
			err = durable.SyncDir(dir)
		}
		if err != nil {
			f.Close()
			os.Remove(f.Name())
			return 0, fmt.Errorf("spool report: %w", err)
		}
		l.mu.Lock()
		l.f, l.name, l.size, l.alloc = f, name, 0, alloc
		l.mu.Unlock()
	}
	if _, err := l.f.WriteAt(buf, l.size); err != nil {
		return 0, fmt.Errorf("spool report %s: %w", l.name, err)
	}
	if err := datasync(l.f); err != nil {
		return 0, fmt.Errorf("spool report %s: %w", l.name, err)
	}
	return int64(len(buf)), nil
}

// ReportCursor marks how far ReadReports read; TakeReports(cursor) says all of
// it was handed over.
type ReportCursor struct {
	files    []string         // per-report .json files read
	segments map[string]int64 // log segments read, each up to an offset
}

// ReadReports returns up to limit reports not yet taken, oldest first, and
// the number of damaged records it skipped (a torn last write; a damaged file).
func (s *Spool) ReadReports(limit int) (recs [][]byte, c ReportCursor, damaged int, err error) {
	l := s.reportLog()
	c.segments = map[string]int64{}
	des, err := os.ReadDir(s.reportsDir())
	if errors.Is(err, os.ErrNotExist) {
		return nil, c, 0, nil
	}
	if err != nil {
		return nil, c, 0, fmt.Errorf("spool reports: %w", err)
	}
	var files, segments []string
	for _, de := range des {
		switch n := de.Name(); {
		case strings.HasPrefix(n, ".tmp-"):
		case strings.HasSuffix(n, ".json"):
			files = append(files, n)
		case strings.HasSuffix(n, ".log"):
			segments = append(segments, n)
		}
	}
	slices.Sort(files)
	slices.Sort(segments)
	for _, n := range files {
		if len(recs) >= limit {
			return recs, c, damaged, nil
		}
		b, err := os.ReadFile(filepath.Join(s.reportsDir(), n))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return recs, c, damaged, fmt.Errorf("spool report %s: %w", n, err)
		}
		c.files = append(c.files, n)
		recs = append(recs, b)
	}
	for _, n := range segments {
		if len(recs) >= limit {
			break
		}
		l.mu.Lock()
		from := l.taken[n]
		end, current := l.size, n == l.name
		l.mu.Unlock()
		f, err := os.Open(filepath.Join(s.reportsDir(), n))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return recs, c, damaged, fmt.Errorf("spool report %s: %w", n, err)
		}
		var b []byte
		if current {
			// Only what is fsync'd: a batch being written may be half there.
			b = make([]byte, max(end-from, 0))
			_, err = f.ReadAt(b, from)
		} else {
			_, err = f.Seek(from, io.SeekStart)
			if err == nil {
				b, err = io.ReadAll(f)
			}
		}
		f.Close()
		if err != nil {
			return recs, c, damaged, fmt.Errorf("spool report %s: %w", n, err)
		}
		off, all := from, from+int64(len(b))
		if i := bytes.IndexByte(b, 0); i >= 0 {
			b = b[:i] // the zeros after the last record
		}
		for len(b) > 0 && len(recs) < limit {
			line, rest, ok := bytes.Cut(b, []byte{'\n'})
			if !ok {
				// A torn last write (never acknowledged): skipped.
				damaged++
				off += int64(len(b))
				b = nil
				break
			}
			off += int64(len(line)) + 1
			b = rest
			sum, data, ok := bytes.Cut(line, []byte{' '})
			want, perr := strconv.ParseUint(string(sum), 16, 32)
			if !ok || perr != nil || len(sum) != 8 || uint32(want) != crc32.Checksum(data, crc32c) {
				damaged++
				continue
			}
			recs = append(recs, data)
		}
		if len(b) == 0 {
			off = all // to the end of the file, zeros and all
		}
		c.segments[n] = off
	}
	return recs, c, damaged, nil
}

// TakeReports records that what c covers was handed over: the .json files and
// the segments read to their end are removed (the one being appended to once it
// is full), the rest remembered so they are not read again.
func (s *Spool) TakeReports(c ReportCursor) error {
	l := s.reportLog()
	dir := s.reportsDir()
	var errs []error
	for _, n := range c.files {
		if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, fmt.Errorf("spool report: %w", err))
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	for n, off := range c.segments {
		if n == l.name {
			// A batch being written counts only once it is on disk.
			for l.flushing {
				l.cond.Wait()
			}
		}
		if n != l.name {
			fi, err := os.Stat(filepath.Join(dir, n))
			if err == nil && off < fi.Size() {
				l.taken[n] = off
				continue
			}
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("spool report: %w", err))
			}
			delete(l.taken, n)
			continue
		}
		l.taken[n] = off
		if off >= l.size && l.size >= l.alloc-l.alloc/16 {
			// Full and all handed over: the next append begins a new one.
			l.f.Close()
			l.f, l.name, l.size = nil, "", 0
			if err := os.Remove(filepath.Join(dir, n)); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("spool report: %w", err))
			}
			delete(l.taken, n)
		}
	}
	return errors.Join(errs...)
}
