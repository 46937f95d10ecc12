"use strict";
// Tic-tac-toe as a boardgame.io 0.50 game. A finished game is restarted in the same match
// by the "restart" move (boardgame.io ends a match for good once endIf is set, so the end
// of a game is kept in G instead). One move per turn; turns alternate.
const { INVALID_MOVE } = require("boardgame.io/core");
const { winner, full } = require("./tictactoe.js");

const fresh = () => ({ board: [-1, -1, -1, -1, -1, -1, -1, -1, -1], winner: -1, over: false });

const TicTacToe = {
  name: "tictactoe",
  setup: fresh,
  turn: { minMoves: 1, maxMoves: 1 },
  // client: false: the server alone runs moves, and each client waits for its update
  // (no optimistic update), as the other servers of the benchmark do.
  moves: {
    mark: {
      move: ({ G, playerID }, position) => {
        if (G.over || G.board[position] !== -1) return INVALID_MOVE;
        G.board[position] = Number(playerID);
        G.winner = winner(G.board);
        G.over = G.winner !== -1 || full(G.board);
      },
      client: false,
    },
    restart: {
      move: ({ G }) => (G.over ? fresh() : INVALID_MOVE),
      client: false,
    },
  },
};

module.exports = { TicTacToe };
