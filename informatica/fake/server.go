// Package fake is a simulated Informatica IICS metering API: v3 login and
// logout, both summary export resources, PROJECT_FOLDER and ASSET exports,
// job-level exports, job status and ZIP download, with
// deterministic usage data and injectable faults. The exporter's tests and
// its --demo mode run against it.
package fake

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Endpoint names, the same the exporter uses for its request counter.
const (
	EndpointLogin    = "login"
	EndpointLogout   = "logout"
	EndpointExport   = "export"
	EndpointStatus   = "status"
	EndpointDownload = "download"
	EndpointLicense  = "license"
	EndpointOrg      = "org"
	EndpointIPUAlert = "ipu_alert"
)

// Options configure a Server. The zero value serves the demo data.
type Options struct {
	Username, Password string // default "demo" / "demo-password"
	Orgs               []Org  // default DemoOrgs; the first is the login org
	Meters             []Meter
	Days               int // days of history up to today, default 120
	AnnualFrom         time.Time

	// Now is the fake's calendar: which day is today, when sessions were
	// last used. Default time.Now. Tests set it to any instant, frozen or
	// moving.
	Now func() time.Time
	// Jobs stay CREATED for CreatedFor, then PROCESSING for ProcessingFor,
	// then end. Defaults 1s and 2s; negative means zero.
	CreatedFor, ProcessingFor time.Duration
	// JobClock measures how long jobs have run, default time.Now: real
	// time, whatever Now says, so that a test whose calendar stands still
	// at 23:59:59 still sees its jobs finish. A test whose client sleeps
	// in virtual time sets it to that clock.
	JobClock func() time.Time
	// SessionIdle is how long a session survives unused, default 30m.
	SessionIdle time.Duration
	// MaxActiveJobs is Informatica's limit on jobs in CREATED or PROCESSING,
	// default 5.
	MaxActiveJobs int

	// CSV shape.
	DateLayout string // default "2006-01-02"
	// TimeLayout formats the times of job-level files, default
	// "2006-01-02 15:04:05" (in UTC); their format is not documented.
	TimeLayout     string
	ShuffleColumns bool // a column order other than the documented one
	ExtraColumns   bool // columns the exporter does not know
	BOM            bool // a UTF-8 byte order mark before the header
	NullCells      bool // "null" in IPURate and MetricCategory on some rows
	CRLF           bool // \r\n line ends
	// Spelling of the job ID key in JSON answers, default "jobId".
	JobIDKey string
	// CreateStatus is the HTTP status of a successful export start, default 200.
	CreateStatus int
	// GenerationPerJob gives every job the next generation of data (see
	// Dataset.Generation), so that each export differs from the last.
	GenerationPerJob bool
	// Projects is how many projects each org has in PROJECT_FOLDER exports,
	// default 4.
	Projects int
	// ProjectNames, when set, replaces the demo project names.
	ProjectNames []string
	// EditRows, when set, changes the summary rows of a download: the rows
	// a job exports for the range it was asked for go in, what it returns
	// is served (and recorded by Served). Tests use it to serve real
	// exports' oddities: stray or future-dated rows, a window with no rows
	// yet.
	EditRows func(from, to time.Time, rows []Row) []Row
	// CallbackClient posts job statuses to the callbackUrl of the jobs
	// that have one, default a client with a 10-second timeout.
	CallbackClient *http.Client

	// Contract is what the licence, org and IPU alert resources answer,
	// default DemoContract.
	Contract *Contract
}

