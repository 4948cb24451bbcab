package informatica

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

// stillClock is a Clock that moves only when the test says.
type stillClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *stillClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stillClock) Sleep(ctx context.Context, d time.Duration) error { return ctx.Err() }

func (c *stillClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// TestWakeRateLimit: a job in flight takes two wakes in a row, then one a
// minute; a wake while one is pending costs nothing and adds nothing.
func TestWakeRateLimit(t *testing.T) {
	clock := &stillClock{now: time.Date(2024, 6, 15, 10, 0, 0, 0, time.UTC)}
	c, err := NewClient(Config{LoginURL: "https://dm-us.informaticacloud.com", Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	const id = "4l1eKlA9ngChmu6gdv3FKs"
	j := c.track(id)
	// taken reports whether a wake is pending, and takes it as the poller
	// does.
	taken := func() bool {
		select {
		case <-j.wake:
			return true
		default:
			return false
		}
	}
	step := func(what string, wakes int, want bool) {
		t.Helper()
		for range wakes {
			if !c.Wake(id) {
				t.Fatalf("%s: Wake = false for the job in flight", what)
			}
		}
		if got := taken(); got != want {
			t.Errorf("%s: woken %v, want %v", what, got, want)
		}
	}
	// A flood spends one token: the other wakes find a wake pending.
	step("a flood", 100, true)
	step("the next wake", 1, true) // the second token
	step("a third wake", 1, false) // none left
	clock.advance(30 * time.Second)
	step("after 30s", 1, false) // half a token
	clock.advance(30 * time.Second)
	step("after a minute", 5, true)
	// Ten minutes refill the burst, no more.
	clock.advance(10 * time.Minute)
	step("after 10 minutes", 1, true)
	step("and again", 1, true)
	step("and a third time", 1, false)
	if !c.Wake(" " + id + "\n") {
		t.Errorf("a job ID with spaces around it is not recognised")
	}
	c.untrack(id, j)
	if c.Wake(id) {
		t.Errorf("Wake = true after the job is no longer in flight")
	}
}

// TestWakeEndsSleep: a wake ends a poll delay at once, on a clock whose
// sleeps would otherwise last; without a wake the sleep runs its course.
func TestWakeEndsSleep(t *testing.T) {
	c, err := NewClient(Config{LoginURL: "https://dm-us.informaticacloud.com", Clock: realClock{}})
	if err != nil {
		t.Fatal(err)
	}
	wake := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() { done <- c.sleepOrWake(context.Background(), time.Hour, wake) }()
	wake <- struct{}{}
	if err := <-done; err != nil {
		t.Errorf("woken sleep: %v", err)
	}
	// A wake pending before the sleep ends it before it starts.
	wake <- struct{}{}
	if err := c.sleepOrWake(context.Background(), time.Hour, wake); err != nil {
		t.Errorf("sleep with a wake pending: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.sleepOrWake(ctx, time.Hour, wake); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled sleep: %v, want context.Canceled", err)
	}
	if err := c.sleepOrWake(context.Background(), time.Millisecond, wake); err != nil {
		t.Errorf("sleep without a wake: %v", err)
	}
}
