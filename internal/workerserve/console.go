//go:build js && wasm

package workerserve

import (
	"bytes"
	"syscall/js"
)

// Console is an io.Writer for a Worker's log (slog's handlers write one record
// a call): each write goes to console.log as one line, which Workers Logs keeps.
//
// Writing to os.Stderr reaches the same console.log, but through Go's
// emulated file system: an asynchronous fs.write with a callback function
// made and released for every write, and wasm_exec.js's line buffering, for
// the key server's log line on every request (docs/BENCHMARKS.md, Workers).
type Console struct{}

var console = js.Global().Get("console")

// Write hands p to console.log without its final newline.
func (Console) Write(p []byte) (int, error) {
	console.Call("log", string(bytes.TrimSuffix(p, []byte("\n"))))
	return len(p), nil
}
