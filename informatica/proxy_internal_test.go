package informatica

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// proxiedHost is the made-up name of the fake Informatica in the proxy
// tests: net/http never sends requests for localhost or a loopback address
// through a proxy, and only the tests' dialer and proxy know the name.
const proxiedHost = "informatica.test"

// TestProxyFromEnvironment: with HTTPS_PROXY set, the login, the export
// job's start, its polls and its download all go through the proxy, a
// CONNECT tunnel; with NO_PROXY covering the host, none does. Each client
// reads the variables when it is made, so each subtest's take effect.
// Informatica's certificate is checked against ca_file through the tunnel.
func TestProxyFromEnvironment(t *testing.T) {
	caFile, serverCert := testCertificates(t, proxiedHost)
	clock := testkit.NewInstantClock(time.Date(2024, time.June, 15, 10, 0, 0, 0, time.UTC))
	srv := fake.New(fake.Options{Now: clock.Now, JobClock: clock.Now})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	// The fake names itself by the made-up host in its baseApiUrl.
	srv.StartListener(namedListener{tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{serverCert}}), proxiedHost + ":" + port}, "https")
	t.Cleanup(func() { srv.Close() })
	proxy := startConnectProxy(t)

	for _, tc := range []struct {
		name, noProxy string
		viaProxy      bool
	}{
		{"HTTPS_PROXY", "", true},
		{"NO_PROXY names the host", "example.com," + proxiedHost, false},
		{"NO_PROXY covers the domain", ".test", false},
		{"NO_PROXY for another host", "informatica.example", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"HTTP_PROXY", "http_proxy", "https_proxy", "no_proxy", "REQUEST_METHOD"} {
				t.Setenv(k, "")
			}
			t.Setenv("HTTPS_PROXY", proxy.url)
			t.Setenv("NO_PROXY", tc.noProxy)
			proxy.reset()
			var mu sync.Mutex
			var direct []string // dials to the host, not to the proxy
			c, err := NewClient(Config{
				LoginURL: "https://" + proxiedHost + ":" + port,
				Username: srv.Username(), Password: srv.Password(),
				CAFile: caFile, Clock: clock, TempDir: t.TempDir(),
				dialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					if host, p, _ := net.SplitHostPort(addr); host == proxiedHost {
						mu.Lock()
						direct = append(direct, addr)
						mu.Unlock()
						addr = net.JoinHostPort("127.0.0.1", p)
					}
					var d net.Dialer
					return d.DialContext(ctx, network, addr)
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(c.cfg.HTTPClient.CloseIdleConnections)
			before := map[string]int{}
			for _, ep := range []string{fake.EndpointLogin, fake.EndpointExport, fake.EndpointStatus, fake.EndpointDownload} {
				before[ep] = srv.Calls(ep)
			}
			to := clock.Now().Truncate(24 * time.Hour).Add(-time.Second)
			res, err := c.ExportUsage(context.Background(), to.AddDate(0, 0, -3).Add(time.Second), to, func(*UsageRow) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if res.Rows == 0 {
				t.Error("the export read no rows")
			}
			for ep, n := range before {
				if srv.Calls(ep) == n {
					t.Errorf("no %s request reached Informatica", ep)
				}
			}
			tunnels := proxy.targets()
			mu.Lock()
			defer mu.Unlock()
			if tc.viaProxy {
				// Every byte went through a tunnel: nothing dialled the
				// host itself.
				if len(tunnels) == 0 || len(direct) != 0 || slices.ContainsFunc(tunnels, func(s string) bool { return s != proxiedHost+":"+port }) {
					t.Errorf("CONNECT %v and direct dials %v, want tunnels to %s:%s only", tunnels, direct, proxiedHost, port)
				}
			} else if len(tunnels) != 0 || len(direct) == 0 {
				t.Errorf("CONNECT %v and direct dials %v, want direct dials only", tunnels, direct)
			}
		})
	}
}

// namedListener is a listener whose address carries a host name, so that
// the fake puts that name into its URLs.
type namedListener struct {
	net.Listener
	addr string
}

func (l namedListener) Addr() net.Addr { return namedAddr(l.addr) }

type namedAddr string

func (namedAddr) Network() string  { return "tcp" }
func (a namedAddr) String() string { return string(a) }

// connectProxy is an HTTP proxy that takes CONNECT only. It records each
// tunnel's target and connects it to loopback, whatever the host name.
type connectProxy struct {
	url   string
	mu    sync.Mutex
	seen  []string
	conns []net.Conn
}

func startConnectProxy(t *testing.T) *connectProxy {
	p := &connectProxy{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p.url = "http://" + l.Addr().String()
	srv := &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(l)
	t.Cleanup(func() {
		srv.Close()
		p.mu.Lock()
		defer p.mu.Unlock()
		for _, c := range p.conns {
			c.Close()
		}
	})
	return p
}

func (p *connectProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "CONNECT only", http.StatusMethodNotAllowed)
		return
	}
	_, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	up, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	down, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		up.Close()
		return
	}
	p.mu.Lock()
	p.seen = append(p.seen, r.Host)
	p.conns = append(p.conns, up, down)
	p.mu.Unlock()
	io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n")
	go pipe(up, buf.Reader, down)
	go pipe(down, up, up)
}

// pipe copies from to, then closes both ends' connections.
func pipe(to io.Writer, from io.Reader, closer io.Closer) {
	io.Copy(to, from)
	closer.Close()
}

func (p *connectProxy) targets() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.seen)
}

func (p *connectProxy) reset() {
	p.mu.Lock()
	p.seen = nil
	p.mu.Unlock()
}

// testCertificates makes a CA, written to a PEM file for Config.CAFile,
// and a server certificate it signs for host.
func testCertificates(t *testing.T, host string) (string, tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "proxy test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host}, DNSNames: []string{host},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return caFile, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
