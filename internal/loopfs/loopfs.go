// Package loopfs gives tests a small real filesystem (ext4 on a loop device), to
// see what a program does when its disk is full: unlike tmpfs, its writes and
// fsyncs go through a real filesystem's block allocation.
package loopfs

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount makes an ext4 filesystem of sizeMB megabytes (no blocks reserved for
// root, so root fills it like anyone) and mounts it at a new directory, which it
// returns; the test's cleanup unmounts it. It skips the test where that cannot be
// done: not root, or no loop device or mkfs.ext4.
func Mount(t testing.TB, sizeMB int) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loopfs: mounting a loop device needs root")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("loopfs: no loop devices here")
	}
	mkfs, err := exec.LookPath("mkfs.ext4")
	if err != nil {
		t.Skip("loopfs: no mkfs.ext4")
	}
	base := t.TempDir()
	img := filepath.Join(base, "fs.img")
	dir := filepath.Join(base, "mnt")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, int64(sizeMB)<<20); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(mkfs, "-q", "-F", "-m", "0", img).CombinedOutput(); err != nil {
		t.Fatalf("loopfs: mkfs.ext4: %v: %s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop", img, dir).CombinedOutput(); err != nil {
		t.Skipf("loopfs: mount -o loop: %v: %s", err, out)
	}
	// Cleanups run last-registered first: this one before TempDir's removal.
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("loopfs: umount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Fill writes a file in dir until the filesystem has no space left and returns
// a function that removes it.
func Fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int{1 << 20, 64 << 10, 4 << 10, 512, 1} {
		buf := make([]byte, size)
		for {
			if _, err = f.Write(buf); err != nil {
				break
			}
		}
		if !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("loopfs: filling %s: %v", dir, err)
		}
	}
	if err := f.Sync(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("loopfs: filling %s: %v", dir, err)
	}
	return func() {
		if err := os.Remove(path); err != nil {
			t.Errorf("loopfs: %v", fmt.Errorf("free %s: %w", dir, err))
		}
	}
}
