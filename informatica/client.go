// Package informatica is a client for the parts of the Informatica Intelligent
// Cloud Services (IICS/IDMC) REST API that report IPU consumption: v3 login
// and session handling, metering export jobs (start, poll, download) and the
// ZIP and CSV files they produce.
package informatica

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SummaryAPI selects which documented resource starts a summary export.
type SummaryAPI string

const (
	// AllLinkedOrgsAcrossRegion is ExportMeteringDataAllLinkedOrgsAcrossRegion,
	// the resource of the page the product started from.
	AllLinkedOrgsAcrossRegion SummaryAPI = "all_linked_orgs_across_region"
	// ExportMeteringData is the older ExportMeteringData resource with
	// jobType SUMMARY and allLinkedOrgs TRUE.
	ExportMeteringData SummaryAPI = "export_metering_data"
)

// Endpoint names label the requests reported through Config.OnRequest.
const (
	EndpointLogin    = "login"
	EndpointLogout   = "logout"
	EndpointExport   = "export"
	EndpointStatus   = "status"
	EndpointDownload = "download"
)

const (
	loginPath     = "/saas/public/core/v3/login"
	logoutPath    = "/saas/public/core/v3/logout"
	meteringPath  = "/public/core/v3/license/metering/"
	sessionHeader = "INFA-SESSION-ID"
)

// Limits bound every byte read from Informatica.
type Limits struct {
	MaxResponseBytes     int64 // a JSON answer
	MaxDownloadBytes     int64 // a downloaded ZIP
	MaxUncompressedBytes int64 // all CSV entries of one ZIP, inflated
	MaxZIPEntries        int
}

// DefaultLimits fit exports of several million rows.
var DefaultLimits = Limits{
	MaxResponseBytes:     1 << 20,
	MaxDownloadBytes:     512 << 20,
	MaxUncompressedBytes: 8 << 30,
	MaxZIPEntries:        10000,
}

// Clock is the client's source of time; tests replace it to run long
// schedules instantly.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx is done and returns its error.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Config configures a Client. Zero durations and limits take the defaults
// documented on each field.
type Config struct {
	LoginURL           string // the POD's login host, e.g. https://dm-us.informaticacloud.com
	Username, Password string
	SummaryAPI         SummaryAPI // default AllLinkedOrgsAcrossRegion
	CombinedMeterUsage bool

	// CAFile, when set, is a PEM file of the certificate authorities that
	// Informatica's certificates must chain to, instead of the system's.
	CAFile string
	// InsecureSkipVerify turns off TLS certificate verification. Only for
	// tests and broken proxies: the password travels over this connection.
	InsecureSkipVerify bool
	HTTPClient         *http.Client  // default: built from CAFile and InsecureSkipVerify
	RequestTimeout     time.Duration // one JSON request, default 1m
	DownloadTimeout    time.Duration // one ZIP download, default 10m

	MaxAttempts   int           // tries of a request that fails with 429, 5xx or a network error, default 4
	RetryBackoff  time.Duration // delay before the first retry, doubling, default 2s
	MaxRetryAfter time.Duration // longest Retry-After honoured before giving up, default 5m

	PollInterval    time.Duration // first status poll delay, default 15s
	MaxPollInterval time.Duration // polls back off to this, default 2m
	JobTimeout      time.Duration // give up on a job after this, default 30m

	SessionIdleTimeout time.Duration // log in again after this long unused, default 25m

	Limits  Limits
	TempDir string // where downloads are spooled, default os.TempDir()
	Clock   Clock

	// OnRequest, when set, is called once per HTTP request with the endpoint
	// name and the status code, or "error" when no answer arrived.
	OnRequest func(endpoint, code string)
}

