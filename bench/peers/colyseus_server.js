"use strict";
// Colyseus 0.16 server for bench/peers.py: one room per session, two seats, tic-tac-toe;
// the state patch is sent after each message (patchRate null + broadcastPatch), as a
// turn-based game wants it. Usage: node colyseus_server.js PORT
const { Server, Room } = require("@colyseus/core");
const { WebSocketTransport } = require("@colyseus/ws-transport");
const { Schema, ArraySchema, defineTypes } = require("@colyseus/schema");
const { winner, full } = require("./tictactoe.js");

class Board extends Schema {
  constructor() {
    super();
    this.board = new ArraySchema(-1, -1, -1, -1, -1, -1, -1, -1, -1);
    this.current = -1; // nobody until both seats are taken
    this.winner = -1;
    this.gameover = false;
  }
}
defineTypes(Board, { board: ["int8"], current: "int8", winner: "int8", gameover: "boolean" });

class TicTacToe extends Room {
  onCreate() {
    this.maxClients = 2;
    this.patchRate = null; // no timer: a patch right after each change
    this.state = new Board();
    this.seats = 0;
    this.onMessage("move", (client, position) => {
      const state = this.state;
      const seat = client.userData.seat;
      if (state.gameover || state.current !== seat || state.board[position] !== -1) {
        client.send("illegal", position);
        return;
      }
      state.board[position] = seat;
      const won = winner(state.board);
      if (won !== -1 || full(state.board)) {
        state.winner = won;
        state.gameover = true;
        state.current = -1;
      } else {
        state.current = 1 - seat;
      }
      this.broadcastPatch();
    });
    this.onMessage("restart", (client) => {
      const state = this.state;
      if (!state.gameover) return;
      for (let i = 0; i < 9; i++) state.board[i] = -1;
      state.winner = -1;
      state.gameover = false;
      state.current = Math.random() < 0.5 ? 0 : 1;
      this.broadcastPatch();
    });
  }

  onJoin(client) {
    client.userData = { seat: this.seats++ }; // in join order: the generator knows it
    if (this.seats === 2) {
      this.state.current = Math.random() < 0.5 ? 0 : 1;
      this.broadcastPatch();
    }
  }
}

const port = Number(process.argv[2]);
const server = new Server({ transport: new WebSocketTransport(), greet: false });
server.define("tictactoe", TicTacToe);
server.listen(port, "127.0.0.1").then(() => console.log(`listening on 127.0.0.1:${port}`));
