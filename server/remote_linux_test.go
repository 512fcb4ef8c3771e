package server

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/waxseal/waxseal/keyserver/httpapi"
)

// remoteKeyServerEnv, set to a CPU number, makes this test binary a key server
// pinned to that CPU (see TestMain): the benchmark's stand-in for a key server
// on a machine of its own.
const remoteKeyServerEnv = "WAXSEAL_TEST_KEYSERVER_CPU"

func TestMain(m *testing.M) {
	if cpu := os.Getenv(remoteKeyServerEnv); cpu != "" {
		if err := runRemoteKeyServer(cpu); err != nil {
			fmt.Fprintln(os.Stderr, "key server process:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runRemoteKeyServer serves a test key server on loopback until its standard
// input closes, having printed its URL.
func runRemoteKeyServer(cpu string) error {
	n, err := strconv.Atoi(cpu)
	if err != nil {
		return err
	}
	var set unix.CPUSet
	set.Set(n)
	if err := pinProcess(&set); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "waxseal-keyserver-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	svc, st, err := newKeyServer(dir)
	if err != nil {
		return err
	}
	defer st.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: httpapi.New(svc)}
	go srv.Serve(ln)
	fmt.Printf("listening http://%s\n", ln.Addr())
	io.Copy(io.Discard, os.Stdin)
	return srv.Close()
}

// startRemoteKeyServer starts a key server in a process of its own, on the last
// CPU, and confines this process (the benchmark's client, the gateway and the
// next hop) to the others until the benchmark ends: the key server's work then
// takes nothing from the gateway's, as when it runs on its own machine, which is
// how it is deployed. It returns the key server's URL.
func startRemoteKeyServer(b *testing.B) string {
	b.Helper()
	var all unix.CPUSet
	if err := unix.SchedGetaffinity(0, &all); err != nil {
		b.Fatal(err)
	}
	if all.Count() < 2 {
		b.Skip("a key server on a CPU of its own needs two CPUs")
	}
	last := -1
	for i := range 1024 {
		if all.IsSet(i) {
			last = i
		}
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), remoteKeyServerEnv+"="+strconv.Itoa(last))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		if err := cmd.Wait(); err != nil {
			b.Errorf("key server process: %v", err)
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening ")
	if err != nil || !ok {
		b.Fatalf("key server process said %q (%v)", line, err)
	}

	rest := all
	rest.Clear(last)
	if err := pinProcess(&rest); err != nil {
		b.Fatal(err)
	}
	runtime.GOMAXPROCS(rest.Count())
	b.Cleanup(func() {
		if err := pinProcess(&all); err != nil {
			b.Error(err)
		}
		runtime.SetDefaultGOMAXPROCS() // and let the runtime follow the CPUs again
	})
	return url
}

// pinProcess sets the CPU affinity of every thread of this process; threads made
// later inherit it from the thread that makes them.
func pinProcess(set *unix.CPUSet) error {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return err
	}
	var errs []error
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("pin thread %d: %w", tid, err))
		}
	}
	return errors.Join(errs...)
}