func (c *Config) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if c.SummaryAPI == "" {
		c.SummaryAPI = AllLinkedOrgsAcrossRegion
	}
	def(&c.RequestTimeout, time.Minute)
	def(&c.DownloadTimeout, 10*time.Minute)
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 4
	}
	def(&c.RetryBackoff, 2*time.Second)
	def(&c.MaxRetryAfter, 5*time.Minute)
	def(&c.PollInterval, 15*time.Second)
	def(&c.MaxPollInterval, 2*time.Minute)
	def(&c.JobTimeout, 30*time.Minute)
	def(&c.SessionIdleTimeout, 25*time.Minute)
	l := &c.Limits
	if l.MaxResponseBytes <= 0 {
		l.MaxResponseBytes = DefaultLimits.MaxResponseBytes
	}
	if l.MaxDownloadBytes <= 0 {
		l.MaxDownloadBytes = DefaultLimits.MaxDownloadBytes
	}
	if l.MaxUncompressedBytes <= 0 {
		l.MaxUncompressedBytes = DefaultLimits.MaxUncompressedBytes
	}
	if l.MaxZIPEntries <= 0 {
		l.MaxZIPEntries = DefaultLimits.MaxZIPEntries
	}
	if c.Clock == nil {
		c.Clock = realClock{}
	}
}

// Client talks to one Informatica account. It keeps one session and is safe
// for concurrent use, though the exporter runs one export at a time.
type Client struct {
	cfg       Config
	loginBase string

	mu   sync.Mutex
	sess *session
	// issued holds every session ID seen, so that redact can scrub them
	// from any text that reaches a log line or an error.
	issued []string
}

type session struct {
	id       string
	baseURL  string
	orgID    string
	orgName  string
	lastUsed time.Time
}

// NewClient checks cfg and returns a client. It does not contact Informatica.
func NewClient(cfg Config) (*Client, error) {
	cfg.setDefaults()
	u, err := url.Parse(cfg.LoginURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("login URL %q is not an http(s) URL", cfg.LoginURL)
	}
	switch cfg.SummaryAPI {
	case AllLinkedOrgsAcrossRegion, ExportMeteringData:
	default:
		return nil, fmt.Errorf("unknown summary API %q", cfg.SummaryAPI)
	}
	if cfg.HTTPClient == nil {
		if cfg.HTTPClient, err = newHTTPClient(cfg.CAFile, cfg.InsecureSkipVerify); err != nil {
			return nil, err
		}
	}
	base := strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/")
	// Users paste either the host or the host with /saas, as printed in
	// Informatica's examples.
	base = strings.TrimSuffix(base, "/saas")
	return &Client{cfg: cfg, loginBase: base}, nil
}

// newHTTPClient returns a client with its own transport, so that one
// account's TLS settings never leak into another's. Redirects are not
// followed: an API that redirects would get the session header sent to
// wherever it points.
func newHTTPClient(caFile string, insecure bool) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", caFile)
		}
		tlsConfig.RootCAs = pool
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// OrgID is the ID of the org the account logs in to, known after the first
// successful login.
func (c *Client) OrgID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return ""
	}
	return c.sess.orgID
}

// request describes one call to Informatica.
type request struct {
	endpoint string
	method   string
	path     string // appended to the session's baseApiUrl
	body     []byte
	accept   string
	timeout  time.Duration
}

// call sends an authenticated request: it logs in when there is no fresh
// session, and logs in again once and repeats the request when Informatica
// says the session is no longer valid. The caller closes the body.
func (c *Client) call(ctx context.Context, r request) (*http.Response, error) {
	for relogin := false; ; relogin = true {
		s, err := c.session(ctx)
		if err != nil {
			return nil, err
		}
		resp, err := c.send(ctx, r.endpoint, r.timeout, c.cfg.MaxAttempts, func(ctx context.Context) (*http.Request, error) {
			var body io.Reader
			if r.body != nil {
				body = bytes.NewReader(r.body)
			}
			req, err := http.NewRequestWithContext(ctx, r.method, s.baseURL+r.path, body)
			if err != nil {
				return nil, err
			}
			if r.body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			req.Header.Set("Accept", r.accept)
			req.Header.Set(sessionHeader, s.id)
			return req, nil
		})
		var apiErr *APIError
		if errors.As(err, &apiErr) && sessionRejected(apiErr) && !relogin {
			c.dropSession(s)
			continue
		}
		if err == nil {
			c.touch(s)
		}
		return resp, err
	}
}

