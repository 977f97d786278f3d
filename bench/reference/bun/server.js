// A reference chat server for `make bench-compare`: Bun's built-in WebSocket server (uWebSockets
// inside), the fastest WebSocket server we know of, with its own publish/subscribe doing the
// fan-out in native code. One event loop, one thread.
//
// It speaks enough of WebSocketChat's protocol for the load generator: GET /ws?name=<nickname>,
// a hello event on connect, and every {"type":"message","text":...} a client sends goes to every
// client as {"type":"message","id":N,"name":...,"text":...,"ts":...}. A client more than 1 MiB
// behind is closed, as SEND_BUFFER_BYTES closes ours. GET /healthz answers
// {"status":"ok","connections":N}.
//
// Run: bun server.js (PORT, default 0: a free port on 127.0.0.1). With TLS_CERT and TLS_KEY (PEM
// files) it serves wss:// instead, for (c-tls).
let nextId = 1;
let connections = 0;

const server = Bun.serve({
  hostname: "127.0.0.1",
  port: Number(process.env.PORT ?? 0),
  tls: process.env.TLS_CERT
    ? { cert: Bun.file(process.env.TLS_CERT), key: Bun.file(process.env.TLS_KEY) }
    : undefined,
  fetch(req, server) {
    const url = new URL(req.url);
    if (url.pathname === "/healthz") {
      return Response.json({ status: "ok", connections });
    }
    if (url.pathname === "/ws") {
      const name = url.searchParams.get("name") || "guest";
      if (server.upgrade(req, { data: { name } })) return;
      return new Response("not a WebSocket upgrade", { status: 400 });
    }
    return new Response("not found", { status: 404 });
  },
  websocket: {
    maxPayloadLength: 64 * 1024,
    backpressureLimit: 1024 * 1024,
    closeOnBackpressureLimit: true,
    idleTimeout: 75,
    sendPings: true,
    open(ws) {
      connections++;
      ws.subscribe("chat");
      ws.send(JSON.stringify({ type: "hello", name: ws.data.name }));
    },
    message(ws, raw) {
      let text;
      try {
        text = JSON.parse(raw).text;
      } catch {
        return;
      }
      if (typeof text !== "string") return;
      const event = { type: "message", id: nextId++, name: ws.data.name, text, ts: new Date().toISOString() };
      server.publish("chat", JSON.stringify(event));
    },
    close() {
      connections--;
    },
  },
});
console.error(`bun reference listening on 127.0.0.1:${server.port}`);