// Server is a running fake. All methods are safe for concurrent use.
type Server struct {
	opts Options
	mux  *http.ServeMux
	srv  *http.Server
	url  string

	mu       sync.Mutex
	data     Dataset
	sessions map[string]time.Time // ID -> last use
	issued   []string
	jobs     map[string]*job
	calls    map[string]int
	faults   []*Fault
	outcomes []Outcome
	served   []Row
	// servedProjects are the rows of PROJECT_FOLDER downloads,
	// servedAssets of ASSET downloads, servedRuns and servedExecutions of
	// job-level downloads.
	servedProjects   []ProjectRow
	servedAssets     []AssetRow
	servedRuns       []TaskRun
	servedExecutions []Execution
	requests         []Request
	rng              *rand.Rand
	generation       int
	jobOrder         []string // job IDs in the order they were created

	// autoCallbacks is set when jobs age in real time: each job's callback
	// is then posted by a timer when the job ends. With another JobClock,
	// tests post them with DeliverCallbacks.
	autoCallbacks  bool
	callbackTimers map[*time.Timer]bool
	callbacks      []Callback
	// posting counts callbacks being posted, for Close to wait for;
	// stopPosting cancels them.
	posting     sync.WaitGroup
	postCtx     context.Context
	stopPosting context.CancelFunc
}

// Callback records one post of a job's status to its callbackUrl.
type Callback struct {
	JobID, URL, Status string
	At                 time.Time // when the post was sent, real time
	Code               int       // the answer's status code, 0 when none arrived
	Err                string    // why no answer arrived
}

// Request records one call the fake answered, for tests that check what the
// exporter sent.
type Request struct {
	Endpoint string
	Method   string
	Path     string
	Body     map[string]any
	Session  string
}

type job struct {
	id      string
	created time.Time // on the calendar, Options.Now
	// began is when the job was created on Options.JobClock, which
	// measures its progress.
	began      time.Time
	start, end time.Time
	combined   bool
	kind       string // jobType: SUMMARY, PROJECT_FOLDER, ASSET, or jobLevel
	// meterID restricts an ASSET or job-level job to one meter; allMeters
	// is a job-level job's flag.
	meterID    string
	allMeters  bool
	orgs       []Org
	outcome    Outcome
	generation int
	// callback is the callbackUrl the job was created with, if any;
	// posted is set once its status has been posted there.
	callback string
	posted   bool
}

// Outcome sets how the next job ends.
type Outcome struct {
	Status       string // SUCCESS (default), PARTIAL_SUCCESS, FAILED or any other text
	ErrorMessage string
	// Never makes the job stay PROCESSING for ever.
	Never bool
}

// New returns a fake that is not yet listening; see Start.
func New(opts Options) *Server {
	if opts.Username == "" {
		opts.Username = "demo"
	}
	if opts.Password == "" {
		opts.Password = "demo-password"
	}
	if opts.Orgs == nil {
		opts.Orgs = DemoOrgs
	}
	if opts.Meters == nil {
		opts.Meters = DemoMeters
	}
	if opts.Days <= 0 {
		opts.Days = 120
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	autoCallbacks := opts.JobClock == nil
	if opts.JobClock == nil {
		opts.JobClock = time.Now
	}
	if opts.CallbackClient == nil {
		opts.CallbackClient = &http.Client{Timeout: 10 * time.Second}
	}
	if opts.CreatedFor == 0 {
		opts.CreatedFor = time.Second
	}
	if opts.ProcessingFor == 0 {
		opts.ProcessingFor = 2 * time.Second
	}
	opts.CreatedFor, opts.ProcessingFor = max(opts.CreatedFor, 0), max(opts.ProcessingFor, 0)
	if opts.SessionIdle == 0 {
		opts.SessionIdle = 30 * time.Minute
	}
	if opts.MaxActiveJobs == 0 {
		opts.MaxActiveJobs = 5
	}
	if opts.DateLayout == "" {
		opts.DateLayout = "2006-01-02"
	}
	if opts.TimeLayout == "" {
		opts.TimeLayout = "2006-01-02 15:04:05"
	}
	if opts.JobIDKey == "" {
		opts.JobIDKey = "jobId"
	}
	if opts.CreateStatus == 0 {
		opts.CreateStatus = http.StatusOK
	}
	s := &Server{
		opts:     opts,
		sessions: map[string]time.Time{},
		jobs:     map[string]*job{},
		calls:    map[string]int{},
		rng:      rand.New(rand.NewPCG(1, 2)),

		autoCallbacks:  autoCallbacks,
		callbackTimers: map[*time.Timer]bool{},
	}
	s.postCtx, s.stopPosting = context.WithCancel(context.Background())
	if opts.Projects == 0 {
		opts.Projects = 4
	}
	s.data = Dataset{Orgs: opts.Orgs, Meters: opts.Meters, AnnualFrom: opts.AnnualFrom, Projects: opts.Projects, ProjectNames: opts.ProjectNames}
	s.data.Last = day(opts.Now())
	s.data.First = s.data.Last.AddDate(0, 0, 1-opts.Days)

	s.mux = http.NewServeMux()
	s.mux.HandleFunc("POST /saas/public/core/v3/login", s.handleLogin)
	s.mux.HandleFunc("POST /saas/public/core/v3/logout", s.handleLogout)
	s.mux.HandleFunc("POST /saas/public/core/v3/license/metering/ExportMeteringDataAllLinkedOrgsAcrossRegion", s.handleExport)
	s.mux.HandleFunc("POST /saas/public/core/v3/license/metering/ExportMeteringData", s.handleExport)
	s.mux.HandleFunc("POST /saas/public/core/v3/license/metering/ExportServiceJobLevelMeteringData", s.handleExport)
	s.mux.HandleFunc("GET /saas/public/core/v3/license/metering/ExportMeteringData/{id}", s.handleStatus)
	s.mux.HandleFunc("GET /saas/public/core/v3/license/metering/ExportMeteringData/{id}/download", s.handleDownload)
	s.handleContract()
	return s
}

// Start listens on addr ("127.0.0.1:0" for any free port) and serves until
// Close.
func (s *Server) Start(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.StartListener(l, "http")
	return nil
}

// StartListener serves on l; scheme is "https" when l is a TLS listener.
func (s *Server) StartListener(l net.Listener, scheme string) {
	s.url = scheme + "://" + l.Addr().String()
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(l) }() // returns when Close stops it
}

