// wsguard used like any npm package. The web target needs one `await init()`.
import init, { Client } from "wsguard";

const params = new URLSearchParams(location.search);
const url = params.get("ws") || `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
const room = params.get("room") || "webpack:demo";

await init();
const client = new Client(url, { token: params.get("user") || "webpack-user" });
client.on("state", (state) => { document.getElementById("state").textContent = state; });
client.on("message", (frame) => {
  const li = document.createElement("li");
  li.textContent = `#${frame.seq} ${frame.from ?? "server"}: ${frame.data.text}`;
  document.getElementById("messages").append(li);
});
await client.connect();
await client.join(room);
document.body.dataset.joined = room;
