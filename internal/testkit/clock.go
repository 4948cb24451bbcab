package testkit

import (
	"context"
	"slices"
	"sync"
	"time"
)

// StepClock is a virtual clock with the methods of informatica.Clock. Now
// stands still until the test moves it; Sleep returns once the test has
// moved the clock to the sleep's end, or early when its context ends, the
// way a client's poller is woken. A test sees when the code under test
// sleeps, and decides when each sleep ends, instead of racing timers.
type StepClock struct {
	mu       sync.Mutex
	now      time.Time
	sleepers map[*stepSleeper]bool
	sleeps   []time.Duration
}

type stepSleeper struct {
	until time.Time
	done  chan struct{}
}

// NewStepClock returns a clock standing at t.
func NewStepClock(t time.Time) *StepClock {
	return &StepClock{now: t, sleepers: map[*stepSleeper]bool{}}
}

// Now returns the time the clock stands at.
func (c *StepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep waits until the clock reaches now+d, or ctx ends.
func (c *StepClock) Sleep(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.sleeps = append(c.sleeps, d)
	if d <= 0 {
		c.mu.Unlock()
		return ctx.Err()
	}
	s := &stepSleeper{until: c.now.Add(d), done: make(chan struct{})}
	c.sleepers[s] = true
	c.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		c.mu.Lock()
		delete(c.sleepers, s)
		c.mu.Unlock()
		return ctx.Err()
	}
}

// AdvanceTo moves the clock to t, if that is later, and ends the sleeps
// due by then.
func (c *StepClock) AdvanceTo(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if t.After(c.now) {
		c.now = t
	}
	for s := range c.sleepers {
		if !s.until.After(c.now) {
			close(s.done)
			delete(c.sleepers, s)
		}
	}
}

// Advance moves the clock on by d and ends the sleeps due by then.
func (c *StepClock) Advance(d time.Duration) { c.AdvanceTo(c.Now().Add(d)) }

// Sleeping returns when each sleep in progress ends, soonest first.
func (c *StepClock) Sleeping() []time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []time.Time
	for s := range c.sleepers {
		out = append(out, s.until)
	}
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// Sleeps returns every duration Sleep was asked for, in order.
func (c *StepClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}

// InstantClock is a virtual clock with the methods of informatica.Clock
// whose sleeps pass at once: Sleep moves Now on by its duration and records
// it. A job that takes ten minutes of polling runs in no time.
type InstantClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

// NewInstantClock returns a clock standing at t.
func NewInstantClock(t time.Time) *InstantClock { return &InstantClock{now: t} }

// Now returns the time the clock stands at.
func (c *InstantClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep moves the clock on by d at once, unless ctx has ended.
func (c *InstantClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(max(d, 0))
	return nil
}

// Advance moves time on without recording a sleep, like idle time between
// refreshes.
func (c *InstantClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// Sleeps returns every sleep asked for so far.
func (c *InstantClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sleeps)
}
