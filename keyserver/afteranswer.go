package keyserver

import "sync"

// afterAnswer counts the work a handler leaves running after its answer (a
// code looked up and mailed after the same answer for every address). Unlike a
// sync.WaitGroup it may be waited on while new work starts: a Cloudflare
// Worker asks after every request (Idle, for the request's waitUntil), with
// other requests starting work meanwhile.
type afterAnswer struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0
}

func (a *afterAnswer) start() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == 0 {
		a.idle = make(chan struct{})
	}
	a.n++
}

func (a *afterAnswer) done() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n--; a.n == 0 {
		close(a.idle)
	}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (a *afterAnswer) wait() <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.n == 0 {
		return closedChan
	}
	return a.idle
}

// Idle returns a channel closed once the work begun after answers so far has
// finished. A Worker hands it to the request's waitUntil: the runtime may
// stop an isolate's work once the answer is sent, and the code would never
// be mailed.
func (s *Service) Idle() <-chan struct{} { return s.background.wait() }
