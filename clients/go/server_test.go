package partnership_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// server is a real partnership server on a fresh SQLite file and a free
// port, from binary().
type server struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

// binary is $PARTNERSHIP_BIN, else the most recently built of the
// repository's release and debug builds; without one the suite stops and
// says how to build it.
func binary() string {
	if bin := os.Getenv("PARTNERSHIP_BIN"); bin != "" {
		return bin
	}
	newest, newestTime := "", int64(0)
	for _, p := range []string{"../../target/release/partnership", "../../target/debug/partnership"} {
		if info, err := os.Stat(p); err == nil && !info.IsDir() && info.ModTime().UnixNano() > newestTime {
			newest, newestTime = p, info.ModTime().UnixNano()
		}
	}
	if newest == "" {
		panic("no partnership binary found: build one at the repository root with `cargo build --release` (or `cargo build`), or set PARTNERSHIP_BIN to its path")
	}
	return newest
}

// startServer starts a server; extra flags are added to `serve` (e.g. TLS).
func startServer(dir string, extra ...string) (*server, error) {
	args := append([]string{
		"serve", "--listen", "127.0.0.1:0", "--metrics-listen", "off",
		"--database-url", "sqlite://" + filepath.Join(dir, "go.db") + "?mode=rwc",
	}, extra...)
	cmd := exec.Command(binary(), args...)
	cmd.Env = append(os.Environ(), "PARTNERSHIP_LOG_FORMAT=text", "RUST_LOG=info")
	cmd.Stderr = os.Stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", binary(), err)
	}
	found := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		// Read the log to the end, so the server never blocks on a full pipe.
		defer close(done)
		lines := bufio.NewScanner(stdout)
		lines.Buffer(make([]byte, 64*1024), 1024*1024)
		sent := false
		for lines.Scan() {
			line := lines.Text()
			if i := strings.Index(line, "addr="); !sent && i >= 0 && strings.Contains(line, "listening") {
				found <- strings.Fields(line[i+len("addr="):])[0]
				sent = true
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case addr := <-found:
		return &server{addr: addr, cmd: cmd, done: done}, nil
	case <-done:
		cmd.Wait()
		return nil, fmt.Errorf("%s exited before listening", binary())
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("%s did not report its address", binary())
	}
}

// port is the server's port, for dialing it as localhost:PORT over TLS.
func (s *server) port() string {
	_, port, _ := net.SplitHostPort(s.addr)
	return port
}

// stop sends SIGTERM (the server drains and exits 0) and waits.
func (s *server) stop() error {
	s.cmd.Process.Signal(syscall.SIGTERM)
	timer := time.AfterFunc(30*time.Second, func() { s.cmd.Process.Kill() })
	defer timer.Stop()
	<-s.done
	return s.cmd.Wait()
}

// certs writes a throwaway CA (ca.pem), a server certificate for localhost
// and 127.0.0.1 (server.pem, server.key) and a client certificate
// (client.pem, client.key) into dir; keys are PKCS#8 PEM.
func certs(t *testing.T, dir string) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	write := func(name, kind string, der []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now()
	caKey := newKey()
	caTemplate := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "partnership test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(48 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTemplate, caTemplate, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write("ca.pem", "CERTIFICATE", caDER)
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage, dns []string, ips []net.IP) {
		key := newKey()
		der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(48 * time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
			DNSNames:     dns,
			IPAddresses:  ips,
		}, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		base := strings.SplitN(name, "-", 2)[0]
		write(base+".pem", "CERTIFICATE", der)
		write(base+".key", "PRIVATE KEY", pkcs8)
	}
	leaf("server", 2, x509.ExtKeyUsageServerAuth, []string{"localhost"}, []net.IP{net.ParseIP("127.0.0.1")})
	leaf("client-example-ministry-system", 3, x509.ExtKeyUsageClientAuth, nil, nil)
}
