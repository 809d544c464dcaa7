package api

import (
	"bufio"
	"crypto/sha1" //nolint:gosec // RFC 6455 fixes SHA-1 for the handshake
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/lightship-ci/lightship/plugins/logspout-route/internal/logs"
)

// The WebSocket form of /logs (logspout's httpstream): each line is one
// text message holding its JSON (logspout's Message), whatever the Accept
// header says. Only what a log stream needs of RFC 6455 is spoken: the
// server sends unfragmented text frames; from the client it reads frames
// only to answer ping and close.

// wsGUID is RFC 6455's key suffix (section 1.3).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// Frame opcodes (RFC 6455 section 5.2).
const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// isWebSocket reports an RFC 6455 upgrade request.
func isWebSocket(r *http.Request) bool {
	return headerHas(r.Header, "Connection", "upgrade") && strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func headerHas(h http.Header, name, token string) bool {
	for _, v := range h.Values(name) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// wsConn is the server side of one WebSocket.
type wsConn struct {
	conn net.Conn
	rw   *bufio.ReadWriter
	out  chan []byte // control frames the reader asks the writer to send
	done chan struct{}
}

// upgradeWebSocket answers the handshake and takes the connection over.
func upgradeWebSocket(w http.ResponseWriter, r *http.Request) (*wsConn, error) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if r.Method != http.MethodGet || key == "" || r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		http.Error(w, "Bad WebSocket handshake", http.StatusBadRequest)
		return nil, errors.New("bad websocket handshake")
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "WebSocket not supported here", http.StatusInternalServerError)
		return nil, errors.New("response cannot be hijacked")
	}
	conn, rw, err := hj.Hijack()
	if err != nil {
		return nil, fmt.Errorf("websocket hijack: %w", err)
	}
	sum := sha1.Sum([]byte(key + wsGUID)) //nolint:gosec // RFC 6455
	fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	if err := rw.Flush(); err != nil {
		conn.Close()
		return nil, fmt.Errorf("websocket handshake: %w", err)
	}
	c := &wsConn{conn: conn, rw: rw, out: make(chan []byte, 4), done: make(chan struct{})}
	go c.readFrames()
	return c, nil
}

// readFrames reads the client's frames: a ping is answered, a close (or
// any error) ends the socket.
func (c *wsConn) readFrames() {
	defer close(c.done)
	for {
		op, payload, err := readFrame(c.rw.Reader)
		if err != nil {
			return
		}
		switch op {
		case opPing:
			c.control(opPong, payload)
		case opClose:
			c.control(opClose, payload[:min(2, len(payload))])
			return
		}
	}
}

func (c *wsConn) control(op byte, payload []byte) {
	select {
	case c.out <- appendFrame(nil, op, payload):
	default:
	}
}

// readFrame reads one client frame (clients always mask, section 5.3).
func readFrame(r *bufio.Reader) (op byte, payload []byte, err error) {
	var h [2]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return 0, nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, err = io.ReadFull(r, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, err = io.ReadFull(r, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	if err != nil {
		return 0, nil, err
	}
	if h[1]&0x80 == 0 || n > 1<<16 {
		return 0, nil, errors.New("websocket: unmasked or oversized client frame")
	}
	var mask [4]byte
	if _, err := io.ReadFull(r, mask[:]); err != nil {
		return 0, nil, err
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	return h[0] & 0x0f, payload, nil
}

// appendFrame appends one unmasked, final server frame.
func appendFrame(b []byte, op byte, payload []byte) []byte {
	b = append(b, 0x80|op)
	switch n := len(payload); {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// send writes frames, flushing once.
func (c *wsConn) send(frames ...[]byte) error {
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for _, f := range frames {
		if _, err := c.rw.Write(f); err != nil {
			return err
		}
	}
	return c.rw.Flush()
}

// streamWebSocket sends t's lines as JSON text messages until the client
// goes or the request ends.
func streamWebSocket(w http.ResponseWriter, r *http.Request, t *liveTarget) {
	c, err := upgradeWebSocket(w, r)
	if err != nil {
		return
	}
	defer c.conn.Close()
	var frame []byte
	for {
		select {
		case <-r.Context().Done():
			return
		case <-c.done:
			_ = c.drainControl()
			return
		case f := <-c.out:
			if c.send(f) != nil {
				return
			}
		case l := <-t.ch:
			frame = appendFrame(frame[:0], opText, liveMessage(l))
			if c.send(frame) != nil {
				return
			}
		}
	}
}

// drainControl sends the answers the reader queued (its close echo).
func (c *wsConn) drainControl() error {
	for {
		select {
		case f := <-c.out:
			if err := c.send(f); err != nil {
				return err
			}
		default:
			return nil
		}
	}
}

// liveMessage is a line as logspout's JSON Message.
func liveMessage(l liveLine) []byte {
	var m liveJSON
	m.Container.ID, m.Container.Name = l.info.ID, l.info.Name
	m.Source, m.Data, m.Time = logs.StreamName(l.stream), string(l.data), time.Unix(0, l.ns).UTC()
	b, _ := json.Marshal(m)
	return b
}
