"use strict";
// Load generator for boardgameio_server.js: K matches made through the lobby API, two
// random bots each (boardgame.io clients over socket.io); a bot moves when an update shows
// its turn, and the player whose turn it is restarts a finished game. Prints "ready" once
// every bot has its first state, "start" after the warm-up and "end <moves> <games>" after
// the measured window (see measure() in tictactoe.js).
// Usage: node boardgameio_load.js PORT K WARMUP_S SECONDS
const { Client, LobbyClient } = require("boardgame.io/client");
const { SocketIO } = require("boardgame.io/multiplayer");
const { TicTacToe } = require("./boardgameio_game.js");
const { randomEmpty, seated, moved, restarted, measure } = require("./tictactoe.js");

const [port, sessions, warmup, seconds] = process.argv.slice(2).map(Number);
const server = `http://127.0.0.1:${port}`;

function bot(matchID, playerID, credentials) {
  const client = Client({ game: TicTacToe, multiplayer: SocketIO({ server }), matchID,
    playerID, credentials, debug: false });
  let acted = -1; // the state we last acted on
  let synced = false;
  client.subscribe((state) => {
    if (state === null) return; // (null until the first sync with the server)
    if (!synced) {
      synced = true;
      seated();
    }
    if (!state.isActive || state._stateID === acted) return;
    if (state.ctx.currentPlayer !== playerID) return;
    acted = state._stateID;
    // Outside the update callback: a move made from inside boardgame.io's own state
    // notification re-enters its client.
    if (state.G.over) {
      restarted();
      setImmediate(() => client.moves.restart());
    } else {
      moved();
      const position = randomEmpty(state.G.board);
      setImmediate(() => client.moves.mark(position));
    }
  });
  client.start();
}

async function main() {
  const lobby = new LobbyClient({ server });
  for (let n = 0; n < sessions; n++) {
    const { matchID } = await lobby.createMatch("tictactoe", { numPlayers: 2 });
    for (const playerID of ["0", "1"]) {
      const { playerCredentials } = await lobby.joinMatch("tictactoe", matchID,
        { playerID, playerName: `bot${playerID}` });
      bot(matchID, playerID, playerCredentials);
    }
  }
  measure(2 * sessions, warmup, seconds);
}

main().catch((err) => { console.error(err); process.exit(1); });
