// Command precompress writes FILE.gz (gzip -9) and FILE.br (brotli 11) beside each
// file given, so the key server can serve its largest asset, the decryptor, already
// compressed: `go run ./internal/tools/precompress assets/web/waxseal.wasm`.
package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"os"

	"github.com/andybalholm/brotli"
)

func main() {
	for _, path := range os.Args[1:] {
		if err := compress(path); err != nil {
			fmt.Fprintln(os.Stderr, "precompress:", err)
			os.Exit(1)
		}
	}
}

func compress(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	sum := fmt.Sprintf("%x\n", sha256.Sum256(data))
	if old, err := os.ReadFile(path + ".sum"); err == nil && string(old) == sum {
		if _, err := os.Stat(path + ".br"); err == nil {
			fmt.Printf("%s: unchanged, compressed copies kept\n", path)
			return nil
		}
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		return err
	}
	var br bytes.Buffer
	bw := brotli.NewWriterLevel(&br, brotli.BestCompression)
	if _, err := io.Copy(bw, bytes.NewReader(data)); err != nil {
		return err
	}
	if err := bw.Close(); err != nil {
		return err
	}
	if err := os.WriteFile(path+".gz", gz.Bytes(), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(path+".br", br.Bytes(), 0o644); err != nil {
		return err
	}
	fmt.Printf("%s: %d bytes, %d gzip, %d brotli\n", path, len(data), gz.Len(), br.Len())
	return os.WriteFile(path+".sum", []byte(sum), 0o644)
}
