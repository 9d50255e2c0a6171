package devenv

import (
	"bytes"
	"net"
	"sync"
)

// FreezeProxy is a TCP proxy in front of a server that can freeze it as
// SIGSTOP would freeze a server process, for fault tests of a server that
// runs inside the test's own process (the embedded NATS): while frozen it
// moves no byte either way and holds new connections unanswered, so its
// clients see connections that stay open and a server that says nothing.
// A connection the server closes is closed to its client.
type FreezeProxy struct {
	ln     net.Listener
	target string

	mu     sync.Mutex
	thawed chan struct{} // closed while not frozen
	// on, when set, freezes the proxy when a client sends it (FreezeOn).
	on     []byte
	onDone chan struct{}
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewFreezeProxy listens on a free 127.0.0.1 port and forwards each
// connection to target (host:port). Close it when done.
func NewFreezeProxy(target string) (*FreezeProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &FreezeProxy{ln: ln, target: target, thawed: make(chan struct{}), conns: make(map[net.Conn]struct{})}
	close(p.thawed)
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *FreezeProxy) Addr() string { return p.ln.Addr().String() }

// Freeze stops every byte until Thaw.
func (p *FreezeProxy) Freeze() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
		p.thawed = make(chan struct{})
	default: // frozen already
	}
}

// FreezeOn freezes the proxy as soon as a client sends bytes that hold
// pattern, before they reach the server (a pattern split between two
// reads is not seen); the channel is closed then.
func (p *FreezeProxy) FreezeOn(pattern []byte) <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.on, p.onDone = bytes.Clone(pattern), make(chan struct{})
	return p.onDone
}

// sent freezes the proxy if b holds the FreezeOn pattern.
func (p *FreezeProxy) sent(b []byte) {
	p.mu.Lock()
	match := p.on != nil && bytes.Contains(b, p.on)
	if match {
		close(p.onDone)
		p.on, p.onDone = nil, nil
	}
	p.mu.Unlock()
	if match {
		p.Freeze()
	}
}

// Thaw lets the bytes held and the connections waiting through.
func (p *FreezeProxy) Thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.thawed:
	default:
		close(p.thawed)
	}
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines.
func (p *FreezeProxy) Close() error {
	err := p.ln.Close()
	p.Thaw()
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

// wait blocks while the proxy is frozen.
func (p *FreezeProxy) wait() {
	p.mu.Lock()
	ch := p.thawed
	p.mu.Unlock()
	<-ch
}

// track registers c to be closed by Close; false once the proxy is closed.
func (p *FreezeProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *FreezeProxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	_ = c.Close()
}

func (p *FreezeProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go p.serve(c)
	}
}

// serve connects client to the target once the proxy is thawed, and
// copies both ways until either side closes.
func (p *FreezeProxy) serve(client net.Conn) {
	defer p.wg.Done()
	defer p.untrack(client)
	p.wait()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return // the server is down: the client sees its connection closed
	}
	if !p.track(server) {
		return
	}
	defer p.untrack(server)
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		defer func() { done <- struct{}{} }()
		buf := make([]byte, 32<<10)
		for {
			p.wait()
			n, err := src.Read(buf)
			if n > 0 {
				if src == client {
					p.sent(buf[:n])
				}
				p.wait() // bytes read as the freeze began are held, not delivered
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				return
			}
		}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done // one side closed: close both (the deferred untracks), which ends the other
	_ = client.Close()
	_ = server.Close()
	<-done
}