// URL is the login URL of a started fake.
func (s *Server) URL() string { return s.url }

// Close stops the listener and closes every connection. Callbacks not yet
// posted are dropped, and those being posted are cancelled and waited for.
func (s *Server) Close() error {
	s.mu.Lock()
	for t := range s.callbackTimers {
		t.Stop()
	}
	clear(s.callbackTimers)
	// Under s.mu, so that no post starts after Wait has begun.
	s.stopPosting()
	s.mu.Unlock()
	s.posting.Wait()
	if s.srv == nil {
		return nil
	}
	return s.srv.Close()
}

// Username is the user name the fake accepts.
func (s *Server) Username() string { return s.opts.Username }

// Password is the password the fake accepts.
func (s *Server) Password() string { return s.opts.Password }

// LoginOrg is the org the account logs in to.
func (s *Server) LoginOrg() Org { return s.opts.Orgs[0] }

// Dataset returns the data the fake serves, for computing expected values.
func (s *Server) Dataset() Dataset {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.data
}

// SetGeneration changes the data of jobs started from now on: every value
// is scaled by (1 + g/1000).
func (s *Server) SetGeneration(g int) {
	s.mu.Lock()
	s.generation = g
	s.mu.Unlock()
}

// Served returns every row the fake has put into a downloaded ZIP, in order.
func (s *Server) Served() []Row {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Row(nil), s.served...)
}

// ServedProjects returns every row the fake has put into a downloaded
// PROJECT_FOLDER ZIP, in order.
func (s *Server) ServedProjects() []ProjectRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ProjectRow(nil), s.servedProjects...)
}

// ServedAssets returns every row the fake has put into a downloaded ASSET
// ZIP, in order.
func (s *Server) ServedAssets() []AssetRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]AssetRow(nil), s.servedAssets...)
}

// ServedTaskRuns returns every task run the fake has put into a downloaded
// job-level ZIP, in order.
func (s *Server) ServedTaskRuns() []TaskRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]TaskRun(nil), s.servedRuns...)
}

// ServedExecutions returns every execution row the fake has put into a
// downloaded job-level ZIP, in order.
func (s *Server) ServedExecutions() []Execution {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Execution(nil), s.servedExecutions...)
}

