package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/ipumon/informatica_exporter/informatica/fake"
	"github.com/ipumon/informatica_exporter/internal/testkit"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "informatica_exporter test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a server certificate for 127.0.0.1, as PEM files' content.
func (ca *testCA) issue(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})
}

// startTLSFake serves a fake Informatica over TLS with a certificate from ca.
func startTLSFake(t *testing.T, ca *testCA) *fake.Server {
	t.Helper()
	certPEM, keyPEM := ca.issue(t)
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := fake.New(fake.Options{CreatedFor: 20 * time.Millisecond, ProcessingFor: 30 * time.Millisecond})
	f.StartListener(tls.NewListener(l, &tls.Config{Certificates: []tls.Certificate{cert}}), "https")
	t.Cleanup(func() { f.Close() })
	return f
}

// TestTLSToInformatica: certificates are verified by default; ca_file
// trusts a private CA; insecure_skip_verify works and warns.
func TestTLSToInformatica(t *testing.T) {
	ca := newTestCA(t)
	up := key("informatica_up", "account", "acme")
	loginFailures := key("informatica_exporter_refresh_failures_total", "account", "acme", "stage", "login")

	t.Run("unknown CA is refused", func(t *testing.T) {
		t.Parallel()
		f := startTLSFake(t, ca)
		p := startExporter(t, nil, "--config.file="+writeConfig(t, t.TempDir(), "1h", accountYAML("acme", f, "")))
		var got map[string]float64
		waitFor(t, 20*time.Second, "the first refresh", func() bool {
			got = p.scrape()
			return got[loginFailures] == 1
		})
		if got[up] != 0 {
			t.Errorf("informatica_up = %v against an untrusted certificate", got[up])
		}
		if !strings.Contains(p.logs.String(), "certificate") {
			t.Errorf("the log does not say the certificate was refused:\n%s", p.logs)
		}
		if f.Calls(fake.EndpointLogin) != 0 {
			t.Errorf("the fake answered a login over an untrusted connection")
		}
	})
	t.Run("ca_file", func(t *testing.T) {
		t.Parallel()
		f := startTLSFake(t, ca)
		dir := t.TempDir()
		writeFile(t, dir, "ca.pem", string(ca.pem))
		p := startExporter(t, nil, "--config.file="+writeConfig(t, dir, "1h", accountYAML("acme", f, "    ca_file: ca.pem\n")))
		waitFor(t, 20*time.Second, "a successful refresh", func() bool { return p.scrape()[up] == 1 })
		if strings.Contains(p.logs.String(), "insecure_skip_verify") {
			t.Errorf("a verified connection warns about insecure_skip_verify")
		}
	})
	t.Run("insecure_skip_verify", func(t *testing.T) {
		t.Parallel()
		f := startTLSFake(t, ca)
		p := startExporter(t, nil, "--config.file="+writeConfig(t, t.TempDir(), "1h", accountYAML("acme", f, "    insecure_skip_verify: true\n")))
		waitFor(t, 20*time.Second, "a successful refresh", func() bool { return p.scrape()[up] == 1 })
		if len(testkit.LinesWith(p.logs.String(), "level=warn", "insecure_skip_verify", "account=acme")) != 1 {
			t.Errorf("no warning about insecure_skip_verify at start:\n%s", p.logs)
		}
	})
	t.Run("ca_file that is not PEM", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir, "ca.pem", "not a certificate")
		logs := &syncBuffer{}
		cfg := writeConfig(t, dir, "1h", "  - {name: acme, login_url: 'https://127.0.0.1:1', username: u, password: p, ca_file: ca.pem}\n")
		if code := run([]string{"--config.file=" + cfg, "--web.listen-address=127.0.0.1:0"}, logs, hooks{}); code != 1 {
			t.Errorf("exit code %d, want 1", code)
		}
		if !strings.Contains(logs.String(), "no PEM certificate") {
			t.Errorf("the error does not say what is wrong with the CA file:\n%s", logs)
		}
	})
}

// TestWebConfig serves /metrics over TLS with basic auth through
// exporter-toolkit's --web.config.file.
func TestWebConfig(t *testing.T) {
	webConfig, tr := webConfigTLSBasicAuth(t, map[string]string{"prometheus": "right-password"})
	p := startExporter(t, nil, "--demo", "--web.config.file="+webConfig)
	httpsURL := strings.Replace(p.url, "http://", "https://", 1) + "/metrics"

	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	get := func(user, password string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, httpsURL, nil)
		if user != "" {
			req.SetBasicAuth(user, password)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", httpsURL, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := get("prometheus", "right-password"); code != http.StatusOK {
		t.Errorf("right password: %d, want 200", code)
	}
	if code := get("prometheus", "wrong-password"); code != http.StatusUnauthorized {
		t.Errorf("wrong password: %d, want 401", code)
	}
	if code := get("", ""); code != http.StatusUnauthorized {
		t.Errorf("no password: %d, want 401", code)
	}
	if resp, err := http.Get(p.url + "/metrics"); err == nil {
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP was answered with 200")
		}
		resp.Body.Close()
	}
}

// webConfigTLSBasicAuth writes an exporter-toolkit web config serving TLS
// with a certificate from a CA made here, and basic auth for the given
// users and passwords. It returns the file and a transport that trusts the
// CA.
func webConfigTLSBasicAuth(t *testing.T, users map[string]string) (string, *http.Transport) {
	t.Helper()
	ca := newTestCA(t)
	certPEM, keyPEM := ca.issue(t)
	dir := t.TempDir()
	writeFile(t, dir, "cert.pem", string(certPEM))
	writeFile(t, dir, "key.pem", string(keyPEM))
	auth := ""
	for user, password := range users {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		auth += "  " + user + ": " + string(hash) + "\n"
	}
	webConfig := writeFile(t, dir, "web.yml", "tls_server_config:\n  cert_file: "+filepath.Join(dir, "cert.pem")+
		"\n  key_file: "+filepath.Join(dir, "key.pem")+"\nbasic_auth_users:\n"+auth)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.pem)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	t.Cleanup(tr.CloseIdleConnections)
	return webConfig, tr
}
