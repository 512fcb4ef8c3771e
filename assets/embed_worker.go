//go:build js && wasm

package assets

import "embed"

// files, in the Worker (the one js/wasm build of this package), are the pages
// and the scripts and styles, without the decryptor: Cloudflare serves every
// static file from the Worker's static assets (ServedElsewhere), and the
// decryptor with its compressed copies was 4 MB of the Worker's upload. The
// scripts stay: the pages name their messages (pageScriptKeys) and their
// hashed names and integrity are checked against what was uploaded.
//
//go:embed web/*.html web/static/*.js web/static/*.css
var files embed.FS