// ResetServed forgets the rows of every kind served so far.
func (s *Server) ResetServed() {
	s.mu.Lock()
	s.served, s.servedProjects, s.servedAssets, s.servedRuns, s.servedExecutions = nil, nil, nil, nil, nil
	s.mu.Unlock()
}

// Calls returns how many requests an endpoint has answered.
func (s *Server) Calls(endpoint string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[endpoint]
}

// Requests returns every request answered so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// SessionIDs returns every session ID the fake has issued.
func (s *Server) SessionIDs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.issued...)
}

// ExpireSessions invalidates every session, as Informatica does after 30
// idle minutes.
func (s *Server) ExpireSessions() {
	s.mu.Lock()
	clear(s.sessions)
	s.mu.Unlock()
}

// SetOutcomes queues how the next jobs end, one outcome per job started.
func (s *Server) SetOutcomes(o ...Outcome) {
	s.mu.Lock()
	s.outcomes = append(s.outcomes, o...)
	s.mu.Unlock()
}

// ActiveJobs counts jobs still CREATED or PROCESSING.
func (s *Server) ActiveJobs() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.activeJobs()
}

func (s *Server) activeJobs() int {
	n := 0
	for _, j := range s.jobs {
		if st := s.jobStatus(j); st == "CREATED" || st == "PROCESSING" {
			n++
		}
	}
	return n
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	endpoint := endpointOf(r)
	s.mu.Lock()
	s.calls[endpoint]++
	f := s.takeFault(endpoint)
	s.mu.Unlock()
	if f != nil && f.apply(w, r) {
		return
	}
	s.mux.ServeHTTP(w, r)
}

func endpointOf(r *http.Request) string {
	p := r.URL.Path
	switch {
	case strings.HasSuffix(p, "/login"):
		return EndpointLogin
	case strings.HasSuffix(p, "/logout"):
		return EndpointLogout
	case strings.HasSuffix(p, "/download"):
		return EndpointDownload
	case strings.Contains(p, "/license/org/"):
		return EndpointLicense
	case strings.Contains(p, "/api/v2/org"):
		return EndpointOrg
	case strings.Contains(p, "/metering/ipuAlert/"):
		return EndpointIPUAlert
	case r.Method == http.MethodPost:
		return EndpointExport
	default:
		return EndpointStatus
	}
}

func (s *Server) record(r *http.Request, endpoint string, body map[string]any) {
	s.requests = append(s.requests, Request{
		Endpoint: endpoint, Method: r.Method, Path: r.URL.Path, Body: body,
		Session: r.Header.Get("INFA-SESSION-ID"),
	})
}

func (s *Server) handleLogin(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "IDS_001", "Request body is not valid JSON.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(r, EndpointLogin, map[string]any{"username": body["username"]})
	if body["username"] != s.opts.Username || body["password"] != s.opts.Password {
		writeError(w, http.StatusUnauthorized, "IDS_085", "User name or password is not valid.")
		return
	}
	id := s.newID()
	s.sessions[id] = s.opts.Now()
	s.issued = append(s.issued, id)
	org := s.opts.Orgs[0]
	writeJSON(w, http.StatusOK, map[string]any{
		"products": []map[string]string{{"name": "Integration Cloud", "baseApiUrl": s.url + "/saas"}},
		"userInfo": map[string]any{
			"sessionId": id, "id": "9L1GFroXSDHe2IIg7QhBaT", "name": s.opts.Username,
			"parentOrgId": "52ZSTB0IDK6dXxaEQLUaQu", "orgId": org.ID, "orgName": org.Name,
			"groups": map[string]any{}, "status": "Active",
		},
	})
}

func (s *Server) handleLogout(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(r, EndpointLogout, nil)
	delete(s.sessions, r.Header.Get("INFA-SESSION-ID"))
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("{}"))
}

// authorize checks the session header; s.mu must be held.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	return s.authorizeHeader(w, r, "INFA-SESSION-ID")
}

