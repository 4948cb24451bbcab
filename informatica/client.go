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
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpproxy"
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

// Endpoint names label the requests reported through Config.OnCall.
const (
	EndpointLogin    = "login"
	EndpointLogout   = "logout"
	EndpointExport   = "export"
	EndpointStatus   = "status"
	EndpointDownload = "download"
)

const (
	loginPath       = "/saas/public/core/v3/login"
	logoutPath      = "/saas/public/core/v3/logout"
	meteringPath    = "/public/core/v3/license/metering/"
	sessionHeader   = "INFA-SESSION-ID"
	v2SessionHeader = "icSessionId"
)

// Limits bound every byte read from Informatica.
type Limits struct {
	MaxResponseBytes     int64 // a JSON answer
	MaxDownloadBytes     int64 // a downloaded ZIP
	MaxUncompressedBytes int64 // all CSV entries of one ZIP, inflated
	MaxZIPEntries        int
}

// DefaultLimits fit exports of several million rows. A SUMMARY export has
// a row of some 150 bytes per org, meter and day, for at most 180 days
// [D 5]: 2 GiB is more than 180 days of usage.MaxSeries series.
var DefaultLimits = Limits{
	MaxResponseBytes:     1 << 20,
	MaxDownloadBytes:     512 << 20,
	MaxUncompressedBytes: 2 << 30,
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
	// CallbackURL, when set, is sent as callbackUrl with every export job
	// this client starts: Informatica posts the job's status there when
	// the job ends, and whoever receives it calls Wake, so that the job's
	// poller asks for its status at once instead of at its next poll.
	CallbackURL string

	// CAFile, when set, is a PEM file of the certificate authorities that
	// Informatica's certificates must chain to, instead of the system's.
	CAFile string
	// InsecureSkipVerify turns off TLS certificate verification. Only for
	// tests and broken proxies: the password travels over this connection.
	InsecureSkipVerify bool
	HTTPClient         *http.Client  // default: built from CAFile and InsecureSkipVerify
	RequestTimeout     time.Duration // one try of a JSON request, default 1m
	// DownloadTimeout bounds one try of a ZIP download, reading included,
	// default 10m. Within an export it is cut to what is left of
	// JobTimeout.
	DownloadTimeout time.Duration

	MaxAttempts   int           // tries of a request that fails with 429, 5xx or a network error, default 4
	RetryBackoff  time.Duration // delay before the first retry, doubling, default 2s
	MaxRetryAfter time.Duration // longest Retry-After honoured before giving up, default 5m

	PollInterval time.Duration // first status poll delay, default 15s
	// MaxPollInterval is what polls back off to, default 2m, and never
	// less than PollInterval: a poll interval of minutes, chosen because
	// callbacks wake the poller, is kept, not cut back to 2m.
	MaxPollInterval time.Duration
	// JobTimeout bounds one export job from the first request to start it
	// to the last byte of its ZIP: retries and their waits, polls and the
	// download, default 30m.
	JobTimeout time.Duration

	SessionIdleTimeout time.Duration // log in again after this long unused, default 25m

	Limits  Limits
	TempDir string // where downloads are spooled, default os.TempDir()
	Clock   Clock

	// OnCall, when set, is called once per HTTP request, retries and
	// logins included, when it is over: its answer read and closed, or no
	// answer. It is called from the goroutine running the request.
	OnCall func(Call)
	// OnJob, when set, is called at each step of each export job: started,
	// a new status, its ZIP read. It is called from the goroutine running
	// the export.
	OnJob func(JobEvent)
	// OnExport, when set, is called with each export job's ZIP once it is
	// downloaded, before it is read, from the goroutine running the
	// export: to keep a copy of it. It must only read the ZIP, and not
	// after it returns; the export waits for it, and whatever befalls it
	// is not the export's. (Download, which fetches a job by ID alone,
	// knows no range to describe it with and does not call it.)
	OnExport func(ExportZIP)
	// dialContext, when set, replaces the transport's dialer; tests use it
	// to reach a made-up host name on loopback.
	dialContext func(ctx context.Context, network, addr string) (net.Conn, error)

	// OnWarning, when set, is called with something worth a warning in the
	// log that does not fail the export: msg is a sentence, keyvals are
	// alternating string keys and values, as go-kit's log.Logger takes
	// them. It is called from the goroutine running the export, e.g. for
	// a job status this client does not know (keys "job_id" and "status"),
	// once per job and status, or for a download cut off and fetched
	// again (keys "job_id", "bytes", "resume" and "err"), once per
	// download.
	OnWarning func(msg string, keyvals ...any)
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
	c.MaxPollInterval = max(c.MaxPollInterval, c.PollInterval)
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
// for concurrent use, though the exporter runs one export at a time:
// callers that need a session while one is being made wait for it rather
// than log in again.
type Client struct {
	cfg       Config
	loginBase string

	// password and callback hold what clean looks for to find the
	// password and the callback URL.
	password, callback []needle

	mu   sync.Mutex
	sess *session
	// loggingIn is the login in flight, if any, shared by every caller
	// that needs a session meanwhile.
	loggingIn *loginFlight
	// issued holds what clean looks for to find each of the last
	// maxIssued session IDs, so that it can scrub them from any text that
	// reaches a log line or an error.
	issued [][]needle
	// inflight holds the jobs WaitForJob is polling, by job ID, for Wake.
	inflight map[string]*inflightJob
}

// maxIssued bounds the session IDs the client keeps for redaction. One run
// logs in a few times at most; the oldest ones have long expired.
const maxIssued = 64

type session struct {
	id      string
	baseURL string
	orgID   string
	orgName string
	// lastUsed is guarded by Client.mu.
	lastUsed time.Time
}

// loginFlight is one login and its outcome, for the callers waiting on it.
type loginFlight struct {
	done chan struct{} // closed when the fields below are set
	sess *session
	err  error
	// abandoned is set when the login failed because the context of the
	// caller that ran it ended.
	abandoned bool
}

// wait returns the flight's outcome once it lands, or ctx's error. retry
// is set when the login ended only because the context of the caller that
// ran it did: another caller's login is not its failure.
func (f *loginFlight) wait(ctx context.Context) (s *session, retry bool, err error) {
	select {
	case <-f.done:
	case <-ctx.Done():
		return nil, false, ctx.Err()
	}
	if f.err != nil && f.abandoned {
		return nil, true, nil
	}
	return f.sess, false, f.err
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
	if err := CheckCallbackURL(cfg.CallbackURL); err != nil {
		return nil, fmt.Errorf("callback URL: %w", err)
	}
	if cfg.HTTPClient == nil {
		if cfg.HTTPClient, err = newHTTPClient(&cfg); err != nil {
			return nil, err
		}
	}
	base := strings.TrimRight(u.Scheme+"://"+u.Host+u.Path, "/")
	// Users paste either the host or the host with /saas, as printed in
	// Informatica's examples.
	base = strings.TrimSuffix(base, "/saas")
	return &Client{cfg: cfg, loginBase: base, password: secretNeedles(cfg.Password), callback: callbackNeedles(cfg.CallbackURL)}, nil
}

// newHTTPClient returns a client with its own transport, so that one
// account's TLS settings never leak into another's. Redirects are not
// followed: an API that redirects would get the session header sent to
// wherever it points.
func newHTTPClient(cfg *Config) (*http.Client, error) {
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA file %s holds no PEM certificate", cfg.CAFile)
		}
		tlsConfig.RootCAs = pool
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsConfig
	transport.Proxy = proxyFromEnvironment()
	if cfg.dialContext != nil {
		transport.DialContext = cfg.dialContext
	}
	return &http.Client{
		Transport: transport,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}, nil
}

