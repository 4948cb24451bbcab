package informatica

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Stage names the step of an export run that failed. The exporter counts
// failures by stage, so every error this package returns from an export run
// carries one.
type Stage string

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

// APIError is an answer from Informatica with a status other than 2xx.
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
	return e.StatusCode == 429 || e.StatusCode >= 500
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

// parseAPIError turns a non-2xx answer into an APIError. The message is
// shortened and passed through redact, because error bodies can echo raw
// upstream text.
func parseAPIError(status int, body []byte, redact func(string) string) *APIError {
	e := &APIError{StatusCode: status}
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
	e.Code = Shorten(redact(e.Code), 64)
	e.Message = Shorten(redact(e.Message), 200)
	e.RequestID = Shorten(redact(e.RequestID), 64)
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
// one line of at most max runes, so an upstream HTML page or stack trace stays
// readable in a log line.
func Shorten(s string, max int) string {
	s = strings.Join(strings.Fields(stripTags(s)), " ")
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	runes := []rune(s)
	return string(runes[:max-1]) + "…"
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
