package keyserver

import "testing"

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Idle may be asked for while work starts and ends (a Worker asks after every
// request): it is closed exactly when nothing begun so far still runs.
func TestAfterAnswerIdle(t *testing.T) {
	var a afterAnswer
	if !closed(a.wait()) {
		t.Fatal("idle with nothing started is not closed")
	}
	a.start()
	first := a.wait()
	a.start()
	if closed(first) {
		t.Fatal("idle closed while work runs")
	}
	a.done()
	if closed(first) || closed(a.wait()) {
		t.Fatal("idle closed with one piece of work still running")
	}
	a.done()
	if !closed(first) || !closed(a.wait()) {
		t.Fatal("idle not closed once all work ended")
	}
	a.start() // a new round after idle: a new channel, the old one stays closed
	if closed(a.wait()) || !closed(first) {
		t.Fatal("a new round of work did not get its own idle")
	}
	a.done()
}
