"use strict";
// Load generator for colyseus_server.js: K rooms, two random bots each; a bot moves when a
// state patch shows its turn, seat 0 restarts a finished game. Prints "ready" once every
// bot has its first state, "start" after the warm-up and "end <moves> <games>" after the
// measured window (see measure() in tictactoe.js).
// Usage: node colyseus_load.js PORT K WARMUP_S SECONDS
const http = require("http");
// Matchmaking requests on fresh connections: Node's default agent keeps connections alive,
// and a slow server (under valgrind: bench/instructions.py) closed an idle one after its
// 5 s keep-alive timeout just as the next request went out on it ("socket hang up").
http.globalAgent = new http.Agent({ keepAlive: false });
const { Client } = require("colyseus.js");
const { randomEmpty, seated, moved, restarted, measure } = require("./tictactoe.js");

const [port, sessions, warmup, seconds] = process.argv.slice(2).map(Number);

function bot(room, seat) {
  // Seats are given in join order (the server's onJoin).
  let acted = -1; // the patch we last acted on
  let patches = 0;
  room.onMessage("illegal", () => { console.error("illegal move"); });
  room.onStateChange((state) => {
    if (patches++ === 0) seated();
    if (acted === patches) return;
    if (state.gameover) {
      if (seat === 0) {
        acted = patches;
        restarted();
        room.send("restart");
      }
    } else if (state.current === seat) {
      acted = patches;
      moved();
      room.send("move", randomEmpty(state.board));
    }
  });
}

async function main() {
  const client = new Client(`ws://127.0.0.1:${port}`);
  for (let n = 0; n < sessions; n++) {
    const first = await client.create("tictactoe");
    bot(first, 0);
    bot(await client.joinById(first.roomId), 1);
  }
  measure(2 * sessions, warmup, seconds);
}

main().catch((err) => { console.error(err); process.exit(1); });
