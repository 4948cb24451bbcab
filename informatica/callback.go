package informatica

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Informatica posts a job's status to the job's callbackUrl when it ends.
// The exporter takes such a post as a hint, never as data: Wake makes the
// job's poller ask Informatica for the status at once, and the status it
// gets is the one that counts. Whoever can reach the callback URL can send
// a hint, so hints are rate-limited per job: a flood costs a few extra
// polls at most.
const (
	// wakeBurst is how many wakes a job may have in quick succession: one
	// for a post when the job starts processing, should Informatica send
	// one, and one for the post when it ends.
	wakeBurst = 2
	// wakeRefill is how long it takes to earn another wake once the burst
	// is spent.
	wakeRefill = time.Minute
)

// inflightJob is a job that WaitForJob is polling.
type inflightJob struct {
	// wake holds at most one pending wake: a wake that arrives while one
	// is pending adds nothing, since one poll answers both.
	wake chan struct{}
	// tokens is the job's wake budget, refilled on the client's Clock as of
	// refilled.
	tokens   float64
	refilled time.Time
}

// CheckCallbackURL checks a callback URL: empty (no callback), or an http(s)
// URL with a host and without credentials. Errors say what is wrong without
// quoting the URL: its path may hold the token that lets callbacks in.
func CheckCallbackURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("not an http(s) URL: scheme %q", u.Scheme)
	case u.Host == "":
		return errors.New("not an http(s) URL: no host")
	case u.User != nil:
		// Whether Informatica would send them is undocumented, and every
		// job status echoes the URL.
		return errors.New("must not hold credentials; put an unguessable token in its path instead")
	}
	return nil
}

// callbackNeedles returns what clean looks for to find the callback URL:
// the URL itself, and its path and query apart from it, since they hold the
// token that lets callbacks in, and a server may echo them with the host
// changed (lower case, a port added) or left out. A token echoed apart from
// its path is not looked for: which path segment is the token is the
// user's choice, and redacting each segment would blank words such as
// "callback" in every message.
func callbackNeedles(callbackURL string) []needle {
	if callbackURL == "" {
		return nil
	}
	n := secretNeedles(callbackURL)
	u, err := url.Parse(callbackURL)
	if err != nil {
		return n
	}
	for _, part := range []string{u.EscapedPath(), u.Path, strings.TrimRight(u.Path, "/"), u.RawQuery} {
		if part != "" && part != "/" {
			n = append(n, secretNeedles(part)...)
		}
	}
	return n
}

// Wake tells the client that Informatica has posted the status of job
// jobID: if WaitForJob is polling that job, it polls it at once instead of
// at its next poll, and goes on as usual from there. It reports whether the
// job is in flight. A job in flight is woken at most wakeBurst times in a
// row, then once per wakeRefill; wakes beyond that are ignored, and the
// poller keeps its own schedule. Wake never calls Informatica itself.
func (c *Client) Wake(jobID string) bool {
	id := strings.TrimSpace(jobID)
	if id == "" {
		return false
	}
	now := c.cfg.Clock.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	j := c.inflight[id]
	if j == nil {
		return false
	}
	if elapsed := now.Sub(j.refilled); elapsed > 0 {
		j.tokens = min(wakeBurst, j.tokens+float64(elapsed)/float64(wakeRefill))
		j.refilled = now
	}
	if len(j.wake) > 0 || j.tokens < 1 {
		return true
	}
	j.tokens--
	j.wake <- struct{}{}
	return true
}

// track registers a job WaitForJob is about to poll and returns its entry,
// whose channel the wakes arrive on; untrack undoes it.
func (c *Client) track(id string) *inflightJob {
	j := &inflightJob{wake: make(chan struct{}, 1), tokens: wakeBurst, refilled: c.cfg.Clock.Now()}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight == nil {
		c.inflight = map[string]*inflightJob{}
	}
	c.inflight[strings.TrimSpace(id)] = j
	return j
}

func (c *Client) untrack(id string, j *inflightJob) {
	id = strings.TrimSpace(id)
	c.mu.Lock()
	defer c.mu.Unlock()
	// Another WaitForJob of the same job may have replaced the entry.
	if c.inflight[id] == j {
		delete(c.inflight, id)
	}
}

// sleepOrWake sleeps d on the client's Clock, or until a wake arrives,
// whichever comes first. It returns an error only when ctx ends. The sleep
// is interrupted by cancelling its context, so that any Clock, tests'
// virtual ones included, can be woken.
func (c *Client) sleepOrWake(ctx context.Context, d time.Duration, wake <-chan struct{}) error {
	select {
	case <-wake:
		return ctx.Err()
	default:
	}
	sleepCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-wake:
			cancel()
		case <-sleepCtx.Done():
		}
	}()
	err := c.cfg.Clock.Sleep(sleepCtx, d)
	cancel()
	<-watched
	if err != nil && ctx.Err() == nil {
		return nil // woken
	}
	return err
}
