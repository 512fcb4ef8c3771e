//go:build !(js && wasm)

package assets

import "embed"

// files are the pages and every static file, the decryptor with its
// precompressed copies among them (when `make wasm` made it).
//
//go:embed web
var files embed.FS