// sessionRejected reports whether an error answer means the session ID is no
// longer valid. Informatica documents 401 for an invalid session; some
// services answer 403 with a message about the session instead.
func sessionRejected(e *APIError) bool {
	if e.StatusCode == http.StatusUnauthorized {
		return true
	}
	return e.StatusCode == http.StatusForbidden &&
		strings.Contains(strings.ToLower(e.Code+" "+e.Message), "session")
}

// session returns the current session, logging in when there is none or it
// has been idle long enough that Informatica may have expired it.
func (c *Client) session(ctx context.Context) (*session, error) {
	c.mu.Lock()
	s := c.sess
	c.mu.Unlock()
	if s != nil && c.cfg.Clock.Now().Sub(s.lastUsed) < c.cfg.SessionIdleTimeout {
		return s, nil
	}
	return c.login(ctx)
}

func (c *Client) touch(s *session) {
	c.mu.Lock()
	if c.sess == s {
		s.lastUsed = c.cfg.Clock.Now()
	}
	c.mu.Unlock()
}

func (c *Client) dropSession(s *session) {
	c.mu.Lock()
	if c.sess == s {
		c.sess = nil
	}
	c.mu.Unlock()
}

type loginResponse struct {
	Products []struct {
		Name       string `json:"name"`
		BaseAPIURL string `json:"baseApiUrl"`
	} `json:"products"`
	UserInfo struct {
		SessionID string `json:"sessionId"`
		OrgID     string `json:"orgId"`
		OrgName   string `json:"orgName"`
	} `json:"userInfo"`
}

func (c *Client) login(ctx context.Context) (*session, error) {
	body, err := json.Marshal(map[string]string{"username": c.cfg.Username, "password": c.cfg.Password})
	if err != nil {
		return nil, withStage(StageLogin, err)
	}
	// A rejected login is not retried within the run: repeating bad
	// credentials only risks locking the user out.
	resp, err := c.send(ctx, EndpointLogin, c.cfg.RequestTimeout, c.cfg.MaxAttempts, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.loginBase+loginPath, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		return req, nil
	})
	if err != nil {
		return nil, withStage(StageLogin, fmt.Errorf("log in as %s: %w", c.cfg.Username, err))
	}
	var lr loginResponse
	// A login answer holds a session ID that is not yet known to redact,
	// so a malformed one is reported without quoting it.
	if err := c.decodeJSONQuiet(resp, &lr); err != nil {
		return nil, withStage(StageLogin, fmt.Errorf("log in as %s: %w", c.cfg.Username, err))
	}
	s := &session{
		id:       strings.TrimSpace(lr.UserInfo.SessionID),
		orgID:    lr.UserInfo.OrgID,
		orgName:  lr.UserInfo.OrgName,
		lastUsed: c.cfg.Clock.Now(),
	}
	for _, p := range lr.Products {
		if p.BaseAPIURL != "" {
			s.baseURL = strings.TrimRight(strings.TrimSpace(p.BaseAPIURL), "/")
			break
		}
	}
	switch {
	case s.id == "":
		return nil, withStage(StageLogin, fmt.Errorf("log in as %s: response has no userInfo.sessionId", c.cfg.Username))
	case s.baseURL == "":
		return nil, withStage(StageLogin, fmt.Errorf("log in as %s: response has no products[].baseApiUrl", c.cfg.Username))
	}
	if u, err := url.Parse(s.baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, withStage(StageLogin, fmt.Errorf("log in as %s: baseApiUrl %q is not an http(s) URL", c.cfg.Username, Shorten(s.baseURL, 100)))
	}
	c.mu.Lock()
	c.sess = s
	if len(c.issued) >= 64 {
		c.issued = c.issued[1:]
	}
	c.issued = append(c.issued, s.id)
	c.mu.Unlock()
	return s, nil
}

// Logout ends the current session, if any. Informatica would expire it after
// 30 idle minutes anyway; logging out frees it at once.
func (c *Client) Logout(ctx context.Context) error {
	c.mu.Lock()
	s := c.sess
	c.sess = nil
	c.mu.Unlock()
	if s == nil {
		return nil
	}
	resp, err := c.send(ctx, EndpointLogout, c.cfg.RequestTimeout, 1, func(ctx context.Context) (*http.Request, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.loginBase+logoutPath, nil)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json")
		req.Header.Set(sessionHeader, s.id)
		return req, nil
	})
	if err != nil {
		return fmt.Errorf("log out: %w", err)
	}
	return resp.Body.Close()
}

