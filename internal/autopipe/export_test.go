package autopipe

// Waiting is how many calls wait for a batch to be sent.
func (p *Pipe) Waiting() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}
