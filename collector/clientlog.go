package collector

import (
	"fmt"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/ipumon/informatica_exporter/informatica"
)

// LogClient sets the hooks of cfg that log what its client does to
// logger: warnings at warn, every HTTP request at debug, for Informatica's
// support, and each step of each export job through progress: level.Info
// for a command someone waits on, level.Debug for the exporter's refreshes.
// What the client reports holds no secret.
func LogClient(cfg *informatica.Config, logger log.Logger, progress func(log.Logger) log.Logger) {
	cfg.OnWarning = func(msg string, keyvals ...any) {
		level.Warn(logger).Log(append([]any{"msg", msg}, keyvals...)...)
	}
	cfg.OnCall = func(c informatica.Call) {
		kv := []any{"msg", "Informatica call", "endpoint", c.Endpoint, "method", c.Method, "path", c.Path}
		if c.JobID != "" {
			kv = append(kv, "job_id", c.JobID)
		}
		kv = append(kv, "attempt", c.Attempt, "status", c.Code, "duration_seconds", c.Duration.Seconds(), "bytes", c.Bytes)
		if c.RequestID != "" {
			kv = append(kv, "request_id", c.RequestID)
		}
		if c.Err != "" {
			kv = append(kv, "err", c.Err)
		}
		level.Debug(logger).Log(kv...)
	}
	cfg.OnJob = func(j informatica.JobEvent) {
		kv := []any{
			"msg", jobMessages[j.Step], "job", fmt.Sprintf("%d of %d", j.Job, j.Jobs), "resource", j.Resource,
			"from", j.Range.Start.Format(rangeTime), "to", j.Range.End.Format(rangeTime), "job_id", j.JobID, "status", j.Status,
		}
		if j.Step == informatica.JobRead {
			kv = append(kv, "rows", j.Rows, "bytes", j.Bytes)
		}
		progress(logger).Log(kv...)
	}
}

// rangeTime is how an export job's range is logged: as it is requested.
const rangeTime = "2006-01-02T15:04:05Z"

var jobMessages = map[informatica.JobStep]string{
	informatica.JobStarted:       "Export job started",
	informatica.JobStatusChanged: "Export job status changed",
	informatica.JobRead:          "Export job read",
}