// authorizeHeader checks the session ID in the given header (the v2 API
// takes it as icSessionId); s.mu must be held.
func (s *Server) authorizeHeader(w http.ResponseWriter, r *http.Request, header string) bool {
	id := r.Header.Get(header)
	last, ok := s.sessions[id]
	now := s.opts.Now()
	if !ok || now.Sub(last) > s.opts.SessionIdle {
		delete(s.sessions, id)
		writeError(w, http.StatusUnauthorized, "AUTH_01", "Invalid session ID or the session has expired.")
		return false
	}
	s.sessions[id] = now
	return true
}

func (s *Server) handleExport(w http.ResponseWriter, r *http.Request) {
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		writeError(w, http.StatusBadRequest, "MTR_001", "Request body is not valid JSON.")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(r, EndpointExport, body)
	if !s.authorize(w, r) {
		return
	}
	start, err1 := parseRequestTime(body["startDate"])
	end, err2 := parseRequestTime(body["endDate"])
	if err1 != nil || err2 != nil || end.Before(start) {
		writeError(w, http.StatusBadRequest, "MTR_002", "startDate and endDate must be ISO 8601 date/times with startDate before endDate.")
		return
	}
	orgs := s.opts.Orgs
	jobType := "SUMMARY"
	switch {
	case strings.HasSuffix(r.URL.Path, "/ExportMeteringData"):
		jobType = fmt.Sprint(body["jobType"])
		switch jobType {
		case "SUMMARY", "PROJECT_FOLDER":
			if !flag(body["allLinkedOrgs"]) {
				orgs = orgs[:1]
			}
		case "ASSET":
			// The requesting org only; allLinkedOrgs is not documented
			// for ASSET and is ignored [D 8].
			orgs = orgs[:1]
		default:
			writeError(w, http.StatusBadRequest, "MTR_004", "The fake serves jobType SUMMARY, PROJECT_FOLDER and ASSET, not "+jobType+".")
			return
		}
	case strings.HasSuffix(r.URL.Path, "/ExportServiceJobLevelMeteringData"):
		// The requesting org only [D 17]; no jobType.
		jobType, orgs = jobLevel, orgs[:1]
	}
	maxDays := 180
	if jobType == "PROJECT_FOLDER" || jobType == "ASSET" {
		maxDays = 30
	}
	if end.Sub(start) > time.Duration(maxDays)*24*time.Hour {
		writeError(w, http.StatusBadRequest, "MTR_003", fmt.Sprintf("The date range can be a maximum of %d days.", maxDays))
		return
	}
	meterID, allMeters, msg := s.meterSelection(jobType, body)
	if msg != "" {
		writeError(w, http.StatusBadRequest, "MTR_007", msg)
		return
	}
	now := s.opts.Now()
	if s.activeJobs() >= s.opts.MaxActiveJobs {
		writeError(w, http.StatusBadRequest, "MTR_005", "You can have a maximum of 5 active export jobs. Wait for a job to complete and try again.")
		return
	}
	if s.opts.GenerationPerJob {
		s.generation++
	}
	j := &job{
		id: s.newID(), created: now, began: s.opts.JobClock(), start: start, end: end, kind: jobType,
		meterID: meterID, allMeters: allMeters,
		combined: flag(body["combinedMeterUsage"]), orgs: orgs, generation: s.generation,
	}
	if len(s.outcomes) > 0 {
		j.outcome, s.outcomes = s.outcomes[0], s.outcomes[1:]
	}
	j.callback, _ = body["callbackUrl"].(string)
	s.jobs[j.id] = j
	s.jobOrder = append(s.jobOrder, j.id)
	s.scheduleCallback(j)
	writeJSON(w, s.opts.CreateStatus, s.jobJSON(j, "CREATED"))
}

func (s *Server) handleStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(r, EndpointStatus, nil)
	if !s.authorize(w, r) {
		return
	}
	j, ok := s.jobs[r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "MTR_404", "Export job not found.")
		return
	}
	writeJSON(w, http.StatusOK, s.jobJSON(j, s.jobStatus(j)))
}

