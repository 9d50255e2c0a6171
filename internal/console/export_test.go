package console

// Watching is the number of broadcasts the live hub polls now; Reads the
// counter reads it made.
func (c *Console) Watching() int { return c.live.watching() }
func (c *Console) Reads() int64  { return c.live.reads.Load() }
