package config

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"
)

// Env reads the variables of a binary that also takes flags (cmd/teamsim:
// a variable is a flag's default), with the services' rules: NAME_FILE
// for any variable (Lookup), and an error naming the variable for a
// malformed value. Each getter returns the variable's value, or def if it
// is unset or malformed; Err says which were malformed.
type Env struct{ r reader }

// NewEnv reads variables through getenv.
func NewEnv(getenv func(string) string) *Env { return &Env{r: reader{getenv: getenv}} }

// Str reads a string.
func (e *Env) Str(name, def string) string { return e.r.str(name, def) }

// Int reads a whole number.
func (e *Env) Int(name string, def int) int { return e.r.int(name, def, math.MinInt) }

// Int64 reads a whole number.
func (e *Env) Int64(name string, def int64) int64 {
	s := e.r.str(name, "")
	if s == "" {
		return def
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		e.r.errs = append(e.r.errs, fmt.Errorf("%s: %q is not a whole number", name, s))
		return def
	}
	return v
}

// Float reads a number.
func (e *Env) Float(name string, def float64) float64 {
	return e.r.float(name, def, -math.MaxFloat64)
}

// Bool reads true or false (as strconv.ParseBool).
func (e *Env) Bool(name string, def bool) bool {
	s := e.r.str(name, "")
	if s == "" {
		return def
	}
	v, err := strconv.ParseBool(s)
	if err != nil {
		e.r.errs = append(e.r.errs, fmt.Errorf("%s: %q is not true or false", name, s))
		return def
	}
	return v
}

// Duration reads a duration such as 20ms, or a whole number of
// milliseconds; 0 is allowed.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	s := e.r.str(name, "")
	if s == "" {
		return def
	}
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil && ms >= 0 {
		return time.Duration(ms) * time.Millisecond
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		e.r.errs = append(e.r.errs, fmt.Errorf("%s: %q is not a duration such as 20ms, nor milliseconds", name, s))
		return def
	}
	return v
}

// Err joins the errors of the malformed variables read so far.
func (e *Env) Err() error { return errors.Join(e.r.errs...) }
