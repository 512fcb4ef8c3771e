package main

import (
	"strings"
	"sync"
)

// procOutput is a child process's output as it comes, line by line, so that a
// test waits for what the process says (it listens, it relayed) instead of
// polling for the effect.
type procOutput struct {
	mu      sync.Mutex
	text    strings.Builder
	partial string
	lines   []string
	more    chan struct{} // closed, and replaced, when a line is added or the output ends
	closed  bool
}

func newProcOutput() *procOutput { return &procOutput{more: make(chan struct{})} }

func (o *procOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.text.Write(p)
	s := o.partial + string(p)
	i := strings.LastIndexByte(s, '\n')
	if i < 0 {
		o.partial = s
		return len(p), nil
	}
	o.lines = append(o.lines, strings.Split(s[:i], "\n")...)
	o.partial = s[i+1:]
	if !o.closed {
		close(o.more)
		o.more = make(chan struct{})
	}
	return len(p), nil
}

// end marks the output complete: the process exited (after cmd.Wait).
func (o *procOutput) end() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.closed {
		o.closed = true
		close(o.more)
	}
}

// wait blocks until n lines containing s were written, and reports false if the
// output ended first.
func (o *procOutput) wait(s string, n int) bool {
	for {
		o.mu.Lock()
		count := 0
		for _, l := range o.lines {
			if strings.Contains(l, s) {
				count++
			}
		}
		if count >= n || o.closed {
			o.mu.Unlock()
			return count >= n
		}
		more := o.more
		o.mu.Unlock()
		<-more
	}
}

// ended blocks until the output ended: the process exited and was reaped.
func (o *procOutput) ended() {
	o.wait("\x00", 1)
}

func (o *procOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.text.String()
}
