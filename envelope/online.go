package envelope

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

// onlineMagic starts an "open online" blob (docs/FORMAT.md §8).
const onlineMagic = "waxseal-online-v1\n"

// WriteOnline writes the blob the key server stores and serves for "open online"
// links: the header, the key block and the ciphertext, in binary. Unlike the HTML
// file it holds no k_env, so the key server can keep it without being able to open
// it.
func (e *Envelope) WriteOnline(w io.Writer, ciphertext io.Reader) error {
	var hdr bytes.Buffer
	hdr.WriteString(onlineMagic)
	binary.Write(&hdr, binary.BigEndian, uint32(len(e.HeaderJSON)))
	hdr.Write(e.HeaderJSON)
	hdr.Write(e.KeyBlock)
	if _, err := w.Write(hdr.Bytes()); err != nil {
		return fmt.Errorf("write online blob %s: %w", e.Header.ID, err)
	}
	if _, err := io.Copy(w, ciphertext); err != nil {
		return fmt.Errorf("write online blob %s: %w", e.Header.ID, err)
	}
	return nil
}

// ParseOnline parses an "open online" blob. The key comes from the link's fragment.
func ParseOnline(data []byte, envKey Key) (*File, error) {
	rest, ok := bytes.CutPrefix(data, []byte(onlineMagic))
	if !ok {
		return nil, ErrNotEnvelope
	}
	if len(rest) < 4 {
		return nil, fmt.Errorf("%w: online blob too short", ErrMalformed)
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(len(rest)) < uint64(n)+KeyBlockSize {
		return nil, fmt.Errorf("%w: online blob too short for its header", ErrMalformed)
	}
	hb := rest[:n]
	h, err := parseHeader(hb)
	if err != nil {
		return nil, err
	}
	return &File{
		Envelope:   Envelope{Header: *h, HeaderJSON: hb, KeyBlock: rest[n : n+KeyBlockSize]},
		EnvKey:     envKey,
		Ciphertext: rest[n+KeyBlockSize:],
	}, nil
}