func (s *Server) jobStatus(j *job) string {
	age := s.opts.JobClock().Sub(j.began)
	switch {
	case age < s.opts.CreatedFor:
		return "CREATED"
	case age < s.opts.CreatedFor+s.opts.ProcessingFor || j.outcome.Never:
		return "PROCESSING"
	case j.outcome.Status != "":
		return j.outcome.Status
	default:
		return "SUCCESS"
	}
}

func (s *Server) jobJSON(j *job, status string) map[string]any {
	org := s.opts.Orgs[0]
	m := map[string]any{
		s.opts.JobIDKey: j.id, "status": status, "orgId": org.ID, "userId": "9L1GFroXSDHe2IIg7QhBaT",
		"selectedOrgId": org.ID, "meterId": nil,
		"startDate": j.start.Format(time.RFC3339), "endDate": j.end.Format(time.RFC3339),
		"callbackUrl": nil, "createTime": j.created.UTC().Format(time.RFC3339),
		"updateTime": s.opts.Now().UTC().Format(time.RFC3339), "combinedMeterUsage": flagText(j.combined),
	}
	if j.callback != "" {
		m["callbackUrl"] = j.callback
	}
	if j.meterID != "" {
		m["meterId"] = j.meterID
	}
	if j.kind == jobLevel {
		// Documented as Boolean for job-level jobs only [D 9].
		m["allMeters"] = j.allMeters
	}
	if status != "CREATED" && status != "PROCESSING" && status != "SUCCESS" {
		msg := j.outcome.ErrorMessage
		if msg == "" {
			msg = "Exception occurred while processing request for org: " + org.ID
		}
		m["errorMessage"] = msg
	}
	return m
}

func (s *Server) handleDownload(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.record(r, EndpointDownload, nil)
	if !s.authorize(w, r) {
		return
	}
	j, ok := s.jobs[r.PathValue("id")]
	if !ok {
		writeError(w, http.StatusNotFound, "MTR_404", "Export job not found.")
		return
	}
	st := s.jobStatus(j)
	if st != "SUCCESS" && st != "PARTIAL_SUCCESS" {
		writeError(w, http.StatusBadRequest, "MTR_006", "Export job "+j.id+" is "+st+"; nothing to download.")
		return
	}
	orgs := j.orgs
	if st == "PARTIAL_SUCCESS" && len(orgs) > 1 {
		// Data for one linked org could not be gathered.
		orgs = orgs[:len(orgs)-1]
	}
	data := s.data
	data.Generation = j.generation
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", `attachment; filename="`+j.id+`.zip"`)
	if j.kind == "PROJECT_FOLDER" {
		rows := data.ProjectRows(orgs, j.start, j.end)
		s.servedProjects = append(s.servedProjects, rows...)
		w.Write(s.projectZIP(rows))
		return
	}
	rows := data.Rows(orgs, j.start, j.end)
	if s.opts.EditRows != nil {
		rows = s.opts.EditRows(j.start, j.end, rows)
	}
	switch j.kind {
	case "ASSET":
		w.Write(s.assetZIP(data.AssetsOf(j.meterRows(rows))))
	case jobLevel:
		w.Write(s.jobLevelZIP(&data, j.meterRows(rows), j.meterID))
	default:
		s.served = append(s.served, rows...)
		w.Write(s.zipRows(rows, j.combined))
	}
}

// columns is the documented SUMMARY header order.
var columns = []string{"OrgId", "MeterId", "MeterName", "Date", "BillingPeriodStartDate", "BillingPeriodEndDate", "MeterUsage", "IPU", "Scalar", "MetricCategory", "OrgName", "OrgType", "IPURate"}

// ZIP returns rows as an export ZIP in the fake's CSV shape: one CSV per
// meter, or one CSV when combined. Tests use it to make export files.
func (s *Server) ZIP(rows []Row, combined bool) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.zipRows(rows, combined)
}

