// Benchmark peer: Node `ws` broadcast server. Every text frame is sent to every other client.
// node node-ws.mjs 127.0.0.1:PORT
import { WebSocketServer, WebSocket } from "ws";

const [host, port] = (process.argv[2] || "127.0.0.1:3002").split(":");
const wss = new WebSocketServer({ host, port: Number(port) });
wss.on("connection", (ws) => {
  ws.on("message", (data, isBinary) => {
    for (const client of wss.clients) {
      if (client !== ws && client.readyState === WebSocket.OPEN) client.send(data, { binary: isBinary });
    }
  });
});
wss.on("listening", () => console.log(`listening on ${host}:${port}`));
