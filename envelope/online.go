package envelope

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/waxseal/waxseal/envelope/unseal"
)

// onlineMagic starts an "open online" blob (docs/FORMAT.md §8).
const onlineMagic = unseal.OnlineMagic

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