// zipRows writes rows as one CSV per meter, or one CSV when combined; s.mu
// must be held.
func (s *Server) zipRows(rows []Row, combined bool) []byte {
	files := map[string][]Row{}
	var names []string
	for _, r := range rows {
		name := "IPU_Usage_Summary.csv"
		if !combined {
			name = "IPU_Usage_" + strings.ReplaceAll(r.Meter.Name, " ", "_") + ".csv"
		}
		if _, ok := files[name]; !ok {
			names = append(names, name)
		}
		files[name] = append(files[name], r)
	}
	if len(names) == 0 {
		// A range without usage: a file with the header alone.
		names = append(names, "IPU_Usage_Summary.csv")
	}
	cols := s.header(columns, "Environment", "Comment")
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range names {
		cw := s.csvFile(zw, name)
		_ = cw.Write(cols)
		for i, r := range files[name] {
			_ = cw.Write(s.csvRecord(cols, r, i))
		}
		cw.Flush()
	}
	zw.Close()
	return buf.Bytes()
}

func (s *Server) csvRecord(cols []string, r Row, i int) []string {
	rec := make([]string, len(cols))
	layout := s.opts.DateLayout
	null := s.opts.NullCells && i%5 == 3
	for c, name := range cols {
		switch name {
		case "OrgId":
			rec[c] = r.Org.ID
		case "MeterId":
			rec[c] = r.Meter.ID
		case "MeterName":
			rec[c] = r.Meter.Name
		case "Date":
			rec[c] = r.Date.Format(layout)
		case "BillingPeriodStartDate":
			rec[c] = r.BillingPeriodStart.Format(layout)
		case "BillingPeriodEndDate":
			rec[c] = r.BillingPeriodEnd.Format(layout)
		case "MeterUsage":
			rec[c] = strconv.FormatFloat(r.MeterUsage, 'f', -1, 64)
		case "IPU":
			rec[c] = strconv.FormatFloat(r.IPU, 'f', -1, 64)
		case "Scalar":
			rec[c] = r.Meter.Scalar
		case "MetricCategory":
			rec[c] = r.Meter.Category
			if null {
				rec[c] = "null"
			}
		case "OrgName":
			rec[c] = r.Org.Name
		case "OrgType":
			rec[c] = r.Org.Type
		case "IPURate":
			rec[c] = strconv.FormatFloat(r.Meter.Rate, 'f', -1, 64)
			if null {
				rec[c] = "null"
			}
		case "Environment":
			rec[c] = "Serverless, us-west"
		case "Comment":
			rec[c] = ""
		}
	}
	return rec
}

// projectColumns is a PROJECT_FOLDER header as public code reads it; the
// real one is not documented. Meter columns show that unknown ones are
// tolerated.
var projectColumns = []string{"Date", "Project", "Folder", "Org ID", "Org Type", "Meter ID", "Meter Name", "Consumption (IPUs)"}

// projectZIP writes project rows as one CSV; s.mu must be held.
func (s *Server) projectZIP(rows []ProjectRow) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	cw := s.csvFile(zw, "IPU_Usage_Project_Folder.csv")
	_ = cw.Write(projectColumns)
	for _, r := range rows {
		_ = cw.Write([]string{
			r.Date.Format(s.opts.DateLayout), r.Project, r.Folder, r.Org.ID, r.Org.Type,
			r.Meter.ID, r.Meter.Name, strconv.FormatFloat(r.IPU, 'f', -1, 64),
		})
	}
	cw.Flush()
	zw.Close()
	return buf.Bytes()
}

// newID returns a 22-character ID like Informatica's; s.mu must be held.
func (s *Server) newID() string {
	const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 22)
	for i := range b {
		b[i] = alphabet[s.rng.IntN(len(alphabet))]
	}
	return string(b)
}

func parseRequestTime(v any) (time.Time, error) {
	str, _ := v.(string)
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, str); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad date %q", str)
}

// flag reads a documented boolean, sent as "TRUE"/"FALSE" or as JSON.
func flag(v any) bool {
	switch v := v.(type) {
	case bool:
		return v
	case string:
		return strings.EqualFold(v, "TRUE")
	}
	return false
}

func flagText(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // as a failed Write: the client sees a short body
}

// writeError answers with Informatica's v3 error object.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]any{
		"code": code, "message": msg, "requestId": "8hQ3vKp0ZrLd2mW5yXn1Tb", "details": nil,
	}})
}
