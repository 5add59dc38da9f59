// Benchmark peer: socket.io server (websocket transport); every `msg` event is broadcast to every other socket.
// node socketio.mjs 127.0.0.1:PORT
import { createServer } from "node:http";
import { Server } from "socket.io";

const [host, port] = (process.argv[2] || "127.0.0.1:3003").split(":");
const http = createServer();
const io = new Server(http, { transports: ["websocket"] });
io.on("connection", (socket) => {
  socket.on("msg", (data) => socket.broadcast.emit("msg", data));
});
http.listen(Number(port), host, () => console.log(`listening on ${host}:${port}`));
