package informatica

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"
)

// Stage names the step of an export run that failed. The exporter counts
// failures by stage, so every error this package returns from an export run
// carries one.
type Stage string

// The stages, one per step of an export run.
const (
	StageLogin    Stage = "login"
	StageExport   Stage = "export"
	StagePoll     Stage = "poll"
	StageDownload Stage = "download"
	StageParse    Stage = "parse"
)

// Stages lists every stage, in the order an export run passes through them.
var Stages = []Stage{StageLogin, StageExport, StagePoll, StageDownload, StageParse}

// StageError attributes an error to the stage of the export run it happened in.
type StageError struct {
	Stage Stage
	Err   error
}

func (e *StageError) Error() string { return e.Err.Error() }
func (e *StageError) Unwrap() error { return e.Err }

// StageOf returns the stage an error happened in, or "" when it carries none.
func StageOf(err error) Stage {
	var se *StageError
	if errors.As(err, &se) {
		return se.Stage
	}
	return ""
}

// withStage attributes err to stage unless an inner error already names one:
// a login that fails while polling is a login failure, not a poll failure.
func withStage(stage Stage, err error) error {
	if err == nil || StageOf(err) != "" {
		return err
	}
	return &StageError{Stage: stage, Err: err}
}

// ErrJobMayBeRunning is wrapped by the error of a request to start an export
// job that failed after it may have reached Informatica: a timeout, a
// connection lost after sending, an answer such as 502 or 504 from a proxy
// or Informatica. Such a request is not repeated, since that could start a
// second job; the first may still be running, and counts against
// Informatica's limit of active jobs until it ends.
var ErrJobMayBeRunning = errors.New("an export job may have been left running at Informatica")

// ErrJobTimeout is wrapped by the error of an export job that did not
// finish, download included, within Config.JobTimeout.
var ErrJobTimeout = errors.New("the export job ran out of time (refresh.job_timeout)")

// APIError is an error answer from Informatica: a status other than 2xx, or
// Informatica's error object whatever the status.
type APIError struct {
	StatusCode int
	// Code and Message come from Informatica's error object when the body
	// holds one (v3: error.code/error.message, v2: code/description).
	Code      string
	Message   string
	RequestID string
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP %d", e.StatusCode)
	if e.StatusCode >= 200 && e.StatusCode < 300 {
		b.WriteString(" with an error object")
	}
	if e.Code != "" {
		b.WriteString(" ")
		b.WriteString(e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	if e.RequestID != "" {
		fmt.Fprintf(&b, " (request ID %s)", e.RequestID)
	}
	return b.String()
}

// retryable reports whether the same request may succeed when sent again.
func (e *APIError) retryable() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode >= 500
}

// notStarted reports whether the answer says the request was turned away
// before any work on it began: too many requests, or the service is not
// taking any. A 500, 502 or 504 may come after the work began.
func (e *APIError) notStarted() bool {
	return e.StatusCode == http.StatusTooManyRequests || e.StatusCode == http.StatusServiceUnavailable
}

// errorBody holds both documented error objects: v3 nests them under "error",
// v2 puts them at the top level. JSON field matching is case-insensitive, so
// "requestId" and "requestID" both land in RequestID.
type errorBody struct {
	Error *struct {
		Code      any    `json:"code"`
		Message   string `json:"message"`
		RequestID string `json:"requestId"`
	} `json:"error"`
	Code        any    `json:"code"`
	Description string `json:"description"`
	Message     string `json:"message"`
}

// errorObject returns the APIError of a 2xx answer whose body is
// Informatica's error object, v3 {"error":{...}} or v2 {"@type":"error",...},
// and nil for any other body.
func errorObject(status int, body []byte, clean func(string) string) *APIError {
	var probe struct {
		Error json.RawMessage `json:"error"`
		Type  string          `json:"@type"`
	}
	if json.Unmarshal(body, &probe) != nil {
		return nil
	}
	if bytes.HasPrefix(bytes.TrimSpace(probe.Error), []byte("{")) || strings.EqualFold(strings.TrimSpace(probe.Type), "error") {
		return parseAPIError(status, body, clean)
	}
	return nil
}

// parseAPIError turns an error answer into an APIError. The fields are
// made valid UTF-8, cleared of secrets by clean and shortened, because
// error bodies can echo raw upstream text.
func parseAPIError(status int, body []byte, clean func(string) string) *APIError {
	e := &APIError{StatusCode: status}
	// Before decoding: encoding/json would turn Windows-1252 text into
	// U+FFFD instead of the characters it means.
	body = validUTF8Bytes(body)
	var eb errorBody
	if json.Unmarshal(body, &eb) == nil {
		switch {
		case eb.Error != nil:
			e.Code = scalarString(eb.Error.Code)
			e.Message = eb.Error.Message
			e.RequestID = eb.Error.RequestID
		default:
			e.Code = scalarString(eb.Code)
			e.Message = eb.Description
			if e.Message == "" {
				e.Message = eb.Message
			}
		}
	} else if len(body) > 0 {
		e.Message = string(body)
	}
	e.Code = Shorten(clean(e.Code), 64)
	e.Message = Shorten(clean(e.Message), 200)
	e.RequestID = Shorten(clean(e.RequestID), 64)
	return e
}

// scalarString renders an error code that may arrive as a string or a number.
func scalarString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return fmt.Sprintf("%g", v)
	default:
		return fmt.Sprint(v)
	}
}

// Shorten collapses white space and markup-heavy text from Informatica into
// one line of valid UTF-8 of at most limit runes, so an upstream HTML page or
// stack trace stays readable in a log line.
func Shorten(s string, limit int) string {
	s = strings.Join(strings.Fields(stripTags(ValidUTF8(s))), " ")
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	runes := []rune(s)
	return string(runes[:limit-1]) + "…"
}

// stripTags removes HTML tags; an errorMessage can carry a whole error page.
func stripTags(s string) string {
	if !strings.Contains(s, "<") {
		return s
	}
	var b strings.Builder
	inTag := false
	for _, r := range s {
		switch {
		case r == '<':
			inTag = true
		case r == '>' && inTag:
			inTag = false
			b.WriteByte(' ')
		case !inTag:
			b.WriteRune(r)
		}
	}
	return b.String()
}