// send performs one logical request, retrying 429, 5xx and network errors up
// to attempts times with exponential backoff, honouring Retry-After. Other
// error answers come back at once as *APIError. On success the body is left
// open for the caller and stays readable until closed.
func (c *Client) send(ctx context.Context, endpoint string, timeout time.Duration, attempts int, build func(context.Context) (*http.Request, error)) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		req, err := build(actx)
		if err != nil {
			cancel()
			return nil, err
		}
		resp, err := c.cfg.HTTPClient.Do(req)
		if err != nil {
			cancel()
			c.observe(endpoint, "error")
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			err = errors.New(c.redact(err.Error()))
			if attempt >= attempts {
				return nil, err
			}
			if serr := c.cfg.Clock.Sleep(ctx, c.backoff(attempt)); serr != nil {
				return nil, serr
			}
			continue
		}
		c.observe(endpoint, strconv.Itoa(resp.StatusCode))
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
			return resp, nil
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		cancel()
		apiErr := parseAPIError(resp.StatusCode, body, c.redact)
		if !apiErr.retryable() || attempt >= attempts {
			return nil, apiErr
		}
		delay := c.backoff(attempt)
		if ra, ok := retryAfter(resp.Header.Get("Retry-After"), c.cfg.Clock.Now()); ok {
			if ra > c.cfg.MaxRetryAfter {
				return nil, fmt.Errorf("%w; Retry-After %s is longer than %s", apiErr, ra, c.cfg.MaxRetryAfter)
			}
			delay = ra
		}
		if serr := c.cfg.Clock.Sleep(ctx, delay); serr != nil {
			return nil, serr
		}
	}
}

func (c *Client) observe(endpoint, code string) {
	if c.cfg.OnRequest != nil {
		c.cfg.OnRequest(endpoint, code)
	}
}

// backoff is the delay before retry number attempt: exponential with ±20%
// jitter so that several exporters do not retry in step.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.RetryBackoff << (attempt - 1)
	if d > time.Minute || d <= 0 {
		d = time.Minute
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := t.Sub(now); d > 0 {
			return d, true
		}
		return 0, true
	}
	return 0, false
}

// decodeJSON reads a bounded JSON body into v and closes it. A body that is
// not the expected JSON is quoted, shortened, in the error.
func (c *Client) decodeJSON(resp *http.Response, v any) error {
	body, err := c.readJSON(resp, v)
	if err != nil && body != nil {
		return fmt.Errorf("%w: %q", err, Shorten(c.redact(string(body)), 120))
	}
	return err
}

// decodeJSONQuiet is decodeJSON without quoting the body.
func (c *Client) decodeJSONQuiet(resp *http.Response, v any) error {
	_, err := c.readJSON(resp, v)
	return err
}

// readJSON returns the body alongside a decoding error, for the caller to
// quote or not.
func (c *Client) readJSON(resp *http.Response, v any) ([]byte, error) {
	defer resp.Body.Close()
	body, err := readBounded(resp.Body, c.cfg.Limits.MaxResponseBytes)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(body, v); err != nil {
		return body, fmt.Errorf("response is not the expected JSON (%v)", err)
	}
	return nil, nil
}

// readBounded reads all of r, failing when it holds more than limit bytes.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read response: %w", err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("response is larger than %d bytes", limit)
	}
	return b, nil
}

// redactedMarker stands where a secret was; it has no angle brackets, which
// Shorten would strip as markup.
const redactedMarker = "[REDACTED]"

// redact removes the password and every session ID this client has seen
// from text that came from the network or from net/http.
func (c *Client) redact(s string) string {
	if c.cfg.Password != "" {
		s = strings.ReplaceAll(s, c.cfg.Password, redactedMarker)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, id := range c.issued {
		s = strings.ReplaceAll(s, id, redactedMarker)
	}
	return s
}

// cancelOnClose releases a request's timeout context once its body is done.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}
