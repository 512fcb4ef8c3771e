package brand

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image/png"
)

// maxLogoSide bounds a raster logo's width and height: a small file may
// declare a huge image, which decoding would allocate.
const maxLogoSide = 2048

func checkPNG(data []byte) error {
	cfg, err := png.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not a PNG file: %w", err)
	}
	if cfg.Width > maxLogoSide || cfg.Height > maxLogoSide {
		return fmt.Errorf("PNG of %d×%d pixels, at most %d on a side", cfg.Width, cfg.Height, maxLogoSide)
	}
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("PNG file damaged: %w", err)
	}
	return nil
}

// checkWebP checks the RIFF container of a WebP file: its signature, that its
// length is the file's, and that the first chunk is a WebP image chunk.
func checkWebP(data []byte) error {
	if len(data) < 20 || string(data[0:4]) != "RIFF" || string(data[8:12]) != "WEBP" {
		return errors.New("not a WebP file")
	}
	if n := binary.LittleEndian.Uint32(data[4:8]); int64(n)+8 != int64(len(data)) {
		return fmt.Errorf("WebP file damaged: it says %d bytes, the file has %d", int64(n)+8, len(data))
	}
	switch string(data[12:16]) {
	case "VP8 ", "VP8L", "VP8X":
		return nil
	}
	return fmt.Errorf("WebP file damaged: unknown chunk %q", data[12:16])
}
