// A reference chat server for `make bench-compare`, in the shape of gorilla/websocket's chat
// example, the stack of the original Go project: one hub goroutine that owns the set of clients,
// a read goroutine and a write goroutine per client, a 256-message send queue per client, and a
// client whose queue is full is dropped by the hub.
//
// It speaks enough of WebSocketChat's protocol for the load generator: GET /ws?name=<nickname>,
// a hello event on connect, and every {"type":"message","text":...} a client sends goes to every
// client as {"type":"message","id":N,"name":...,"text":...,"ts":...}, one frame per message (the
// example's newline-joining of queued messages into one frame is left out, since it changes what
// clients receive). GET /healthz answers {"status":"ok","connections":N}.
//
// Build (Debian's golang-go and golang-github-gorilla-websocket-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o gorilla-hub main.go
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

const (
	// Time allowed to write a message to the peer.
	writeWait = 10 * time.Second
	// Time allowed to read the next pong message from the peer.
	pongWait = 60 * time.Second
	// Send pings to peer with this period. Must be less than pongWait.
	pingPeriod = (pongWait * 9) / 10
	// Maximum message size allowed from peer (the benchmark's MAX_MESSAGE_BYTES).
	maxMessageSize = 65536
	// Messages queued per client before the hub drops it.
	sendQueue = 256
)

var upgrader = websocket.Upgrader{
	ReadBufferSize:  1024,
	WriteBufferSize: 1024,
	CheckOrigin:     func(r *http.Request) bool { return true },
}

// An inbound chat message, before the hub numbers it.
type inbound struct {
	name string
	text string
	ts   string
}

type outMessage struct {
	Type string `json:"type"`
	ID   uint64 `json:"id"`
	Name string `json:"name"`
	Text string `json:"text"`
	TS   string `json:"ts"`
}

type clientMessage struct {
	Type string  `json:"type"`
	Text *string `json:"text"`
}

// Hub maintains the set of active clients and broadcasts messages to them.
type Hub struct {
	clients    map[*Client]bool
	broadcast  chan inbound
	register   chan *Client
	unregister chan *Client
	nextID     uint64
	open       int64
}

func newHub() *Hub {
	return &Hub{
		broadcast:  make(chan inbound, 256),
		register:   make(chan *Client),
		unregister: make(chan *Client),
		clients:    make(map[*Client]bool),
	}
}

func (h *Hub) run() {
	for {
		select {
		case client := <-h.register:
			h.clients[client] = true
		case client := <-h.unregister:
			if _, ok := h.clients[client]; ok {
				delete(h.clients, client)
				close(client.send)
			}
		case in := <-h.broadcast:
			h.nextID++
			message, err := json.Marshal(outMessage{"message", h.nextID, in.name, in.text, in.ts})
			if err != nil {
				continue
			}
			for client := range h.clients {
				select {
				case client.send <- message:
				default:
					close(client.send)
					delete(h.clients, client)
				}
			}
		}
	}
}

// Client is a middleman between the websocket connection and the hub.
type Client struct {
	hub  *Hub
	conn *websocket.Conn
	name string
	// Buffered channel of outbound messages.
	send chan []byte
}

// readPump pumps messages from the websocket connection to the hub.
func (c *Client) readPump() {
	defer func() {
		c.hub.unregister <- c
		c.conn.Close()
		atomic.AddInt64(&c.hub.open, -1)
	}()
	c.conn.SetReadLimit(maxMessageSize)
	c.conn.SetReadDeadline(time.Now().Add(pongWait))
	c.conn.SetPongHandler(func(string) error { c.conn.SetReadDeadline(time.Now().Add(pongWait)); return nil })
	for {
		_, message, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		// Any frame from the client counts as life, as in WebSocketChat.
		c.conn.SetReadDeadline(time.Now().Add(pongWait))
		text := string(message)
		var parsed clientMessage
		if json.Unmarshal(message, &parsed) == nil && parsed.Text != nil {
			text = *parsed.Text
		}
		text = strings.TrimSpace(text)
		if text == "" {
			continue
		}
		ts := time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
		c.hub.broadcast <- inbound{c.name, text, ts}
	}
}

// writePump pumps messages from the hub to the websocket connection, one frame per message.
func (c *Client) writePump() {
	ticker := time.NewTicker(pingPeriod)
	defer func() {
		ticker.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case message, ok := <-c.send:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if !ok {
				// The hub closed the channel.
				c.conn.WriteMessage(websocket.CloseMessage, []byte{})
				return
			}
			w, err := c.conn.NextWriter(websocket.TextMessage)
			if err != nil {
				return
			}
			w.Write(message)
			if err := w.Close(); err != nil {
				return
			}
		case <-ticker.C:
			c.conn.SetWriteDeadline(time.Now().Add(writeWait))
			if err := c.conn.WriteMessage(websocket.PingMessage, nil); err != nil {
				return
			}
		}
	}
}

func serveWs(hub *Hub, w http.ResponseWriter, r *http.Request) {
	conn, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	atomic.AddInt64(&hub.open, 1)
	name := r.URL.Query().Get("name")
	if name == "" {
		name = "guest"
	}
	client := &Client{hub: hub, conn: conn, name: name, send: make(chan []byte, sendQueue)}
	hello, _ := json.Marshal(map[string]string{"type": "hello", "name": name})
	client.send <- hello
	client.hub.register <- client

	go client.writePump()
	go client.readPump()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	hub := newHub()
	go hub.run()
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) { serveWs(hub, w, r) })
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"ok","connections":%d}`, atomic.LoadInt64(&hub.open))
	})
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Fprintf(os.Stderr, "listening on http://%s\n", listener.Addr())
	log.Fatal(http.Serve(listener, mux))
}
