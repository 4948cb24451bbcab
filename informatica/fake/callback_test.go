package fake_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
	"time"

	"github.com/ipumon/informatica_exporter/informatica/fake"
)

// call sends a JSON request to the fake and decodes the answer.
func call(t *testing.T, method, url, session string, body any) map[string]any {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url, r)
	req.Header.Set("Content-Type", "application/json")
	if session != "" {
		req.Header.Set("INFA-SESSION-ID", session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d, %v", method, url, resp.StatusCode, err)
	}
	return out
}

// startJob logs in and starts a summary job with the given callbackUrl, and
// returns the session and the job ID.
func startJob(t *testing.T, f *fake.Server, callbackURL string) (string, string) {
	t.Helper()
	login := call(t, http.MethodPost, f.URL()+"/saas/public/core/v3/login", "",
		map[string]string{"username": f.Username(), "password": f.Password()})
	session := login["userInfo"].(map[string]any)["sessionId"].(string)
	job := call(t, http.MethodPost, f.URL()+"/saas/public/core/v3/license/metering/ExportMeteringDataAllLinkedOrgsAcrossRegion", session,
		map[string]string{"startDate": "2024-08-12T00:00:00Z", "endDate": "2024-09-12T00:00:00Z", "callbackUrl": callbackURL})
	if job["callbackUrl"] != callbackURL {
		t.Errorf("the create answer echoes callbackUrl %v, want %q", job["callbackUrl"], callbackURL)
	}
	return session, job["jobId"].(string)
}

// TestCallbackPostedWhenJobEnds: with jobs aging in real time, the fake posts
// a job's status to its callbackUrl by itself when the job ends, as the
// JSON a status request answers, once.
func TestCallbackPostedWhenJobEnds(t *testing.T) {
	posts := make(chan []byte, 10)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		posts <- b
		w.WriteHeader(http.StatusAccepted)
	}))
	defer recv.Close()
	f := fake.New(fake.Options{CreatedFor: 10 * time.Millisecond, ProcessingFor: 20 * time.Millisecond})
	if err := f.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	session, id := startJob(t, f, recv.URL+"/-/callback/token")

	var posted map[string]any
	select {
	case b := <-posts:
		if err := json.Unmarshal(b, &posted); err != nil {
			t.Fatalf("callback body %q: %v", b, err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("no callback within 2 minutes of a 30 ms job")
	}
	status := call(t, http.MethodGet, f.URL()+"/saas/public/core/v3/license/metering/ExportMeteringData/"+id, session, nil)
	delete(posted, "updateTime")
	delete(status, "updateTime")
	if !reflect.DeepEqual(posted, status) {
		t.Errorf("callback body %v\nis not the status answer %v", posted, status)
	}
	if posted["status"] != "SUCCESS" || posted["jobId"] != id {
		t.Errorf("callback body %v, want job %s SUCCESS", posted, id)
	}
	if n := f.DeliverCallbacks(); n != 0 {
		t.Errorf("DeliverCallbacks posted %d more; each job's callback is posted once", n)
	}
	// The post is recorded once its answer is in.
	deadline := time.Now().Add(2 * time.Minute)
	for len(f.Callbacks()) == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cb := f.Callbacks()
	if len(cb) != 1 || cb[0].JobID != id || cb[0].Code != http.StatusAccepted {
		t.Errorf("callbacks recorded %+v", cb)
	}
}

// TestCallbackFailureIgnored: a callback that cannot be delivered is
// recorded and not repeated, and the job is served as usual.
func TestCallbackFailureIgnored(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + l.Addr().String() + "/-/callback"
	l.Close()
	clock := time.Date(2024, 6, 15, 10, 0, 0, 0, time.UTC)
	now := func() time.Time { return clock }
	f := fake.New(fake.Options{CreatedFor: -1, ProcessingFor: -1, JobClock: now})
	if err := f.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	session, id := startJob(t, f, dead)
	if n := f.DeliverCallbacks(); n != 1 {
		t.Fatalf("DeliverCallbacks posted %d, want 1", n)
	}
	if cb := f.Callbacks(); len(cb) != 1 || cb[0].Code != 0 || cb[0].Err == "" {
		t.Errorf("callbacks recorded %+v, want one that failed", cb)
	}
	if n := f.DeliverCallbacks(); n != 0 {
		t.Errorf("a failed callback was posted again")
	}
	if st := call(t, http.MethodGet, f.URL()+"/saas/public/core/v3/license/metering/ExportMeteringData/"+id, session, nil); st["status"] != "SUCCESS" {
		t.Errorf("status %v after a failed callback, want SUCCESS", st["status"])
	}
}

// TestNoCallbacksAfterClose: a closed fake posts nothing, even for jobs
// that have ended.
func TestNoCallbacksAfterClose(t *testing.T) {
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("a callback was posted after Close")
	}))
	defer recv.Close()
	clock := time.Date(2024, 6, 15, 10, 0, 0, 0, time.UTC)
	f := fake.New(fake.Options{CreatedFor: -1, ProcessingFor: -1, JobClock: func() time.Time { return clock }})
	if err := f.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	startJob(t, f, recv.URL)
	f.Close()
	if n := f.DeliverCallbacks(); n != 0 || len(f.Callbacks()) != 0 {
		t.Errorf("callbacks after Close: %d posted, %v", n, f.Callbacks())
	}
}
