//go:build !linux

package server

import "testing"

func startRemoteKeyServer(b *testing.B) string {
	b.Skip("pinning a key server process to a CPU of its own is done on Linux only")
	return ""
}