// proxyFromEnvironment returns the proxy of a request as HTTPS_PROXY,
// HTTP_PROXY and NO_PROXY (or their lower-case forms) say when it is
// called: the rules of net/http's ProxyFromEnvironment, which reads the
// variables only once per process, so that each client reads them when it
// is made. Requests to localhost and loopback addresses never use a proxy.
func proxyFromEnvironment() func(*http.Request) (*url.URL, error) {
	proxy := httpproxy.FromEnvironment().ProxyFunc()
	return func(r *http.Request) (*url.URL, error) { return proxy(r.URL) }
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

// Call describes one HTTP request to Informatica, for logs and metrics.
// Its strings hold no secret: the session ID travels in a header, and the
// path is cleaned as any text from the network.
type Call struct {
	Endpoint string // EndpointLogin, EndpointExport, ...
	Method   string
	Path     string // of the URL: it holds job IDs
	JobID    string // the export job the request is about, when it names one
	Attempt  int    // 1, or the number of the retry plus one
	// Code is the HTTP status code, or "error" when no answer arrived.
	Code string
	// Err says why no answer arrived, or why reading it failed.
	Err string
	// RequestID is Informatica's ID of the request, which its support asks
	// for: the API documents it only in v3 error objects (error.requestId).
	RequestID string
	Duration  time.Duration // from sending the request to closing its answer
	Bytes     int64         // of the answer's body, as read
}

// request describes one call to Informatica.
type request struct {
	endpoint string
	method   string
	path     string // appended to the session's baseApiUrl
	jobID    string // the export job the path names, if any
	body     []byte
	accept   string
	timeout  time.Duration
	// startsJob marks the request that starts an export job, which must
	// not be sent twice (see sendPolicy).
	startsJob bool
	// header holds more request headers, such as Range.
	header http.Header
	// v2 sends the session ID as the v2 API's icSessionId header: one
	// session serves both API versions.
	v2 bool
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
		policy := sendPolicy{endpoint: r.endpoint, jobID: r.jobID, timeout: r.timeout, attempts: c.cfg.MaxAttempts, startsJob: r.startsJob}
		resp, err := c.send(ctx, policy, func(ctx context.Context) (*http.Request, error) {
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
			for k, v := range r.header {
				req.Header[k] = v
			}
			req.Header.Set("Accept", r.accept)
			if r.v2 {
				req.Header.Set(v2SessionHeader, s.id)
			} else {
				req.Header.Set(sessionHeader, s.id)
			}
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
// has been idle long enough that Informatica may have expired it. Callers
// that arrive while a login is in flight share it.
func (c *Client) session(ctx context.Context) (*session, error) {
	for {
		now := c.cfg.Clock.Now()
		c.mu.Lock()
		if s := c.sess; s != nil && now.Sub(s.lastUsed) < c.cfg.SessionIdleTimeout {
			c.mu.Unlock()
			return s, nil
		}
		if f := c.loggingIn; f != nil {
			c.mu.Unlock()
			s, retry, err := f.wait(ctx)
			if retry {
				continue
			}
			return s, err
		}
		f := &loginFlight{done: make(chan struct{})}
		c.loggingIn = f
		c.mu.Unlock()

		f.sess, f.err = c.login(ctx)
		f.abandoned = ctx.Err() != nil
		c.mu.Lock()
		c.loggingIn = nil
		c.mu.Unlock()
		close(f.done)
		return f.sess, f.err
	}
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
	policy := sendPolicy{endpoint: EndpointLogin, timeout: c.cfg.RequestTimeout, attempts: c.cfg.MaxAttempts}
	resp, err := c.send(ctx, policy, func(ctx context.Context) (*http.Request, error) {
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
	// A login answer holds a session ID that clean does not know yet,
	// so a malformed one is reported without quoting it. Informatica's
	// error object is reported, even with status 200.
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
		return nil, withStage(StageLogin, fmt.Errorf("log in as %s: baseApiUrl %q is not an http(s) URL", c.cfg.Username, Shorten(c.clean(s.baseURL), 100)))
	}
	c.mu.Lock()
	c.sess = s
	if len(c.issued) >= maxIssued {
		c.issued = c.issued[1:]
	}
	c.issued = append(c.issued, secretNeedles(s.id))
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
	policy := sendPolicy{endpoint: EndpointLogout, timeout: c.cfg.RequestTimeout, attempts: 1}
	resp, err := c.send(ctx, policy, func(ctx context.Context) (*http.Request, error) {
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

// sendPolicy says how send treats one logical request.
type sendPolicy struct {
	endpoint string
	jobID    string        // for Call.JobID
	timeout  time.Duration // of one try
	attempts int
	// startsJob marks a request that starts an export job. It is repeated
	// only after failures that show no job was started: a connection that
	// could not be made, 429 or 503. Any other failure may have come after
	// Informatica started the job, and a second request would start
	// another.
	startsJob bool
}

// send performs one logical request, retrying 429, 5xx and network errors up
// to p.attempts times with exponential backoff, honouring Retry-After,
// except where p.startsJob forbids it. Other error answers come back at once
// as *APIError. No try and no wait runs past the export job's deadline in
// ctx, if any. On success the body is left open for the caller and stays
// readable until closed.
func (c *Client) send(ctx context.Context, p sendPolicy, build func(context.Context) (*http.Request, error)) (*http.Response, error) {
	for attempt := 1; ; attempt++ {
		timeout, err := c.tryTimeout(ctx, p.timeout)
		if err != nil {
			return nil, err
		}
		actx, cancel := context.WithTimeout(ctx, timeout)
		req, err := build(actx)
		if err != nil {
			cancel()
			return nil, err
		}
		call := Call{Endpoint: p.endpoint, Method: req.Method, Path: c.clean(req.URL.Path), JobID: c.clean(p.jobID), Attempt: attempt}
		start := c.cfg.Clock.Now()
		resp, err := c.cfg.HTTPClient.Do(req)
		if err != nil {
			cancel()
			call.Code, call.Err = "error", c.clean(err.Error())
			c.report(call, start)
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			notSent := dialFailed(err)
			err = errors.New(call.Err)
			if p.startsJob && !notSent {
				return nil, mayBeRunning(err)
			}
			if attempt >= p.attempts {
				return nil, err
			}
			if err := c.wait(ctx, c.backoff(attempt), err); err != nil {
				return nil, err
			}
			continue
		}
		call.Code = strconv.Itoa(resp.StatusCode)
		if resp.StatusCode >= 200 && resp.StatusCode < 300 {
			resp.Body = &answerBody{ReadCloser: resp.Body, cancel: cancel, done: func(n int64, err error) {
				call.Bytes = n
				if err != nil {
					call.Err = c.clean(err.Error())
				}
				c.report(call, start)
			}}
			return resp, nil
		}
		body, cut := readHead(resp.Body, maxErrorBody)
		resp.Body.Close()
		cancel()
		clean := c.clean
		if cut {
			clean = c.cleanCut
		}
		apiErr := parseAPIError(resp.StatusCode, body, clean)
		call.Bytes, call.RequestID = int64(len(body)), apiErr.RequestID
		c.report(call, start)
		if p.startsJob && apiErr.StatusCode >= 500 && !apiErr.notStarted() {
			return nil, mayBeRunning(apiErr)
		}
		if !apiErr.retryable() || attempt >= p.attempts {
			return nil, apiErr
		}
		delay := c.backoff(attempt)
		if ra, ok := retryAfter(resp.Header, c.cfg.Clock.Now()); ok {
			// The longest wait is MaxRetryAfter, and what is left of the
			// job's time (see wait); asked for more, the run gives up.
			if ra > c.cfg.MaxRetryAfter {
				return nil, fmt.Errorf("%w; giving up: Retry-After %q asks for a wait longer than %s",
					apiErr, Shorten(c.clean(resp.Header.Get("Retry-After")), 40), c.cfg.MaxRetryAfter)
			}
			delay = ra
		}
		if err := c.wait(ctx, delay, apiErr); err != nil {
			return nil, err
		}
	}
}

// dialFailed reports whether a request failed before any byte of it was
// sent: the host name did not resolve, or no connection could be made.
func dialFailed(err error) bool {
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// mayBeRunning marks the failure of a request to start a job that may have
// started one anyway.
func mayBeRunning(err error) error {
	return fmt.Errorf("%w; not sent again, as %w", err, ErrJobMayBeRunning)
}

// tryTimeout is how long one try of a request may take: timeout, or what is
// left of the export job's time when that is less.
func (c *Client) tryTimeout(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline, ok := jobDeadline(ctx)
	if !ok {
		return timeout, nil
	}
	left := deadline.Sub(c.cfg.Clock.Now())
	if left <= 0 {
		return 0, ErrJobTimeout
	}
	return min(timeout, left), nil
}

// wait sleeps delay before the next try of a request that failed with
// last, unless that would end past the export job's deadline.
func (c *Client) wait(ctx context.Context, delay time.Duration, last error) error {
	if deadline, ok := jobDeadline(ctx); ok && c.cfg.Clock.Now().Add(delay).After(deadline) {
		return fmt.Errorf("%w; a retry in %s would be too late: %w", last, delay.Round(time.Millisecond), ErrJobTimeout)
	}
	return c.cfg.Clock.Sleep(ctx, delay)
}

// report passes a finished request, sent at start, to Config.OnCall.
func (c *Client) report(call Call, start time.Time) {
	if c.cfg.OnCall != nil {
		call.Duration = c.cfg.Clock.Now().Sub(start)
		c.cfg.OnCall(call)
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

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date. A
// date is on the server's clock, so it is measured from the answer's Date
// header, when there is one, and from now, the local clock, only when
// there is not: two clocks minutes apart would otherwise turn "in 30
// seconds" into a wait of minutes, or none. The delay is never negative,
// and one too long for a time.Duration is the longest one, not one that
// wrapped around to milliseconds or below zero. A value that is neither
// form (a sign, a fraction) is ignored, as RFC 9110 allows.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return 0, false
	}
	if strings.Trim(v, "0123456789") == "" {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(maxDuration/time.Second) {
			return maxDuration, true // only digits, so err means too large
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if date, err := http.ParseTime(h.Get("Date")); err == nil {
		now = date
	}
	return max(t.Sub(now), 0), true // Sub saturates: no overflow
}

// maxDuration is the longest time.Duration.
const maxDuration = time.Duration(math.MaxInt64)

// decodeJSON reads a bounded JSON body into v and closes it. A body that is
// not the expected JSON is quoted, cleaned and shortened, in the error;
// Informatica's error object is returned as an *APIError.
func (c *Client) decodeJSON(resp *http.Response, v any) error {
	body, err := c.readJSON(resp, v)
	if err != nil && body != nil {
		return fmt.Errorf("%w: %q", err, Shorten(c.clean(string(body)), 120))
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
		return nil, errors.New(c.clean(err.Error()))
	}
	// Before decoding: encoding/json would turn Windows-1252 text into
	// U+FFFD instead of the characters it means.
	body = validUTF8Bytes(body)
	if apiErr := errorObject(resp.StatusCode, body, c.clean); apiErr != nil {
		return nil, apiErr
	}
	if err := json.Unmarshal(body, v); err != nil {
		return body, fmt.Errorf("response is not the expected JSON (%w)", err)
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

// maxErrorBody bounds what is read of an error answer.
const maxErrorBody = 64 << 10

// readHead reads up to limit bytes of r, and reports whether r had more.
func readHead(r io.Reader, limit int) ([]byte, bool) {
	b, _ := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if len(b) > limit {
		return b[:limit], true
	}
	return b, false
}

// clean makes text that came from the network or from net/http fit for an
// error or a log line: valid UTF-8, without the password, the callback URL
// or any session ID this client has seen, in any encoding (see
// redactSecrets).
func (c *Client) clean(s string) string {
	return redactSecrets(ValidUTF8(s), c.needles(), false)
}

// cleanCut is clean for the start of a longer text, which may end in the
// start of a secret.
func (c *Client) cleanCut(s string) string {
	return redactSecrets(ValidUTF8(s), c.needles(), true)
}

// needles lists what redactSecrets looks for.
func (c *Client) needles() []needle {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := slices.Concat(c.password, c.callback)
	for _, id := range c.issued {
		n = append(n, id...)
	}
	return n
}

// answerBody is the body of a successful answer: it counts the bytes read,
// and once closed releases the request's timeout context and calls done
// with the count and the first read error other than io.EOF.
type answerBody struct {
	io.ReadCloser
	cancel  context.CancelFunc
	done    func(n int64, err error)
	n       int64
	readErr error
	closed  bool
}

func (b *answerBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.n += int64(n)
	if err != nil && err != io.EOF && b.readErr == nil {
		b.readErr = err
	}
	return n, err
}

func (b *answerBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	if !b.closed {
		b.closed = true
		b.done(b.n, b.readErr)
	}
	return err
}
