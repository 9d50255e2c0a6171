package teamsim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Delay is a distribution of waits: a fixed wait ("30s"), a uniform one
// ("1s..30s") or an exponential one with a mean ("exp:2m"), capped at ten
// times its mean so that a run ends. The zero Delay is no wait.
type Delay struct {
	Min, Max time.Duration // uniform [Min, Max]; fixed when equal
	Mean     time.Duration // exponential when positive (Min and Max unused)
}

// ParseDelay reads a Delay: "30s", "1s..30s", "exp:2m"; a plain number is
// milliseconds, as elsewhere in the simulator's flags.
func ParseDelay(s string) (Delay, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Delay{}, nil
	}
	if mean, ok := strings.CutPrefix(s, "exp:"); ok {
		m, err := parseDuration(mean)
		if err != nil || m <= 0 {
			return Delay{}, fmt.Errorf("delay %q: exp: needs a positive mean such as exp:2m", s)
		}
		return Delay{Mean: m}, nil
	}
	lo, hi, uniform := strings.Cut(s, "..")
	a, err := parseDuration(lo)
	if err != nil {
		return Delay{}, fmt.Errorf("delay %q: %w", s, err)
	}
	b := a
	if uniform {
		if b, err = parseDuration(hi); err != nil {
			return Delay{}, fmt.Errorf("delay %q: %w", s, err)
		}
	}
	d := Delay{Min: a, Max: b}
	return d, d.validate()
}

func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	var ms int64
	if _, err := fmt.Sscanf(s, "%d", &ms); err == nil && fmt.Sprint(ms) == s {
		return time.Duration(ms) * time.Millisecond, nil
	}
	return time.ParseDuration(s)
}

func (d Delay) validate() error {
	switch {
	case d.Mean < 0 || d.Min < 0 || d.Max < 0:
		return fmt.Errorf("delay %s: must not be negative", d)
	case d.Mean == 0 && d.Max < d.Min:
		return fmt.Errorf("delay %s: the upper bound is below the lower", d)
	}
	return nil
}

// String is the form ParseDelay reads.
func (d Delay) String() string {
	switch {
	case d.Mean > 0:
		return "exp:" + d.Mean.String()
	case d.Min == d.Max:
		return d.Min.String()
	}
	return d.Min.String() + ".." + d.Max.String()
}

// draw returns a wait from the distribution.
func (d Delay) draw(rng *rand.Rand) time.Duration {
	switch {
	case d.Mean > 0:
		return min(time.Duration(rng.ExpFloat64()*float64(d.Mean)), 10*d.Mean)
	case d.Max > d.Min:
		return d.Min + time.Duration(rng.Int64N(int64(d.Max-d.Min)+1))
	}
	return d.Min
}

// share reports whether a user-level fixed trait of probability p holds
// for key: the same key always gives the same answer.
func share(p float64, seed int64, key string) bool {
	if p <= 0 {
		return false
	}
	h := hash64(fmt.Sprint(seed) + "|" + key)
	return float64(h>>11)/(1<<53) < p
}
